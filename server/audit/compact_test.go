package audit

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is an in-memory tlog.HashReader.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

// TestCompactRange checks the streaming tree against tlog.TreeHash, and
// compactRangeAt against streaming, for every size up to 300.
func TestCompactRange(t *testing.T) {
	var stored memHashes
	var c compactRange
	for n := int64(0); n <= 300; n++ {
		want, err := tlog.TreeHash(n, stored)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.root(); got != want {
			t.Fatalf("n=%d: root %v, want %v", n, got, want)
		}
		at, err := compactRangeAt(n, stored)
		if err != nil {
			t.Fatal(err)
		}
		if got := at.root(); got != want {
			t.Fatalf("n=%d: compactRangeAt root %v, want %v", n, got, want)
		}
		data := []byte(fmt.Sprint("leaf ", n))
		hs, err := tlog.StoredHashes(n, data, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		c.append(tlog.RecordHash(data))
	}
}
