package gossip

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// TestRefusesStrangers: a member whose meta carries a certificate from
// another city, or whose name is not the one its certificate names, is
// refused by every member and never listed.
func TestRefusesStrangers(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, nil)
	good := c.startMany(3)
	seed, _ := c.net.Addr(good[0].name)

	other, err := newTestCity("otherville")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := other.issue(trust.Identity{Role: trust.RoleDevice, ID: "p08", Zone: "z1"})
	if err != nil {
		t.Fatal(err)
	}
	stranger := c.startWith("p08", cert, key, other.verifier(t))
	// An impostor: a certificate of this city, for p07, under the name p09.
	cert, key, err = c.city.issue(trust.Identity{Role: trust.RoleDevice, ID: "p07", Zone: "z1"})
	if err != nil {
		t.Fatal(err)
	}
	impostor := c.startWith("p09", cert, key, c.city.verifier(t))

	// The stranger refuses the city's members too, so its Join fails. The
	// impostor accepts them (its Join returns once it has their state)
	// and joins through every member, so that each one is offered it
	// directly (a refused member's news does not spread: the members that
	// refuse it do not pass it on, and memberlist stops retransmitting its
	// own announcement after a few rounds): every member must refuse it.
	if n, err := stranger.link.Join([]string{seed}); n != 0 || err == nil {
		t.Errorf("the stranger joined %d members (err %v)", n, err)
	}
	var all []string
	for _, nd := range good {
		a, _ := c.net.Addr(nd.name)
		all = append(all, a)
	}
	impostor.link.Join(all)
	waitFor(t, 10*time.Second, "the members to refuse the newcomers", func() bool {
		for _, nd := range good {
			if nd.link.Stats().RefusedMembers < 1 {
				return false
			}
		}
		return good[0].link.Stats().RefusedMembers >= 2 // the stranger at the seed, and the impostor
	})
	for _, nd := range good {
		m := nd.members()
		if m["p08"] || m["p09"] || len(m) != 3 {
			t.Errorf("%s lists %v", nd.name, m)
		}
	}
}

// TestLossyDelivery: at 20 % loss an alert published at one node reaches
// all ten (pushes, notices and grafts); and an alert whose origin loses
// every packet it sends still does, by anti-entropy over streams.
func TestLossyDelivery(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: 2 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.2}, func(cfg *Config) {
		cfg.AntiEntropyInterval = 500 * time.Millisecond
	})
	nodes := c.startMany(10)

	var ids []record.ID
	for i := range 5 {
		a := c.city.alert(t, uint64(1+i))
		publish(t, nodes[i], a)
		ids = append(ids, a.ID())
	}
	took := waitFor(t, 15*time.Second, "five alerts to reach every node at 20% loss", func() bool {
		for _, nd := range nodes {
			if !nd.has(ids...) {
				return false
			}
		}
		return true
	})
	s := sum(nodes)
	t.Logf("20%% loss: all 10 in %v; pushes %d, notices %d, grafts %d, anti-entropy fetches %d",
		took.Round(time.Millisecond), s.PushSent, s.IHaveSent, s.GraftSent, s.AntiEntropyFetched)

	// Every packet from p02 is lost; streams still work.
	for _, nd := range nodes {
		if nd != nodes[1] {
			c.net.SetDirectedLink(nodes[1].name, nd.name, netsim.Link{Loss: 1})
		}
	}
	before := sum(nodes).AntiEntropyFetched
	b := c.city.alert(t, 9)
	publish(t, nodes[1], b)
	took = waitFor(t, 15*time.Second, "an alert from a node that loses every packet to reach all", func() bool {
		for _, nd := range nodes {
			if !nd.has(b.ID()) {
				return false
			}
		}
		return true
	})
	s = sum(nodes)
	t.Logf("origin cut off from packets: all 10 in %v; anti-entropy fetched %d records", took.Round(time.Millisecond), s.AntiEntropyFetched-before)
	if s.AntiEntropyFetched == before {
		t.Error("no record was fetched by anti-entropy")
	}
}

