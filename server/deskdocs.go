package server

import "net/http"

var alertIDParam = "the alert's id (16 characters of a-z and 2-7)"

// deskDocs describes the alert, protocol, device and officer-key routes,
// by pattern, as docs does the foundation's.
var deskDocs = map[string]Operation{
	"POST /api/v1/alerts": {Summary: "Draft a Warning or Emergency alert (alert.draft, in your scope)",
		Description: "Either the message itself (alert: texts by language with CAP fields) or a published protocol with params. " +
			"Exactly one of expires (RFC 3339) and lifetime (a Go duration counted from publication). " +
			"A zone_operator may target only its zones (zone:<z>, or device:<d> of a device in them), never city.",
		Request: ref("DraftRequest"), Status: http.StatusCreated, Response: ref("Alert"), Errors: []int{404, 409, 422}},
	"GET /api/v1/alerts": {Summary: "List alerts, newest first (alert.read)",
		Query: map[string]string{"state": "only alerts in this state: draft, submitted, approved, published, cancelled, expired",
			"limit": pageQuery["limit"], "cursor": pageQuery["cursor"]},
		Response: page("Alert")},
	"GET /api/v1/alerts/{id}": {Summary: "One alert with its history and the records it was issued as (alert.read)",
		Response: ref("AlertView"), Errors: []int{404}},
	"PUT /api/v1/alerts/{id}": {Summary: "Edit a draft (alert.draft; its author only)",
		Request: ref("DraftRequest"), Response: ref("Alert"), Errors: []int{404, 409, 422}},
	"POST /api/v1/alerts/{id}/submit": {Summary: "Submit a draft for approval (alert.submit, in scope)",
		Response: ref("Alert"), Errors: []int{404, 409}},
	"POST /api/v1/alerts/{id}/approve": {Summary: "Approve a submitted alert (alert.approve, in scope; two-person rule)",
		Description: "An Emergency is approved by an officer with an enrolled key (alert.sign_emergency), neither its author nor its submitter, " +
			"who also publishes it. With the desk's defaults a Warning may be approved by its author. Refusals: 403 two-person-rule, out-of-scope; 409 no-officer-key, wrong-state.",
		Response: ref("Alert"), Errors: []int{404, 409}},
	"POST /api/v1/alerts/{id}/reject": {Summary: "Send a submitted or approved alert back to draft with a reason (alert.approve, in scope)",
		Request:  obj([]string{"reason"}, map[string]any{"reason": str("why, at most 256 characters")}),
		Response: ref("Alert"), Errors: []int{404, 409, 422}},
	"POST /api/v1/alerts/{id}/publish": {Summary: "Sign an approved alert and put it on the street (alert.publish, in scope)",
		Description: "A Warning is signed by the server. An Emergency is co-signed by the key of the officer who approved it, who must publish it " +
			"within 5 minutes of entering a TOTP code (login or POST /api/v1/reauth); otherwise 401 reauth-required and nothing is signed. " +
			"502 refused-by-mesh: the mesh refused the record and nothing was published; 503 not-delivered: signed and recorded, sent with the next renewal (do not publish again).",
		Response: ref("Alert"), Errors: []int{404, 409, 502, 503}},
	"POST /api/v1/alerts/{id}/update": {Summary: "Replace the message or expiry of a published alert (alert.publish, in scope)",
		Description: "An update record supersedes what the alert was published as. An Emergency's update is co-signed by the updating officer under the same fresh-TOTP rule as publishing (401 reauth-required).",
		Request:     ref("UpdateRequest"), Response: ref("Alert"), Errors: []int{404, 409, 422, 502, 503}},
	"POST /api/v1/alerts/{id}/cancel": {Summary: "Withdraw an alert (alert.cancel; the author of an unpublished alert with alert.draft)",
		Description: "A published alert gets a cancel record at its own tier: cancelling an Emergency needs an officer with a fresh TOTP entry (401 reauth-required), " +
			"since the server key alone may not withdraw one. The body is optional.",
		Request: obj(nil, map[string]any{"reason": str("why, at most 256 characters")}), Response: ref("Alert"), Errors: []int{404, 409, 422, 502, 503}},
	"GET /api/v1/alerts/{id}/status": {Summary: "Delivery at a glance: devices in scope that received, displayed, played, failed, or were not reached (alert.read)",
		Description: "Counts from the devices' signed acks (any of the alert's records: original, renewals, updates). not_reached_since says since when the rest have waited. 409 for an alert not yet published.",
		Response:    ref("DeliveryStatus"), Errors: []int{404, 409}},
	"GET /api/v1/alerts/{id}/deliveries": {Summary: "Each device in the alert's scope with its delivery state, by device id (alert.read)",
		Query: map[string]string{"state": "only devices in this state: not-reached, received, displayed, failed",
			"limit": pageQuery["limit"], "cursor": pageQuery["cursor"]},
		Response: page("DeviceDelivery"), Errors: []int{404, 409}},

	"GET /api/v1/protocols": {Summary: "Every protocol (pre-approved template), by name (protocol.read)",
		Response: obj([]string{"items"}, map[string]any{"items": arrayOf(ref("Protocol"))})},
	"POST /api/v1/protocols": {Summary: "Create a protocol, or save a new version of it, named by template (protocol.manage)",
		Description: "201 for a new protocol, 200 for a new version. A new version goes on the street only when published again.",
		Request:     map[string]any{"type": "object", "description": "a record.Protocol in its JSON form: template, params, texts, severity, urgency, certainty, category, icon, auto_tier, triggers, actions"},
		Status:      http.StatusCreated, Response: ref("Protocol"), Errors: []int{409, 422}},
	"GET /api/v1/protocols/{name}": {Summary: "One protocol (protocol.read)", Response: ref("Protocol"), Errors: []int{404}},
	"POST /api/v1/protocols/{name}/publish": {Summary: "Sign the protocol's latest version (warning tier, city scope) so poles cache it (protocol.manage)",
		Response: ref("Protocol"), Errors: []int{404, 409, 502, 503}},
	"POST /api/v1/protocols/{name}/retire": {Summary: "Stop refreshing a protocol; no new alert may use it (protocol.manage)",
		Response: ref("Protocol"), Errors: []int{404, 409}},

	"GET /api/v1/devices": {Summary: "Devices, by id (device.read)",
		Query:    map[string]string{"zone": "only this zone's devices", "limit": pageQuery["limit"], "cursor": pageQuery["cursor"]},
		Response: page("Device")},
	"GET /api/v1/devices/{id}": {Summary: "One device: certificate, zone, latest health report, revocation (device.read)",
		Response: ref("Device"), Errors: []int{404}},
	"POST /api/v1/devices/{id}/revoke": {Summary: "Revoke a device's certificate: a revocation record signed by the city CA (device.revoke)",
		Description: "Needs the city CA key on the server (pki.city_key): 503 no-city-ca otherwise.",
		Request:     obj([]string{"reason"}, map[string]any{"reason": str("why, at most 256 bytes")}),
		Response:    ref("Device"), Errors: []int{404, 409, 502, 503}},
	"POST /api/v1/devices/{id}/command": {Summary: "Send a device a signed command: test pattern, brightness or volume (device.command)",
		Description: "A warning-tier command record for device:<id>, signed by the server with its next seq, valid for lifetime (default 10m, at most 24h).",
		Request: obj([]string{"action"}, map[string]any{
			"action":   str("test-pattern, brightness or volume"),
			"value":    integer("0 to 100, for brightness and volume"),
			"lifetime": str("a Go duration, 1s to 24h (default 10m)")}),
		Status: http.StatusAccepted, Response: ref("Command"), Errors: []int{404, 422, 502, 503}},

	"POST /api/v1/officers/{id}/key": {Summary: "Create an officer's signing key, certified by the city CA, sealed at the server (user.manage)",
		Description: "Replaces an earlier key. The key never leaves the server; it co-signs Emergencies only after a fresh TOTP entry. " +
			"Needs the city CA key on the server (pki.city_key): 503 no-city-ca otherwise.",
		Status: http.StatusCreated, Response: ref("OfficerKey"), Errors: []int{404, 409, 503}},
	"GET /api/v1/officers/{id}/key": {Summary: "An officer's enrolled key: certificate and fingerprint, never the key (user.read)",
		Response: ref("OfficerKey"), Errors: []int{404}},
	"DELETE /api/v1/officers/{id}/key": {Summary: "Remove an officer's key: the officer can no longer co-sign (user.manage)",
		Status: http.StatusNoContent, Errors: []int{404}},
}

