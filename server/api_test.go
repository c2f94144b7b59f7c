package server

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

func TestHealthAndReady(t *testing.T) {
	ts := startServer(t, nil)
	var h map[string]string
	ts.do(t, cred{}, "GET", "/healthz", nil).want(t, 200).json(t, &h)
	if h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	var rd readyResponse
	ts.do(t, cred{}, "GET", "/readyz", nil).want(t, 200).json(t, &rd)
	want := map[string]string{"serving": "ok", "store": "ok", "state": "ok", "broker": "ok", "audit": "ok"}
	if diff := cmp.Diff(want, rd.Checks); diff != "" {
		t.Errorf("readyz checks (-want +got):\n%s", diff)
	}
	// A broken audit log makes the server unready.
	why := "appends fail: disk full"
	ts.auditBroken.Store(&why)
	ts.do(t, cred{}, "GET", "/readyz", nil).want(t, 503).json(t, &rd)
	if rd.Checks["audit"] != "not writable" || strings.Contains(rd.Status, "disk full") {
		t.Errorf("readyz %+v: want audit not writable, without the cause", rd)
	}
	ts.auditBroken.Store(nil)
}

func TestAccountFlows(t *testing.T) {
	ts := startServer(t, nil)
	admin, adminS := ts.bootstrapAdmin(t)

	// Login without a code answers mfa-required; with a wrong password, the
	// generic answer.
	p := ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: "root", Password: admin.password}).want(t, 401).problem(t)
	if p.Type != ProblemTypePrefix+ProblemMFARequired {
		t.Errorf("login without code: %+v", p)
	}
	p = ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: "root", Password: "wrong password here", TOTPCode: "123456"}).want(t, 401).problem(t)
	if p.Detail != "invalid credentials" {
		t.Errorf("wrong password: %+v", p)
	}
	// A TOTP code works once.
	code := ts.code(t, admin.secret)
	ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: "root", Password: admin.password, TOTPCode: code}).want(t, 200)
	p = ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: "root", Password: admin.password, TOTPCode: code}).want(t, 401).problem(t)
	if p.Type != ProblemTypePrefix+ProblemReplay {
		t.Errorf("replayed code: %+v", p)
	}

	var me meResponse
	ts.do(t, adminS, "GET", "/api/v1/me", nil).want(t, 200).json(t, &me)
	if me.User.ID != "root" || me.User.Role != auth.RoleAdmin || me.Via != "session" || me.Session == nil || me.Session.FreshUntil == nil {
		t.Errorf("me = %+v", me)
	}
	if !slices.Contains(me.Permissions, auth.PermUserManage) || slices.Contains(me.Permissions, auth.PermAlertApprove) {
		t.Errorf("admin permissions %v", me.Permissions)
	}

	// Reauth stamps a fresh TOTP entry.
	var ra reauthResponse
	ts.do(t, adminS, "POST", "/api/v1/reauth", reauthRequest{TOTPCode: ts.code(t, admin.secret)}).want(t, 200).json(t, &ra)
	if !ra.FreshUntil.After(ts.clk.Now()) {
		t.Errorf("fresh until %v, now %v", ra.FreshUntil, ts.clk.Now())
	}

	// Users: create, list in pages, read, change role, disable, enable, reset.
	alice := ts.createUser(t, adminS, "alice", auth.RoleOfficer)
	bob := ts.createUser(t, adminS, "bob", auth.RoleViewer)
	ts.createUser(t, adminS, "carol", auth.RoleZoneOperator, "z1", "z2")
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/v1/users?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var pg PageResponse[userJSON]
		ts.do(t, adminS, "GET", path, nil).want(t, 200).json(t, &pg)
		for _, u := range pg.Items {
			ids = append(ids, u.ID)
		}
		if pg.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("too many pages")
		}
		cursor = pg.NextCursor
	}
	if diff := cmp.Diff([]string{"alice", "bob", "carol", "root"}, ids); diff != "" {
		t.Errorf("paged users (-want +got):\n%s", diff)
	}
	var u userJSON
	ts.do(t, adminS, "GET", "/api/v1/users/carol", nil).want(t, 200).json(t, &u)
	if u.Role != auth.RoleZoneOperator || !slices.Equal(u.Zones, []string{"z1", "z2"}) || !u.MFAEnrolled || !u.PasswordSet {
		t.Errorf("carol = %+v", u)
	}
	ts.do(t, adminS, "POST", "/api/v1/users/bob/role", setRoleRequest{Role: auth.RoleAuditor}).want(t, 200).json(t, &u)
	if u.Role != auth.RoleAuditor {
		t.Errorf("bob's role %s", u.Role)
	}
	// Nobody changes their own role.
	ts.do(t, adminS, "POST", "/api/v1/users/root/role", setRoleRequest{Role: auth.RoleViewer}).want(t, 403)

	aliceS := ts.login(t, alice)
	ts.do(t, aliceS, "GET", "/api/v1/me", nil).want(t, 200)
	ts.do(t, adminS, "POST", "/api/v1/users/alice/disable", nil).want(t, 200).json(t, &u)
	if !u.Disabled {
		t.Error("alice not disabled")
	}
	ts.do(t, aliceS, "GET", "/api/v1/me", nil).want(t, 401)
	ts.do(t, adminS, "POST", "/api/v1/users/alice/enable", "{}").want(t, 200)
	ts.do(t, adminS, "POST", "/api/v1/users/alice/unlock", nil).want(t, 200)
	var reset setupCodeResponse
	ts.do(t, adminS, "POST", "/api/v1/users/alice/reset", nil).want(t, 200).json(t, &reset)
	if reset.SetupCode == "" || !reset.User.SetupPending || reset.User.PasswordSet {
		t.Errorf("reset = %+v", reset)
	}
	alice = ts.setUp(t, "alice", reset.SetupCode, auth.RoleOfficer)
	aliceS = ts.login(t, alice)

	// Tokens: an officer may not make one (no token.manage); an auditor
	// makes one for itself; it works as a bearer token; revoked, it does
	// not.
	ts.do(t, aliceS, "POST", "/api/v1/tokens", createTokenRequest{Name: "desk script", Scopes: []auth.Permission{auth.PermAlertRead},
		ExpiresAt: ts.clk.Now().Add(time.Hour).Format(time.RFC3339)}).want(t, 403)
	bobS := ts.login(t, bob)
	var ct createTokenResponse
	ts.do(t, bobS, "POST", "/api/v1/tokens", createTokenRequest{Name: "report script", Scopes: []auth.Permission{auth.PermAlertRead},
		ExpiresAt: ts.clk.Now().Add(time.Hour).Format(time.RFC3339)}).want(t, 201).json(t, &ct)
	if !strings.HasPrefix(ct.Secret, "cat_") || ct.Token.User != "bob" {
		t.Errorf("token = %+v", ct)
	}
	tokC := cred{bearer: ct.Secret}
	ts.do(t, tokC, "GET", "/api/v1/me", nil).want(t, 200).json(t, &me)
	if me.Via != "api-token" || me.Token == nil || !slices.Equal(me.Permissions, []auth.Permission{auth.PermAlertRead}) {
		t.Errorf("me by token = %+v", me)
	}
	// A token cannot make tokens, even with a CSRF-free request.
	ts.do(t, tokC, "POST", "/api/v1/tokens", createTokenRequest{Name: "x", Scopes: []auth.Permission{auth.PermAlertRead},
		ExpiresAt: ts.clk.Now().Add(time.Hour).Format(time.RFC3339)}).want(t, 403)
	// Admin lists bob's tokens.
	var tl PageResponse[tokenJSON]
	ts.do(t, adminS, "GET", "/api/v1/tokens?user=bob", nil).want(t, 200).json(t, &tl)
	if len(tl.Items) != 1 || tl.Items[0].ID != ct.Token.ID {
		t.Errorf("bob's tokens %+v", tl)
	}
	ts.do(t, bobS, "DELETE", "/api/v1/tokens/"+ct.Token.ID, nil).want(t, 204)
	ts.do(t, tokC, "GET", "/api/v1/me", nil).want(t, 401)
	ts.do(t, bobS, "DELETE", "/api/v1/tokens/"+ct.Token.ID, nil).want(t, 404)

	// Password: the policy names the field; a change ends every session.
	p = ts.do(t, aliceS, "POST", "/api/v1/password", passwordRequest{CurrentPassword: alice.password, NewPassword: "short"}).want(t, 400).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "new_password" {
		t.Errorf("weak password problem %+v", p)
	}
	ts.do(t, aliceS, "POST", "/api/v1/password", passwordRequest{CurrentPassword: alice.password, NewPassword: "a brand new secret phrase"}).want(t, 204)
	ts.do(t, aliceS, "GET", "/api/v1/me", nil).want(t, 401)
	alice.password = "a brand new secret phrase"
	aliceS = ts.login(t, alice)

	// Logout ends the session and clears the cookie.
	r := ts.do(t, aliceS, "POST", "/api/v1/logout", nil).want(t, 204)
	if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout Set-Cookie %q", r.header.Get("Set-Cookie"))
	}
	ts.do(t, aliceS, "GET", "/api/v1/me", nil).want(t, 401)

	// Every state change is in the audit log, with the actor.
	var al auditListResponse
	ts.do(t, adminS, "GET", "/api/v1/audit?limit=500", nil).want(t, 200).json(t, &al)
	actions := map[string]int{}
	for _, e := range al.Items {
		actions[e.Action]++
		for k, v := range e.Detail {
			if strings.Contains(v, admin.password) || strings.Contains(v, "cat_") || strings.Contains(k, "password") {
				t.Errorf("audit entry %d holds a secret: %v", e.Seq, e.Detail)
			}
		}
	}
	for _, a := range []string{"bootstrap", "setup.complete", "login.ok", "login.fail", "mfa.replay", "user.create",
		"user.role_change", "user.disable", "user.reset", "token.create", "token.revoke", "password.change", "logout",
		"request.done", "request.refused", "request.invalid"} {
		if actions[a] == 0 {
			t.Errorf("no %q entry in the audit log; have %v", a, actions)
		}
	}
}

