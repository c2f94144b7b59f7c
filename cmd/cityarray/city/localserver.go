package city

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server"
	"github.com/cityarray/cityarray/server/auth"
)

// SteppedClock is the machine's clock plus an offset that only grows:
// people log in with TOTP codes, and the server refuses a code of a time
// step it has seen, so LocalServer moves the clock one step (30 s) past
// each code it computes instead of waiting for the next. Safe for
// concurrent use.
type SteppedClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the machine's time plus the offset.
func (c *SteppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// NewTimer is the machine's timer: the offset moves instants, not
// durations.
func (c *SteppedClock) NewTimer(d time.Duration) clock.Timer { return clock.System{}.NewTimer(d) }

// StartNextStep moves the clock to the start of its next step of length
// period (steps count from the Unix epoch, as TOTP's do) and returns that
// instant.
func (c *SteppedClock) StartNextStep(period time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().Add(c.offset)
	since := time.Duration(now.UnixNano())
	next := time.Unix(0, int64((since/period+1)*period))
	c.offset += next.Sub(now)
	return next
}

// LocalServerConfig configures StartLocalServer.
type LocalServerConfig struct {
	// Dir holds the PKI and the data directory. Required; the caller
	// makes it and removes it after Close.
	Dir string
	// City names the PKI (default "localville").
	City string
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// Configure, if set, adjusts the configuration before New.
	Configure func(*server.Config)
}

// LocalServer is a control server running in this process on loopback
// ports chosen by the kernel: a PKI made on the fly in Dir (root, city CA
// with its key, the server's certificate), HTTPS with a self-signed
// certificate for 127.0.0.1, the embedded MQTT broker, cheap password
// hashing, no rate limits, and a SteppedClock. Tests and `cityarray bench
// server` use it, with the helpers below that set people up over the API.
type LocalServer struct {
	*server.Server
	Clock *SteppedClock
	// PKI is the city's PKI directory, opened with the city CA's key.
	PKI *trust.Dir
	// WebCAFile is the server's self-signed HTTPS certificate (PEM): what
	// a client trusts with `--ca`.
	WebCAFile string

	client *http.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// StartLocalServer makes the PKI, starts the server and waits until it is
// ready.
func StartLocalServer(ctx context.Context, cfg LocalServerConfig) (*LocalServer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("city: local server: no directory")
	}
	if cfg.City == "" {
		cfg.City = "localville"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	now := time.Now()
	pkiDir := filepath.Join(cfg.Dir, "pki")
	d, err := trust.InitDir(pkiDir, cfg.City, now, nil)
	if err != nil {
		return nil, fmt.Errorf("city: local server: %w", err)
	}
	if _, err := d.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, now, nil); err != nil {
		return nil, fmt.Errorf("city: local server: %w", err)
	}
	clk := &SteppedClock{}
	c := server.DefaultConfig()
	c.DataDir = filepath.Join(cfg.Dir, "data")
	c.PKI.Dir, c.PKI.ServerID = pkiDir, "server-1"
	c.HTTP.Listen, c.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
	c.HTTP.TLS.SelfSignedHosts = []string{"127.0.0.1", "localhost"}
	c.HTTP.ShutdownTimeout = 2 * time.Second
	rl := &c.Auth.RateLimits
	rl.LoginPerIP, rl.LoginPerUser, rl.RequestPerIP, rl.RequestPerUser, rl.HTTPPerIP = server.Limit{}, server.Limit{}, server.Limit{}, server.Limit{}, server.Limit{}
	c.Hooks.Clock = clk
	c.Hooks.Argon2 = &auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	if cfg.Configure != nil {
		cfg.Configure(&c)
	}
	srv, err := server.New(c, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("city: local server: %w", err)
	}
	l := &LocalServer{Server: srv, Clock: clk, PKI: d, WebCAFile: filepath.Join(c.DataDir, server.WebCertFile)}
	pool := x509.NewCertPool()
	pool.AddCert(srv.WebCertificate())
	l.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
	rctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- srv.Run(rctx) }()
	for srv.Ready() != nil {
		select {
		case err := <-l.done:
			return nil, fmt.Errorf("city: local server: %w", err)
		case <-ctx.Done():
			l.Close()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return l, nil
}

// Close stops the server and waits for it.
func (l *LocalServer) Close() error {
	l.once.Do(func() {
		l.cancel()
		l.err = <-l.done
		l.client.CloseIdleConnections()
	})
	return l.err
}

// HTTPClient returns a client that trusts the server's certificate.
func (l *LocalServer) HTTPClient() *http.Client { return l.client }

// WebCAPEM returns the server's HTTPS certificate as PEM.
func (l *LocalServer) WebCAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.WebCertificate().Raw})
}

