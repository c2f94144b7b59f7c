package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

// cheapArgon2 keeps password hashing fast in tests.
var cheapArgon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testPKI is a city PKI made with trust.InitDir in a temporary directory,
// with a server certificate issued into it.
type testPKI struct {
	dir    string
	server string // server id
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	if _, err := trust.InitDir(dir, "testville", now, nil); err != nil {
		t.Fatal(err)
	}
	id := trust.Identity{Role: trust.RoleServer, ID: "server-1"}
	if _, err := trust.IssueInDir(dir, id, now, nil, nil); err != nil {
		t.Fatal(err)
	}
	return testPKI{dir: dir, server: "server-1"}
}

// testConfig is a configuration on loopback ports chosen by the kernel,
// a fresh data dir, the fake clock, cheap hashing and generous limits.
func testConfig(t testing.TB, pki testPKI, clk *fakeClock) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.PKI.Dir, cfg.PKI.ServerID = pki.dir, pki.server
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.TLS.SelfSignedHosts = []string{"localhost", "127.0.0.1"}
	cfg.HTTP.ShutdownTimeout = 2 * time.Second
	cfg.MQTT.Listen = "127.0.0.1:0"
	rl := &cfg.Auth.RateLimits
	rl.RequestPerIP = Limit{Every: time.Microsecond, Burst: 100000}
	rl.RequestPerUser = Limit{Every: time.Microsecond, Burst: 100000}
	rl.LoginPerIP = Limit{Every: time.Microsecond, Burst: 100000}
	rl.LoginPerUser = Limit{Every: time.Microsecond, Burst: 100000}
	rl.HTTPPerIP = Limit{Every: time.Microsecond, Burst: 100000}
	cfg.Hooks.Clock = clk
	cfg.Hooks.Argon2 = &cheapArgon2
	return cfg
}

// testLogger is silent unless SERVERTEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SERVERTEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// testServer is a running server and an HTTPS client that trusts it.
type testServer struct {
	*Server
	clk    *fakeClock
	client *http.Client
	base   string
	stop   func() error
	pwSeq  atomic.Int64
}

// startServer runs a server until the test ends. mutate, if not nil,
// adjusts the configuration first.
func startServer(t *testing.T, mutate func(*Config)) *testServer {
	t.Helper()
	clk := &fakeClock{now: time.Now().Truncate(time.Second)}
	cfg := testConfig(t, newTestPKI(t), clk)
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return runServer(t, srv, clk)
}

func runServer(t *testing.T, srv *Server, clk *fakeClock) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("Run did not return within 10 s of cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	ts := &testServer{Server: srv, clk: clk, stop: stop, base: srv.HTTPURL()}
	tr := &http.Transport{DisableKeepAlives: true}
	if c := srv.WebCertificate(); c != nil {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	ts.client = &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	eventually(t, 10*time.Second, "the server to be ready", func() bool { return srv.Ready() == nil })
	return ts
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
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

// cred is how a test request authenticates: a session (cookie and CSRF
// token) or an API token; the zero cred is anonymous.
type cred struct {
	user, role string
	cookie     string // "name=value"
	csrf       string
	bearer     string
}

// response is what a test request got.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r response) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, want a problem document: %s", r.status, ct, r.body)
	}
	var p Problem
	r.json(t, &p)
	return p
}

// do sends a request. body may be nil, a string (sent as it is) or a
// value (sent as JSON); either way with Content-Type application/json
// unless header overrides it.
func (ts *testServer) do(t testing.TB, c cred, method, path string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
		if c.csrf != "" {
			req.Header.Set(auth.CSRFHeader, c.csrf)
		}
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless r has status.
func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// totpOpts are the TOTP parameters of auth (RFC 6238 as apps do it).
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// code returns the TOTP code for secret at the fake clock's time and moves
// the clock to the next step, since auth refuses a step used before.
func (ts *testServer) code(t testing.TB, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, ts.clk.Now(), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	ts.clk.Advance(30 * time.Second)
	return c
}

// person is a user who finished setup.
type person struct {
	id, password, secret string
	role                 auth.Role
	recovery             []string
}

// setUp finishes setup for id with its setup code through the API.
func (ts *testServer) setUp(t testing.TB, id, setupCode string, role auth.Role) person {
	t.Helper()
	var st setupStartResponse
	ts.do(t, cred{}, "POST", "/api/v1/setup/start", setupStartRequest{User: id, SetupCode: setupCode}).want(t, 200).json(t, &st)
	pw := fmt.Sprintf("lantern quiet harbor %d x", ts.pwSeq.Add(1))
	var rc recoveryCodesResponse
	ts.do(t, cred{}, "POST", "/api/v1/setup/finish", setupFinishRequest{User: id, SetupCode: setupCode, Password: pw,
		TOTPCode: ts.code(t, st.Secret)}).want(t, 200).json(t, &rc)
	if len(rc.RecoveryCodes) != auth.RecoveryCodes {
		t.Fatalf("%d recovery codes, want %d", len(rc.RecoveryCodes), auth.RecoveryCodes)
	}
	return person{id: id, password: pw, secret: st.Secret, role: role, recovery: rc.RecoveryCodes}
}

// login logs p in through the API and returns the session.
func (ts *testServer) login(t testing.TB, p person) cred {
	t.Helper()
	r := ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: p.id, Password: p.password, TOTPCode: ts.code(t, p.secret)}).want(t, 200)
	var lr loginResponse
	r.json(t, &lr)
	var cookie string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == auth.SessionCookie {
			cookie = c.Name + "=" + c.Value
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
			}
		}
	}
	if cookie == "" || lr.CSRFToken == "" {
		t.Fatalf("login gave no session cookie or CSRF token: %v %s", r.header, r.body)
	}
	return cred{user: p.id, role: string(p.role), cookie: cookie, csrf: lr.CSRFToken}
}

// bootstrapAdmin creates the first admin as `server init` does and sets
// it up through the API.
func (ts *testServer) bootstrapAdmin(t testing.TB) (person, cred) {
	t.Helper()
	code, err := ts.Auth().Bootstrap("root", "First Admin", loopback)
	if err != nil {
		t.Fatal(err)
	}
	p := ts.setUp(t, "root", code, auth.RoleAdmin)
	return p, ts.login(t, p)
}

// createUser has admin create a user of role and sets it up.
func (ts *testServer) createUser(t testing.TB, admin cred, id string, role auth.Role, zones ...string) person {
	t.Helper()
	var resp setupCodeResponse
	ts.do(t, admin, "POST", "/api/v1/users", createUserRequest{ID: id, DisplayName: "User " + id, Role: role, Zones: zones}).
		want(t, 201).json(t, &resp)
	if role == auth.RoleIntegration {
		return person{id: id, role: role}
	}
	return ts.setUp(t, id, resp.SetupCode, role)
}

// token has admin create an API token for user with scopes.
func (ts *testServer) token(t testing.TB, admin cred, user string, scopes ...auth.Permission) cred {
	t.Helper()
	var resp createTokenResponse
	ts.do(t, admin, "POST", "/api/v1/tokens", createTokenRequest{User: user, Name: "test", Scopes: scopes,
		ExpiresAt: ts.clk.Now().Add(24 * time.Hour).Format(time.RFC3339)}).want(t, 201).json(t, &resp)
	return cred{user: user, role: string(auth.RoleIntegration), bearer: resp.Secret}
}