func TestAuditEndpoints(t *testing.T) {
	ts := startServer(t, nil)
	_, admin := ts.bootstrapAdmin(t)
	for i := range 5 {
		ts.do(t, admin, "GET", fmt.Sprintf("/api/v1/users/nobody%d", i), nil).want(t, 404)
	}
	size := ts.Audit().Size()
	var all []auditEntryJSON
	path := "/api/v1/audit?from=2&limit=3"
	for range 100 {
		var al auditListResponse
		ts.do(t, admin, "GET", path, nil).want(t, 200).json(t, &al)
		all = append(all, al.Items...)
		if al.NextCursor == "" {
			break
		}
		path = "/api/v1/audit?limit=3&cursor=" + al.NextCursor
	}
	if len(all) < int(size)-2 {
		t.Fatalf("read %d entries from 2, the log had %d", len(all), size)
	}
	for i, e := range all {
		if e.Seq != int64(i+2) {
			t.Fatalf("entry %d has seq %d", i+2, e.Seq)
		}
	}
	// A cursor is opaque and bound to its list.
	var al auditListResponse
	ts.do(t, admin, "GET", "/api/v1/audit?limit=1", nil).want(t, 200).json(t, &al)
	ts.do(t, admin, "GET", "/api/v1/users?cursor="+al.NextCursor, nil).want(t, 400)
	ts.do(t, admin, "GET", "/api/v1/audit?cursor="+al.NextCursor+"x", nil).want(t, 400)

	// A proof of entry 3 checks against the server's key.
	r := ts.do(t, admin, "GET", "/api/v1/audit/proof/3", nil).want(t, 200)
	var proof audit.Proof
	if err := json.Unmarshal(r.body, &proof); err != nil {
		t.Fatal(err)
	}
	if err := audit.CheckProof(&proof, audit.PublicKeyVerifiers(ts.SigningKey().Public().(ed25519.PublicKey))); err != nil {
		t.Errorf("proof of entry 3: %v", err)
	}
	ts.do(t, admin, "GET", "/api/v1/audit/proof/999999", nil).want(t, 404)
}

