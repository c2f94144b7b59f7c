package desk_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
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
	"github.com/cityarray/cityarray/server/desk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is when every test starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var ip = netip.MustParseAddr("192.0.2.10")

// fakeClock moves only when told.
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

// pki is a city PKI: root, city CA (with key), and the server's signer.
type pki struct {
	root      *trust.CA
	ca        *trust.CA
	serverKey ed25519.PrivateKey
	server    record.Signer
}

var testPKI = sync.OnceValue(func() *pki {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	root, err := trust.NewRoot("testville", t0.Add(-time.Hour))
	must(err)
	ca, err := root.NewCityCA(t0.Add(-time.Hour))
	must(err)
	pub, key, err := ed25519.GenerateKey(nil)
	must(err)
	cert, err := ca.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, pub, t0.Add(-time.Hour))
	must(err)
	s, err := record.NewSigner(key, cert.Raw, true, ca.Cert.Raw)
	must(err)
	return &pki{root: root, ca: ca, serverKey: key, server: s}
})

// newVerifier returns a verifier that trusts the test city's root.
func newVerifier(t testing.TB) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{testPKI().root.Cert}, TrustedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// recAuditor is a real audit log that also remembers what it was given.
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

// actions returns "action outcome" of every entry since the last call.
func (r *recAuditor) take() []audit.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.entries
	r.entries = nil
	return out
}

// gatePublisher passes records to the node unless a test makes it fail.
// It returns once the node has reported the record accepted (the node
// answers Publish before it calls OnEvent), so that tests see it.
type gatePublisher struct {
	node *mesh.Node
	env  *env
	mu   sync.Mutex
	fail error // returned instead of publishing, when set
}

func (g *gatePublisher) Publish(ctx context.Context, rec *record.Record) error {
	g.mu.Lock()
	err := g.fail
	g.mu.Unlock()
	if err != nil {
		return err
	}
	known := g.node.Known(rec.ID())
	if err := g.node.Publish(ctx, rec); err != nil || known {
		return err
	}
	select {
	case <-g.env.seen(rec.ID()):
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("test: the node never reported the record")
	}
}

func (g *gatePublisher) setFail(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

// person is a user set up with a password and TOTP.
type person struct {
	id, password, secret, token string
}

// env is a desk on a real bbolt file, with a real auth service, a real
// audit log and a real mesh node as its publisher.
type env struct {
	t     *testing.T
	clk   *fakeClock
	db    *bbolt.DB
	auth  *auth.Service
	desk  *desk.Desk
	opts  desk.Options
	node  *mesh.Node
	pub   *gatePublisher
	aud   *recAuditor
	track *trackRec

	mu       sync.Mutex
	accepted []*record.Record
	rejected []mesh.Event
	waiters  map[record.ID]chan struct{}

	people map[string]*person
}

// trackRec records Track calls.
type trackRec struct {
	mu  sync.Mutex
	ids map[string][]record.ID
}

func (r *trackRec) Track(alertID string, ids []record.ID, scope record.Scope, publishedAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string][]record.ID{}
	}
	r.ids[alertID] = append(r.ids[alertID], ids...)
}

var cheapArgon2 = auth.Argon2Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var devices = map[string]string{"pole-1": "z1", "pole-2": "z1", "pole-9": "z2"}

func deviceZone(id string) (string, bool) {
	z, ok := devices[id]
	return z, ok
}

