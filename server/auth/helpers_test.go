package auth

import (
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is when every test starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recorder collects audit events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) hook(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = nil
}

// actions returns "action outcome reason" of every event since reset.
func (r *recorder) actions() []string {
	var out []string
	for _, e := range r.all() {
		s := e.Action + " " + string(e.Outcome)
		if e.Reason != "" {
			s += " " + string(e.Reason)
		}
		out = append(out, s)
	}
	return out
}

// cheapArgon2 keeps tests fast; DefaultArgon2 is exercised once.
var cheapArgon2 = Argon2Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var (
	ipA = netip.MustParseAddr("192.0.2.10")
	ipB = netip.MustParseAddr("198.51.100.7")
)

type env struct {
	s   *Service
	clk *clocktest.Clock
	rec *recorder
	db  *bbolt.DB
}

// newEnv opens a service on a fresh database with cheap hashing, a fake
// clock at t0, a seeded random source and an event recorder. mutate, if
// not nil, adjusts the options first.
func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "auth.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{clk: clocktest.New(t0), rec: &recorder{}, db: db}
	opts := testOptions(e.clk, e.rec)
	if mutate != nil {
		mutate(&opts)
	}
	e.s, err = New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testOptions(clk Clock, rec *recorder) Options {
	o := DefaultOptions()
	o.Clock = clk
	o.Rand = rand.NewChaCha8([32]byte{1, 2, 3})
	o.Argon2 = cheapArgon2
	o.DataKey = make([]byte, 32)
	for i := range o.DataKey {
		o.DataKey[i] = byte(i)
	}
	o.CSRFKey = []byte("0123456789abcdef0123456789abcdef")
	o.Audit = rec.hook
	o.Rate = RateLimits{MaxKeys: 100} // unlimited unless a test sets limits
	return o
}

// code returns the TOTP code for secret at the clock's time.
func (e *env) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clk.Now(), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// step moves the clock to the next TOTP time step, so a new code exists.
func (e *env) step() { e.clk.Advance(totpPeriod * time.Second) }

// person is a set-up user with the secrets a test needs.
type person struct {
	id, password, secret string
	recovery             []string
}

// setUp completes setup for id with its setup code and returns the person.
func (e *env) setUp(t *testing.T, id, setupCode, password string) person {
	t.Helper()
	en, err := e.s.StartSetup(id, setupCode, ipA)
	if err != nil {
		t.Fatalf("StartSetup(%s): %v", id, err)
	}
	rc, err := e.s.FinishSetup(id, setupCode, password, e.code(t, en.Secret), ipA)
	if err != nil {
		t.Fatalf("FinishSetup(%s): %v", id, err)
	}
	e.step()
	return person{id: id, password: password, secret: en.Secret, recovery: rc}
}

// admin bootstraps and sets up the first admin "root".
func (e *env) admin(t *testing.T) person {
	t.Helper()
	code, err := e.s.Bootstrap("root", "First Admin", ipA)
	if err != nil {
		t.Fatal(err)
	}
	return e.setUp(t, "root", code, "admin horse battery staple")
}

// login logs p in with a fresh TOTP code and returns the token and the
// principal for it.
func (e *env) login(t *testing.T, p person) (string, *Principal) {
	t.Helper()
	tok, _, err := e.s.Login(Credentials{UserID: p.id, Password: p.password, Code: e.code(t, p.secret), RemoteIP: ipA})
	if err != nil {
		t.Fatalf("Login(%s): %v", p.id, err)
	}
	e.step()
	pr, err := e.s.AuthenticateSession(tok, ipA)
	if err != nil {
		t.Fatalf("AuthenticateSession(%s): %v", p.id, err)
	}
	return tok, pr
}

// user creates (as by) and sets up a user with role and zones.
func (e *env) user(t *testing.T, by *Principal, id string, role Role, zones ...string) person {
	t.Helper()
	code, err := e.s.CreateUser(by, NewUser{ID: id, DisplayName: "User " + id, Role: role, Zones: zones})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", id, err)
	}
	return e.setUp(t, id, code, "long enough secret for "+string(role)+" x")
}

// newEnvWithBob is newEnv(t, nil) with the admin "root" logged in and
// "bob", a viewer, set up.
func newEnvWithBob(t *testing.T) (*env, *Principal, person) {
	t.Helper()
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	return e, root, e.user(t, root, "bob", RoleViewer)
}
