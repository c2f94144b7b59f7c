package fleet_test

import (
	"github.com/google/go-cmp/cmp"

	"path/filepath"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/server/fleet"
)

// TestReplayAfterCrash is the crash the fleet must survive: acks and a
// health report reach the mesh store (which is crash-safe) and the fleet's
// memory, and the process dies before the fleet flushes them. A new fleet,
// told again which records are whose (the desk's Retrack) and replaying
// the store, shows the same delivery as before the crash; a replay after a
// flush reads only what came after it.
func TestReplayAfterCrash(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	st, err := store.Open(filepath.Join(e.dir, "records.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// observe stores r as the mesh node does, then shows it to f.
	observe := func(f interface {
		Observe(*record.Record, time.Time)
	}, r *record.Record) {
		t.Helper()
		if _, err := st.Put(r, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		f.Observe(r, e.clk.Now())
	}

	alert := alertRecord(t, record.ZoneScope("z1"), 1, e.clk.Now())
	e.fleet.Track("a1", []record.ID{alert.ID()}, alert.Scope, e.clk.Now())
	if _, err := e.fleet.Flush(); err != nil {
		t.Fatal(err)
	}
	// After the flush: the crash window.
	e.clk.Advance(time.Minute)
	observe(e.fleet, p.devices[0].ack(t, alert.ID(), record.AckDisplayed, "", e.clk.Now()))
	observe(e.fleet, p.devices[1].ack(t, alert.ID(), record.AckReceived, "", e.clk.Now()))
	observe(e.fleet, p.devices[2].ack(t, alert.ID(), record.AckFailed, "panel dark", e.clk.Now()))
	observe(e.fleet, p.devices[3].health(t, "mesh", "9.9.9", e.clk.Now()))
	before, err := e.fleet.Status("a1")
	if err != nil {
		t.Fatal(err)
	}
	if before.Reached != 3 {
		t.Fatalf("before the crash: %+v", before)
	}

	// The crash: no Flush. A new fleet on the same files.
	f2 := e.reopen()
	if got, _ := f2.Status("a1"); got.Reached != 0 {
		t.Fatalf("the acks were flushed after all (reached %d): the test proves nothing", got.Reached)
	}
	f2.Track("a1", []record.ID{alert.ID()}, alert.Scope, before.PublishedAt) // the desk's Retrack
	n, err := f2.Replay(st)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("replayed %d records, want the 3 acks and 1 health report", n)
	}
	after, err := f2.Status("a1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("after replay (-before the crash +after):\n%s", d)
	}
	if d, _ := f2.Device(p.devices[3].id); d.Health == nil || d.Health.Version != "9.9.9" {
		t.Errorf("health report not replayed: %+v", d.Health)
	}
	if c := f2.Counters(); c.Acks != 0 {
		t.Errorf("replayed acks counted as new: %+v", c)
	}
	// Replaying again changes nothing.
	if _, err := f2.Replay(st); err != nil {
		t.Fatal(err)
	}
	if again, _ := f2.Status("a1"); !cmp.Equal(again, before) {
		t.Errorf("a second replay changed the status: %+v", again)
	}

	// After a flush, a replay reads only what the store got since (less
	// the margin).
	e.clk.Advance(2 * fleet.ReplayMargin)
	if _, err := f2.Flush(); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Second)
	observe(f2, p.devices[4].ack(t, alert.ID(), record.AckDisplayed, "", e.clk.Now()))
	f3 := e.reopen()
	f3.Track("a1", []record.ID{alert.ID()}, alert.Scope, before.PublishedAt)
	if n, err := f3.Replay(st); err != nil || n != 1 {
		t.Errorf("replay after a flush: %d records, %v; want only the 1 ack since", n, err)
	}
	if got, _ := f3.Status("a1"); got.Reached != 4 {
		t.Errorf("after the second crash: reached %d, want 4", got.Reached)
	}
}
