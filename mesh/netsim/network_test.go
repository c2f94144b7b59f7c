package netsim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deliveredTo sends one packet on every ordered pair and reports which
// arrived, as "a>b" strings.
func deliveredTo(t *testing.T, n *Network, eps ...*Endpoint) []string {
	t.Helper()
	for _, from := range eps {
		for _, to := range eps {
			if from != to {
				mustSend(t, from, to.Name(), []byte(from.Name()))
			}
		}
	}
	n.sync()
	var got []string
	for _, to := range eps {
		for _, d := range drain(to) {
			got = append(got, d.From+">"+to.Name())
		}
	}
	return got
}

func TestPartitionAndHeal(t *testing.T) {
	n, _, a, b, c := fakeNet(t, Config{})
	d := mustEndpoint(t, n, "d")
	n.Partition([]string{"a", "b"}, []string{"c"}) // d is unlisted: a group of its own
	got := deliveredTo(t, n, a, b, c, d)
	if diff := cmp.Diff([]string{"b>a", "a>b"}, got); diff != "" {
		t.Errorf("partitioned deliveries (-want +got):\n%s", diff)
	}
	if s := n.TotalStats(); s.Dropped.Partition != 10 {
		t.Errorf("Dropped.Partition = %d, want 10", s.Dropped.Partition)
	}
	n.Heal()
	if got := deliveredTo(t, n, a, b, c, d); len(got) != 12 {
		t.Errorf("after Heal %d of 12 delivered: %v", len(got), got)
	}
	n.Partition([]string{"a"}) // isolate a
	got = deliveredTo(t, n, a, b, c, d)
	for _, g := range got {
		if strings.Contains(g, "a") {
			t.Errorf("isolated a still talks: %s", g)
		}
	}
	if len(got) != 6 {
		t.Errorf("others exchanged %d of 6", len(got))
	}
}

func TestPartitionDropsPacketsInFlight(t *testing.T) {
	n, c, a, b, _ := fakeNet(t, Config{Default: Link{Latency: 10 * time.Millisecond}})
	mustSend(t, a, "b", []byte("x"))
	n.Partition([]string{"a"}, []string{"b"})
	step(n, c, 10*time.Millisecond)
	if got := drain(b); len(got) != 0 {
		t.Fatalf("packet crossed a partition raised while in flight")
	}
	if s := n.Stats("a"); s.Dropped.Partition != 1 {
		t.Errorf("Dropped.Partition = %d, want 1", s.Dropped.Partition)
	}
}

func TestCrashRestart(t *testing.T) {
	n, c, a, b, _ := fakeNet(t, Config{Default: Link{Latency: 10 * time.Millisecond}})
	addr := b.Addr()
	mustSend(t, a, "b", []byte("in flight"))
	if err := n.Crash("b"); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan struct{}{"Crashed": b.Crashed(), "Done": b.Done()} {
		select {
		case <-ch:
		default:
			t.Errorf("%s not closed after Crash", name)
		}
	}
	if !n.Crashed("b") {
		t.Error("Crashed(b) = false")
	}
	mustSend(t, a, "b", []byte("to the dead"))
	if err := b.Send("a", []byte("from the dead")); err != nil {
		t.Errorf("a crashed node's Send = %v, want nil (it does not know)", err)
	}
	step(n, c, time.Second)
	if got := drain(a); len(got) != 0 {
		t.Errorf("a got %d packets from the crashed node", len(got))
	}
	if got := drain(b); len(got) != 0 {
		t.Errorf("crashed b received %d", len(got))
	}
	if s := n.Stats("a"); s.Dropped.Crash != 2 {
		t.Errorf("a: Dropped.Crash = %d, want 2 (in flight + after)", s.Dropped.Crash)
	}
	if s := n.Stats("b"); s.Dropped.Crash != 1 {
		t.Errorf("b: Dropped.Crash = %d, want 1", s.Dropped.Crash)
	}
	if _, err := n.Endpoint("b"); !errors.Is(err, ErrCrashed) {
		t.Errorf("Endpoint on a crashed node = %v, want ErrCrashed", err)
	}
	if err := n.Crash("b"); err != nil {
		t.Errorf("second Crash = %v", err)
	}

	if err := n.Restart("b"); err != nil {
		t.Fatal(err)
	}
	b2 := mustEndpoint(t, n, "b")
	if b2.Addr() != addr {
		t.Errorf("restarted address %s, want %s", b2.Addr(), addr)
	}
	mustSend(t, a, "b", []byte("welcome back"))
	step(n, c, 10*time.Millisecond)
	if got := drain(b2); len(got) != 1 {
		t.Errorf("restarted b got %d packets, want 1", len(got))
	}
	if got := drain(b); len(got) != 0 {
		t.Errorf("the old endpoint got %d packets", len(got))
	}
	if err := n.Crash("nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Crash(nobody) = %v", err)
	}
	if err := n.Restart("nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Restart(nobody) = %v", err)
	}
}

