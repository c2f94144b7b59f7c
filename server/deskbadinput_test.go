package server

import (
	"strings"
	"testing"

	"github.com/cityarray/cityarray/server/auth"
)

// TestDeskBadInput is TestBadInput for the alert, protocol, device and
// officer-key endpoints: malformed, oversize, mistyped and hostile
// requests each get a problem document naming what is wrong, never echo
// the input, and are audited.
func TestDeskBadInput(t *testing.T) {
	ts := startServer(t, nil)
	_, admin := ts.bootstrapAdmin(t)
	sam := ts.login(t, ts.createUser(t, admin, "sam", auth.RoleSupervisor))
	tess := ts.login(t, ts.createUser(t, admin, "tess", auth.RoleTechnician))

	const alertID = "bcdefghijklmnopq" // well formed, no such alert
	bodies := []struct {
		method, path, stringField string
		c                         cred
		// what an empty object gets: the desk's answer for a request
		// without its required fields, or for an id that does not exist.
		emptyStatus int
		emptySlug   string
	}{
		{"POST", "/api/v1/alerts", "tier", sam, 422, ProblemValidation},
		{"PUT", "/api/v1/alerts/" + alertID, "scope", sam, 404, ProblemNotFound},
		{"POST", "/api/v1/alerts/" + alertID + "/reject", "reason", sam, 400, ProblemValidation},
		{"POST", "/api/v1/alerts/" + alertID + "/update", "reason", sam, 404, ProblemNotFound},
		{"POST", "/api/v1/alerts/" + alertID + "/cancel", "reason", sam, 404, ProblemNotFound},
		{"POST", "/api/v1/protocols", "template", sam, 422, ProblemValidation},
		{"POST", "/api/v1/devices/pole-1/revoke", "reason", admin, 400, ProblemValidation},
		{"POST", "/api/v1/devices/pole-1/command", "action", tess, 404, ProblemNotFound},
	}
	type bad struct {
		name        string
		body        string
		contentType string
		status      int
		problem     string
		field       string
	}
	big := `{"reason":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := func(stringField string, emptyStatus int, emptySlug string) []bad {
		return []bad{
			{"malformed", `{"tier":`, "application/json", 400, ProblemMalformedJSON, ""},
			{"not json", `tier=warning`, "application/json", 400, ProblemMalformedJSON, ""},
			{"oversize", big, "application/json", 413, ProblemTooLarge, ""},
			{"empty", ``, "application/json", 400, ProblemMalformedJSON, ""},
			{"two values", `{}{}`, "application/json", 400, ProblemMalformedJSON, ""},
			{"array", `[]`, "application/json", 400, ProblemMalformedJSON, ""},
			{"null", `null`, "application/json", 400, ProblemValidation, ""},
			{"unknown field", `{"is_admin":true}`, "application/json", 400, ProblemValidation, "is_admin"},
			{"key twice", `{"` + stringField + `":"x","` + stringField + `":"y"}`, "application/json", 400, ProblemValidation, stringField},
			{"wrong type", `{"` + stringField + `":12345}`, "application/json", 400, ProblemValidation, stringField},
			{"wrong media type", `{}`, "text/plain", 415, ProblemMediaType, ""},
			{"no media type", `{}`, "", 415, ProblemMediaType, ""},
			{"missing fields", `{}`, "application/json", emptyStatus, emptySlug, ""},
		}
	}
	var ids []string
	for _, ep := range bodies {
		for _, tc := range cases(ep.stringField, ep.emptyStatus, ep.emptySlug) {
			t.Run(ep.method+" "+ep.path+"/"+tc.name, func(t *testing.T) {
				r := ts.do(t, ep.c, ep.method, ep.path, tc.body, "Content-Type", tc.contentType)
				if tc.name == "null" && r.status != 400 {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				if tc.name != "null" && r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				p := r.problem(t)
				if (tc.name != "null" && p.Type != ProblemTypePrefix+tc.problem) || p.Status != r.status || p.Title == "" ||
					(p.Detail == "" && len(p.Errors) == 0) || !strings.HasPrefix(p.Instance, ep.path+"#req=") {
					t.Errorf("problem %+v, want type %s", p, tc.problem)
				}
				if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
					t.Errorf("problem errors %+v, want field %q", p.Errors, tc.field)
				}
				if strings.Contains(string(r.body), "aaaaaaaa") || strings.Contains(string(r.body), "12345") {
					t.Errorf("the problem echoes the input: %s", r.body)
				}
				ids = append(ids, r.header.Get("X-Request-Id"))
			})
		}
	}

	// Hostile ids in paths: refused as malformed before any lookup.
	hostile := []string{
		"..%2F..%2Fetc%2Fpasswd", "%2E%2E%5Cwindows%5Csystem32", "x'%20OR%20'1'%3D'1", "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
		"a%00b", "a%0Ab", strings.Repeat("a", 100), "%F0%9F%92%A3", "%24%7Bjndi%3Aldap%3A%2F%2Fx%7D", ".hidden",
	}
	paths := []struct {
		method, pattern, param string
		c                      cred
		body                   string
	}{
		{"GET", "/api/v1/alerts/%s", "id", sam, ""},
		{"PUT", "/api/v1/alerts/%s", "id", sam, `{"tier":"warning"}`},
		{"POST", "/api/v1/alerts/%s/submit", "id", sam, ""},
		{"POST", "/api/v1/alerts/%s/approve", "id", sam, ""},
		{"POST", "/api/v1/alerts/%s/reject", "id", sam, `{"reason":"x"}`},
		{"POST", "/api/v1/alerts/%s/publish", "id", sam, ""},
		{"POST", "/api/v1/alerts/%s/update", "id", sam, `{"reason":"x"}`},
		{"POST", "/api/v1/alerts/%s/cancel", "id", sam, ""},
		{"GET", "/api/v1/alerts/%s/status", "id", sam, ""},
		{"GET", "/api/v1/alerts/%s/deliveries", "id", sam, ""},
		{"GET", "/api/v1/protocols/%s", "name", sam, ""},
		{"POST", "/api/v1/protocols/%s/publish", "name", sam, ""},
		{"POST", "/api/v1/protocols/%s/retire", "name", sam, ""},
		{"GET", "/api/v1/devices/%s", "id", sam, ""},
		{"POST", "/api/v1/devices/%s/revoke", "id", admin, `{"reason":"x"}`},
		{"POST", "/api/v1/devices/%s/command", "id", tess, `{"action":"test-pattern"}`},
		{"GET", "/api/v1/officers/%s/key", "id", admin, ""},
		{"POST", "/api/v1/officers/%s/key", "id", admin, ""},
		{"DELETE", "/api/v1/officers/%s/key", "id", admin, ""},
	}
	for _, pth := range paths {
		for _, id := range hostile {
			path := strings.Replace(pth.pattern, "%s", id, 1)
			t.Run(pth.method+" "+path, func(t *testing.T) {
				var body any
				if pth.body != "" {
					body = pth.body
				}
				r := ts.do(t, pth.c, pth.method, path, body)
				if r.status != 400 {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				p := r.problem(t)
				if len(p.Errors) != 1 || p.Errors[0].Field != pth.param {
					t.Errorf("problem %+v: want the path parameter %q named", p, pth.param)
				}
				for _, s := range []string{"<script", `\u003cscript`, "${jndi", "../", "' OR"} {
					if strings.Contains(string(r.body), s) {
						t.Errorf("the problem echoes the input decoded: %s", r.body)
					}
				}
				ids = append(ids, r.header.Get("X-Request-Id"))
			})
		}
	}
	// An alert id must be exactly the desk's syntax.
	for _, id := range []string{"ABCDEFGHIJKLMNOP", "bcdefghijklmnop", "bcdefghijklmnopqr", "bcdefghijklmnop1"} {
		r := ts.do(t, sam, "GET", "/api/v1/alerts/"+id, nil).want(t, 400)
		ids = append(ids, r.header.Get("X-Request-Id"))
	}

	// Query parameters.
	queries := []struct {
		path, field string
	}{
		{"/api/v1/alerts?state=bogus", "state"},
		{"/api/v1/alerts?state=draft&state=submitted", "state"},
		{"/api/v1/alerts?limit=0", "limit"},
		{"/api/v1/alerts?limit=501", "limit"},
		{"/api/v1/alerts?cursor=garbage", "cursor"},
		{"/api/v1/alerts/" + alertID + "/deliveries?state=bogus", "state"},
		{"/api/v1/alerts/" + alertID + "/deliveries?limit=x", "limit"},
		{"/api/v1/devices?zone=..%2Fx", "zone"},
		{"/api/v1/devices?limit=-1", "limit"},
		{"/api/v1/devices?cursor=garbage", "cursor"},
	}
	for _, q := range queries {
		t.Run("GET "+q.path, func(t *testing.T) {
			r := ts.do(t, sam, "GET", q.path, nil).want(t, 400)
			p := r.problem(t)
			if len(p.Errors) == 0 || p.Errors[0].Field != q.field {
				t.Errorf("problem %+v: want %q named", p, q.field)
			}
			ids = append(ids, r.header.Get("X-Request-Id"))
		})
	}
	// A cursor of one list does not work for another.
	for i := range 3 {
		ts.do(t, sam, "POST", "/api/v1/alerts", draftOf("warning", "city")).want(t, 201)
		_ = i
	}
	var pg PageResponse[map[string]any]
	ts.do(t, sam, "GET", "/api/v1/alerts?limit=1", nil).want(t, 200).json(t, &pg)
	if pg.NextCursor == "" {
		t.Fatal("no next cursor")
	}
	r := ts.do(t, sam, "GET", "/api/v1/alerts?state=draft&cursor="+pg.NextCursor, nil).want(t, 400)
	ids = append(ids, r.header.Get("X-Request-Id"))
	ts.do(t, sam, "GET", "/api/v1/alerts?limit=1&cursor="+pg.NextCursor, nil).want(t, 200).json(t, &pg)
	if len(pg.Items) != 1 {
		t.Errorf("second page: %+v", pg)
	}

	audited := auditedRequestIDs(t, ts)
	for _, id := range ids {
		if !audited[id] {
			t.Errorf("refused request %s not audited", id)
		}
	}
}
