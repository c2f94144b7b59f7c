package desk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cityarray/cityarray/server/desk"
)

const goodDraft = `{"tier":"warning","scope":"zone:z1","lifetime":"2h",
 "alert":{"texts":{"en":{"short":"Flash flood: move to higher ground"}},
          "severity":"Severe","urgency":"Immediate","certainty":"Observed","category":"Met"}}`

// TestDecodeDraft: strict decoding, and errors that name the field.
func TestDecodeDraft(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name  string
		in    string
		field string // "" with ok: no error
		ok    bool
		says  string
	}{
		{name: "good", in: goodDraft, ok: true},
		{name: "protocol", in: `{"tier":"emergency","scope":"city","expires":"2026-03-01T18:00:00Z","protocol":"flood-evac","params":{"area":"Riverside"}}`, ok: true},
		{name: "empty", in: ``, says: "empty request"},
		{name: "null", in: `null`, says: "have null"},
		{name: "array", in: `[]`, says: "want a JSON object"},
		{name: "truncated", in: `{"tier":"warning"`, says: "truncated"},
		{name: "syntax", in: `{"tier":warning}`, says: "malformed JSON at byte"},
		{name: "trailing", in: goodDraft + ` {}`, says: "trailing data"},
		{name: "unknown top", in: `{"tier":"warning","colour":"red"}`, field: "colour", says: "unknown field"},
		{name: "wrong case", in: `{"tier":"warning","Scope":"city"}`, field: "Scope", says: "case-sensitive"},
		{name: "wrong case nested", in: `{"tier":"warning","scope":"city","lifetime":"1h","alert":{"Texts":{}}}`, field: "alert.Texts", says: "case-sensitive"},
		{name: "duplicate", in: `{"tier":"warning","tier":"emergency"}`, field: "tier", says: "twice"},
		{name: "duplicate language", in: `{"alert":{"texts":{"en":{"short":"a"},"en":{"short":"b"}}}}`, field: "alert.texts.en", says: "twice"},
		{name: "unknown nested", in: `{"tier":"warning","alert":{"texts":{"en":{"short":"x","blink":true}}}}`, field: "blink", says: "unknown field"},
		{name: "wrong type", in: `{"tier":3}`, field: "tier", says: "want a string"},
		{name: "wrong nested type", in: `{"alert":{"texts":{"en":{"short":5}}}}`, field: "alert.texts.short", says: "want a string"},
		{name: "params not strings", in: `{"params":{"area":1}}`, field: "params", says: "want a string"},
		{name: "too large", in: `{"tier":"` + strings.Repeat("x", desk.MaxRequestBytes) + `"}`, says: "larger than"},
		{name: "no tier", in: `{"scope":"city"}`, field: "tier", says: "required"},
		{name: "bad tier", in: `{"tier":"severe","scope":"city"}`, field: "tier", says: "warning or emergency"},
		{name: "no scope", in: `{"tier":"warning"}`, field: "scope", says: "required"},
		{name: "bad scope", in: `{"tier":"warning","scope":"zone:"}`, field: "scope", says: "bad scope"},
		{name: "no lifetime", in: `{"tier":"warning","scope":"city"}`, field: "lifetime", says: "required"},
		{name: "both lifetimes", in: `{"tier":"warning","scope":"city","lifetime":"1h","expires":"2026-03-01T18:00:00Z"}`, field: "lifetime", says: "not both"},
		{name: "short lifetime", in: `{"tier":"warning","scope":"city","lifetime":"10s"}`, field: "lifetime", says: "at least 1m"},
		{name: "long lifetime", in: `{"tier":"warning","scope":"city","lifetime":"9000h"}`, field: "lifetime", says: "at most"},
		{name: "bad lifetime", in: `{"tier":"warning","scope":"city","lifetime":"soon"}`, field: "lifetime", says: "Go duration"},
		{name: "past expiry", in: `{"tier":"warning","scope":"city","expires":"2026-03-01T11:00:00Z"}`, field: "expires", says: "not at least a minute"},
		{name: "bad expiry", in: `{"tier":"warning","scope":"city","expires":"tomorrow"}`, field: "expires", says: "RFC 3339"},
		{name: "no message", in: `{"tier":"warning","scope":"city","lifetime":"1h"}`, field: "alert", says: "required"},
		{name: "both messages", in: `{"tier":"warning","scope":"city","lifetime":"1h","protocol":"p","alert":{}}`, field: "protocol", says: "not both"},
		{name: "params without protocol", in: strings.Replace(goodDraft, `"lifetime":"2h",`, `"lifetime":"2h","params":{"a":"b"},`, 1), field: "params", says: "protocol only"},
		{name: "bad protocol name", in: `{"tier":"warning","scope":"city","lifetime":"1h","protocol":"-x"}`, field: "protocol", says: "not allowed"},
		{name: "bad param name", in: `{"tier":"warning","scope":"city","lifetime":"1h","protocol":"p","params":{"a b":"c"}}`, field: "params", says: "param"},
		{name: "empty param", in: `{"tier":"warning","scope":"city","lifetime":"1h","protocol":"p","params":{"a":""}}`, field: "params", says: "empty"},
		{name: "long short text", in: strings.Replace(goodDraft, "Flash flood: move to higher ground", strings.Repeat("a", 91), 1), field: "alert", says: "at most 90"},
		{name: "bad language", in: strings.Replace(goodDraft, `"en"`, `"EN_us"`, 1), field: "alert", says: "language"},
		{name: "bad severity", in: strings.Replace(goodDraft, "Severe", "Bad", 1), field: "alert", says: "severity"},
		{name: "no texts", in: `{"tier":"warning","scope":"city","lifetime":"1h","alert":{"severity":"Severe","urgency":"Immediate","certainty":"Observed","category":"Met"}}`, field: "alert", says: "no texts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := desk.DecodeDraft(strings.NewReader(tc.in))
			if err == nil {
				err = req.Validate(now, 7*24*time.Hour)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *desk.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, desk.ErrInvalid) {
				t.Fatalf("err = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tc.field || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v (field %q), want field %q saying %q", err, fe.Field, tc.field, tc.says)
			}
		})
	}
}