// Signer signs records as the server does, with its key and certificate
// chain.
func (l *LocalServer) Signer() (record.Signer, error) {
	return chainSigner(l.PKI.Path, trust.RoleServer, l.Identity().ID, l.Clock.Now())
}

// chainSigner loads node id's key and certificate from the PKI directory
// dir (as `keys issue` writes it) and returns a signer that carries the
// chain.
func chainSigner(dir string, role trust.Role, id string, now time.Time) (record.Signer, error) {
	n, err := trust.LoadNode(trust.NodeFiles{RootCert: filepath.Join(dir, trust.RootCertFile),
		Cert: filepath.Join(dir, id+".pem"), Key: filepath.Join(dir, id+".key")}, role, id, now)
	if err != nil {
		return record.Signer{}, err
	}
	return record.NewSigner(n.Key, n.Leaf.Raw, true, n.CityCA.Raw)
}

// signWarning signs a one-language warning for scope, issued now, valid
// for an hour.
func signWarning(s record.Signer, origin string, scope record.Scope, seq uint64, text string, now time.Time) (*record.Record, error) {
	now = now.UTC().Truncate(time.Millisecond)
	return record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: scope,
		Issued: now, Expires: now.Add(time.Hour), Origin: origin, Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: text}}, Severity: "Severe", Urgency: "Immediate",
			Certainty: "Observed", Category: "Met"}}, s)
}

// HasDisplayedAck reports whether the server holds pole's "displayed"
// ack of rec.
func (l *LocalServer) HasDisplayedAck(rec record.ID, pole string) bool {
	es, err := l.Store().ByKind(record.KindAck)
	if err != nil {
		return false
	}
	for _, e := range es {
		if e.Origin != pole {
			continue
		}
		if r, err := e.Parse(); err == nil {
			if a, ok := r.Body.(*record.Ack); ok && a.Record == rec && a.State == record.AckDisplayed {
				return true
			}
		}
	}
	return false
}

// Person is someone set up on the local server: a password and a TOTP
// secret.
type Person struct {
	ID, Password, Secret string
	Role                 auth.Role
}

// Code moves the server's clock to the start of the next TOTP step and
// returns the code of secret for that step. Every code is of a new step,
// and the server has a whole step (30 s of the machine's time) to check
// it before it falls behind. (Computing the code first and then moving
// the clock made a code two steps old, and refused, whenever the
// machine's clock crossed a step boundary in between.)
func (l *LocalServer) Code(secret string) (string, error) {
	at := l.Clock.StartNextStep(30 * time.Second)
	return totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// Session is a signed-in person's browser session: the cookie and the
// CSRF token. It is safe for concurrent use.
type Session struct {
	User   string
	l      *LocalServer
	cookie string
	csrf   string
	bearer string
}

// APIError is a problem document the server answered with.
type APIError struct {
	Status int
	Type   string
	Detail string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Detail) }

// Do sends a request as the session (nil body: none) and decodes a 2xx
// answer into out (if not nil); anything else is an *APIError.
func (s *Session) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.l.HTTPURL()+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.cookie != "" {
		req.Header.Set("Cookie", s.cookie)
		req.Header.Set(auth.CSRFHeader, s.csrf)
	}
	if s.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	resp, err := s.l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p server.Problem
		_ = json.Unmarshal(b, &p)
		return &APIError{Status: resp.StatusCode, Type: strings.TrimPrefix(p.Type, server.ProblemTypePrefix), Detail: p.Detail}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// TokenSession returns a session that authenticates with an API token.
func (l *LocalServer) TokenSession(user, secret string) *Session {
	return &Session{User: user, l: l, bearer: secret}
}

// anon is a session of nobody, for the public endpoints.
func (l *LocalServer) anon() *Session { return &Session{l: l} }

var loopbackAddr = netip.MustParseAddr("127.0.0.1")

// setUp finishes setup of id with its setup code over the API, with a
// password made from its id (tests).
func (l *LocalServer) setUp(ctx context.Context, id, code string, role auth.Role) (*Person, error) {
	return l.setUpWith(ctx, id, code, role, "lantern quiet harbor "+strconv.Itoa(len(id))+" river")
}