func anyObject(desc string) map[string]any {
	return map[string]any{"type": "object", "description": desc}
}

// deskSchemas are the shared schemas of deskDocs.
var deskSchemas = map[string]any{
	"DraftRequest": obj([]string{"tier", "scope"}, map[string]any{
		"tier":     str("warning or emergency"),
		"scope":    str("city, zone:<id> or device:<id>"),
		"expires":  dateTime("when it ends (or lifetime)"),
		"lifetime": str("a Go duration counted from publication, such as 2h (or expires)"),
		"alert":    ref("AlertBody"),
		"protocol": str("a published protocol's name (instead of alert)"),
		"params":   map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "description": "the protocol's {name} values"},
	}),
	"UpdateRequest": obj(nil, map[string]any{
		"alert":    ref("AlertBody"),
		"params":   map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		"expires":  dateTime("a new expiry"),
		"lifetime": str("a new lifetime from now"),
		"reason":   str("for the history and the audit log"),
	}),
	"AlertBody": obj([]string{"texts", "severity", "urgency", "certainty", "category"}, map[string]any{
		"texts": map[string]any{"type": "object", "description": "by BCP 47 language tag",
			"additionalProperties": obj([]string{"short"}, map[string]any{
				"short": str("at most 90 characters"), "long": str("at most 360 characters"), "speak": str("what the speaker says")})},
		"severity": str("CAP: Extreme, Severe, Moderate, Minor, Unknown"), "urgency": str("CAP: Immediate, Expected, Future, Past, Unknown"),
		"certainty": str("CAP: Observed, Likely, Possible, Unlikely, Unknown"), "category": str("CAP: Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other"),
		"icon": str("icon id"),
	}),
	"Alert": anyObject("an alert at the desk: id, state, tier, scope, content, author, submitter, approver, publisher, times, current record (server/desk.Alert)"),
	"AlertView": obj(nil, map[string]any{"alert": ref("Alert"),
		"history": arrayOf(anyObject("who moved it from which state to which, when, why")),
		"records": arrayOf(anyObject("a record issued for it: id, kind, tier, seq, issued, expires, why, size"))}),
	"DeliveryStatus": obj(nil, map[string]any{
		"alert": str(""), "scope": str(""), "state": str("the alert's state"), "tier": str(""),
		"published_at": dateTime(""), "records": integer("records issued for it"),
		"in_scope": integer("unrevoked devices its scope names now"), "reached": integer("devices that acked at all"),
		"received": integer(""), "displayed": integer(""), "played": integer(""), "failed": integer(""),
		"not_reached": integer("devices with no ack"), "not_reached_since": dateTime("since when those have waited"),
		"states":       map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "integer"}, "description": "devices in scope by delivery state"},
		"out_of_scope": integer("devices outside the scope that acked anyway"), "as_of": dateTime("the server's time of this answer"),
	}),
	"DeviceDelivery": anyObject("one device's delivery: device, zone, state, received, displayed, played, failed, reason, first_ack, since, last_heard"),
	"Protocol":       anyObject("a protocol at the desk: name, state, body, version, the version on the street and its record"),
	"Device":         anyObject("a device: id, zone, certificate serial and DER, registered, last health report, revocation"),
	"Command": obj(nil, map[string]any{"device": str(""), "action": str(""), "value": integer(""),
		"record": str("the command record's id"), "seq": integer(""), "issued": dateTime(""), "expires": dateTime("")}),
	"OfficerKey": obj(nil, map[string]any{"officer": str(""), "key_id": str("SHA-256 of the certificate, hex: the kid of its signatures"),
		"serial": str(""), "not_after": dateTime(""), "enrolled": dateTime(""), "enrolled_by": str(""), "cert": str("DER, base64")}),
}
