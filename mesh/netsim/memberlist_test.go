package netsim

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/netsim/netsimtest"
)

// msgDelegate is a memberlist.Delegate that hands user messages to a channel.
type msgDelegate struct{ msgs chan []byte }

func (d *msgDelegate) NodeMeta(int) []byte { return nil }
func (d *msgDelegate) NotifyMsg(b []byte) {
	select {
	case d.msgs <- clone(b):
	default:
	}
}
func (d *msgDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *msgDelegate) LocalState(bool) []byte          { return nil }
func (d *msgDelegate) MergeRemoteState([]byte, bool)   {}

type mlNode struct {
	tr   *Transport
	ml   *memberlist.Memberlist
	msgs chan []byte
}

// localConfig is memberlist's Local profile, silent.
func localConfig(name string) *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.LogOutput = io.Discard
	return c
}

// joinConfig is the Local profile with push/pull every second. When nodes
// join in a burst through one seed, the alive messages of the newcomers get
// only RetransmitMult·⌈log10(N+1)⌉ transmits per node that learns them, so
// some early joiners only hear of later ones at the next push/pull (15 s in
// the Local profile, 30 s in LAN, longer above 32 nodes). A short interval
// keeps the convergence tests in seconds; the failure detector is unchanged.
func joinConfig(name string) *memberlist.Config {
	c := localConfig(name)
	c.PushPullInterval = time.Second
	c.EnableCompression = false     // LZW dominates the CPU profile; not what these tests are about
	c.TCPTimeout = 10 * time.Second // LAN's value: hundreds of nodes in one process starve the CPU
	return c
}

// fastConfig shortens the failure detector so partitions show in seconds
// (netsimtest.FastMemberlist, with the dead kept a little longer).
func fastConfig(name string) *memberlist.Config {
	c := netsimtest.FastMemberlist()
	c.Name = name
	c.LogOutput = io.Discard
	c.GossipToTheDeadTime = 2 * time.Second
	c.EnableCompression = true // as before: only the timers are shortened
	return c
}

// newMLNet is newNet for memberlist tests: at cleanup, after every
// memberlist has shut down (their cleanups run first), it waits for
// memberlist's goroutines to end (see settled), so tests do not overlap.
func newMLNet(t *testing.T, cfg Config) *Network {
	t.Helper()
	n := newNet(t, cfg)
	t.Cleanup(func() {
		waitFor(t, 10*time.Second, "memberlist goroutines to end", func() bool { return !netsimtest.MemberlistRunning() })
	})
	return n
}