// newEnv builds the environment; mutate adjusts the desk options.
func newEnv(t *testing.T, mutate func(*desk.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, clk: &fakeClock{now: t0}, people: map[string]*person{}, track: &trackRec{}}
	db, err := bbolt.Open(filepath.Join(dir, "server.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { db.Close() })

	ao := auth.DefaultOptions()
	ao.Clock = e.clk
	ao.Rand = rand.NewChaCha8([32]byte{1})
	ao.Argon2 = cheapArgon2
	ao.DataKey = make([]byte, 32)
	ao.CSRFKey = []byte("0123456789abcdef0123456789abcdef")
	ao.Rate = auth.RateLimits{MaxKeys: 100}
	if e.auth, err = auth.New(db, ao); err != nil {
		t.Fatal(err)
	}

	_, auditKey, _ := ed25519.GenerateKey(nil)
	l, err := audit.Open(filepath.Join(dir, "audit"), audit.Options{Key: auditKey, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e.aud = &recAuditor{log: l}

	st, err := store.Open(filepath.Join(dir, "mesh.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	node, err := mesh.NewNode(mesh.NodeConfig{
		ID: "server-1", Store: st, Verifier: newVerifier(t), Clock: e.clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev mesh.Event) {
			e.mu.Lock()
			defer e.mu.Unlock()
			switch ev.Kind {
			case mesh.EventAccepted:
				e.accepted = append(e.accepted, ev.Record)
				close(e.waiterLocked(ev.ID))
			case mesh.EventRejected:
				e.rejected = append(e.rejected, ev)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.node = node
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
		st.Close()
	})
	e.pub = &gatePublisher{node: node, env: e}

	p := testPKI()
	o := desk.DefaultOptions()
	o.Clock = e.clk
	o.Rand = rand.NewChaCha8([32]byte{2})
	o.Server = p.server
	o.ServerID = "server-1"
	o.CityCA = p.ca
	o.DataKey = []byte("0123456789abcdef0123456789abcdef")
	o.Publisher = e.pub
	o.Auditor = e.aud
	o.Tracker = e.track
	o.DeviceZone = deviceZone
	if mutate != nil {
		mutate(&o)
	}
	e.opts = o
	if e.desk, err = desk.New(db, o); err != nil {
		t.Fatal(err)
	}

	// People: an admin, a supervisor, two officers, zone operators, a viewer.
	code, err := e.auth.Bootstrap("root", "Admin", ip)
	if err != nil {
		t.Fatal(err)
	}
	e.setUp("root", code)
	root := e.login("root")
	for _, u := range []auth.NewUser{
		{ID: "sam", Role: auth.RoleSupervisor},
		{ID: "olly", Role: auth.RoleOfficer},
		{ID: "otto", Role: auth.RoleOfficer},
		{ID: "zed", Role: auth.RoleZoneOperator, Zones: []string{"z1"}},
		{ID: "zack", Role: auth.RoleZoneOperator, Zones: []string{"z2"}},
		{ID: "vic", Role: auth.RoleViewer},
		{ID: "tess", Role: auth.RoleTechnician},
	} {
		u.DisplayName = "User " + u.ID
		code, err := e.auth.CreateUser(root, u)
		if err != nil {
			t.Fatal(err)
		}
		e.setUp(u.ID, code)
	}
	for _, o := range []string{"olly", "otto"} {
		if _, err := e.desk.CreateOfficerKey(root, o); err != nil {
			t.Fatal(err)
		}
	}
	e.aud.take()
	return e
}

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func (e *env) code(p *person) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(p.secret, e.clk.Now(), totpOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// step moves the clock to the next TOTP step, so that a new code exists.
func (e *env) step() { e.clk.Advance(30 * time.Second) }

func (e *env) setUp(id, setupCode string) {
	e.t.Helper()
	en, err := e.auth.StartSetup(id, setupCode, ip)
	if err != nil {
		e.t.Fatalf("StartSetup(%s): %v", id, err)
	}
	p := &person{id: id, password: "correct horse battery staple 4711!", secret: en.Secret}
	if _, err := e.auth.FinishSetup(id, setupCode, p.password, e.code(p), ip); err != nil {
		e.t.Fatalf("FinishSetup(%s): %v", id, err)
	}
	e.step()
	e.people[id] = p
}

// login logs id in with a fresh TOTP code and returns its principal.
func (e *env) login(id string) *auth.Principal {
	e.t.Helper()
	p := e.people[id]
	tok, _, err := e.auth.Login(auth.Credentials{UserID: id, Password: p.password, Code: e.code(p), RemoteIP: ip})
	if err != nil {
		e.t.Fatalf("Login(%s): %v", id, err)
	}
	e.step()
	p.token = tok
	return e.principal(id)
}

// principal authenticates id's current session again, as a new request
// would: the principal's TOTP freshness is that of the session.
func (e *env) principal(id string) *auth.Principal {
	e.t.Helper()
	pr, err := e.auth.AuthenticateSession(e.people[id].token, ip)
	if err != nil {
		e.t.Fatalf("AuthenticateSession(%s): %v", id, err)
	}
	return pr
}

// reauth enters a new TOTP code in id's session and returns a fresh
// principal.
func (e *env) reauth(id string) *auth.Principal {
	e.t.Helper()
	p := e.people[id]
	if _, err := e.auth.Reauthenticate(p.token, e.code(p), ip); err != nil {
		e.t.Fatalf("Reauthenticate(%s): %v", id, err)
	}
	e.step()
	return e.principal(id)
}

// seen returns a channel closed when the node has accepted id.
func (e *env) seen(id record.ID) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waiterLocked(id)
}

func (e *env) waiterLocked(id record.ID) chan struct{} {
	if e.waiters == nil {
		e.waiters = map[record.ID]chan struct{}{}
	}
	c, ok := e.waiters[id]
	if !ok {
		c = make(chan struct{})
		e.waiters[id] = c
	}
	return c
}

// records returns the records the node accepted so far.
func (e *env) records() []*record.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*record.Record(nil), e.accepted...)
}

func (e *env) rejections() []mesh.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]mesh.Event(nil), e.rejected...)
}

// alertBody is a one-language alert.
func alertBody(short string) *record.Alert {
	return &record.Alert{
		Texts:    map[string]record.AlertText{"en": {Short: short}, "es": {Short: "Alerta: " + short}},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met",
	}
}

func draftReq(tier, scope string) *desk.DraftRequest {
	return &desk.DraftRequest{Tier: tier, Scope: scope, Lifetime: "2h", Alert: alertBody("Flash flood: move to higher ground")}
}

// publish takes an alert from draft to published: author drafts and
// submits, approver approves and publishes.
func (e *env) publish(author, approver *auth.Principal, req *desk.DraftRequest) *desk.Alert {
	e.t.Helper()
	a, err := e.desk.Draft(author, req)
	if err != nil {
		e.t.Fatalf("Draft: %v", err)
	}
	if _, err := e.desk.Submit(author, a.ID); err != nil {
		e.t.Fatalf("Submit: %v", err)
	}
	if _, err := e.desk.Approve(approver, a.ID); err != nil {
		e.t.Fatalf("Approve: %v", err)
	}
	a, err = e.desk.Publish(context.Background(), approver, a.ID)
	if err != nil {
		e.t.Fatalf("Publish: %v", err)
	}
	return a
}

// verify checks rec against a fresh verifier of the city (the tier table,
// the chains, the signatures) and returns the signers' roles.
func verify(t *testing.T, rec *record.Record, now time.Time) []trust.Role {
	t.Helper()
	raw, err := record.Parse(rec.Raw())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	vd, err := newVerifier(t).Verify(raw, now)
	if err != nil {
		t.Fatalf("Verify %s: %v", rec, err)
	}
	var roles []trust.Role
	for _, s := range vd.Signers {
		roles = append(roles, s.Role)
	}
	return roles
}

func actions(es []audit.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+e.Outcome)
	}
	return out
}

func ctx() context.Context { return context.Background() }
