package desk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// MaxRequestBytes bounds a JSON request the desk decodes (DecodeDraft,
// DecodeUpdate, DecodeProtocol).
const MaxRequestBytes = 64 << 10

// DraftRequest is what an operator sends to draft (or edit) an alert: a
// tier, a scope, a lifetime, and either the message itself or a protocol
// with its parameters. Typed fields travel as strings so that every error
// names its field.
//
//	{"tier": "warning", "scope": "zone:z1", "lifetime": "2h",
//	 "alert": {"texts": {"en": {"short": "Flash flood: move to higher ground"}},
//	           "severity": "Severe", "urgency": "Immediate", "certainty": "Observed", "category": "Met"}}
//
//	{"tier": "emergency", "scope": "city", "expires": "2026-03-01T18:00:00Z",
//	 "protocol": "shelter-in-place", "params": {"area": "Riverside"}}
type DraftRequest struct {
	// Tier is "warning" or "emergency".
	Tier string `json:"tier"`
	// Scope is "city", "zone:<id>" or "device:<id>".
	Scope string `json:"scope"`
	// Expires (RFC 3339) or Lifetime (a Go duration, counted from
	// publication): exactly one.
	Expires  string `json:"expires,omitempty"`
	Lifetime string `json:"lifetime,omitempty"`
	// Alert is the message in each language with its CAP fields; or
	// Protocol names a published protocol and Params fills its {names}.
	Alert    *record.Alert     `json:"alert,omitempty"`
	Protocol string            `json:"protocol,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

// UpdateRequest changes a published alert: its message (Alert, or Params
// for an alert drafted from a protocol), its expiry, or both. Reason goes
// into the history and the audit log.
type UpdateRequest struct {
	Alert    *record.Alert     `json:"alert,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Expires  string            `json:"expires,omitempty"`
	Lifetime string            `json:"lifetime,omitempty"` // from now
	Reason   string            `json:"reason,omitempty"`
}

