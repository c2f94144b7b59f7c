package gateway

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

const adaPassword = "granite heron over the quiet weir"

func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startOperatorZone is startZone with operators.listen on and one
// account, ada (the administrator), set up with adaPassword: it returns
// ada's TOTP secret and recovery codes.
func startOperatorZone(t *testing.T) (z *zone, secret string, recovery []string) {
	t.Helper()
	z = startZoneWith(t, func(c *Config) {
		c.Operators.Listen = "127.0.0.1:0"
		ops, err := OpenOperators(c.DataDir, "z1", clock.System{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer ops.Close()
		code, err := ops.Init("ada", "Ada Admin")
		if err != nil {
			t.Fatal(err)
		}
		enr, err := ops.StartSetup("ada", code)
		if err != nil {
			t.Fatal(err)
		}
		secret = enr.Secret
		if recovery, err = ops.FinishSetup("ada", code, adaPassword, totpAt(t, secret, time.Now())); err != nil {
			t.Fatal(err)
		}
	})
	return z, secret, recovery
}

// operatorClient is an HTTPS client of z's operator API that checks, as
// the CLI does, that it is a gateway of the city.
func operatorClient(t *testing.T, z *zone) *http.Client {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: z.server.member.Roots})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: mqttlink.ClientTLS(tls.Certificate{}, v, nil, []trust.Role{trust.RoleGateway}, nil)}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// idleGateway is a gateway of z1 with operators.listen on and no
// account, built but not run: its handlers answer, nothing flows.
func idleGateway(tb testing.TB) *Gateway {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(tb.TempDir(), "gw")
	cfg.PKI.Dir, cfg.PKI.GatewayID = cityFiles(tb), "gw-1"
	cfg.MQTT.Listen, cfg.Operators.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Server.Brokers = []string{"tls://127.0.0.1:1"} // nobody: the bridge stays down
	g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Close() })
	return g
}

