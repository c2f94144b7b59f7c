package servertest

import (
	"crypto/ed25519"
	"sync"
	"testing"

	"github.com/cityarray/cityarray/server/audit"
)

// Auditor is a real audit log that also remembers what it was given.
type Auditor struct {
	Log     *audit.Log
	mu      sync.Mutex
	entries []audit.Entry
}

// OpenAuditor opens an audit log in dir, on a new key, closed when the
// test ends.
func OpenAuditor(tb testing.TB, dir string, clk audit.Clock) *Auditor {
	tb.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := audit.Open(dir, audit.Options{Key: key, Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return &Auditor{Log: l}
}

// Append appends e to the log and remembers it if the log took it.
func (a *Auditor) Append(e audit.Entry) (int64, error) {
	n, err := a.Log.Append(e)
	if err == nil {
		a.mu.Lock()
		a.entries = append(a.entries, e)
		a.mu.Unlock()
	}
	return n, err
}

// Take returns the entries appended since the last Take.
func (a *Auditor) Take() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.entries
	a.entries = nil
	return out
}
