package mesh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// wire is an in-memory link: Offer hands the record to every neighbour but
// the one it came from.
type wire struct {
	self  string
	mu    sync.Mutex
	peers map[string]*Node
}

func (w *wire) Name() string { return "wire" }

func (w *wire) Offer(f Forward) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, p := range w.peers {
		if f.From.Link == "wire" && f.From.Peer == name {
			continue
		}
		p.Deliver(Source{Link: "wire", Peer: w.self}, f.Record.Raw())
	}
}

type testNode struct {
	*Node
	store  *store.Store
	wire   *wire
	events chan Event
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, dir, id string) *testNode {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, id+".db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{store: s, wire: &wire{self: id, peers: map[string]*Node{}}, events: make(chan Event, 100), done: make(chan error, 1)}
	n, err := NewNode(NodeConfig{
		ID: id, Store: s, Verifier: newVerifier(t), Clock: fixedClock{t0},
		StatePath: filepath.Join(dir, id+".trust.json"),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent:   func(ev Event) { tn.events <- ev },
	})
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	n.AddLink(tn.wire)
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() { tn.done <- n.Run(ctx) }()
	return tn
}

func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	tn.cancel()
	if err := <-tn.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := tn.store.Close(); err != nil {
		t.Error(err)
	}
}

func connect(a, b *testNode) {
	a.wire.mu.Lock()
	a.wire.peers[b.ID()] = b.Node
	a.wire.mu.Unlock()
	b.wire.mu.Lock()
	b.wire.peers[a.ID()] = a.Node
	b.wire.mu.Unlock()
}

func waitEvent(t *testing.T, tn *testNode) Event {
	t.Helper()
	select {
	case ev := <-tn.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event", tn.ID())
		return Event{}
	}
}

func TestNodeReplicatesAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a, b, c := startNode(t, dir, "pole-a"), startNode(t, dir, "pole-b"), startNode(t, dir, "pole-c")
	connect(a, b)
	connect(b, c)
	w := warning(t, 1, "Flood warning")
	if err := a.Publish(context.Background(), w); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, n := range []*testNode{a, b, c} {
		ev := waitEvent(t, n)
		if ev.Kind != EventAccepted || ev.ID != w.ID() {
			t.Fatalf("%s: event %v %s", n.ID(), ev.Kind, ev.ID.Short())
		}
		if ok, err := n.store.Has(w.ID()); err != nil || !ok {
			t.Fatalf("%s: record not stored (%v)", n.ID(), err)
		}
	}
	if got := c.Counters(); got.Accepted != 1 || got.BytesIn["wire"] == 0 {
		t.Errorf("pole-c counters: %+v", got)
	}
	// A forgery from pole-a is rejected at pole-b and never reaches pole-c.
	f := forgedWarning(t)
	b.Deliver(Source{Link: "wire", Peer: "pole-a"}, f.Raw())
	if ev := waitEvent(t, b); ev.Kind != EventRejected {
		t.Fatalf("pole-b: %v, want a rejection", ev.Kind)
	}
	// Publishing a forged record locally fails with the reason.
	if err := a.Publish(context.Background(), f); err == nil {
		t.Error("Publish of a forgery succeeded")
	}
	waitEvent(t, a)

	// pole-c restarts: it still knows the record (a copy is a duplicate)
	// and still refuses a replay of its sequence number.
	c.stop(t)
	c = startNode(t, dir, "pole-c")
	connect(b, c)
	c.Deliver(Source{Link: "wire", Peer: "pole-b"}, w.Raw())
	replay := warning(t, 1, "Replayed with new text")
	c.Deliver(Source{Link: "wire", Peer: "pole-b"}, replay.Raw())
	ev := waitEvent(t, c)
	if ev.Kind != EventRejected || ev.ID != replay.ID() || ev.Reason != "replayed" {
		t.Fatalf("after restart: %v %s %s, want the replay rejected", ev.Kind, ev.ID.Short(), ev.Reason)
	}
	if got := c.Counters(); got.Duplicates != 1 {
		t.Errorf("after restart, the stored record was not a duplicate: %+v", got)
	}
	for _, n := range []*testNode{a, b, c} {
		n.stop(t)
	}
}

func TestNodeDeliverNeverBlocks(t *testing.T) {
	s := tempStore(t)
	n, err := NewNode(NodeConfig{ID: "n", Store: s, Verifier: newVerifier(t), InboxSize: 2, Clock: fixedClock{t0}})
	if err != nil {
		t.Fatal(err)
	}
	raw := warning(t, 1, "x").Raw()
	var queued int
	for range 5 { // Run is not started: the inbox fills
		if n.Deliver(Source{Link: "wire"}, raw) {
			queued++
		}
	}
	if queued != 2 || n.Dropped() != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", queued, n.Dropped())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Publish(ctx, warning(t, 2, "y")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish on a cancelled context = %v", err)
	}
}

// recorder is a link that keeps what it is offered.
type recorder struct {
	mu     sync.Mutex
	offers []Forward
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Offer(f Forward) {
	r.mu.Lock()
	r.offers = append(r.offers, f)
	r.mu.Unlock()
}

// The records NodeConfig.Outbox names are queued as they are stored, and
// offered to the links marked Queued; the others are not.
func TestNodeOutboxMarksQueued(t *testing.T) {
	s := tempStore(t)
	queued, plain := warning(t, 1, "Queued"), warning(t, 2, "Not queued")
	n, err := NewNode(NodeConfig{ID: "gw-1", Store: s, Verifier: newVerifier(t), Clock: fixedClock{t0},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Outbox: func(r *record.Record) (store.OutboxClass, bool) { return store.OutboxTelemetry, r.ID() == queued.ID() }})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	n.AddLink(rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, r := range []*record.Record{queued, plain} {
		if err := n.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	got := map[record.ID]bool{}
	for _, f := range rec.offers {
		got[f.Record.ID()] = f.Queued
	}
	rec.mu.Unlock()
	if q, ok := got[queued.ID()]; !ok || !q {
		t.Errorf("the record Outbox names: offered %v, Queued %v; want offered, Queued", ok, q)
	}
	if q, ok := got[plain.ID()]; !ok || q {
		t.Errorf("the other record: offered %v, Queued %v; want offered, not Queued", ok, q)
	}
	items, err := s.Peek(10)
	if err != nil || len(items) != 1 || record.IDOf(items[0].Data) != queued.ID() {
		t.Errorf("outbox holds %d entries (%v); want the named record alone", len(items), err)
	}
}
