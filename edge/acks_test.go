package edge

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/mesh/record"
)

// TestAcker: each (record, state) is acked once, through a real node that
// verifies the device's signature; after a restart the pole knows what it
// acked and its sequence numbers keep rising.
func TestAcker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := clocktest.New(t0)
	c := testCity()
	alert := record.IDOf([]byte("an alert"))

	func() {
		dir1 := filepath.Join(dir, "run")
		node, st, stop := runNode(t, dir1, clk)
		defer stop()
		a, err := NewAcker("pole-1", c.pole.kidSign, c.pole.chainSign, node, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, state := range []record.AckState{record.AckReceived, record.AckDisplayed, record.AckReceived} {
			if _, err := a.Ack(ctx, alert, state, "", clk.Now()); err != nil {
				t.Fatalf("Ack %s: %v", state, err)
			}
		}
		if sent, err := a.Ack(ctx, alert, record.AckFailed, "panel dark", clk.Now()); err != nil || !sent {
			t.Fatalf("Ack failed = %v, %v", sent, err)
		}
		if err := a.Health(ctx, &record.Health{Rung: "mesh"}, clk.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		acks, err := st.ByKind(record.KindAck)
		if err != nil {
			t.Fatal(err)
		}
		if len(acks) != 3 {
			t.Errorf("%d acks stored, want 3 (received, displayed, failed)", len(acks))
		}
	}()

	// Restart on the same store.
	node, st, _ := runNode(t, filepath.Join(dir, "run"), clk)
	var top uint64
	for _, k := range []record.Kind{record.KindAck, record.KindHealth} {
		es, err := st.ByKind(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			top = max(top, e.Seq)
		}
	}
	a, err := NewAcker("pole-1", c.pole.kidSign, c.pole.chainSign, node, st)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Sent(alert, record.AckDisplayed) || a.Sent(alert, record.AckPlayed) {
		t.Error("the acks sent before the restart are not known")
	}
	if sent, _ := a.Ack(ctx, alert, record.AckDisplayed, "", clk.Now()); sent {
		t.Error("an ack sent before the restart was sent again")
	}
	// The clock did not move: the next number must still be above the top.
	if sent, err := a.Ack(ctx, alert, record.AckPlayed, "", clk.Now()); err != nil || !sent {
		t.Fatalf("Ack played after restart = %v, %v (a replayed sequence number?)", sent, err)
	}
	es, _ := st.ByKind(record.KindAck)
	for _, e := range es {
		if r, _ := e.Parse(); r.Body.(*record.Ack).State == record.AckPlayed && e.Seq <= top {
			t.Errorf("played ack has seq %d, not above %d", e.Seq, top)
		}
	}
}

// TestAckAllReceivedImplied: "received" with another state of the same
// record in one AckAll is left out (each state implies it), and counts as
// sent; alone, it is sent.
func TestAckAllReceivedImplied(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(t0)
	c := testCity()
	node, st, stop := runNode(t, t.TempDir(), clk)
	defer stop()
	a, err := NewAcker("pole-1", c.pole.kidSign, c.pole.chainSign, node, st)
	if err != nil {
		t.Fatal(err)
	}
	shown, queued := record.IDOf([]byte("shown at once")), record.IDOf([]byte("queued behind it"))
	n, err := a.AckAll(ctx, []AckRequest{{Record: shown, State: record.AckReceived}, {Record: shown, State: record.AckDisplayed},
		{Record: queued, State: record.AckReceived}}, clk.Now())
	if err != nil || n != 2 {
		t.Fatalf("AckAll = %d, %v; want 2 (displayed for the one shown, received for the other)", n, err)
	}
	if !a.Sent(shown, record.AckReceived) || !a.Sent(queued, record.AckReceived) || a.Sent(queued, record.AckDisplayed) {
		t.Error("Sent does not say received for both and displayed for the shown one only")
	}
	es, err := st.ByKind(record.KindAck)
	if err != nil || len(es) != 2 {
		t.Fatalf("%d acks stored, %v; want 2", len(es), err)
	}
	if n, err := a.AckAll(ctx, []AckRequest{{Record: shown, State: record.AckReceived}}, clk.Now()); err != nil || n != 0 {
		t.Errorf("received after displayed: sent %d, %v; want none", n, err)
	}
}
