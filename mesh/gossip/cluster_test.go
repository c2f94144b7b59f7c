package gossip

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/netsim/netsimtest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

func TestMain(m *testing.M) { netsimtest.VerifyTestMain(m) }

// testCity is a city PKI made once per test binary.
type testCity struct {
	root, ca   *trust.CA
	server     *x509.Certificate
	serverSign record.Signer // by kid: receivers know the certificate
}

var cityOnce = sync.OnceValues(func() (*testCity, error) { return newTestCity("testville") })

func newTestCity(name string) (*testCity, error) {
	now := time.Now()
	root, err := trust.NewRoot(name, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	ca, err := root.NewCityCA(now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	c := &testCity{root: root, ca: ca}
	cert, key, err := c.issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"})
	if err != nil {
		return nil, err
	}
	c.server = cert
	if c.serverSign, err = record.NewSigner(key, cert.Raw, false); err != nil {
		return nil, err
	}
	return c, nil
}

func theCity(t testing.TB) *testCity {
	t.Helper()
	c, err := cityOnce()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testCity) issue(id trust.Identity) (*x509.Certificate, ed25519.PrivateKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cert, err := c.ca.Issue(id, pub, time.Now().Add(-time.Hour))
	return cert, key, err
}

func (c *testCity) verifier(t testing.TB) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{
		Roots:         []*x509.Certificate{c.root.Cert},
		Intermediates: []*x509.Certificate{c.ca.Cert},
		TrustedClock:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddCertificates(time.Now(), c.server); err != nil {
		t.Fatal(err)
	}
	return v
}

// alert is a city-wide warning from the server with sequence seq.
func (c *testCity) alert(t testing.TB, seq uint64) *record.Record {
	t.Helper()
	now := time.Now()
	r, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.City,
		Issued: now, Expires: now.Add(time.Hour), Origin: "server-1", Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: fmt.Sprintf("Flood warning %d: move to higher ground", seq)}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
	}, c.serverSign)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cluster is a set of gossip nodes on one simulated network.
type cluster struct {
	t     *testing.T
	net   *netsim.Network
	city  *testCity
	dir   string
	nodes map[string]*tnode
	// tune adjusts each node's link configuration before New.
	tune func(*Config)
}

// tnode is one node: store, mesh node, gossip link and their goroutines.
type tnode struct {
	name  string
	st    *store.Store
	node  *mesh.Node
	link  *Link
	snap  string
	stop  func()
	cert  *x509.Certificate
	key   ed25519.PrivateKey
	mu    sync.Mutex
	got   map[record.ID]bool
	event chan struct{}
}

func newCluster(t *testing.T, link netsim.Link, tune func(*Config)) *cluster {
	t.Helper()
	n := netsim.New(netsim.Config{Seed: 1, Default: link})
	c := &cluster{t: t, net: n, city: theCity(t), dir: t.TempDir(), nodes: map[string]*tnode{}, tune: tune}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.stop != nil {
				nd.stop()
			}
			nd.st.Close()
		}
		n.Close()
		// A probe in flight outlives Shutdown by up to a probe interval:
		// let memberlist's goroutines end before the next test starts.
		waitFor(t, 10*time.Second, "memberlist goroutines to end", func() bool { return !netsimtest.MemberlistRunning() })
	})
	return c
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startWith starts a node with the given certificate, key and verifier
// (a stranger or an impostor).
func (c *cluster) startWith(name string, cert *x509.Certificate, key ed25519.PrivateKey, v *trust.Verifier) *tnode {
	c.t.Helper()
	st, err := store.Open(filepath.Join(c.dir, name+".db"), store.DefaultOptions())
	if err != nil {
		c.t.Fatal(err)
	}
	nd := &tnode{name: name, st: st, cert: cert, key: key}
	c.nodes[name] = nd
	c.run(nd, v)
	return nd
}

// start starts (or restarts, over the same store and snapshot) the named
// node.
func (c *cluster) start(name string) *tnode {
	c.t.Helper()
	nd := c.nodes[name]
	if nd == nil {
		cert, key, err := c.city.issue(trust.Identity{Role: trust.RoleDevice, ID: name, Zone: "z1"})
		if err != nil {
			c.t.Fatal(err)
		}
		st, err := store.Open(filepath.Join(c.dir, name+".db"), store.DefaultOptions())
		if err != nil {
			c.t.Fatal(err)
		}
		nd = &tnode{name: name, st: st, cert: cert, key: key, snap: filepath.Join(c.dir, name+".peers.json")}
		c.nodes[name] = nd
	}
	c.run(nd, c.city.verifier(c.t))
	return nd
}

