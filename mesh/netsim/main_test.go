package netsim

import (
	"os"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim/netsimtest"
)

func TestMain(m *testing.M) { netsimtest.VerifyTestMain(m) }

// integ reports whether the heavy tests run (STYLE rule 21).
func integ() bool { return os.Getenv("CITYARRAY_INTEG") != "" }

// waitFor polls cond until it holds or the timeout passes. It is for
// memberlist, which runs on its own real timers; where the test controls
// the events it waits on channels instead.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
	return time.Since(start)
}

// newNet returns a Network closed at the end of the test.
func newNet(t testing.TB, cfg Config) *Network {
	t.Helper()
	n := New(cfg)
	t.Cleanup(func() { n.Close() })
	return n
}

func mustEndpoint(t testing.TB, n *Network, name string) *Endpoint {
	t.Helper()
	e, err := n.Endpoint(name)
	if err != nil {
		t.Fatalf("Endpoint(%q): %v", name, err)
	}
	return e
}

func mustSend(t testing.TB, e *Endpoint, to string, b []byte) {
	t.Helper()
	if err := e.Send(to, b); err != nil {
		t.Fatalf("%s.Send(%s): %v", e.Name(), to, err)
	}
}

// recv waits (in real time) for one datagram.
func recv(t testing.TB, e *Endpoint, timeout time.Duration) Datagram {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case d := <-e.Recv():
		return d
	case <-tm.C:
		t.Fatalf("%s: no datagram within %v", e.Name(), timeout)
		return Datagram{}
	}
}

// drain returns every datagram already queued at e.
func drain(e *Endpoint) []Datagram {
	var out []Datagram
	for {
		select {
		case d := <-e.Recv():
			out = append(out, d)
		default:
			return out
		}
	}
}
