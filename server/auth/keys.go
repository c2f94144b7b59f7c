package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// Keys are the two secrets a Service needs (Options.DataKey and
// Options.CSRFKey), kept in a file of their own beside its database
// (LoadOrCreateKeys), so that a copy of the database alone reveals no
// TOTP secret.
type Keys struct {
	Version int    `json:"version"`
	DataKey []byte `json:"data_key"` // 32 bytes, seals TOTP secrets (XChaCha20-Poly1305)
	CSRFKey []byte `json:"csrf_key"` // 32 bytes, derives CSRF tokens (and whatever else its owner keys from it)
}

// LoadOrCreateKeys reads the keys at path (JSON), or on first run
// generates both from rnd and writes them (0600, atomically, never
// replacing a file). created reports the first run. A file that group or
// others may read is refused, and so is one that does not hold two
// 32-byte keys of version 1. Its errors start "keys: ".
func LoadOrCreateKeys(path string, rnd io.Reader) (k Keys, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k = Keys{Version: 1, DataKey: make([]byte, 32), CSRFKey: make([]byte, 32)}
		if _, err := io.ReadFull(rnd, k.DataKey); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		if _, err := io.ReadFull(rnd, k.CSRFKey); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		b, _ := json.Marshal(k)
		if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600, false); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		return k, true, nil
	case err != nil:
		return k, false, fmt.Errorf("keys: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return k, false, fmt.Errorf("keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return k, false, fmt.Errorf("keys: %s may be read by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return k, false, fmt.Errorf("keys: %s: %w", path, err)
	}
	if k.Version != 1 || len(k.DataKey) != 32 || len(k.CSRFKey) != 32 {
		return k, false, fmt.Errorf("keys: %s: want version 1 with two 32-byte keys", path)
	}
	return k, false, nil
}
