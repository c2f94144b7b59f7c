package audit

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClock returns a fake clock at t.
func newClock(t time.Time) *clocktest.Clock { return clocktest.New(t) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testKey returns a deterministic Ed25519 key for a name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("audit test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

const testKeyName = "cityarray-audit/test"

func testOptions(c Clock) Options {
	return Options{Key: testKey("server"), KeyName: testKeyName, Clock: c, SegmentEntries: 8}
}

// openLog opens a log in dir with testOptions (segments of 8 entries)
// changed by mod, and closes it when the test ends.
func openLog(t testing.TB, dir string, c Clock, mod ...func(*Options)) *Log {
	t.Helper()
	o := testOptions(c)
	for _, m := range mod {
		m(&o)
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// entry returns a valid entry numbered i.
func entry(i int) Entry {
	return Entry{
		Actor:    fmt.Sprintf("user-%d", i),
		Role:     "operator",
		Action:   "alert.approve",
		Target:   fmt.Sprintf("alert-%d", i),
		Outcome:  "ok",
		RemoteIP: netip.MustParseAddr("192.0.2.7"),
		Detail:   map[string]string{"tier": "warning", "n": fmt.Sprint(i)},
	}
}

// appendN appends entries from..to-1, advancing the clock a second each.
func appendN(t testing.TB, l *Log, c *clocktest.Clock, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		idx, err := l.Append(entry(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if idx != int64(i) {
			t.Fatalf("Append %d returned index %d", i, idx)
		}
		c.Advance(time.Second)
	}
}

// verifiersOf returns the note verifiers of l's key.
func verifiersOf(t testing.TB, l *Log) note.Verifiers {
	t.Helper()
	v, err := ParseVerifierKeys(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "log")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// readFile and writeFile read and replace a file of dir, even a read-only
// sealed segment.
func readFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// segLines returns the entry lines of a segment file (decompressed).
func segLines(t testing.TB, dir string, s segment) []string {
	t.Helper()
	b := readFile(t, dir, s.name())
	if s.sealed {
		b = gunzip(t, b)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

// rewriteSegment replaces a segment's lines with those fn returns.
func rewriteSegment(t testing.TB, dir string, s segment, fn func([]string) []string) {
	t.Helper()
	b := []byte(strings.Join(fn(segLines(t, dir, s)), ""))
	if s.sealed {
		b = gzipBytes(t, b)
	}
	writeFile(t, dir, s.name(), b)
}
