package fleet_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/fleet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var ip = netip.MustParseAddr("192.0.2.10")

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// device is a pole of the test city: its certificate and a signer.
type device struct {
	id, zone string
	cert     *x509.Certificate
	signer   record.Signer // sends its chain
	seq      uint64
}

type pki struct {
	root, ca *trust.CA
	server   record.Signer
	devices  []*device // pole-000 … pole-011: zones z1 (0–5), z2 (6–9), z3 (10–11)
}

func zoneOf(i int) string {
	switch {
	case i < 6:
		return "z1"
	case i < 10:
		return "z2"
	}
	return "z3"
}

var testPKI = sync.OnceValue(func() *pki { return newPKI(12) })

func newPKI(n int) *pki {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	root, err := trust.NewRoot("testville", t0.Add(-time.Hour))
	must(err)
	ca, err := root.NewCityCA(t0.Add(-time.Hour))
	must(err)
	p := &pki{root: root, ca: ca}
	pub, key, _ := ed25519.GenerateKey(nil)
	cert, err := ca.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, pub, t0.Add(-time.Hour))
	must(err)
	p.server, err = record.NewSigner(key, cert.Raw, true, ca.Cert.Raw)
	must(err)
	for i := range n {
		d := &device{id: fmt.Sprintf("pole-%03d", i), zone: zoneOf(i)}
		pub, key, _ := ed25519.GenerateKey(nil)
		d.cert, err = ca.Issue(trust.Identity{Role: trust.RoleDevice, ID: d.id, Zone: d.zone}, pub, t0.Add(-time.Hour))
		must(err)
		d.signer, err = record.NewSigner(key, d.cert.Raw, true, ca.Cert.Raw)
		must(err)
		p.devices = append(p.devices, d)
	}
	return p
}

