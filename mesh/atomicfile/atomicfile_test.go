package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := WriteFile(p, []byte("one"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600, false); !errors.Is(err, ErrExists) {
		t.Errorf("second write without overwrite = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("content %q after refused overwrite, want %q", b, "one")
	}
	if err := WriteFile(p, []byte("three"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "three" || st.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v, want %q 0644", b, st.Mode().Perm(), "three")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600, true); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