// startNode runs memberlist on a new Transport; it is shut down at the end
// of the test, or as soon as netsim crashes its node.
func startNode(t testing.TB, n *Network, name string, config func(string) *memberlist.Config) *mlNode {
	t.Helper()
	tr := mustTransport(t, n, name)
	d := &msgDelegate{msgs: make(chan []byte, 16)}
	c := config(name)
	c.Transport = tr
	c.Delegate = d
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatalf("memberlist.Create(%s): %v", name, err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	go func() {
		select {
		case <-tr.Crashed():
			ml.Shutdown()
		case <-tr.Done():
		}
	}()
	return &mlNode{tr: tr, ml: ml, msgs: d.msgs}
}

// startCluster starts size nodes and joins each to node 0.
func startCluster(t testing.TB, n *Network, size int, config func(string) *memberlist.Config) []*mlNode {
	t.Helper()
	nodes := make([]*mlNode, size)
	for i := range nodes {
		nodes[i] = startNode(t, n, fmt.Sprintf("n%03d", i), config)
		if i > 0 {
			if _, err := nodes[i].ml.Join([]string{nodes[0].tr.Addr()}); err != nil {
				t.Fatalf("n%03d join: %v", i, err)
			}
		}
	}
	return nodes
}

// allSee reports whether every node counts want live members.
func allSee(nodes []*mlNode, want int) func() bool {
	return func() bool {
		for _, nd := range nodes {
			if nd.ml.NumMembers() != want {
				return false
			}
		}
		return true
	}
}

func testConverge(t *testing.T, size int, timeout time.Duration) {
	n := newMLNet(t, Config{Seed: 1})
	start := time.Now()
	nodes := startCluster(t, n, size, joinConfig)
	joined := time.Since(start)
	conv := waitFor(t, timeout, fmt.Sprintf("%d nodes to converge", size), allSee(nodes, size))
	s := n.TotalStats()
	t.Logf("N=%d: joins took %v, then converged in %v; %d packets, %d stream bytes",
		size, joined.Round(time.Millisecond), conv.Round(time.Millisecond), s.PacketsSent, s.StreamBytesSent)
}

func TestMemberlistConverge20(t *testing.T) { testConverge(t, 20, 20*time.Second) }

func TestMemberlistConverge100(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	testConverge(t, 100, 30*time.Second)
}

func TestMemberlistConverge200(t *testing.T) {
	if testing.Short() || (raceEnabled && !integ()) {
		t.Skip("-short, or -race without CITYARRAY_INTEG=1 (too heavy for the race detector on small machines)")
	}
	testConverge(t, 200, 60*time.Second)
}

// TestMemberlistLossy converges over a lossy, jittery, duplicating link.
func TestMemberlistLossy(t *testing.T) {
	n := newMLNet(t, Config{Seed: 5, Default: Link{
		Latency: 2 * time.Millisecond, Jitter: time.Millisecond,
		Loss: 0.05, Duplicate: 0.02, Reorder: 0.02,
	}})
	nodes := startCluster(t, n, 20, joinConfig)
	took := waitFor(t, 20*time.Second, "convergence at 5% loss", allSee(nodes, 20))
	s := n.TotalStats()
	t.Logf("converged in %v; sent %d, lost %d, duplicated %d", took.Round(time.Millisecond), s.PacketsSent, s.Dropped.Loss, s.Duplicated)
}

func TestMemberlistSend(t *testing.T) {
	n := newMLNet(t, Config{})
	nodes := startCluster(t, n, 5, joinConfig)
	waitFor(t, 10*time.Second, "5 nodes to converge", allSee(nodes, 5))
	to := nodes[3].ml.LocalNode()
	expect := func(want string) {
		t.Helper()
		tm := time.NewTimer(5 * time.Second)
		defer tm.Stop()
		select {
		case got := <-nodes[3].msgs:
			if string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
		case <-tm.C:
			t.Fatalf("%q never arrived", want)
		}
	}
	if err := nodes[0].ml.SendBestEffort(to, []byte("best effort")); err != nil {
		t.Fatal(err)
	}
	expect("best effort")
	n.ResetStats()
	// Streams are reliable: SendReliable gets through a link that loses
	// every packet.
	n.SetLink("n000", "n003", Link{Loss: 1})
	if err := nodes[0].ml.SendReliable(to, []byte("reliable")); err != nil {
		t.Fatal(err)
	}
	expect("reliable")
	if s := n.Stats("n000"); s.StreamsOpened == 0 || s.StreamBytesSent == 0 {
		t.Errorf("SendReliable used no stream: %+v", s)
	}
}

func TestMemberlistPartitionHeal(t *testing.T) {
	const size = 20
	n := newMLNet(t, Config{Seed: 2})
	nodes := startCluster(t, n, size, fastConfig)
	waitFor(t, 20*time.Second, "convergence", allSee(nodes, size))

	left, right := nodes[:size/2], nodes[size/2:]
	names := func(ns []*mlNode) []string {
		var out []string
		for _, nd := range ns {
			out = append(out, nd.tr.Name())
		}
		return out
	}
	n.Partition(names(left), names(right))
	took := waitFor(t, 30*time.Second, "each half to mark the other dead", func() bool {
		return allSee(left, size/2)() && allSee(right, size/2)()
	})
	t.Logf("partition: both halves marked the other dead in %v", took.Round(time.Millisecond))
	if s := n.TotalStats(); s.Dropped.Partition == 0 {
		t.Error("no packets dropped by the partition")
	}

	n.Heal()
	start := time.Now()
	if _, err := left[0].ml.Join([]string{right[0].tr.Addr()}); err != nil {
		t.Fatalf("re-join across the healed partition: %v", err)
	}
	took = waitFor(t, 30*time.Second, "re-merge", allSee(nodes, size))
	t.Logf("heal: re-merged %v after one Join (Join itself %v)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond)-took.Round(time.Millisecond))
}

func TestMemberlistCrashRestart(t *testing.T) {
	const size = 10
	n := newMLNet(t, Config{Seed: 3})
	nodes := startCluster(t, n, size, fastConfig)
	waitFor(t, 20*time.Second, "convergence", allSee(nodes, size))

	victim := nodes[size-1]
	if err := n.Crash(victim.tr.Name()); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 30*time.Second, "the crash to be detected", allSee(nodes[:size-1], size-1))
	t.Logf("crash detected by all in %v", took.Round(time.Millisecond))

	if err := n.Restart(victim.tr.Name()); err != nil {
		t.Fatal(err)
	}
	reborn := startNode(t, n, victim.tr.Name(), fastConfig)
	if reborn.tr.Addr() != victim.tr.Addr() {
		t.Errorf("restarted at %s, was %s", reborn.tr.Addr(), victim.tr.Addr())
	}
	if _, err := reborn.ml.Join([]string{nodes[0].tr.Addr()}); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	nodes[size-1] = reborn
	took = waitFor(t, 30*time.Second, "the restarted node to be alive everywhere", allSee(nodes, size))
	t.Logf("restart: alive everywhere %v after Join", took.Round(time.Millisecond))
}