// run starts nd's node and link on a new transport.
func (c *cluster) run(nd *tnode, v *trust.Verifier) {
	c.t.Helper()
	nd.got = map[record.ID]bool{}
	nd.event = make(chan struct{}, 1)
	node, err := mesh.NewNode(mesh.NodeConfig{ID: nd.name, Store: nd.st, Verifier: v, Logger: quiet, OnEvent: func(ev mesh.Event) {
		if ev.Kind == mesh.EventAccepted {
			nd.mu.Lock()
			nd.got[ev.ID] = true
			nd.mu.Unlock()
			select {
			case nd.event <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := c.net.Transport(nd.name)
	if err != nil {
		c.t.Fatal(err)
	}
	mc := netsimtest.FastMemberlist()
	mc.Transport = tr
	cfg := Config{
		Node: node, Verifier: v, Cert: nd.cert, Key: nd.key, Memberlist: mc,
		Keys: [][]byte{[]byte("testville gossip key 32 bytes!!!")}, Label: "testville",
		Seed: uint64(len(c.nodes)) + 1, Logger: quiet, SnapshotPath: nd.snap,
		AntiEntropyInterval: 2 * time.Second, RejoinInterval: 300 * time.Millisecond,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); node.Run(ctx) }()
	go func() { defer wg.Done(); l.Run(ctx) }()
	nd.node, nd.link = node, l
	var once sync.Once
	nd.stop = func() {
		once.Do(func() {
			l.Close()
			cancel()
			wg.Wait()
		})
	}
}

// has reports whether nd's store holds every id.
func (nd *tnode) has(ids ...record.ID) bool {
	for _, id := range ids {
		if ok, err := nd.st.Has(id); err != nil || !ok {
			return false
		}
	}
	return true
}

// members returns the names nd's memberlist sees alive.
func (nd *tnode) members() map[string]bool {
	out := map[string]bool{}
	for _, m := range nd.link.Memberlist().Members() {
		out[m.Name] = true
	}
	return out
}

// startMany starts n nodes named p01… and joins them through the first.
func (c *cluster) startMany(n int) []*tnode {
	c.t.Helper()
	var nodes []*tnode
	for i := range n {
		nodes = append(nodes, c.start(fmt.Sprintf("p%02d", i+1)))
	}
	seed, _ := c.net.Addr(nodes[0].name)
	for _, nd := range nodes[1:] {
		if _, err := nd.link.Join([]string{seed}); err != nil {
			c.t.Fatalf("%s join: %v", nd.name, err)
		}
	}
	waitFor(c.t, 20*time.Second, "the cluster to converge", func() bool { return allSee(nodes, len(nodes)) })
	return nodes
}

func allSee(nodes []*tnode, n int) bool {
	for _, nd := range nodes {
		if nd.link.Memberlist().NumMembers() != n {
			return false
		}
	}
	return true
}

func names(nodes []*tnode) []string {
	var out []string
	for _, nd := range nodes {
		out = append(out, nd.name)
	}
	return out
}

// waitFor polls cond every 20 ms until it holds, or fails the test after
// timeout. memberlist runs on real timers, so conditions are polled with
// a deadline; nothing sleeps for a fixed time to let things happen.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
	return time.Since(start)
}

func publish(t testing.TB, nd *tnode, r *record.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.node.Publish(ctx, r); err != nil {
		t.Fatalf("%s publish: %v", nd.name, err)
	}
}

// sum adds up the links' counters.
func sum(nodes []*tnode) Stats {
	var s Stats
	for _, nd := range nodes {
		x := nd.link.Stats()
		s.PushSent += x.PushSent
		s.GraftSent += x.GraftSent
		s.IHaveSent += x.IHaveSent
		s.SessionsStarted += x.SessionsStarted
		s.SessionsCompleted += x.SessionsCompleted
		s.SessionsFailed += x.SessionsFailed
		s.AntiEntropyFetched += x.AntiEntropyFetched
		s.AntiEntropySent += x.AntiEntropySent
		s.ReconcileBytesSent += x.ReconcileBytesSent
		s.RejoinAttempts += x.RejoinAttempts
		s.RejoinSuccesses += x.RejoinSuccesses
		s.RefusedMembers += x.RefusedMembers
		s.BadMessages += x.BadMessages
	}
	return s
}