// setUpWith finishes setup of id with its setup code and password.
func (l *LocalServer) setUpWith(ctx context.Context, id, code string, role auth.Role, password string) (*Person, error) {
	var st struct {
		Secret string `json:"totp_secret"`
	}
	if err := l.anon().Do(ctx, "POST", "/api/v1/setup/start", map[string]string{"user": id, "setup_code": code}, &st); err != nil {
		return nil, fmt.Errorf("setup of %s: %w", id, err)
	}
	p := &Person{ID: id, Password: password, Secret: st.Secret, Role: role}
	c, err := l.Code(p.Secret)
	if err != nil {
		return nil, err
	}
	if err := l.anon().Do(ctx, "POST", "/api/v1/setup/finish",
		map[string]string{"user": id, "setup_code": code, "password": p.Password, "totp_code": c}, nil); err != nil {
		return nil, fmt.Errorf("setup of %s: %w", id, err)
	}
	return p, nil
}

// Bootstrap creates the first admin, as `server init` does, sets it up
// and logs it in.
func (l *LocalServer) Bootstrap(ctx context.Context, id string) (*Person, *Session, error) {
	code, err := l.Auth().Bootstrap(id, "Admin "+id, loopbackAddr)
	if err != nil {
		return nil, nil, err
	}
	p, err := l.setUp(ctx, id, code, auth.RoleAdmin)
	if err != nil {
		return nil, nil, err
	}
	s, err := l.Login(ctx, p)
	return p, s, err
}

// SetUpAdmin creates the first admin and finishes its setup over the API
// with password and a new TOTP secret, without logging it in.
func (l *LocalServer) SetUpAdmin(ctx context.Context, id, password string) (*Person, error) {
	code, err := l.Auth().Bootstrap(id, "Admin "+id, loopbackAddr)
	if err != nil {
		return nil, err
	}
	return l.setUpWith(ctx, id, code, auth.RoleAdmin, password)
}

// AddPerson has admin create a person of role (and zones) and sets it up.
// An integration user has no password: it gets a Person without secrets.
func (l *LocalServer) AddPerson(ctx context.Context, admin *Session, id string, role auth.Role, zones ...string) (*Person, error) {
	var resp struct {
		SetupCode string `json:"setup_code"`
	}
	if err := admin.Do(ctx, "POST", "/api/v1/users", map[string]any{"id": id, "display_name": "User " + id, "role": role, "zones": zones}, &resp); err != nil {
		return nil, fmt.Errorf("creating %s: %w", id, err)
	}
	if role == auth.RoleIntegration {
		return &Person{ID: id, Role: role}, nil
	}
	return l.setUp(ctx, id, resp.SetupCode, role)
}

// Login logs p in with a fresh TOTP code.
func (l *LocalServer) Login(ctx context.Context, p *Person) (*Session, error) {
	c, err := l.Code(p.Secret)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"user": p.ID, "password": p.Password, "totp_code": c})
	req, err := http.NewRequestWithContext(ctx, "POST", l.HTTPURL()+"/api/v1/login", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var lr struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login of %s: status %d (%v)", p.ID, resp.StatusCode, err)
	}
	s := &Session{User: p.ID, l: l, csrf: lr.CSRFToken}
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			s.cookie = c.Name + "=" + c.Value
		}
	}
	if s.cookie == "" {
		return nil, fmt.Errorf("login of %s: no session cookie", p.ID)
	}
	return s, nil
}

// Reauth enters a fresh TOTP code of p in the session (for signing an
// Emergency).
func (s *Session) Reauth(ctx context.Context, p *Person) error {
	c, err := s.l.Code(p.Secret)
	if err != nil {
		return err
	}
	return s.Do(ctx, "POST", server.ReauthPath, map[string]string{"totp_code": c}, nil)
}

// Token has admin create an API token for user with scopes, valid a day,
// and returns its secret.
func (l *LocalServer) Token(ctx context.Context, admin *Session, user string, scopes ...auth.Permission) (string, error) {
	var resp struct {
		Secret string `json:"secret"`
	}
	err := admin.Do(ctx, "POST", "/api/v1/tokens", map[string]any{"user": user, "name": "local", "scopes": scopes,
		"expires_at": l.Clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}, &resp)
	return resp.Secret, err
}

// WriteFile writes data to a new file in dir, mode 0600 (token files, CA
// files for tests and benchmarks).
func WriteFile(dir, name string, data []byte) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, data, 0o600)
}
