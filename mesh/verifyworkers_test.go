package mesh

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// TestNodeVerifyWorkers: with verify workers, a node accepts and rejects
// exactly what it does without them, keeps the order records were
// delivered in (records naming their signer by kid follow the one that
// carried the chain), and reports every record.
func TestNodeVerifyWorkers(t *testing.T) {
	s := tempStore(t)
	events := make(chan Event, 1000)
	n, err := NewNode(NodeConfig{ID: "server-1", Store: s, Verifier: newVerifier(t), Clock: fixedClock{t0},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VerifyWorkers: 4,
		OnEvent: func(ev Event) { events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// The first record carries the server's chain; the rest name it by
	// kid only, and would be refused as from an unknown signer if any
	// reached the replica first.
	kidOnly := testPKI().server
	kidOnly.Chain = nil
	var want []record.ID
	var raws [][]byte
	for seq := uint64(1); seq <= 300; seq++ {
		signer := kidOnly
		if seq == 1 {
			signer = testPKI().server
		}
		r, err := record.Sign(&record.Record{
			Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
			Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Seq: seq,
			Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Flood"}},
				Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
		}, signer)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID())
		raws = append(raws, r.Raw())
	}
	forged := forgedWarning(t)
	for i, raw := range raws {
		if i == 150 {
			if !n.Deliver(Source{Link: "wire", Peer: "x"}, forged.Raw()) {
				t.Fatal("Deliver refused")
			}
			if !n.Deliver(Source{Link: "wire", Peer: "x"}, []byte("not a record")) {
				t.Fatal("Deliver refused")
			}
		}
		if !n.Deliver(Source{Link: "wire", Peer: "x"}, raw) {
			t.Fatal("Deliver refused")
		}
	}
	var accepted []record.ID
	rejected := map[string]int{}
	for len(accepted)+rejected["total"] < len(raws)+2 {
		select {
		case ev := <-events:
			switch ev.Kind {
			case EventAccepted:
				accepted = append(accepted, ev.ID)
			case EventRejected:
				rejected[string(ev.Reason)]++
				rejected["total"]++
			default:
				t.Fatalf("event %v: %v", ev.Kind, ev.Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d accepted, %v rejected: events stopped", len(accepted), rejected)
		}
	}
	if len(accepted) != len(want) {
		t.Fatalf("accepted %d, want %d (rejected %v)", len(accepted), len(want), rejected)
	}
	for i := range want {
		if accepted[i] != want[i] {
			t.Fatalf("record %d accepted out of order", i)
		}
	}
	if rejected["role-not-allowed"] != 1 || rejected["malformed"] != 1 {
		t.Errorf("rejections %v, want one role-not-allowed and one malformed", rejected)
	}
	// A duplicate costs a lookup in the replica, as without workers.
	n.Deliver(Source{Link: "wire", Peer: "x"}, raws[7])
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n.Counters().Duplicates != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("counters %+v: want one duplicate", n.Counters())
		}
		<-tick.C
	}
	if c := n.Counters(); c.Accepted != 300 || c.Received != 303 {
		t.Errorf("counters %+v", c)
	}
}

// TestNodeVerifyWorkersDeliverNeverBlocks: with workers, Deliver still
// drops and counts what does not fit rather than wait.
func TestNodeVerifyWorkersDeliverNeverBlocks(t *testing.T) {
	s := tempStore(t)
	n, err := NewNode(NodeConfig{ID: "n", Store: s, Verifier: newVerifier(t), InboxSize: 2, Clock: fixedClock{t0}, VerifyWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw := warning(t, 1, "x").Raw()
	var queued int
	for range 5 { // Run is not started: the queue fills
		if n.Deliver(Source{Link: "wire"}, raw) {
			queued++
		}
	}
	if queued != 2 || n.Dropped() != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", queued, n.Dropped())
	}
}
