package servertest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/server/auth"
)

// CheapArgon2 keeps password hashing fast in tests.
var CheapArgon2 = auth.Argon2Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// totpOpts are the auth service's TOTP parameters.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// AuthOptions returns auth options for tests: clk, a ChaCha8 source
// seeded with seed, CheapArgon2, fixed keys and rate limits that never
// bite.
func AuthOptions(clk auth.Clock, seed byte) auth.Options {
	o := auth.DefaultOptions()
	o.Clock = clk
	o.Rand = rand.NewChaCha8([32]byte{seed})
	o.Argon2 = CheapArgon2
	o.DataKey = make([]byte, 32)
	o.CSRFKey = []byte("0123456789abcdef0123456789abcdef")
	o.Rate = auth.RateLimits{MaxKeys: 100}
	return o
}

// People is a real auth service on a test's database and the people set
// up in it, each with Password and a TOTP secret. Every TOTP code entered
// moves the clock to the next time step, so that a new code exists.
type People struct {
	Auth   *auth.Service
	tb     testing.TB
	clk    *clocktest.Clock
	people map[string]*person
}

type person struct {
	secret, token string
}

// NewPeople opens the auth service on db with AuthOptions(clk, seed).
func NewPeople(tb testing.TB, db *bbolt.DB, clk *clocktest.Clock, seed byte) *People {
	tb.Helper()
	s, err := auth.New(db, AuthOptions(clk, seed))
	if err != nil {
		tb.Fatal(err)
	}
	return &People{Auth: s, tb: tb, clk: clk, people: map[string]*person{}}
}

// Bootstrap makes id the first admin (display name displayName) and sets
// it up.
func (p *People) Bootstrap(id, displayName string) {
	p.tb.Helper()
	code, err := p.Auth.Bootstrap(id, displayName, IP)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.SetUp(id, code)
}

// Add creates u (as by) and sets it up.
func (p *People) Add(by *auth.Principal, u auth.NewUser) {
	p.tb.Helper()
	code, err := p.Auth.CreateUser(by, u)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.SetUp(u.ID, code)
}

// SetUp completes id's setup with its setup code.
func (p *People) SetUp(id, setupCode string) {
	p.tb.Helper()
	en, err := p.Auth.StartSetup(id, setupCode, IP)
	if err != nil {
		p.tb.Fatalf("StartSetup(%s): %v", id, err)
	}
	pp := &person{secret: en.Secret}
	if _, err := p.Auth.FinishSetup(id, setupCode, Password, p.code(pp), IP); err != nil {
		p.tb.Fatalf("FinishSetup(%s): %v", id, err)
	}
	p.step()
	p.people[id] = pp
}

// Login logs id in with a fresh TOTP code and returns its principal.
func (p *People) Login(id string) *auth.Principal {
	p.tb.Helper()
	pp := p.people[id]
	tok, _, err := p.Auth.Login(auth.Credentials{UserID: id, Password: Password, Code: p.code(pp), RemoteIP: IP})
	if err != nil {
		p.tb.Fatalf("Login(%s): %v", id, err)
	}
	p.step()
	pp.token = tok
	return p.Principal(id)
}

// Principal authenticates id's current session again, as a new request
// would: the principal's TOTP freshness is that of the session.
func (p *People) Principal(id string) *auth.Principal {
	p.tb.Helper()
	pr, err := p.Auth.AuthenticateSession(p.people[id].token, IP)
	if err != nil {
		p.tb.Fatalf("AuthenticateSession(%s): %v", id, err)
	}
	return pr
}

// Reauth enters a new TOTP code in id's session and returns a fresh
// principal.
func (p *People) Reauth(id string) *auth.Principal {
	p.tb.Helper()
	pp := p.people[id]
	if _, err := p.Auth.Reauthenticate(pp.token, p.code(pp), IP); err != nil {
		p.tb.Fatalf("Reauthenticate(%s): %v", id, err)
	}
	p.step()
	return p.Principal(id)
}

func (p *People) code(pp *person) string {
	p.tb.Helper()
	c, err := totp.GenerateCodeCustom(pp.secret, p.clk.Now(), totpOpts)
	if err != nil {
		p.tb.Fatal(err)
	}
	return c
}

// step moves the clock to the next TOTP step.
func (p *People) step() { p.clk.Advance(30 * time.Second) }
