// Package mqtttest builds what the MQTT link and broker tests share: a
// city PKI with TLS certificates, real mesh nodes on bbolt stores, signed
// records, and a polling wait. It is for tests only.
package mqtttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// PKI is a test city: a root and a city CA.
type PKI struct {
	City     string
	Root, CA *trust.CA
}

// NewPKI makes a city PKI issued now.
func NewPKI(t testing.TB, city string) *PKI {
	t.Helper()
	now := time.Now()
	root, err := trust.NewRoot(city, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := root.NewCityCA(now)
	if err != nil {
		t.Fatal(err)
	}
	return &PKI{City: city, Root: root, CA: ca}
}

// Leaf is an issued identity: its certificate, key, TLS chain and record
// signer.
type Leaf struct {
	ID     trust.Identity
	Cert   *x509.Certificate
	Key    ed25519.PrivateKey
	TLS    tls.Certificate // leaf, city CA; key
	Signer record.Signer   // with the x5chain
}

// Issue issues a leaf for id.
func (p *PKI) Issue(t testing.TB, id trust.Identity) *Leaf {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.CA.Issue(id, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := record.NewSigner(key, cert.Raw, true, p.CA.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		ID: id, Cert: cert, Key: key, Signer: s,
		TLS: tls.Certificate{Certificate: [][]byte{cert.Raw, p.CA.Cert.Raw}, PrivateKey: key, Leaf: cert},
	}
}

// Device, Gateway and Server issue leaves of those roles.
func (p *PKI) Device(t testing.TB, id, zone string) *Leaf {
	return p.Issue(t, trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone})
}

// Gateway issues a gateway leaf.
func (p *PKI) Gateway(t testing.TB, id, zone string) *Leaf {
	return p.Issue(t, trust.Identity{Role: trust.RoleGateway, ID: id, Zone: zone})
}

// Server issues a server leaf.
func (p *PKI) Server(t testing.TB, id string) *Leaf {
	return p.Issue(t, trust.Identity{Role: trust.RoleServer, ID: id})
}

// Verifier returns a fresh verifier for the city (trusted clock).
func (p *PKI) Verifier(t testing.TB) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{p.Root.Cert}, TrustedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Node is a running mesh node on a bbolt store in a test directory.
type Node struct {
	*mesh.Node
	Store    *store.Store
	Verifier *trust.Verifier
	Leaf     *Leaf
	// Accepted receives the id of every record the node accepts (it is
	// dropped if the channel is full: 4096).
	Accepted chan record.ID

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// NodeOption changes how StartNode starts a node.
type NodeOption func(*nodeOptions)

type nodeOptions struct {
	paused    bool
	maxOutbox int
}

// Paused makes StartNode create the node without running it: records
// delivered wait in its inbox until Run.
func Paused() NodeOption { return func(o *nodeOptions) { o.paused = true } }

// MaxOutbox bounds the node's store's outbox to n entries.
func MaxOutbox(n int) NodeOption { return func(o *nodeOptions) { o.maxOutbox = n } }

// StartNode opens (or reopens) the store of leaf's node in dir and runs
// the node until the test ends or Stop.
func StartNode(t testing.TB, p *PKI, dir string, leaf *Leaf, opts ...NodeOption) *Node {
	t.Helper()
	var o nodeOptions
	for _, f := range opts {
		f(&o)
	}
	id := leaf.ID.ID
	so := store.DefaultOptions()
	if o.maxOutbox > 0 {
		so.MaxOutbox = o.maxOutbox
	}
	st, err := store.Open(filepath.Join(dir, id+".db"), so)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(t)
	accepted := make(chan record.ID, 4096)
	n, err := mesh.NewNode(mesh.NodeConfig{
		ID: id, Store: st, Verifier: v,
		StatePath: filepath.Join(dir, id+".trust.json"),
		Logger:    Logger(t),
		OnEvent: func(ev mesh.Event) {
			if ev.Kind == mesh.EventAccepted {
				select {
				case accepted <- ev.ID:
				default:
				}
			}
		},
	})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	tn := &Node{Node: n, Store: st, Verifier: v, Leaf: leaf, Accepted: accepted}
	if !o.paused {
		tn.Run()
	}
	t.Cleanup(func() { tn.Stop(t) })
	return tn
}

// Run starts the node's loop (StartNode does, unless Paused).
func (n *Node) Run() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.Node.Run(ctx) }()
}