func TestMetricsAccess(t *testing.T) {
	ts := startServer(t, nil)
	ts.do(t, cred{}, "GET", "/healthz", nil).want(t, 200)
	r := ts.do(t, cred{}, "GET", "/metrics", nil).want(t, 200)
	for _, m := range []string{"cityarray_http_requests_total", "cityarray_http_request_duration_seconds",
		"cityarray_mesh_records_received_total", `cityarray_mesh_records_rejected_total{reason="bad-signature"}`,
		"cityarray_mqtt_clients_connected", "cityarray_audit_entries", "go_goroutines"} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	_, admin := ts.bootstrapAdmin(t)
	viewer := ts.login(t, ts.createUser(t, admin, "vic", auth.RoleViewer))

	// From another address: only with metrics.read.
	remote := func(c cred) int {
		req := httptest.NewRequest("GET", "https://ops.example/metrics", nil)
		req.RemoteAddr = "192.0.2.7:40000"
		if c.cookie != "" {
			req.Header.Set("Cookie", c.cookie)
		}
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, req)
		return w.Code
	}
	if got := remote(cred{}); got != http.StatusUnauthorized {
		t.Errorf("anonymous remote scrape: %d, want 401", got)
	}
	if got := remote(viewer); got != http.StatusForbidden {
		t.Errorf("viewer remote scrape: %d, want 403", got)
	}
	if got := remote(admin); got != http.StatusOK {
		t.Errorf("admin remote scrape: %d, want 200", got)
	}
}