func TestAttach(t *testing.T) {
	n := newNet(t, Config{})
	a := mustEndpoint(t, n, "a")
	if _, err := n.Endpoint("a"); !errors.Is(err, ErrInUse) {
		t.Errorf("second Endpoint(a) = %v, want ErrInUse", err)
	}
	if _, err := n.Transport("a"); !errors.Is(err, ErrInUse) {
		t.Errorf("Transport(a) beside an Endpoint = %v, want ErrInUse", err)
	}
	if _, err := n.Endpoint(""); !errors.Is(err, ErrEmptyName) {
		t.Errorf("Endpoint(\"\") = %v", err)
	}
	a.Close()
	a.Close()
	if err := a.Send("b", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	tr, err := n.Transport("a")
	if err != nil {
		t.Fatalf("Transport after Close: %v", err)
	}
	if tr.Addr() != a.Addr() {
		t.Errorf("reattached address %s, want %s", tr.Addr(), a.Addr())
	}
	n.Close()
	n.Close()
	select {
	case <-tr.Done():
	default:
		t.Error("Network.Close left a transport open")
	}
	if _, err := n.Endpoint("z"); !errors.Is(err, ErrClosed) {
		t.Errorf("Endpoint after Close = %v", err)
	}
}

func TestAddresses(t *testing.T) {
	n := newNet(t, Config{})
	seen := map[string]string{}
	for i := range 300 {
		name := "n" + string(rune('A'+i%26)) + strings.Repeat("x", i/26)
		e := mustEndpoint(t, n, name)
		if prev, dup := seen[e.Addr()]; dup {
			t.Fatalf("%s and %s share %s", prev, name, e.Addr())
		}
		seen[e.Addr()] = name
		if got, ok := n.Name(e.Addr()); !ok || got != name {
			t.Fatalf("Name(%s) = %q, %v", e.Addr(), got, ok)
		}
		if got, _ := n.Addr(name); got != e.Addr() {
			t.Fatalf("Addr(%s) = %q, want %q", name, got, e.Addr())
		}
	}
	if a, _ := n.Addr(n.Nodes()[0]); !strings.HasPrefix(a, "10.") || !strings.HasSuffix(a, ":7946") {
		t.Errorf("address %q, want 10.x.y.z:7946", a)
	}
	if got, ok := n.Name("[::ffff:10.0.0.1]:7946"); !ok || got != seen["10.0.0.1:7946"] {
		t.Errorf("IPv4-mapped lookup = %q, %v", got, ok)
	}
	if _, ok := n.Name("bogus"); ok {
		t.Error("Name(bogus) found a node")
	}
	if len(n.Nodes()) != 300 {
		t.Errorf("Nodes() has %d names", len(n.Nodes()))
	}
}

// TestStatsBalance checks that every packet ends up received or dropped.
func TestStatsBalance(t *testing.T) {
	l := Link{Latency: time.Millisecond, Jitter: time.Millisecond, Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Bandwidth: 50_000}
	n, c, a, b, cc := fakeNet(t, Config{Seed: 9, PacketBuffer: 64, Default: l})
	eps := []*Endpoint{a, b, cc}
	for i := range 3000 {
		from, to := eps[i%3], eps[(i+1)%3]
		mustSend(t, from, to.Name(), make([]byte, 10+i%200))
		mustSend(t, from, "nobody", []byte("x"))
		switch i {
		case 1000:
			n.Partition([]string{"a"})
		case 1500:
			n.Heal()
		}
		if i%100 == 0 {
			step(n, c, 5*time.Millisecond)
			for _, e := range eps {
				drain(e)
			}
		}
	}
	for range 20 {
		step(n, c, 100*time.Millisecond)
		for _, e := range eps {
			drain(e)
		}
	}
	s := n.TotalStats()
	if s.PacketsSent+s.Duplicated != s.PacketsReceived+s.Dropped.Total() {
		t.Errorf("sent %d + dup %d != received %d + dropped %d (%+v)", s.PacketsSent, s.Duplicated, s.PacketsReceived, s.Dropped.Total(), s.Dropped)
	}
	for _, r := range []struct {
		name string
		v    uint64
	}{{"loss", s.Dropped.Loss}, {"partition", s.Dropped.Partition}, {"bandwidth", s.Dropped.Bandwidth}, {"overflow", s.Dropped.Overflow}, {"unreachable", s.Dropped.Unreachable}} {
		if r.v == 0 {
			t.Errorf("no drops for %s: %+v", r.name, s.Dropped)
		}
	}
	sum := n.Stats("a").add(n.Stats("b")).add(n.Stats("c"))
	if diff := cmp.Diff(s, sum); diff != "" {
		t.Errorf("TotalStats differs from the sum (-total +sum):\n%s", diff)
	}
	t.Logf("%+v", s)
	n.ResetStats()
	if s := n.TotalStats(); s != (NodeStats{}) {
		t.Errorf("after ResetStats: %+v", s)
	}
}
