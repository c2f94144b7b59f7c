package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Bounds on parameters read from a stored hash, so that a tampered or
// corrupt record cannot make a login allocate gigabytes or spin.
const (
	maxArgonMemory  = 4 << 20 // KiB (4 GiB)
	maxArgonTime    = 64
	minSaltLen      = 8
	maxSaltLen      = 64
	minKeyLen       = 16
	maxKeyLen       = 64
	maxPasswordSize = 4096 // bytes accepted at all; the policy allows 256 runes
)

var b64 = base64.RawStdEncoding.Strict()

func (p Argon2Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("Threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		return fmt.Errorf("Memory %d KiB outside [8×Threads, %d]", p.Memory, maxArgonMemory)
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("Time %d outside [1, %d]", p.Time, maxArgonTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("SaltLen %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("KeyLen %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// phcHash is a parsed "$argon2id$v=19$m=…,t=…,p=…$salt$hash" string.
type phcHash struct {
	Params Argon2Params
	Salt   []byte
	Key    []byte
}

var errBadPHC = errors.New("malformed argon2id hash")

// parsePHC parses the PHC string format for argon2id, version 19 only, with
// the parameters in the order m, t, p, unpadded standard base64, and the
// bounds above. It accepts exactly what formatPHC writes.
func parsePHC(s string) (phcHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return phcHash{}, errBadPHC
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return phcHash{}, errBadPHC
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return phcHash{}, errBadPHC
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phcHash{}, errBadPHC
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return phcHash{}, errBadPHC
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	// The decoder skips '\r' and '\n'; re-encoding refuses them.
	if err1 != nil || err2 != nil || b64.EncodeToString(salt) != parts[4] || b64.EncodeToString(key) != parts[5] {
		return phcHash{}, errBadPHC
	}
	h := phcHash{
		Params: Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]),
			SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt: salt,
		Key:  key,
	}
	if err := h.Params.validate(); err != nil {
		return phcHash{}, fmt.Errorf("%w: %v", errBadPHC, err)
	}
	return h, nil
}

func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// normPassword is the form of a password that is counted and hashed:
// Unicode NFKC, as NIST SP 800-63B recommends, so that the same password
// typed on two keyboards is the same password.
func normPassword(pw string) string { return norm.NFKC.String(pw) }

// hasher computes argon2id with a bound on how many run at once.
type hasher struct {
	params Argon2Params
	rand   io.Reader
	slots  chan struct{}
	dummy  phcHash // verified against when there is no real hash

	// Counters that tests read: argon2 computations done, running now, and
	// the most ever running at once.
	computed     atomic.Int64
	active, peak atomic.Int32
}

func newHasher(p Argon2Params, rand io.Reader, max int) (*hasher, error) {
	h := &hasher{params: p, rand: rand, slots: make(chan struct{}, max)}
	d, err := h.hash("cityarray dummy password, never valid")
	if err != nil {
		return nil, err
	}
	h.dummy, _ = parsePHC(d)
	return h, nil
}

func (h *hasher) key(pw string, p phcHash) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	n := h.active.Add(1)
	defer h.active.Add(-1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	h.computed.Add(1)
	return argon2.IDKey([]byte(normPassword(pw)), p.Salt, p.Params.Time, p.Params.Memory, p.Params.Threads, p.Params.KeyLen)
}

// hash returns the PHC string of pw under the current parameters and a
// fresh salt.
func (h *hasher) hash(pw string) (string, error) {
	p := phcHash{Params: h.params, Salt: make([]byte, h.params.SaltLen)}
	if _, err := io.ReadFull(h.rand, p.Salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	p.Key = h.key(pw, p)
	return p.String(), nil
}

// verify reports whether pw matches the PHC string stored. An empty or
// malformed stored hash is checked against the dummy hash instead, so the
// time taken does not tell whether the account has a password.
func (h *hasher) verify(pw, stored string) bool {
	p, err := parsePHC(stored)
	ok := err == nil
	if !ok {
		p = h.dummy
	}
	if len(pw) > maxPasswordSize {
		pw, ok = "", false
	}
	got := h.key(pw, p)
	return subtle.ConstantTimeCompare(got, p.Key) == 1 && ok
}

// stale reports whether a stored hash was made with other parameters than
// the current ones, and should be replaced at the next successful login.
func (h *hasher) stale(stored string) bool {
	p, err := parsePHC(stored)
	return err == nil && p.Params != h.params
}