func TestIPAllowlist(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Auth.IPAllow = map[string][]string{"integration": {"10.0.0.0/8", "192.0.2.7"}, "admin": {"127.0.0.0/8"}}
	})
	_, admin := ts.bootstrapAdmin(t)
	ts.createUser(t, admin, "feed", auth.RoleIntegration)
	tok := ts.token(t, admin, "feed", auth.PermAlertRead)
	r := ts.do(t, tok, "GET", "/api/v1/me", nil).want(t, 403)
	if p := r.problem(t); p.Type != ProblemTypePrefix+ProblemIPNotAllowed {
		t.Errorf("problem %+v", p)
	}
	if !auditedRequestIDs(t, ts)[r.header.Get("X-Request-Id")] {
		t.Error("refusal not audited")
	}
}

func TestRateLimitAudit(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Auth.RateLimits.HTTPPerIP = Limit{Every: time.Hour, Burst: 3}
	})
	var ids []string
	for range 6 {
		r := ts.do(t, cred{}, "GET", "/healthz", nil)
		if r.status == 429 {
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			ids = append(ids, r.header.Get("X-Request-Id"))
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d refusals, want 3", len(ids))
	}
	audited := auditedRequestIDs(t, ts)
	if !audited[ids[0]] || audited[ids[1]] || audited[ids[2]] {
		t.Errorf("want only the first refusal of the minute audited: %v of %v", audited, ids)
	}
	// A minute later the next refusal is audited, with the count of those
	// that were not.
	ts.clk.Advance(time.Minute)
	r := ts.do(t, cred{}, "GET", "/healthz", nil).want(t, 429)
	es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 1000, ts.Audit().Size())
	if err != nil {
		t.Fatal(err)
	}
	last := es[len(es)-1]
	if last.Detail["request_id"] != r.header.Get("X-Request-Id") || last.Detail["suppressed"] != "2" {
		t.Errorf("last entry %+v: want the refusal with suppressed=2", last)
	}
}

func TestInsecureHTTPLoopback(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.HTTP.InsecureHTTPLoopback = true })
	if !strings.HasPrefix(ts.base, "http://127.0.0.1:") {
		t.Fatalf("base %s", ts.base)
	}
	code, err := ts.Auth().Bootstrap("root", "Root", loopback)
	if err != nil {
		t.Fatal(err)
	}
	p := ts.setUp(t, "root", code, auth.RoleAdmin)
	r := ts.do(t, cred{}, "POST", "/api/v1/login", loginRequest{User: p.id, Password: p.password, TOTPCode: ts.code(t, p.secret)}).want(t, 200)
	if c := r.header.Get("Set-Cookie"); !strings.HasPrefix(c, auth.InsecureSessionCookie+"=") || strings.Contains(c, "Secure") {
		t.Errorf("plain-HTTP cookie %q", c)
	}
}
