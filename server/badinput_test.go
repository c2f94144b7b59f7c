package server

import (
	"strings"
	"testing"
)

// TestBadInput sends malformed, oversize, mistyped and hostile requests
// to every endpoint that takes input, and checks that each gets a clear
// problem document naming what is wrong, and is audited.
func TestBadInput(t *testing.T) {
	ts := startServer(t, nil)
	_, admin := ts.bootstrapAdmin(t)

	// Endpoints with a JSON body, with a string field to send a number in.
	bodies := []struct {
		path, stringField string
		c                 cred
	}{
		{"/api/v1/setup/start", "user", cred{}},
		{"/api/v1/setup/finish", "password", cred{}},
		{"/api/v1/login", "user", cred{}},
		{"/api/v1/reauth", "totp_code", admin},
		{"/api/v1/password", "new_password", admin},
		{"/api/v1/users", "display_name", admin},
		{"/api/v1/users/root/role", "role", admin},
		{"/api/v1/tokens", "expires_at", admin},
	}
	type bad struct {
		name        string
		body        string
		contentType string
		status      int
		problem     string
		field       string // a field the problem must name, if any
	}
	big := `{"user":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := func(stringField string) []bad {
		return []bad{
			{"malformed", `{"user":`, "application/json", 400, ProblemMalformedJSON, ""},
			{"not json", `user=root&password=x`, "application/json", 400, ProblemMalformedJSON, ""},
			{"oversize", big, "application/json", 413, ProblemTooLarge, ""},
			{"empty", ``, "application/json", 400, ProblemMalformedJSON, ""},
			{"two values", `{}{}`, "application/json", 400, ProblemMalformedJSON, ""},
			{"array", `[]`, "application/json", 400, ProblemMalformedJSON, ""},
			{"unknown field", `{"is_admin":true}`, "application/json", 400, ProblemValidation, "is_admin"},
			{"wrong type", `{"` + stringField + `":12345}`, "application/json", 400, ProblemValidation, stringField},
			{"wrong media type", `{}`, "text/plain", 415, ProblemMediaType, ""},
			{"no media type", `{}`, "", 415, ProblemMediaType, ""},
			{"missing fields", `{}`, "application/json", 400, ProblemValidation, ""},
		}
	}
	var ids []string
	for _, ep := range bodies {
		for _, tc := range cases(ep.stringField) {
			t.Run(ep.path+"/"+tc.name, func(t *testing.T) {
				r := ts.do(t, ep.c, "POST", ep.path, tc.body, "Content-Type", tc.contentType)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				p := r.problem(t)
				if p.Type != ProblemTypePrefix+tc.problem || p.Status != tc.status || p.Title == "" || p.Detail == "" ||
					!strings.HasPrefix(p.Instance, ep.path+"#req=") {
					t.Errorf("problem %+v, want type %s", p, tc.problem)
				}
				if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
					t.Errorf("problem errors %+v, want field %q", p.Errors, tc.field)
				}
				// (Not the instance: its random request id may hold "12345".)
				said := strings.Replace(string(r.body), p.Instance, "", 1)
				if strings.Contains(said, "aaaaaaaa") || strings.Contains(said, "12345") {
					t.Errorf("the problem echoes the input: %s", r.body)
				}
				ids = append(ids, r.header.Get("X-Request-Id"))
			})
		}
	}

	// Hostile ids in paths: refused as malformed before any lookup.
	hostile := []string{
		"..%2F..%2Fetc%2Fpasswd", "%2E%2E%5Cwindows%5Csystem32", "x'%20OR%20'1'%3D'1", "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"a%00b", "ROOT", "a%0Ab", strings.Repeat("a", 100), "%F0%9F%92%A3", "%24%7Bjndi%3Aldap%3A%2F%2Fx%7D",
	}
	paths := []struct{ method, pattern string }{
		{"GET", "/api/v1/users/%s"}, {"POST", "/api/v1/users/%s/role"}, {"POST", "/api/v1/users/%s/disable"},
		{"POST", "/api/v1/users/%s/reset"}, {"DELETE", "/api/v1/tokens/%s"}, {"GET", "/api/v1/audit/proof/%s"},
	}
	for _, pth := range paths {
		for _, id := range hostile {
			path := strings.Replace(pth.pattern, "%s", id, 1)
			t.Run(pth.method+" "+path, func(t *testing.T) {
				var body any
				if pth.method == "POST" {
					body = `{"role":"viewer"}`
				}
				r := ts.do(t, admin, pth.method, path, body)
				if r.status != 400 {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				p := r.problem(t)
				if len(p.Errors) != 1 || (p.Errors[0].Field != "id" && p.Errors[0].Field != "n") {
					t.Errorf("problem %+v: want the path parameter named", p)
				}
				// The instance carries the path percent-encoded, as sent;
				// nothing decoded comes back.
				for _, s := range []string{"<script", `\u003cscript`, "${jndi", "../", "' OR"} {
					if strings.Contains(string(r.body), s) {
						t.Errorf("the problem echoes the input decoded: %s", r.body)
					}
				}
				ids = append(ids, r.header.Get("X-Request-Id"))
			})
		}
	}

	// Query parameters.
	for _, q := range []string{"limit=0", "limit=501", "limit=abc", "limit=1&limit=2", "cursor=garbage", "from=-1", "from=x"} {
		t.Run("audit?"+q, func(t *testing.T) {
			r := ts.do(t, admin, "GET", "/api/v1/audit?"+q, nil).want(t, 400)
			p := r.problem(t)
			if len(p.Errors) == 0 || p.Errors[0].Field == "" {
				t.Errorf("problem %+v: want the parameter named", p)
			}
			ids = append(ids, r.header.Get("X-Request-Id"))
		})
	}

	audited := auditedRequestIDs(t, ts)
	for _, id := range ids {
		if !audited[id] {
			t.Errorf("refused request %s not audited", id)
		}
	}
}
