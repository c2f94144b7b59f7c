package desk_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/internal/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is when every test starts.
var t0 = servertest.T0

var ip = servertest.IP

// testPKI is the city PKI: root, city CA (with key), and the server's
// signer.
var testPKI = sync.OnceValue(func() *servertest.PKI { return servertest.NewPKI(t0.Add(-time.Hour)) })

// newVerifier returns a verifier that trusts the test city's root.
func newVerifier(t testing.TB) *trust.Verifier { return testPKI().Verifier(t, true) }

// gatePublisher passes records to the node unless a test makes it fail.
type gatePublisher struct {
	node *servertest.Node
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
	return g.node.Publish(ctx, rec)
}

func (g *gatePublisher) setFail(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

// env is a desk on a real bbolt file, with a real auth service, a real
// audit log and a real mesh node as its publisher.
type env struct {
	t      *testing.T
	clk    *clocktest.Clock
	db     *bbolt.DB
	people *servertest.People
	auth   *auth.Service
	desk   *desk.Desk
	opts   desk.Options
	node   *servertest.Node
	pub    *gatePublisher
	aud    *servertest.Auditor
	track  *trackRec
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

var devices = map[string]string{"pole-1": "z1", "pole-2": "z1", "pole-9": "z2"}

func deviceZone(id string) (string, bool) {
	z, ok := devices[id]
	return z, ok
}

// newEnv builds the environment; mutate adjusts the desk options.
func newEnv(t *testing.T, mutate func(*desk.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, clk: clocktest.New(t0), track: &trackRec{}}
	db, err := bbolt.Open(filepath.Join(dir, "server.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { db.Close() })
	e.people = servertest.NewPeople(t, db, e.clk, 1)
	e.auth = e.people.Auth
	e.aud = servertest.OpenAuditor(t, filepath.Join(dir, "audit"), e.clk)
	e.node = servertest.StartNode(t, dir, newVerifier(t), e.clk, nil)
	e.pub = &gatePublisher{node: e.node}

	p := testPKI()
	o := desk.DefaultOptions()
	o.Clock = e.clk
	o.Rand = rand.NewChaCha8([32]byte{2})
	o.Server = p.Server
	o.ServerID = servertest.ServerID
	o.CityCA = p.CA
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
	e.people.Bootstrap("root", "Admin")
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
		e.people.Add(root, u)
	}
	for _, o := range []string{"olly", "otto"} {
		if _, err := e.desk.CreateOfficerKey(root, o); err != nil {
			t.Fatal(err)
		}
	}
	e.aud.Take()
	return e
}

// login logs id in with a fresh TOTP code and returns its principal.
func (e *env) login(id string) *auth.Principal { return e.people.Login(id) }

// principal authenticates id's current session again, as a new request
// would: the principal's TOTP freshness is that of the session.
func (e *env) principal(id string) *auth.Principal { return e.people.Principal(id) }

// reauth enters a new TOTP code in id's session and returns a fresh
// principal.
func (e *env) reauth(id string) *auth.Principal { return e.people.Reauth(id) }

// records returns the records the node accepted so far.
func (e *env) records() []*record.Record { return e.node.Records() }

func (e *env) rejections() []mesh.Event { return e.node.Rejections() }

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