// Stop stops the node and closes its store. Close the node's links first.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	n.stopped = true
	if n.cancel != nil {
		n.cancel()
		if err := <-n.done; err != nil {
			t.Errorf("%s: Run: %v", n.ID(), err)
		}
	}
	if err := n.Store.Close(); err != nil {
		t.Errorf("%s: store: %v", n.ID(), err)
	}
}

// Has reports whether the node's store holds id.
func (n *Node) Has(id record.ID) bool {
	ok, err := n.Store.Has(id)
	return err == nil && ok
}

// OutboxLen returns the acks and telemetry waiting in the node's outbox.
func (n *Node) OutboxLen() int {
	a, tel, err := n.Store.OutboxLen()
	if err != nil {
		return -1
	}
	return a + tel
}

// Logger returns a logger for tests: silent unless MQTTTEST_LOG is set,
// then debug-level text on stderr.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("MQTTTEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// Warning signs a warning-tier alert by leaf (a server) for scope.
func Warning(t testing.TB, leaf *Leaf, seq uint64, scope record.Scope, text string) *record.Record {
	t.Helper()
	return sign(t, leaf, &record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: scope, Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: text}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
	})
}

// Advisory signs an advisory-tier alert by leaf (a gateway) for its zone.
func Advisory(t testing.TB, leaf *Leaf, seq uint64, text string) *record.Record {
	t.Helper()
	return sign(t, leaf, &record.Record{
		Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope(leaf.ID.Zone), Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: text}},
			Severity: "Moderate", Urgency: "Expected", Certainty: "Likely", Category: "Met"},
	})
}

// Ack signs a device's ack of the record of.
func Ack(t testing.TB, leaf *Leaf, seq uint64, of record.ID) *record.Record {
	t.Helper()
	return sign(t, leaf, &record.Record{
		Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(leaf.ID.ID), Seq: seq,
		Body: &record.Ack{Record: of, Device: leaf.ID.ID, State: record.AckDisplayed, At: record.MillisOf(time.Now())},
	})
}

// Health signs a node's health report.
func Health(t testing.TB, leaf *Leaf, seq uint64) *record.Record {
	t.Helper()
	return sign(t, leaf, &record.Record{
		Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(leaf.ID.ID), Seq: seq,
		Body: &record.Health{Uptime: seq, Rung: "ethernet"},
	})
}

// Command signs a server's command to one device.
func Command(t testing.TB, leaf *Leaf, seq uint64, device, action string, value int32) *record.Record {
	t.Helper()
	return sign(t, leaf, &record.Record{
		Kind: record.KindCommand, Tier: record.TierWarning, Scope: record.DeviceScope(device), Seq: seq,
		Body: &record.Command{Action: action, Value: value},
	})
}

func sign(t testing.TB, leaf *Leaf, r *record.Record) *record.Record {
	t.Helper()
	now := time.Now().Truncate(time.Millisecond)
	r.Issued, r.Expires, r.Origin = now, now.Add(time.Hour), leaf.ID.ID
	out, err := record.Sign(r, leaf.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// MustPublish publishes a record the node signed and fails the test if the
// node refuses it.
func (n *Node) MustPublish(t testing.TB, r *record.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Node.Publish(ctx, r); err != nil {
		t.Fatalf("%s: publish %s: %v", n.ID(), r, err)
	}
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, then fails the test naming what it waited for.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