// DecodeDraft decodes a draft request strictly: at most MaxRequestBytes,
// one JSON object, no unknown fields (at any depth), no trailing data. It
// checks only the JSON; the desk checks the content (Validate does the
// checks that need no database). Errors are *FieldError.
func DecodeDraft(r io.Reader) (*DraftRequest, error) {
	req := new(DraftRequest)
	if err := decodeStrict(r, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeUpdate decodes an update request as strictly as DecodeDraft.
func DecodeUpdate(r io.Reader) (*UpdateRequest, error) {
	req := new(UpdateRequest)
	if err := decodeStrict(r, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeProtocol decodes a protocol template (record.Protocol's JSON form)
// as strictly as DecodeDraft.
func DecodeProtocol(r io.Reader) (*record.Protocol, error) {
	p := new(record.Protocol)
	if err := decodeStrict(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

func decodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return fieldErr("", "reading the request: %v", err)
	}
	if len(data) > MaxRequestBytes {
		return fieldErr("", "larger than %d bytes", MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fieldErr("", "trailing data after the JSON object")
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("null")) {
		return fieldErr("", "want a JSON object, have null")
	}
	// encoding/json matches keys without regard to case and lets a later
	// duplicate win; a strict request names each field once, exactly.
	return checkKeys(json.NewDecoder(bytes.NewReader(data)), reflect.TypeOf(v), "")
}

// checkKeys walks one JSON value (already known to be well formed and to
// decode into t) and refuses object keys that are not exactly a field's
// JSON name, and keys that appear twice.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return fieldErr(path, "%v", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fieldErr(path, "%v", err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return fieldErr(join(key), "given twice")
			}
			seen[key] = true
			var ft reflect.Type
			if t != nil {
				switch t.Kind() {
				case reflect.Struct:
					f, ok := fieldByJSONName(t, key)
					if !ok {
						return fieldErr(join(key), "unknown field (names are case-sensitive)")
					}
					ft = f
				case reflect.Map:
					ft = t.Elem()
				}
			}
			if err := checkKeys(dec, ft, join(key)); err != nil {
				return err
			}
		}
	case '[':
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := checkKeys(dec, et, path); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// fieldByJSONName returns the type of t's field whose JSON name is exactly
// name.
func fieldByJSONName(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// jsonError turns an encoding/json error into a *FieldError naming the
// field.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return fieldErr("", "empty request: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("", "truncated JSON")
	case errors.As(err, &syn):
		return fieldErr("", "malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fieldErr("", "want a JSON object, have %s", typ.Value)
		}
		return fieldErr(field, "want %s, have JSON %s", jsonType(typ.Type.String()), typ.Value)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return fieldErr(name, "unknown field")
	}
	return fieldErr("", "%s", strings.TrimPrefix(msg, "json: "))
}

func jsonType(goType string) string {
	switch {
	case goType == "string", goType == "record.Scope":
		return "a string"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "record."), strings.HasPrefix(goType, "*record."):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return goType
}

// draft is a DraftRequest once checked.
type draft struct {
	tier     record.Tier
	scope    record.Scope
	expires  time.Time
	lifetime time.Duration
	alert    *record.Alert
	protocol string
	params   map[string]string
}

// Validate checks everything about a draft request that needs no
// database, at now with the longest lifetime maxLifetime: the tier (warning
// or emergency), the scope, the lifetime, and the message (texts, CAP
// fields) or the protocol name and parameters. The error is a *FieldError,
// or an *Error wrapping ErrUnsupportedTier.
func (req *DraftRequest) Validate(now time.Time, maxLifetime time.Duration) error {
	_, err := req.check(now, maxLifetime)
	return err
}

func (req *DraftRequest) check(now time.Time, maxLifetime time.Duration) (*draft, error) {
	d := &draft{}
	var err error
	if req.Tier == "" {
		return nil, fieldErr("tier", "required: warning or emergency")
	}
	if d.tier, err = record.ParseTier(req.Tier); err != nil {
		return nil, fieldErr("tier", "%q: want warning or emergency", req.Tier)
	}
	if err := checkTier(d.tier); err != nil {
		return nil, err
	}
	if req.Scope == "" {
		return nil, fieldErr("scope", "required: city, zone:<id> or device:<id>")
	}
	if d.scope, err = record.ParseScope(req.Scope); err != nil {
		return nil, fieldErr("scope", "%s", trimRecord(err))
	}
	if d.expires, d.lifetime, err = checkLifetime(req.Expires, req.Lifetime, true, now, maxLifetime); err != nil {
		return nil, err
	}
	switch {
	case req.Alert != nil && req.Protocol != "":
		return nil, fieldErr("protocol", "give alert or protocol, not both")
	case req.Alert == nil && req.Protocol == "":
		return nil, fieldErr("alert", "required (or protocol with params)")
	case req.Alert != nil:
		if len(req.Params) > 0 {
			return nil, fieldErr("params", "params go with a protocol only")
		}
		if err := checkAlertBody(req.Alert, d.tier, d.scope, now); err != nil {
			return nil, err
		}
		d.alert = req.Alert
	default:
		if err := record.ValidateNodeID(req.Protocol); err != nil {
			return nil, fieldErr("protocol", "%v", err)
		}
		if err := checkParams(req.Params); err != nil {
			return nil, err
		}
		d.protocol, d.params = req.Protocol, req.Params
	}
	return d, nil
}

// checkTier refuses the tiers the server desk does not author.
func checkTier(t record.Tier) error {
	switch t {
	case record.TierWarning, record.TierEmergency:
		return nil
	case record.TierAdvisory:
		return &Error{Op: "draft", Kind: ErrUnsupportedTier, Detail: "field tier: advisory alerts are signed by zone gateways, not the server desk"}
	case record.TierInformational:
		return &Error{Op: "draft", Kind: ErrUnsupportedTier, Detail: "field tier: informational records are made by devices themselves"}
	case record.TierIPAWS:
		return &Error{Op: "draft", Kind: ErrUnsupportedTier, Detail: "field tier: IPAWS alerts come from FEMA CAP feeds, which the server does not take yet"}
	}
	return fieldErr("tier", "unknown tier %s", t)
}

// checkLifetime parses an expiry or a lifetime (exactly one when
// required, at most one otherwise).
func checkLifetime(expires, lifetime string, required bool, now time.Time, max time.Duration) (time.Time, time.Duration, error) {
	switch {
	case expires != "" && lifetime != "":
		return time.Time{}, 0, fieldErr("lifetime", "give expires or lifetime, not both")
	case expires == "" && lifetime == "":
		if required {
			return time.Time{}, 0, fieldErr("lifetime", "required (or expires)")
		}
		return time.Time{}, 0, nil
	case expires != "":
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			return time.Time{}, 0, fieldErr("expires", "%q: want an RFC 3339 time such as 2026-03-01T18:00:00Z", expires)
		}
		if !t.After(now.Add(time.Minute)) {
			return time.Time{}, 0, fieldErr("expires", "%s is not at least a minute from now (%s)", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if t.Sub(now) > max {
			return time.Time{}, 0, fieldErr("expires", "more than %v from now", max)
		}
		return t.UTC().Truncate(time.Millisecond), 0, nil
	}
	var d Duration
	if err := d.UnmarshalText([]byte(lifetime)); err != nil {
		return time.Time{}, 0, fieldErr("lifetime", "%v", err)
	}
	switch l := time.Duration(d); {
	case l < time.Minute:
		return time.Time{}, 0, fieldErr("lifetime", "%v: at least 1m", l)
	case l > max:
		return time.Time{}, 0, fieldErr("lifetime", "%v: at most %v", l, max)
	default:
		return time.Time{}, l.Truncate(time.Millisecond), nil
	}
}

// checkAlertBody validates an alert body as the record format will.
func checkAlertBody(a *record.Alert, tier record.Tier, scope record.Scope, now time.Time) error {
	r := &record.Record{Kind: record.KindAlert, Tier: tier, Scope: scope, Issued: now, Expires: now.Add(time.Hour), Origin: "desk", Body: a}
	if now.UnixMilli() <= 0 {
		r.Issued, r.Expires = time.UnixMilli(1), time.UnixMilli(2)
	}
	if err := r.Validate(); err != nil {
		return fieldErr("alert", "%s", trimRecord(err))
	}
	return nil
}

// checkParams validates activation parameters as the record format will.
func checkParams(params map[string]string) error {
	a := &record.Activation{Protocol: record.ID{1}, Params: params}
	r := &record.Record{Kind: record.KindActivation, Tier: record.TierWarning, Scope: record.City,
		Issued: time.UnixMilli(1), Expires: time.UnixMilli(2), Origin: "desk", Body: a}
	if err := r.Validate(); err != nil {
		return fieldErr("params", "%s", trimRecord(err))
	}
	return nil
}

func trimRecord(err error) string {
	s := err.Error()
	for _, p := range []string{"alert: ", "activation: ", "update: ", "protocol: ", "cancel: ", "record: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// render fills a protocol's texts with params: every declared parameter
// must be given, and no other.
func render(p *record.Protocol, params map[string]string) (*record.Alert, error) {
	if err := p.CheckParams(params); err != nil {
		var pe *record.ParamError
		if errors.As(err, &pe) {
			msg := "required by protocol " + p.Template
			if errors.Is(err, record.ErrUnknownParam) {
				msg = fmt.Sprintf("protocol %s has no such parameter (it takes %v)", p.Template, p.Params)
			}
			return nil, fieldErr("params."+pe.Name, "%s", msg)
		}
		return nil, err
	}
	return p.Alert(params), nil
}

// renderChecked renders and checks the result against the record format
// (a parameter may make a short text too long).
func renderChecked(p *record.Protocol, params map[string]string, tier record.Tier, scope record.Scope, now time.Time) (*record.Alert, error) {
	a, err := render(p, params)
	if err != nil {
		return nil, err
	}
	if err := checkAlertBody(a, tier, scope, now); err != nil {
		return nil, fieldErr("params", "the filled-in protocol %s is not a valid alert: %s", p.Template, strings.TrimPrefix(err.Error(), "desk: field alert: "))
	}
	return a, nil
}

// check validates an update request at now.
func (req *UpdateRequest) check(now time.Time, maxLifetime time.Duration, tier record.Tier, scope record.Scope) (expires time.Time, err error) {
	exp, life, err := checkLifetime(req.Expires, req.Lifetime, false, now, maxLifetime)
	if err != nil {
		return time.Time{}, err
	}
	if life > 0 {
		exp = now.Add(life).Truncate(time.Millisecond)
	}
	switch {
	case req.Alert != nil && len(req.Params) > 0:
		return time.Time{}, fieldErr("params", "give alert or params, not both")
	case req.Alert == nil && len(req.Params) == 0 && exp.IsZero():
		return time.Time{}, fieldErr("alert", "nothing to update: give alert, params, expires or lifetime")
	case req.Alert != nil:
		if err := checkAlertBody(req.Alert, tier, scope, now); err != nil {
			return time.Time{}, err
		}
	case len(req.Params) > 0:
		if err := checkParams(req.Params); err != nil {
			return time.Time{}, err
		}
	}
	if len([]rune(req.Reason)) > 256 {
		return time.Time{}, fieldErr("reason", "at most 256 characters")
	}
	return exp, nil
}

func checkReason(field, reason string, required bool) error {
	switch {
	case required && strings.TrimSpace(reason) == "":
		return fieldErr(field, "required")
	case len([]rune(reason)) > 256:
		return fieldErr(field, "at most 256 characters")
	}
	c := &record.Cancel{Reason: reason}
	r := &record.Record{Kind: record.KindCancel, Tier: record.TierWarning, Scope: record.City,
		Issued: time.UnixMilli(1), Expires: time.UnixMilli(2), Origin: "desk", Supersedes: []record.ID{{1}}, Body: c}
	if err := r.Validate(); err != nil {
		return fieldErr(field, "%s", trimRecord(err))
	}
	return nil
}
