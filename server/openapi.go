package server

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cityarray/cityarray/server/auth"
)

// Operation describes a route in the OpenAPI 3.1 document the server
// serves at GET /api/openapi.json. Schemas are JSON Schema (2020-12)
// values; "$ref": "#/components/schemas/X" names the shared ones.
type Operation struct {
	Summary     string
	Description string
	// Query parameters, by name, with their description.
	Query map[string]string
	// Request is the JSON body's schema (nil: no body).
	Request map[string]any
	// Status is the success status (default 200); Response its body's
	// schema (nil: no body).
	Status   int
	Response map[string]any
	// Errors are the error statuses worth listing besides those every
	// route may answer (400, 401, 403, 413, 415, 429, 500).
	Errors []int
}

// Schema helpers, to keep the descriptions below short.
func obj(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
func integer(desc string) map[string]any {
	return map[string]any{"type": "integer", "description": desc}
}
func boolean(desc string) map[string]any {
	return map[string]any{"type": "boolean", "description": desc}
}
func dateTime(desc string) map[string]any {
	return map[string]any{"type": "string", "format": "date-time", "description": desc}
}
func arrayOf(items map[string]any) map[string]any {
	return map[string]any{"type": "array", "items": items}
}
func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
func page(item string) map[string]any {
	return obj([]string{"items"}, map[string]any{
		"items":       arrayOf(ref(item)),
		"next_cursor": str("opaque cursor of the next page; absent on the last"),
	})
}

var pageQuery = map[string]string{
	"limit":  "items per page, 1 to 500 (default 50)",
	"cursor": "next_cursor of the previous page",
}

// docs describes the foundation's routes, by pattern. Written by hand, not
// derived from the registry, so that TestOpenAPICoversRoutes can hold each
// to the other.
var docs = map[string]Operation{
	"GET /healthz": {Summary: "Liveness: the process answers",
		Response: obj(nil, map[string]any{"status": str(`"ok"`)})},
	"GET /readyz": {Summary: "Readiness: record store, server state, broker and audit log are usable",
		Response: ref("Ready"), Errors: []int{503},
		Description: "503 with the same body, naming the components that are not ready, when any is not."},
	"GET /metrics": {Summary: "Prometheus metrics",
		Description: "Readable without authentication from a loopback address; from anywhere else with metrics.read. " +
			"HTTP requests by route and code, latencies, mesh node counters (received, accepted, rejected by reason), broker clients, audit log size.",
		Response: map[string]any{"type": "string", "description": "Prometheus text exposition format"}},
	"GET /api/openapi.json": {Summary: "This document",
		Response: map[string]any{"type": "object"}},

	"POST /api/v1/setup/start": {Summary: "Start account setup with a setup code: get a TOTP secret to enrol",
		Request: obj([]string{"user", "setup_code"}, map[string]any{
			"user": str("user id"), "setup_code": str("one-time setup code from `server init`, user creation or reset")}),
		Response: obj(nil, map[string]any{"totp_secret": str("base32 secret"), "otpauth_url": str("otpauth:// URL for a QR code")}),
		Errors:   []int{423}},
	"POST /api/v1/setup/finish": {Summary: "Finish setup: set the password, confirm TOTP, get recovery codes (shown once)",
		Request: obj([]string{"user", "setup_code", "password", "totp_code"}, map[string]any{
			"user": str("user id"), "setup_code": str("the same setup code"),
			"password": str("12 to 256 characters, not a common password"), "totp_code": str("current code from the authenticator")}),
		Response: obj(nil, map[string]any{"recovery_codes": arrayOf(str("")), "note": str("")}),
		Errors:   []int{423}},
	"POST /api/v1/login": {Summary: "Log in: password and TOTP code; sets the session cookie, returns the CSRF token",
		Description: "The session cookie is HttpOnly, Secure, SameSite=Strict. Send csrf_token in the X-CSRF-Token header " +
			"with every state-changing request made with the cookie.",
		Request: obj([]string{"user", "password"}, map[string]any{
			"user": str("user id"), "password": str(""), "totp_code": str("TOTP or recovery code; empty answers 401 mfa-required when the password is right")}),
		Response: obj(nil, map[string]any{"user": str(""), "role": str(""), "csrf_token": str(""), "expires": dateTime("")}),
		Errors:   []int{423}},
	"POST /api/v1/logout": {Summary: "End this session", Status: http.StatusNoContent},
	"POST /api/v1/reauth": {Summary: "Enter a fresh TOTP code (needed within 5 minutes before co-signing an Emergency)",
		Request:  obj([]string{"totp_code"}, map[string]any{"totp_code": str("current TOTP code")}),
		Response: obj(nil, map[string]any{"fresh_until": dateTime("")}), Errors: []int{423}},
	"GET /api/v1/me": {Summary: "Who the request acts as: user, permissions, session or token",
		Response: ref("Me")},
	"POST /api/v1/password": {Summary: "Change your own password (ends every session of yours)",
		Request: obj([]string{"current_password", "new_password"}, map[string]any{
			"current_password": str(""), "new_password": str("12 to 256 characters, not common, not one of your last 10")}),
		Status: http.StatusNoContent, Errors: []int{423}},

	"GET /api/v1/users": {Summary: "List users (user.read)", Query: pageQuery, Response: page("User")},
	"POST /api/v1/users": {Summary: "Create a user (user.manage); returns a one-time setup code",
		Request: obj([]string{"id", "display_name", "role"}, map[string]any{
			"id": str("login name: 2 to 64 of a-z 0-9 . _ -"), "display_name": str(""),
			"role":  str("admin, supervisor, officer, zone_operator, technician, auditor, viewer or integration"),
			"zones": arrayOf(str("zone id, for zone_operator only"))}),
		Status: http.StatusCreated, Response: ref("SetupCode"), Errors: []int{409}},
	"GET /api/v1/users/{id}": {Summary: "One user (user.read)", Response: ref("User"), Errors: []int{404}},
	"POST /api/v1/users/{id}/role": {Summary: "Change a user's role and zones (user.manage; not your own)",
		Request:  obj([]string{"role"}, map[string]any{"role": str(""), "zones": arrayOf(str(""))}),
		Response: ref("User"), Errors: []int{404}},
	"POST /api/v1/users/{id}/disable": {Summary: "Disable a user and end their sessions (user.manage; not your own)",
		Response: ref("User"), Errors: []int{404}},
	"POST /api/v1/users/{id}/enable": {Summary: "Re-enable a user (user.manage)", Response: ref("User"), Errors: []int{404}},
	"POST /api/v1/users/{id}/unlock": {Summary: "Clear a user's lockout (user.manage)", Response: ref("User"), Errors: []int{404}},
	"POST /api/v1/users/{id}/reset": {Summary: "Reset a user's password and TOTP; returns a new setup code (user.manage)",
		Response: ref("SetupCode"), Errors: []int{404}},

	"GET /api/v1/tokens": {Summary: "List API tokens: yours, or ?user='s with user.manage (token.manage)",
		Query:    map[string]string{"user": "whose tokens (default: yours)", "limit": pageQuery["limit"], "cursor": pageQuery["cursor"]},
		Response: page("Token"), Errors: []int{404}},
	"POST /api/v1/tokens": {Summary: "Create an API token; the secret is shown once (token.manage; for another user, user.manage)",
		Request: obj([]string{"name", "scopes", "expires_at"}, map[string]any{
			"user": str("whose token (default: yours)"), "name": str("1 to 100 bytes"),
			"scopes":     arrayOf(str("permissions a token may carry: alert.read, alert.draft, alert.submit, …")),
			"expires_at": dateTime("RFC 3339, within auth.max_token_lifetime")}),
		Status: http.StatusCreated,
		Response: obj(nil, map[string]any{"token": ref("Token"), "secret": str("cat_…: send as Authorization: Bearer"),
			"note": str("")}), Errors: []int{404}},
	"DELETE /api/v1/tokens/{id}": {Summary: "Revoke an API token (token.manage)", Status: http.StatusNoContent, Errors: []int{404}},

	"GET /api/v1/audit": {Summary: "Read audit entries in order (audit.read)",
		Query: map[string]string{"from": "first entry index (default 0)", "limit": pageQuery["limit"], "cursor": pageQuery["cursor"]},
		Response: obj(nil, map[string]any{
			"items": arrayOf(ref("AuditEntry")), "next_cursor": str(""),
			"size": integer("entries in the log"), "first": integer("first entry not pruned by retention")})},
	"GET /api/v1/audit/proof/{n}": {Summary: "Inclusion proof of entry n against a signed checkpoint (audit.read)",
		Description: "Check it offline with `cityarray audit verify-proof` and the server's certificate.",
		Response:    map[string]any{"type": "object", "description": "the proof, as `cityarray audit prove --json` prints it"},
		Errors:      []int{404, 410}},
}

var schemas = map[string]any{
	"Problem": map[string]any{
		"type": "object", "description": "RFC 9457 problem details (application/problem+json)",
		"required": []string{"type", "title", "status"},
		"properties": map[string]any{
			"type": str("urn:cityarray:problem:<slug>"), "title": str(""), "status": integer(""),
			"detail": str(""), "instance": str("path#req=<request id>"),
			"errors": arrayOf(obj([]string{"field", "detail"}, map[string]any{
				"field": str("the request field"), "pointer": str("JSON Pointer into the body"), "detail": str("")})),
		}},
	"Ready": obj(nil, map[string]any{"status": str(""), "checks": map[string]any{"type": "object",
		"additionalProperties": map[string]any{"type": "string"}}}),
	"User": obj(nil, map[string]any{
		"id": str(""), "display_name": str(""), "role": str(""), "zones": arrayOf(str("")),
		"disabled": boolean(""), "password_set": boolean(""), "mfa_enrolled": boolean(""),
		"recovery_codes_left": integer(""), "setup_pending": boolean(""), "setup_expires": dateTime(""),
		"failed_logins": integer(""), "locked_until": dateTime(""), "password_changed": dateTime(""),
		"created": dateTime(""), "updated": dateTime(""), "permissions": arrayOf(str(""))}),
	"SetupCode": obj(nil, map[string]any{"user": ref("User"), "setup_code": str("shown once"),
		"setup_expires": dateTime(""), "note": str("")}),
	"Token": obj(nil, map[string]any{"id": str(""), "user": str(""), "name": str(""), "scopes": arrayOf(str("")),
		"created": dateTime(""), "expires": dateTime(""), "last_used": dateTime("")}),
	"Me": obj(nil, map[string]any{"user": ref("User"), "via": str("session or api-token"),
		"permissions": arrayOf(str("")),
		"session": obj(nil, map[string]any{"id": str(""), "created": dateTime(""), "expires": dateTime(""),
			"fresh_until": dateTime("TOTP entered recently enough for emergency signing until")}),
		"token": ref("Token")}),
	"AuditEntry": obj(nil, map[string]any{"seq": integer(""), "time": dateTime(""), "actor": str(""), "role": str(""),
		"action": str(""), "target": str(""), "outcome": str(""), "ip": str(""),
		"detail": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}}),
}