// FuzzDraftJSON decodes arbitrary bytes as a draft request: decoding never
// panics, every error is a *FieldError (or an unsupported tier), and what
// decodes and validates re-encodes to a request that decodes and
// validates to the same value.
func FuzzDraftJSON(f *testing.F) {
	for _, s := range []string{
		goodDraft,
		`{"tier":"emergency","scope":"city","expires":"2026-03-01T18:00:00Z","protocol":"flood-evac","params":{"area":"Riverside"}}`,
		`{"tier":"advisory","scope":"zone:z1","lifetime":"1h","alert":{}}`,
		`{"tier":"warning","scope":"device:pole-1","lifetime":"90m","alert":{"texts":{"es-MX":{"short":"¡Inundación!","long":"Suba","speak":"Suba ya"}},"severity":"Extreme","urgency":"Expected","certainty":"Likely","category":"Geo","icon":"flood"}}`,
		`{"alert":{"texts":{"en":{"short":5}}}}`,
		`[]`, `null`, `{}`, `{"tier":"warning"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := desk.DecodeDraft(bytes.NewReader(data))
		if err != nil {
			var fe *desk.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("decode error %v is %T, not *FieldError", err, err)
			}
			return
		}
		if err := req.Validate(t0, 7*24*time.Hour); err != nil {
			var fe *desk.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, desk.ErrUnsupportedTier) {
				t.Fatalf("validate error %v is %T", err, err)
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := desk.DecodeDraft(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v\n%s", err, again)
		}
		if err := req2.Validate(t0, 7*24*time.Hour); err != nil {
			t.Fatalf("re-encoded request does not validate: %v\n%s", err, again)
		}
		if diff := cmp.Diff(req, req2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
