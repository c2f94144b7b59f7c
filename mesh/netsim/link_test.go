package netsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
)

// fakeNet is a Network on a fake clock with endpoints a, b and c.
func fakeNet(t *testing.T, cfg Config) (*Network, *clocktest.Clock, *Endpoint, *Endpoint, *Endpoint) {
	t.Helper()
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = c
	n := newNet(t, cfg)
	return n, c, mustEndpoint(t, n, "a"), mustEndpoint(t, n, "b"), mustEndpoint(t, n, "c")
}

// step advances the fake clock and lets the scheduler deliver what is due.
func step(n *Network, c *clocktest.Clock, d time.Duration) {
	c.Advance(d)
	n.sync()
}

func seqPacket(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }
func seqOf(d Datagram) int   { return int(binary.BigEndian.Uint32(d.Data)) }

// within fails unless got is within k standard deviations of a binomial
// count with n trials and probability p.
func within(t *testing.T, what string, got, n int, p, k float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(got)-mean) > k*sd {
		t.Errorf("%s = %d, want %.0f ± %.0f (%.0fσ)", what, got, mean, k*sd, k)
	}
}

func TestLatencyFakeClock(t *testing.T) {
	n, c, a, b, _ := fakeNet(t, Config{Default: Link{Latency: 50 * time.Millisecond}})
	t0 := c.Now()
	mustSend(t, a, "b", []byte("x"))
	n.sync()
	if got := drain(b); len(got) != 0 {
		t.Fatalf("delivered at once: %v", got)
	}
	step(n, c, 49*time.Millisecond)
	if got := drain(b); len(got) != 0 {
		t.Fatalf("delivered before the latency: %v", got)
	}
	step(n, c, time.Millisecond)
	got := drain(b)
	want := []Datagram{{From: "a", Data: []byte("x"), At: t0.Add(50 * time.Millisecond)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("delivery (-want +got):\n%s", diff)
	}
}

func TestLatencyRealClock(t *testing.T) {
	const lat = 30 * time.Millisecond
	n := newNet(t, Config{Default: Link{Latency: lat}})
	a, b := mustEndpoint(t, n, "a"), mustEndpoint(t, n, "b")
	start := time.Now()
	mustSend(t, a, "b", []byte("x"))
	d := recv(t, b, 5*time.Second)
	if el := time.Since(start); el < lat {
		t.Errorf("arrived after %v, want ≥ %v", el, lat)
	}
	if d.At.Sub(start) < lat {
		t.Errorf("At is %v after the send, want ≥ %v", d.At.Sub(start), lat)
	}
}

func TestJitterBounds(t *testing.T) {
	const N = 1000
	n, c, a, b, _ := fakeNet(t, Config{PacketBuffer: N, Default: Link{Latency: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}})
	t0 := c.Now()
	for i := range N {
		mustSend(t, a, "b", seqPacket(i))
	}
	step(n, c, 80*time.Millisecond-time.Nanosecond)
	if got := drain(b); len(got) != 0 {
		t.Fatalf("%d packets before Latency-Jitter", len(got))
	}
	step(n, c, 40*time.Millisecond+time.Nanosecond)
	got := drain(b)
	if len(got) != N {
		t.Fatalf("got %d packets by Latency+Jitter, want %d", len(got), N)
	}
	lo, hi := time.Hour, time.Duration(0)
	inversions := 0
	for i, d := range got {
		lo, hi = min(lo, d.At.Sub(t0)), max(hi, d.At.Sub(t0))
		if i > 0 && seqOf(d) < seqOf(got[i-1]) {
			inversions++
		}
	}
	if lo > 82*time.Millisecond || hi < 118*time.Millisecond {
		t.Errorf("delays span [%v, %v], want close to [80ms, 120ms]", lo, hi)
	}
	if inversions == 0 {
		t.Error("jitter reordered nothing")
	}
}

func TestLossRate(t *testing.T) {
	const N, p = 10000, 0.1
	n, _, a, b, _ := fakeNet(t, Config{Seed: 42, PacketBuffer: N, Default: Link{Loss: p}})
	for i := range N {
		mustSend(t, a, "b", seqPacket(i))
	}
	n.sync()
	got := len(drain(b))
	within(t, "lost", N-got, N, p, 4)
	sa, sb := n.Stats("a"), n.Stats("b")
	if sa.PacketsSent != N || sa.Dropped.Loss != uint64(N-got) || sa.Dropped.Total() != sa.Dropped.Loss {
		t.Errorf("sender stats %+v, want %d sent, %d lost", sa, N, N-got)
	}
	if sb.PacketsReceived != uint64(got) || sb.BytesReceived != uint64(4*got) {
		t.Errorf("receiver stats %+v, want %d received", sb, got)
	}
	t.Logf("seed 42: lost %d of %d (p=%.2f)", N-got, N, p)
}

func TestDuplicateRate(t *testing.T) {
	const N, p = 10000, 0.25
	n, _, a, b, _ := fakeNet(t, Config{Seed: 7, PacketBuffer: 2 * N, Default: Link{Duplicate: p}})
	for i := range N {
		mustSend(t, a, "b", seqPacket(i))
	}
	n.sync()
	got := drain(b)
	seen := map[int]int{}
	for _, d := range got {
		seen[seqOf(d)]++
	}
	dups := len(got) - N
	if len(seen) != N {
		t.Fatalf("%d distinct packets, want %d", len(seen), N)
	}
	within(t, "duplicates", dups, N, p, 4)
	if s := n.Stats("a"); s.Duplicated != uint64(dups) {
		t.Errorf("Duplicated = %d, want %d", s.Duplicated, dups)
	}
	if s := n.Stats("b"); s.PacketsReceived != uint64(len(got)) {
		t.Errorf("PacketsReceived = %d, want %d", s.PacketsReceived, len(got))
	}
}

func TestReorder(t *testing.T) {
	const N, p = 1000, 0.3
	lat := 10 * time.Millisecond
	l := Link{Latency: lat, Reorder: p}
	n, c, a, b, _ := fakeNet(t, Config{Seed: 3, PacketBuffer: N, Default: l})
	for i := range N {
		mustSend(t, a, "b", seqPacket(i))
	}
	step(n, c, lat)
	onTime := drain(b)
	step(n, c, l.reorderHold())
	late := drain(b)
	if len(onTime)+len(late) != N {
		t.Fatalf("got %d+%d packets, want %d", len(onTime), len(late), N)
	}
	within(t, "reordered", len(late), N, p, 4)
	for _, batch := range [][]Datagram{onTime, late} {
		for i := 1; i < len(batch); i++ {
			if seqOf(batch[i]) < seqOf(batch[i-1]) {
				t.Fatalf("without jitter a batch should keep send order: %d after %d", seqOf(batch[i]), seqOf(batch[i-1]))
			}
		}
	}
	// A held-back packet arrives after a later one.
	n.SetLink("a", "b", Link{Latency: lat, Reorder: 1})
	mustSend(t, a, "b", []byte("first"))
	n.SetLink("a", "b", Link{Latency: lat})
	mustSend(t, a, "b", []byte("second"))
	step(n, c, time.Second)
	var order []string
	for _, d := range drain(b) {
		order = append(order, string(d.Data))
	}
	if diff := cmp.Diff([]string{"second", "first"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestBandwidth(t *testing.T) {
	// 1000 B/s and 100-byte packets: one packet per 100 ms; the queue
	// holds 1 s, so of 15 packets sent at once 11 get through.
	n, c, a, b, _ := fakeNet(t, Config{Default: Link{Bandwidth: 1000}})
	t0 := c.Now()
	pkt := make([]byte, 100)
	for range 15 {
		mustSend(t, a, "b", pkt)
	}
	var at []time.Duration
	for range 12 {
		step(n, c, 100*time.Millisecond)
		for _, d := range drain(b) {
			at = append(at, d.At.Sub(t0))
		}
	}
	var want []time.Duration
	for k := 1; k <= 11; k++ {
		want = append(want, time.Duration(k)*100*time.Millisecond)
	}
	if diff := cmp.Diff(want, at); diff != "" {
		t.Errorf("arrival times (-want +got):\n%s", diff)
	}
	if s := n.Stats("a"); s.Dropped.Bandwidth != 4 {
		t.Errorf("Dropped.Bandwidth = %d, want 4", s.Dropped.Bandwidth)
	}
}

func TestBandwidthQueueIsPerSender(t *testing.T) {
	n, c, a, b, cc := fakeNet(t, Config{Default: Link{Bandwidth: 1000}})
	t0 := c.Now()
	mustSend(t, a, "b", make([]byte, 100))
	mustSend(t, a, "c", make([]byte, 100))
	mustSend(t, cc, "b", make([]byte, 100)) // c's own uplink is idle
	step(n, c, 100*time.Millisecond)
	if got := drain(b); len(got) != 2 {
		t.Fatalf("b got %d packets at 100ms, want 2 (one from a, one from c)", len(got))
	}
	if got := drain(cc); len(got) != 0 {
		t.Fatalf("c got its packet before a's uplink freed")
	}
	step(n, c, 100*time.Millisecond)
	if got := drain(cc); len(got) != 1 || got[0].At.Sub(t0) != 200*time.Millisecond {
		t.Fatalf("c got %v, want one packet at 200ms", got)
	}
}

func TestOverflow(t *testing.T) {
	n, _, a, b, _ := fakeNet(t, Config{PacketBuffer: 4})
	for i := range 10 {
		mustSend(t, a, "b", seqPacket(i))
	}
	n.sync()
	if got := drain(b); len(got) != 4 {
		t.Fatalf("got %d packets, want 4", len(got))
	}
	if s := n.Stats("a"); s.Dropped.Overflow != 6 {
		t.Errorf("Dropped.Overflow = %d, want 6", s.Dropped.Overflow)
	}
}

func TestDirectedLink(t *testing.T) {
	n, _, a, b, _ := fakeNet(t, Config{})
	n.SetDirectedLink("a", "b", Link{Loss: 1})
	mustSend(t, a, "b", []byte("x"))
	mustSend(t, b, "a", []byte("y"))
	n.sync()
	if got := drain(b); len(got) != 0 {
		t.Errorf("a→b with Loss 1 delivered %d", len(got))
	}
	if got := drain(a); len(got) != 1 {
		t.Errorf("b→a got %d packets, want 1", len(got))
	}
	if l := n.Link("b", "a"); l != (Link{}) {
		t.Errorf("Link(b, a) = %+v, want the default", l)
	}
	n.ClearLink("a", "b")
	if l := n.Link("a", "b"); l != (Link{}) {
		t.Errorf("after ClearLink, Link(a, b) = %+v", l)
	}
}

// TestDeterminism replays the same sends on two networks with one seed.
func TestDeterminism(t *testing.T) {
	run := func(seed int64) []string {
		l := Link{Latency: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 0.2, Duplicate: 0.1, Reorder: 0.1}
		n, c, a, b, cc := fakeNet(t, Config{Seed: seed, PacketBuffer: 4096, Default: l})
		t0 := c.Now()
		for i := range 500 {
			mustSend(t, a, "b", seqPacket(i))
			mustSend(t, cc, "b", seqPacket(1000+i))
			if i%50 == 0 {
				step(n, c, time.Millisecond)
			}
		}
		step(n, c, time.Second)
		var out []string
		for _, d := range drain(b) {
			out = append(out, fmt.Sprintf("%s#%d@%v", d.From, seqOf(d), d.At.Sub(t0)))
		}
		n.Close()
		return out
	}
	first, again, other := run(1), run(1), run(2)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("same seed, different deliveries (-first +again):\n%s", diff)
	}
	if cmp.Equal(first, other) {
		t.Error("seeds 1 and 2 delivered identically")
	}
}

func TestLinkValidate(t *testing.T) {
	tests := []struct {
		l    Link
		bad  bool
		name string
	}{
		{Link{}, false, "zero"},
		{Link{Latency: time.Second, Jitter: time.Millisecond, Loss: 1, Duplicate: 0.5, Reorder: 0, Bandwidth: 10}, false, "full"},
		{Link{Latency: -1}, true, "negative latency"},
		{Link{Jitter: -1}, true, "negative jitter"},
		{Link{Loss: 1.5}, true, "loss > 1"},
		{Link{Duplicate: -0.1}, true, "negative duplicate"},
		{Link{Reorder: math.NaN()}, true, "NaN reorder"},
		{Link{Bandwidth: -1}, true, "negative bandwidth"},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		if (err != nil) != tt.bad || (err != nil && !errors.Is(err, ErrInvalidLink)) {
			t.Errorf("%s: Validate() = %v, want bad=%v", tt.name, err, tt.bad)
		}
	}
	n := newNet(t, Config{})
	defer func() {
		if recover() == nil {
			t.Error("SetLink with Loss 2 did not panic")
		}
	}()
	n.SetLink("a", "b", Link{Loss: 2})
}

func TestTooLarge(t *testing.T) {
	n, _, a, _, _ := fakeNet(t, Config{MaxPacket: 1400})
	if err := a.Send("b", make([]byte, 1401)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Send(1401 bytes) = %v, want ErrTooLarge", err)
	}
	if err := a.Send("b", make([]byte, 1400)); err != nil {
		t.Errorf("Send(1400 bytes) = %v", err)
	}
	_ = n
}