// ack returns d's signed ack of rec in state st at.
func (d *device) ack(tb testing.TB, rec record.ID, st record.AckState, reason string, at time.Time) *record.Record {
	tb.Helper()
	d.seq++
	r, err := record.Sign(&record.Record{
		Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
		Issued: at, Expires: at.Add(time.Hour), Origin: d.id, Seq: d.seq,
		Body: &record.Ack{Record: rec, Device: d.id, State: st, Reason: reason, At: record.MillisOf(at)},
	}, d.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// health returns d's signed health report.
func (d *device) health(tb testing.TB, rung, version string, at time.Time) *record.Record {
	tb.Helper()
	d.seq++
	r, err := record.Sign(&record.Record{
		Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
		Issued: at, Expires: at.Add(time.Hour), Origin: d.id, Seq: d.seq,
		Body: &record.Health{Rung: rung, Version: version, CPUTemp: 51000, Uptime: 3600},
	}, d.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// alertRecord returns a server-signed warning record for scope, issued at.
func alertRecord(tb testing.TB, scope record.Scope, seq uint64, at time.Time) *record.Record {
	tb.Helper()
	r, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: scope, Issued: at, Expires: at.Add(time.Hour),
		Origin: "server-1", Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Test alert"}},
			Severity: "Minor", Urgency: "Expected", Certainty: "Possible", Category: "Other"},
	}, testPKI().server)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

type recAuditor struct {
	log     *audit.Log
	mu      sync.Mutex
	entries []audit.Entry
}

func (r *recAuditor) Append(e audit.Entry) (int64, error) {
	n, err := r.log.Append(e)
	if err == nil {
		r.mu.Lock()
		r.entries = append(r.entries, e)
		r.mu.Unlock()
	}
	return n, err
}

func (r *recAuditor) take() []audit.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.entries
	r.entries = nil
	return out
}

type env struct {
	t     testing.TB
	dir   string
	clk   *fakeClock
	db    *bbolt.DB
	aud   *recAuditor
	fleet *fleet.Fleet
	opts  fleet.Options
}

// newEnv opens a fleet on a fresh database with a real audit log and
// registers the test PKI's devices. publisher may be nil.
func newEnv(tb testing.TB, publisher fleet.Publisher) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{t: tb, dir: dir, clk: &fakeClock{now: t0}}
	db, err := bbolt.Open(filepath.Join(dir, "server.db"), 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e.db = db
	tb.Cleanup(func() { db.Close() })
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := audit.Open(filepath.Join(dir, "audit"), audit.Options{Key: key, Clock: e.clk})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	e.aud = &recAuditor{log: l}
	e.opts = fleet.Options{Clock: e.clk, CA: testPKI().ca, Publisher: publisher, Auditor: e.aud}
	if e.fleet, err = fleet.New(db, e.opts); err != nil {
		tb.Fatal(err)
	}
	for _, d := range testPKI().devices {
		if _, err := e.fleet.Register(d.cert); err != nil {
			tb.Fatal(err)
		}
	}
	e.aud.take()
	return e
}

// reopen opens a second Fleet on the same database, as after a restart.
func (e *env) reopen() *fleet.Fleet {
	e.t.Helper()
	f, err := fleet.New(e.db, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// meshNode runs a real mesh node that trusts the test city, as the
// publisher of revocations.
type meshNode struct {
	*mesh.Node
	mu       sync.Mutex
	accepted []*record.Record
	seen     map[record.ID]chan struct{}
}

// Publish publishes rec and returns once the node has reported it
// accepted (the node answers Publish before it calls OnEvent).
func (m *meshNode) Publish(ctx context.Context, rec *record.Record) error {
	c := m.waiter(rec.ID())
	if err := m.Node.Publish(ctx, rec); err != nil {
		return err
	}
	select {
	case <-c:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("test: the node never reported %s", rec)
	}
}

func (m *meshNode) waiter(id record.ID) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[record.ID]chan struct{}{}
	}
	c, ok := m.seen[id]
	if !ok {
		c = make(chan struct{})
		m.seen[id] = c
	}
	return c
}

func startNode(t *testing.T, clk mesh.Clock, onAccept func(*record.Record)) *meshNode {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mesh.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{testPKI().root.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	m := &meshNode{}
	m.Node, err = mesh.NewNode(mesh.NodeConfig{ID: "server-1", Store: st, Verifier: v, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev mesh.Event) {
			if ev.Kind != mesh.EventAccepted {
				return
			}
			if onAccept != nil {
				onAccept(ev.Record)
			}
			c := m.waiter(ev.ID)
			m.mu.Lock()
			m.accepted = append(m.accepted, ev.Record)
			m.mu.Unlock()
			close(c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return m
}

func (m *meshNode) records() []*record.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*record.Record(nil), m.accepted...)
}

// authEnv is a real auth service with an admin and a technician.
func principals(t *testing.T, db *bbolt.DB, clk *fakeClock) (admin, tech *auth.Principal) {
	t.Helper()
	o := auth.DefaultOptions()
	o.Clock = clk
	o.Rand = rand.NewChaCha8([32]byte{7})
	o.Argon2 = auth.Argon2Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	o.DataKey = make([]byte, 32)
	o.CSRFKey = []byte("0123456789abcdef0123456789abcdef")
	o.Rate = auth.RateLimits{MaxKeys: 100}
	svc, err := auth.New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	opts := totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	code := func(secret string) string {
		c, err := totp.GenerateCodeCustom(secret, clk.Now(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const pw = "correct horse battery staple 4711!"
	setup := func(id, setupCode string) string {
		en, err := svc.StartSetup(id, setupCode, ip)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.FinishSetup(id, setupCode, pw, code(en.Secret), ip); err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Second)
		return en.Secret
	}
	login := func(id, secret string) *auth.Principal {
		tok, _, err := svc.Login(auth.Credentials{UserID: id, Password: pw, Code: code(secret), RemoteIP: ip})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Second)
		p, err := svc.AuthenticateSession(tok, ip)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sc, err := svc.Bootstrap("root", "Admin", ip)
	if err != nil {
		t.Fatal(err)
	}
	admin = login("root", setup("root", sc))
	sc, err = svc.CreateUser(admin, auth.NewUser{ID: "tess", DisplayName: "Tess", Role: auth.RoleTechnician})
	if err != nil {
		t.Fatal(err)
	}
	tech = login("tess", setup("tess", sc))
	return admin, tech
}

func ed25519Key() (ed25519.PublicKey, ed25519.PrivateKey, error) { return ed25519.GenerateKey(nil) }

// newPKIDevice issues a device outside the registered set.
func newPKIDevice(t testing.TB, p *pki, id, zone string) *device {
	t.Helper()
	d, err := issueDevice(p, id, zone)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func issueDevice(p *pki, id, zone string) (*device, error) {
	pub, key, _ := ed25519.GenerateKey(nil)
	cert, err := p.ca.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone}, pub, t0.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	s, err := record.NewSigner(key, cert.Raw, true, p.ca.Cert.Raw)
	if err != nil {
		return nil, err
	}
	return &device{id: id, zone: zone, cert: cert, signer: s}, nil
}
