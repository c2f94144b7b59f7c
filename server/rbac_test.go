package server

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cityarray/cityarray/server/auth"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// principals sets up one principal of every role (sessions for people, an
// API token carrying everything it may for the integration user) and the
// admin.
func principals(t *testing.T, ts *testServer) (admin cred, byRole map[auth.Role]cred) {
	t.Helper()
	_, admin = ts.bootstrapAdmin(t)
	byRole = map[auth.Role]cred{auth.RoleAdmin: admin}
	for _, role := range auth.Roles() {
		switch role {
		case auth.RoleAdmin:
		case auth.RoleIntegration:
			ts.createUser(t, admin, "integ", role)
			var scopes []auth.Permission
			for _, p := range auth.Permissions() {
				if auth.Allowed(role, p) && auth.TokenGrantable(p) {
					scopes = append(scopes, p)
				}
			}
			byRole[role] = ts.token(t, admin, "integ", scopes...)
		case auth.RoleZoneOperator:
			byRole[role] = ts.login(t, ts.createUser(t, admin, "zoneop", role, "z1"))
		default:
			id := strings.ReplaceAll(string(role), "_", "-")
			byRole[role] = ts.login(t, ts.createUser(t, admin, id, role))
		}
	}
	return admin, byRole
}

// concrete fills a route's path parameters with values that exist nowhere,
// so that no request of the walk changes anything.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "nobody0", "{name}", "nobody0", "{n}", "999999").Replace(path)
}

// expectAccess is what the RBAC matrix says principal c (role, or ""
// for anonymous; tok for an API token) may do on rt, from loopback.
func expectAccess(rt Route, role auth.Role, tok bool) (allowed bool, status int) {
	switch rt.Access {
	case AccessPublic, AccessLoopbackOrPermission:
		return true, 0
	case AccessAuthenticated:
		if role == "" {
			return false, 401
		}
		return true, 0
	}
	if role == "" {
		return false, 401
	}
	ok := auth.Allowed(role, rt.Perm) && (!tok || auth.TokenGrantable(rt.Perm))
	if !ok {
		return false, 403
	}
	return true, 0
}

// TestRBACWalk sends a request to every registered route as every role
// and anonymously, and checks the answer against auth.Allowed: 401 for
// anonymous callers of a protected route, 403 for a role without the
// permission, anything but 401/403 (or a 5xx) for one with it. The routes
// come from the registry, so routes added later are walked too. Every
// refusal must be in the audit log under its request id.
func TestRBACWalk(t *testing.T) {
	ts := startServer(t, nil)
	_, byRole := principals(t, ts)

	routes := ts.Routes()
	// Logout ends the session: walk it last.
	slices.SortStableFunc(routes, func(a, b Route) int {
		la, lb := a.Path == "/api/v1/logout", b.Path == "/api/v1/logout"
		switch {
		case la && !lb:
			return 1
		case lb && !la:
			return -1
		}
		return 0
	})
	type who struct {
		name string
		role auth.Role
		c    cred
	}
	whos := []who{{name: "anonymous"}}
	for _, role := range auth.Roles() {
		whos = append(whos, who{name: string(role), role: role, c: byRole[role]})
	}
	var refused []string // request ids
	for _, rt := range routes {
		for _, w := range whos {
			name := fmt.Sprintf("%s %s as %s", rt.Method, rt.Path, w.name)
			var body any
			if rt.Method != "GET" && rt.Method != "DELETE" {
				body = "{}"
			}
			r := ts.do(t, w.c, rt.Method, concrete(rt.Path), body)
			allowed, want := expectAccess(rt, w.role, w.c.bearer != "")
			switch {
			case !allowed && r.status != want:
				t.Errorf("%s: status %d, want %d: %s", name, r.status, want, r.body)
			case allowed && (r.status == 401 || r.status == 403 || r.status >= 500):
				t.Errorf("%s: status %d, want access: %s", name, r.status, r.body)
			}
			if r.status == 401 || r.status == 403 {
				refused = append(refused, r.header.Get("X-Request-Id"))
				if p := r.problem(t); p.Status != r.status {
					t.Errorf("%s: problem status %d, response %d", name, p.Status, r.status)
				}
			}
		}
	}
	if len(refused) == 0 {
		t.Fatal("no refusal at all")
	}
	audited := auditedRequestIDs(t, ts)
	for _, id := range refused {
		if !audited[id] {
			t.Errorf("refused request %s not audited", id)
		}
	}
}

// auditedRequestIDs reads the whole audit log back and returns the
// request ids its entries name.
func auditedRequestIDs(t *testing.T, ts *testServer) map[string]bool {
	t.Helper()
	es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 1<<30, ts.Audit().Size())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range es {
		if id := e.Detail["request_id"]; id != "" {
			out[id] = true
		}
	}
	return out
}

// TestCSRF: a cookie request that changes state needs the CSRF token.
func TestCSRF(t *testing.T) {
	ts := startServer(t, nil)
	_, admin := ts.bootstrapAdmin(t)
	noCSRF := admin
	noCSRF.csrf = ""
	p := ts.do(t, noCSRF, "POST", "/api/v1/users", createUserRequest{ID: "eve", DisplayName: "Eve", Role: auth.RoleViewer}).want(t, 403).problem(t)
	if p.Type != ProblemTypePrefix+ProblemCSRF {
		t.Errorf("problem %+v, want csrf", p)
	}
	wrong := admin
	wrong.csrf = "AAAA"
	ts.do(t, wrong, "POST", "/api/v1/users", createUserRequest{ID: "eve", DisplayName: "Eve", Role: auth.RoleViewer}).want(t, 403)
	// A cross-site browser request is refused even with the token.
	ts.do(t, admin, "POST", "/api/v1/users", createUserRequest{ID: "eve", DisplayName: "Eve", Role: auth.RoleViewer},
		"Sec-Fetch-Site", "cross-site").want(t, 403)
	// Reads need no token.
	ts.do(t, noCSRF, "GET", "/api/v1/me", nil).want(t, 200)
	ts.do(t, admin, "POST", "/api/v1/users", createUserRequest{ID: "eve", DisplayName: "Eve", Role: auth.RoleViewer}).want(t, 201)
}