// allSchemas is the foundation's schemas and the desk's.
func allSchemas() map[string]any {
	out := maps.Clone(schemas)
	maps.Copy(out, deskSchemas)
	return out
}

var pathParamRE = regexp.MustCompile(`\{([A-Za-z0-9_]+)\.{0,3}\}`)

// openAPIDocument builds the document from the registered routes and
// their descriptions.
func (s *Server) openAPIDocument() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.Routes() {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = operationJSON(rt)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "CITYARRAY control server API",
			"version": "1",
			"description": "JSON over HTTPS. Errors are RFC 9457 problem documents. Sign in with POST /api/v1/login " +
				"(session cookie plus the X-CSRF-Token header on state-changing requests) or an API token (Authorization: Bearer).",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": allSchemas(),
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": auth.SessionCookie,
					"description": "from POST /api/v1/login; state-changing requests also need the X-CSRF-Token header"},
				"csrf":     map[string]any{"type": "apiKey", "in": "header", "name": auth.CSRFHeader},
				"apiToken": map[string]any{"type": "http", "scheme": "bearer", "description": "cat_… from POST /api/v1/tokens"},
			},
		},
	}
}

func operationJSON(rt Route) map[string]any {
	d := rt.Doc
	op := map[string]any{"operationId": operationID(rt)}
	if d.Summary != "" {
		op["summary"] = d.Summary
	}
	desc := d.Description
	switch rt.Access {
	case AccessPublic:
		op["security"] = []any{}
	case AccessAuthenticated:
		desc = strings.TrimSpace(desc + " Any signed-in user.")
	case AccessPermission, AccessLoopbackOrPermission:
		op["x-permission"] = string(rt.Perm)
	}
	if desc != "" {
		op["description"] = desc
	}
	var params []any
	for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, name := range slices.Sorted(maps.Keys(d.Query)) {
		params = append(params, map[string]any{"name": name, "in": "query", "description": d.Query[name], "schema": map[string]any{"type": "string"}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if d.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": d.Request}}}
	}
	status := d.Status
	if status == 0 {
		status = http.StatusOK
	}
	ok := map[string]any{"description": http.StatusText(status)}
	if d.Response != nil {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": d.Response}}
	}
	problem := map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}
	responses := map[string]any{strconv.Itoa(status): ok}
	errs := append([]int{400, 413, 415, 429, 500}, d.Errors...)
	if rt.Access != AccessPublic {
		errs = append(errs, 401, 403)
	}
	for _, code := range errs {
		responses[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code), "content": problem}
	}
	op["responses"] = responses
	return op
}

// operationID is "get_api_v1_users_id" for "GET /api/v1/users/{id}".
func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, part := range strings.FieldsFunc(rt.Path, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) {
		b.WriteString("_" + part)
	}
	return b.String()
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, s.openAPIDocument())
	_ = r
}
