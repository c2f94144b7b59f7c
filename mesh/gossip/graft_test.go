package gossip

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim"
)

// TestGraftAsksTheNextAnnouncer: a member heard "I have" from two
// members; its ask to the first is lost, so it asks the second, which
// sends the record.
func TestGraftAsksTheNextAnnouncer(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, func(cfg *Config) {
		cfg.AntiEntropyInterval = time.Hour
		cfg.Memberlist.PushPullInterval = time.Hour
	})
	nodes := c.startMany(3)
	waitFor(t, 20*time.Second, "everyone sees three members", func() bool { return allSee(nodes, 3) })
	lost, answers, asker := nodes[0], nodes[1], nodes[2]
	r := c.city.alert(t, 1)
	// Both announcers hold it without having offered it to anyone.
	for _, nd := range []*tnode{lost, answers} {
		if _, err := nd.st.Put(r, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.net.SetDirectedLink(asker.name, lost.name, netsim.Link{Loss: 1})
	before := sum(nodes)
	asker.link.heard(r.ID(), lost.name)
	asker.link.heard(r.ID(), answers.name)
	waitFor(t, 10*time.Second, "the record at the asker", func() bool { return asker.has(r.ID()) })

	if got := asker.link.Stats().GraftSent - before.GraftSent; got != 2 {
		t.Errorf("the asker sent %d grafts, want 2 (the first lost)", got)
	}
	if got := answers.link.Stats().GraftReceived; got != 1 {
		t.Errorf("the second announcer got %d grafts, want 1", got)
	}
	if got := lost.link.Stats().GraftReceived; got != 0 {
		t.Errorf("the first announcer got %d grafts through a link that drops all: the test cuts nothing", got)
	}
	if got := sum(nodes).AntiEntropyFetched - before.AntiEntropyFetched; got != 0 {
		t.Errorf("anti-entropy fetched %d records: the graft path was not what repaired", got)
	}
}