// TestPartitionHeal: two halves lose each other for longer than
// memberlist remembers the dead, publish different records, and after
// the cut heals the re-join loop (nobody calls Join) merges them and
// anti-entropy gives every node every record.
func TestPartitionHeal(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, nil)
	nodes := c.startMany(6)
	left, right := nodes[:3], nodes[3:]
	c.net.Partition(names(left), names(right))
	waitFor(t, 20*time.Second, "each half to declare the other dead", func() bool {
		return allSee(left, 3) && allSee(right, 3)
	})
	// GossipToTheDeadTime is 1 s: once every node has failed to re-join
	// four more times (each attempt waits out TCPTimeout, 500 ms), the
	// dead have been forgotten.
	base := map[string]uint64{}
	for _, nd := range nodes {
		base[nd.name] = nd.link.Stats().RejoinAttempts
	}
	waitFor(t, 30*time.Second, "the re-join loop to fail a few times", func() bool {
		for _, nd := range nodes {
			if nd.link.Stats().RejoinAttempts < base[nd.name]+4 {
				return false
			}
		}
		return true
	})
	if s := sum(nodes); s.RejoinSuccesses != 0 {
		t.Fatalf("%d re-joins succeeded across the partition", s.RejoinSuccesses)
	}

	var ids []record.ID
	for i := range 3 {
		for side, half := range [][]*tnode{left, right} {
			r := c.city.alert(t, uint64(10+2*i+side))
			publish(t, half[i], r)
			ids = append(ids, r.ID())
		}
	}
	waitFor(t, 10*time.Second, "each half to hold its own records", func() bool {
		for _, nd := range left {
			if !nd.has(ids[0], ids[2], ids[4]) {
				return false
			}
		}
		for _, nd := range right {
			if !nd.has(ids[1], ids[3], ids[5]) {
				return false
			}
		}
		return true
	})
	for _, nd := range left {
		if nd.has(ids[1]) {
			t.Fatalf("%s has a record of the other half before the heal", nd.name)
		}
	}

	c.net.Heal()
	took := waitFor(t, 20*time.Second, "every node to hold every record", func() bool {
		for _, nd := range nodes {
			if !nd.has(ids...) {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "membership to merge", func() bool { return allSee(nodes, 6) })
	s := sum(nodes)
	t.Logf("healed in %v: %d re-joins of %d attempts, sessions %d started / %d completed / %d failed, %d records fetched, %d reconcile bytes, pushes %d",
		took.Round(time.Millisecond), s.RejoinSuccesses, s.RejoinAttempts, s.SessionsStarted, s.SessionsCompleted, s.SessionsFailed,
		s.AntiEntropyFetched, s.ReconcileBytesSent, s.PushSent)
	if s.RejoinSuccesses == 0 {
		t.Error("the halves merged without the re-join loop")
	}
	if s.AntiEntropyFetched < 6 {
		t.Errorf("anti-entropy fetched %d records; each half lacked 3", s.AntiEntropyFetched)
	}
}

// TestRestartCatchesUp: a node that was down (memberlist shut down, store
// kept) while records were published re-joins from its peer snapshot and
// fetches them.
func TestRestartCatchesUp(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, nil)
	nodes := c.startMany(4)
	late := nodes[3]
	late.stop()
	snap, err := os.ReadFile(late.snap)
	if err != nil {
		t.Fatalf("no snapshot after Close: %v", err)
	}
	var f snapshotFile
	if err := json.Unmarshal(snap, &f); err != nil || len(f.Members) != 3 {
		t.Fatalf("snapshot %s: %v", snap, err)
	}
	waitFor(t, 10*time.Second, "the others to see it gone", func() bool { return allSee(nodes[:3], 3) })

	var ids []record.ID
	for i := range 3 {
		r := c.city.alert(t, uint64(20+i))
		publish(t, nodes[i], r)
		ids = append(ids, r.ID())
	}
	waitFor(t, 10*time.Second, "the others to hold the records", func() bool {
		for _, nd := range nodes[:3] {
			if !nd.has(ids...) {
				return false
			}
		}
		return true
	})

	c.start(late.name) // same store, same snapshot; nobody calls Join
	took := waitFor(t, 20*time.Second, "the restarted node to catch up", func() bool { return late.has(ids...) })
	s := late.link.Stats()
	t.Logf("caught up %v after restart: re-joins %d/%d, fetched %d", took.Round(time.Millisecond), s.RejoinSuccesses, s.RejoinAttempts, s.AntiEntropyFetched)
	if s.RejoinSuccesses == 0 {
		t.Error("the restarted node did not re-join from its snapshot")
	}
	if s.AntiEntropyFetched < 3 {
		t.Errorf("fetched %d records by anti-entropy, want 3", s.AntiEntropyFetched)
	}
	waitFor(t, 10*time.Second, "everyone to see it again", func() bool { return allSee(nodes, 4) })
}

// TestBadInputIgnored: a bad reconcile body, summary or fetch is counted
// and ignored, and the link goes on working.
func TestBadInputIgnored(t *testing.T) {
	c := newCluster(t, netsim.Link{}, nil)
	nodes := c.startMany(2)
	a, b := nodes[0], nodes[1]
	d := (*delegate)(a.link)

	bad, _ := (&message{typ: msgReconcile, from: b.name, session: 42, initiator: true, body: []byte{1, 2, 3}}).encode(nil)
	d.NotifyMsg(bad)
	waitFor(t, 5*time.Second, "the bad reconcile to be counted", func() bool { return a.link.Stats().BadReconcile == 1 })
	// a ended the session with an empty reconcile; b never had it.
	waitFor(t, 5*time.Second, "b to drop the end of a session it never had", func() bool { return b.link.Stats().StaleReconcile >= 1 })

	reply, _ := (&message{typ: msgReconcile, from: b.name, session: 7, body: []byte{1, 0}}).encode(nil)
	d.NotifyMsg(reply)
	waitFor(t, 5*time.Second, "a reply to no session to be dropped", func() bool { return a.link.Stats().StaleReconcile == 1 })

	d.NotifyMsg([]byte{1, byte(msgFetch), 2, 'p', '2', 3, 0}) // a fetch of 3 ids in 1 byte
	if got := a.link.Stats().BadMessages; got != 1 {
		t.Errorf("BadMessages = %d after a malformed fetch", got)
	}
	unknown, _ := (&message{typ: msgFetch, from: b.name, ids: []record.ID{{9}}}).encode(nil)
	d.NotifyMsg(unknown)
	waitFor(t, 5*time.Second, "the fetch to be handled", func() bool { return a.link.Stats().FetchReceived == 1 })

	for _, buf := range [][]byte{{0xff}, {1, 3, 'p', '0', '2'}, append([]byte{1, 3}, make([]byte, 40)...)} {
		d.MergeRemoteState(buf, false)
	}
	if got := a.link.Stats().BadSummaries; got != 3 {
		t.Errorf("BadSummaries = %d, want 3", got)
	}
	if s := a.link.Stats(); s.AntiEntropySent != 0 {
		t.Errorf("bad input moved records: %+v", s)
	}

	// Still working: a record published at b reaches a, and a session
	// between them runs to its end.
	r := c.city.alert(t, 30)
	publish(t, b, r)
	waitFor(t, 5*time.Second, "a record to cross", func() bool { return a.has(r.ID()) })
	a.link.sync(b.name, whyPeriodic)
	waitFor(t, 5*time.Second, "a session to complete", func() bool { return a.link.Stats().SessionsCompleted >= 1 })
}

// TestReconcile: a member that every packet misses (pushes, notices) and
// whose backstop and push/pull are far off gets a record when it calls
// Reconcile, by a stream session.
func TestReconcile(t *testing.T) {
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, func(cfg *Config) {
		cfg.AntiEntropyInterval = time.Hour
		cfg.Memberlist.PushPullInterval = time.Hour
	})
	nodes := c.startMany(3)
	cut := nodes[2]
	a := c.city.alert(t, 1)
	for _, nd := range nodes[:2] {
		c.net.SetDirectedLink(nd.name, cut.name, netsim.Link{Loss: 1})
	}
	publish(t, nodes[0], a)
	waitFor(t, 10*time.Second, "the alert at the second member", func() bool { return nodes[1].has(a.ID()) })
	if cut.has(a.ID()) {
		t.Fatal("the alert reached the member every packet misses: the test cuts nothing")
	}
	before := cut.link.Stats().AntiEntropyFetched
	cut.link.Reconcile()
	waitFor(t, 10*time.Second, "the alert at the cut member after Reconcile", func() bool { return cut.has(a.ID()) })
	if got := cut.link.Stats().AntiEntropyFetched - before; got != 1 {
		t.Errorf("fetched %d records by anti-entropy, want 1", got)
	}
	// No member had written to it (every packet lost): it introduced
	// itself to the one it reconciled with first.
	if got := cut.link.Stats().Introductions; got != 1 {
		t.Errorf("%d introductions, want 1", got)
	}

	// A member that others write to reconciles with one of them, with no
	// introduction.
	b := c.city.alert(t, 2)
	publish(t, nodes[0], b)
	waitFor(t, 10*time.Second, "the second alert at the second member", func() bool { return nodes[1].has(b.ID()) })
	nodes[1].link.Reconcile() // nodes[0] pushed to it: a writer
	if got := nodes[1].link.Stats().Introductions; got != 0 {
		t.Errorf("a member written to made %d introductions, want 0", got)
	}
}
