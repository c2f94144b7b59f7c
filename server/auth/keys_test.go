package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadOrCreateKeys: made once (0600), then read back as they were; a
// file group or others may read, or one that holds something else, is
// refused.
func TestLoadOrCreateKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.keys")
	rnd := bytes.NewReader(bytes.Repeat([]byte{7}, 64))
	k, created, err := LoadOrCreateKeys(path, rnd)
	if err != nil || !created || len(k.DataKey) != 32 || len(k.CSRFKey) != 32 {
		t.Fatalf("first run: %+v, %v, %v", k, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v", fi, err)
	}
	again, created, err := LoadOrCreateKeys(path, bytes.NewReader(nil))
	if err != nil || created {
		t.Fatalf("second run: %v, %v", created, err)
	}
	if diff := cmp.Diff(k, again); diff != "" {
		t.Errorf("read back (-made +read):\n%s", diff)
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeys(path, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a 0640 file: %v", err)
	}
	for name, content := range map[string]string{
		"raw bytes":   strings.Repeat("k", 64),
		"short key":   `{"version":1,"data_key":"AAAA","csrf_key":"AAAA"}`,
		"other field": `{"version":1,"surprise":true}`,
	} {
		p := filepath.Join(t.TempDir(), "test.keys")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateKeys(p, nil); err == nil || !strings.HasPrefix(err.Error(), "keys: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "new.keys"), bytes.NewReader(make([]byte, 40))); err == nil {
		t.Error("made from 40 random bytes")
	}
}