// TestOperatorAdvisory: a local operator account, set up at the gateway,
// issues an Advisory over the gateway's HTTPS operator API with its
// password and a TOTP code, and it reaches the zone's pole; a reused code,
// a wrong password and a malformed request are refused, naming why; a
// recovery code cancels it.
func TestOperatorAdvisory(t *testing.T) {
	z, secret, recovery := startOperatorZone(t)
	pole, pl := z.connectPole(t)
	eventually(t, "the pole connected", pl.Connected)
	if _, err := OpenOperators(z.g.cfg.DataDir, "z1", clock.System{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "is the gateway running") {
		t.Errorf("opening the accounts of a running gateway: %v", err)
	}

	// The client checks that the API is a gateway of this city.
	client := operatorClient(t, z)
	post := func(path string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := client.Post(z.g.OperatorURL()+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	req := AdvisoryRequest{Credentials: Credentials{User: "ada", Password: adaPassword, TOTPCode: totpAt(t, secret, time.Now().Add(30*time.Second))},
		Texts: map[string]record.AlertText{"en": {Short: "Road closed: Main St"}}, Lifetime: "2h",
		Severity: "Moderate", Urgency: "Expected", Certainty: "Likely", Category: "Transport"}
	status, out := post("/api/advisories", req)
	if status != http.StatusCreated {
		t.Fatalf("advisory: %d %v", status, out)
	}
	id, err := record.ParseID(out["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the advisory at the pole", func() bool { return pole.has(id) })

	// The same code again: a replay. A wrong password. A bad lifetime.
	if status, out := post("/api/advisories", req); status != http.StatusUnauthorized {
		t.Errorf("a reused code: %d %v", status, out)
	}
	bad := req
	bad.Password, bad.TOTPCode = "not the passphrase at all", totpAt(t, secret, time.Now())
	if status, out := post("/api/advisories", bad); status != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "invalid credentials") {
		t.Errorf("a wrong password: %d %v", status, out)
	}
	bad = req
	bad.Lifetime = "a while"
	if status, out := post("/api/advisories", bad); status != http.StatusBadRequest || !strings.Contains(out["error"].(string), "lifetime") {
		t.Errorf("a bad lifetime: %d %v", status, out)
	}
	if status, _ := post("/api/advisories", map[string]any{"user": "ada", "surprise": true}); status != http.StatusBadRequest {
		t.Errorf("an unknown field: %d", status)
	}

	// A recovery code stands in for a TOTP code, once.
	status, out = post("/api/advisories/cancel", CancelRequest{Credentials: Credentials{User: "ada", Password: adaPassword, TOTPCode: recovery[0]}, IDs: []string{id.String()}, Reason: "road open"})
	if status != http.StatusCreated {
		t.Fatalf("cancel: %d %v", status, out)
	}
	cancel, _ := record.ParseID(out["id"].(string))
	eventually(t, "the cancel at the pole", func() bool { return pole.has(cancel) })
	if sup, _ := pole.store.Superseded(id); !sup {
		t.Error("the pole does not hold the advisory as cancelled")
	}
}

// FuzzOperatorRequest: whatever the body, the operator API answers a
// refusal in JSON (nobody has an account here), and never panics.
func FuzzOperatorRequest(f *testing.F) {
	f.Add([]byte(`{"user":"ada","password":"x","totp_code":"123456","texts":{"en":{"short":"Hi"}},"lifetime":"1h"}`), false)
	f.Add([]byte(`{"user":"ada","password":"x","totp_code":"123456","ids":["00"],"reason":"r"}`), true)
	f.Add([]byte(`{"surprise":1}`), false)
	f.Add([]byte(`[`), true)
	h := idleGateway(f).operatorHandler()
	f.Fuzz(func(t *testing.T, body []byte, cancel bool) {
		path := "/api/advisories"
		if cancel {
			path += "/cancel"
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%s %q: %d", path, body, rec.Code)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %q: the answer %q names no error", path, body, rec.Body)
		}
	})
}

// FuzzOperatorForm: whatever the body of either form, its parse never
// panics, names what it refuses and reads back what it takes; the page
// answers a refusal (nobody has an account here) with its status, the
// page's security headers and the error, never a server error.
func FuzzOperatorForm(f *testing.F) {
	f.Add("user=ada&password=x&totp_code=123456&lang=en&short=Hi&lifetime=1h&severity=Minor&urgency=Future&certainty=Likely&category=Met", false)
	f.Add("user=ada&password=x&totp_code=123456&lang=en&short=%3Cscript%3E&long=a%0D%0Ab&lifetime=49h", false)
	f.Add("user=ada&password=x&totp_code=123456&ids=00&ids=zz&reason=road+open", true)
	f.Add("user=ada&user=bob", true)
	f.Add("surprise=1", false)
	f.Add("a=%zz;b", true)
	h := idleGateway(f).operatorHandler()
	f.Fuzz(func(t *testing.T, body string, cancel bool) {
		path, back := "/advisory", url.Values{}
		if cancel {
			path += "/cancel"
			if req, err := parseCancelForm(body); err != nil {
				if err.Error() == "" {
					t.Fatalf("%q: refused naming nothing", body)
				}
			} else {
				back = url.Values{"user": {req.User}, "password": {req.Password}, "totp_code": {req.TOTPCode}, "ids": req.IDs, "reason": {req.Reason}}
				again, err := parseCancelForm(back.Encode())
				if err != nil {
					t.Fatalf("%q: read back: %v", body, err)
				}
				if diff := cmp.Diff(req, again, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%q: read back (-first +again):\n%s", body, diff)
				}
			}
		} else {
			if req, err := parseAdvisoryForm(body); err != nil {
				if err.Error() == "" {
					t.Fatalf("%q: refused naming nothing", body)
				}
			} else {
				if len(req.Texts) != 1 {
					t.Fatalf("%q: %d languages, want the form's one", body, len(req.Texts))
				}
				for lang, text := range req.Texts {
					back = url.Values{"user": {req.User}, "password": {req.Password}, "totp_code": {req.TOTPCode}, "lang": {lang},
						"short": {text.Short}, "long": {text.Long}, "speak": {text.Speak}, "lifetime": {req.Lifetime},
						"severity": {req.Severity}, "urgency": {req.Urgency}, "certainty": {req.Certainty}, "category": {req.Category}}
				}
				again, err := parseAdvisoryForm(back.Encode())
				if err != nil {
					t.Fatalf("%q: read back: %v", body, err)
				}
				if diff := cmp.Diff(req, again); diff != "" {
					t.Fatalf("%q: read back (-first +again):\n%s", body, diff)
				}
			}
		}
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusLocked, http.StatusTooManyRequests:
		default:
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Security-Policy") != operatorCSP || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s %q: headers %v", path, body, rec.Header())
		}
		if !strings.Contains(rec.Body.String(), `<p class="error">Refused (`) {
			t.Fatalf("%s %q: the page names no error:\n%s", path, body, rec.Body)
		}
	})
}
