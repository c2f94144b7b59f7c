package gossip

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
)

// A record that came by a medium the neighbours share is announced, not
// pushed; the neighbours that lack it ask for it, and then push it on as
// a record new to the mesh, so it still reaches every member.
func TestAnnounceOnly(t *testing.T) {
	c := newCluster(t, netsim.Link{}, func(cfg *Config) {
		cfg.AnnounceOnly = func(f mesh.Forward) bool { return f.From.Link == "zone-broker" }
		cfg.AnnounceDelay = 200 * time.Millisecond
	})
	nodes := c.startMany(6)
	waitFor(t, 20*time.Second, "everyone sees six members", func() bool { return allSee(nodes, 6) })

	from := nodes[0]
	before := from.link.Stats()
	// Two records within AnnounceDelay: one notice for both, to each of
	// Fanout members.
	r, r1 := c.city.alert(t, 1), c.city.alert(t, 11)
	for _, x := range []*record.Record{r, r1} {
		if !from.node.Deliver(mesh.Source{Link: "zone-broker", Peer: "gw-1"}, x.Raw()) {
			t.Fatal("the node refused the delivery")
		}
	}
	waitFor(t, 10*time.Second, "the alerts on every member, and the notices sent", func() bool {
		if from.link.Stats().IHaveSent == before.IHaveSent {
			return false
		}
		for _, nd := range nodes {
			if !nd.has(r.ID(), r1.ID()) {
				return false
			}
		}
		return true
	})
	after := from.link.Stats()
	// It sends the record only to members that ask (a graft each).
	pushed, asked := after.PushSent-before.PushSent, after.GraftReceived-before.GraftReceived
	if announced := after.IHaveSent - before.IHaveSent; pushed != asked || announced != 4 {
		t.Errorf("the node that had them from the broker pushed them %d times (%d asked) and sent %d notices; want only to those who asked, and one notice to each of Fanout (4)", pushed, asked, announced)
	}
	// The others asked for it (a graft, or anti-entropy if the stores'
	// difference showed first) and pushed it on.
	if s := sum(nodes[1:]); s.GraftSent+s.AntiEntropyFetched == 0 || s.PushSent == 0 {
		t.Errorf("the others sent %d grafts, fetched %d and sent %d pushes; want a graft or a fetch and pushes, since only an announcement reached them", s.GraftSent, s.AntiEntropyFetched, s.PushSent)
	}

	// A record this node published itself is still pushed.
	before = from.link.Stats()
	r2 := c.city.alert(t, 2)
	publish(t, from, r2)
	waitFor(t, 10*time.Second, "the second alert on every member", func() bool {
		for _, nd := range nodes {
			if !nd.has(r2.ID()) {
				return false
			}
		}
		return true
	})
	after = from.link.Stats()
	if pushed := after.PushSent - before.PushSent - (after.GraftReceived - before.GraftReceived); pushed != 4 {
		t.Errorf("a published record was pushed to %d members; want Fanout (4)", pushed)
	}
}
