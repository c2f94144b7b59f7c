package edge

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
)

// TestDueMeshResends: an outbox entry is offered the mesh again 2 s after
// it was first seen, then 4 s after that, then no more; an entry that
// left the outbox is forgotten.
func TestDueMeshResends(t *testing.T) {
	a, b := record.IDOf([]byte("a")), record.IDOf([]byte("b"))
	offers := map[record.ID]meshOffer{}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	step := func(at time.Duration, ids []record.ID, want ...record.ID) {
		t.Helper()
		got := dueMeshResends(ids, offers, t0.Add(at))
		if len(got) != len(want) {
			t.Fatalf("at %v: resend %v, want %v", at, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("at %v: resend %v, want %v", at, got, want)
			}
		}
	}
	step(0, []record.ID{a})                       // first seen: offered when made
	step(time.Second, []record.ID{a, b})          // too soon for a; b first seen
	step(2*time.Second, []record.ID{a, b}, a)     // a's first resend
	step(3*time.Second, []record.ID{a, b}, b)     // b's
	step(5*time.Second, []record.ID{a, b})        // a waits 4 s now
	step(6*time.Second, []record.ID{a, b}, a)     // a's second and last
	step(7*time.Second, []record.ID{a, b}, b)     // b's second and last
	step(time.Minute, []record.ID{a, b})          // no more
	step(time.Minute+time.Second, []record.ID{b}) // a left the outbox
	if _, ok := offers[a]; ok || len(offers) != 1 {
		t.Errorf("offers %v: want only b", offers)
	}
}

// Only what the zone broker sent (which every pole of the zone got) is
// announced on gossip instead of pushed; what came by the cellular link
// or by gossip is pushed as usual.
func TestFromZoneBroker(t *testing.T) {
	for link, want := range map[string]bool{gatewayLink: true, "cellular": false, gossip.LinkName: false, "": false} {
		if got := fromZoneBroker(mesh.Forward{From: mesh.Source{Link: link}}); got != want {
			t.Errorf("a record from link %q: announce only %v, want %v", link, got, want)
		}
	}
}
