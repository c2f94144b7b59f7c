package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/server/auth"
)

type decodeTarget struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		ct     string
		status int
		slug   string
		fields []string
	}{
		{"ok", `{"name":"a","count":2,"tags":["x"],"inner":{"on":true}}`, "application/json", 0, "", nil},
		{"ok charset", `{"name":"a"}`, "application/json; charset=utf-8", 0, "", nil},
		{"latin1", `{"name":"a"}`, "application/json; charset=latin1", 415, ProblemMediaType, nil},
		{"form", `name=a`, "application/x-www-form-urlencoded", 415, ProblemMediaType, nil},
		{"empty", ``, "application/json", 400, ProblemMalformedJSON, nil},
		{"blank", " \n\t", "application/json", 400, ProblemMalformedJSON, nil},
		{"syntax", `{"name":}`, "application/json", 400, ProblemMalformedJSON, nil},
		{"cut", `{"name":"a"`, "application/json", 400, ProblemMalformedJSON, nil},
		{"trailing", `{"name":"a"} {"name":"b"}`, "application/json", 400, ProblemMalformedJSON, nil},
		{"trailing garbage", `{"name":"a"}x`, "application/json", 400, ProblemMalformedJSON, nil},
		{"unknown", `{"name":"a","admin":true}`, "application/json", 400, ProblemValidation, []string{"admin"}},
		{"unknown nested", `{"inner":{"off":true}}`, "application/json", 400, ProblemValidation, []string{"off"}},
		{"type string", `{"name":5}`, "application/json", 400, ProblemValidation, []string{"name"}},
		{"type int", `{"count":"5"}`, "application/json", 400, ProblemValidation, []string{"count"}},
		{"type float", `{"count":1.5}`, "application/json", 400, ProblemValidation, []string{"count"}},
		{"type nested", `{"inner":{"on":"yes"}}`, "application/json", 400, ProblemValidation, []string{"inner.on"}},
		{"type array", `{"tags":"x"}`, "application/json", 400, ProblemValidation, []string{"tags"}},
		{"top array", `[1]`, "application/json", 400, ProblemMalformedJSON, nil},
		{"top string", `"x"`, "application/json", 400, ProblemMalformedJSON, nil},
		{"too large", `{"name":"` + strings.Repeat("x", 2000) + `"}`, "application/json", 413, ProblemTooLarge, nil},
		{"null", `null`, "application/json", 400, ProblemMalformedJSON, nil},
		{"key twice", `{"name":"a","count":1,"name":"b"}`, "application/json", 400, ProblemValidation, []string{"name"}},
		{"key twice nested", `{"inner":{"on":true,"on":false}}`, "application/json", 400, ProblemValidation, []string{"inner.on"}},
		{"same key in two objects", `{"tags":["x"],"inner":{"on":true}}`, "application/json", 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			var v decodeTarget
			err := DecodeJSON(r, 1024, &v)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want a *Problem", err)
			}
			if p.Status != tt.status || p.Type != ProblemTypePrefix+tt.slug {
				t.Errorf("problem %+v, want %d %s", p, tt.status, tt.slug)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if diff := cmp.Diff(tt.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	// A body without Content-Length larger than the cap is refused too.
	r := httptest.NewRequest("POST", "/x", strings.NewReader(`{"name":"`+strings.Repeat("x", 5000)+`"}`))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	var v decodeTarget
	if err := DecodeJSON(r, 1024, &v); problemFor(err).Status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: %v", err)
	}
}

func TestProblemFor(t *testing.T) {
	// Auth errors get auth.StatusCode's status.
	for _, err := range []error{auth.ErrInvalidCredentials, auth.ErrLocked, auth.ErrMFARequired, auth.ErrReplay,
		auth.ErrForbidden, auth.ErrUnauthenticated, auth.ErrSessionExpired, auth.ErrCSRF, auth.ErrIPNotAllowed,
		auth.ErrRateLimited, auth.ErrNotFound, auth.ErrExists, auth.ErrAlreadyInitialised, auth.ErrInvalid,
		auth.ErrNotEnrolled, auth.ErrPasswordShort, fmt.Errorf("auth: op: %w", auth.ErrLocked)} {
		if got, want := problemFor(err).Status, auth.StatusCode(err); got != want {
			t.Errorf("%v: status %d, auth.StatusCode %d", err, got, want)
		}
	}
	p := problemFor(errors.New("open /var/lib/cityarray/server.db: permission denied"))
	if p.Status != 500 || strings.Contains(p.Detail, "server.db") {
		t.Errorf("internal error problem %+v leaks the cause", p)
	}
}

// FuzzDecodeJSON: whatever the body, DecodeJSON either decodes it or
// returns a 4xx problem whose text is valid UTF-8 and does not echo the
// body.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"a","count":1}`, `{"name":5}`, `{"x":1}`, `[`, `{"inner":{"on":1}}`,
		`{"tags":[1,2]}`, "{\"name\":\"\xff\"}", `{"count":1e999}`, `{"name":"a"}{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := decodeStrict(body, &v)
		if err == nil {
			// What decoded must re-encode.
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("decoded value does not encode: %v", err)
			}
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("err %T %v is not a *Problem", err, err)
		}
		if p.Status < 400 || p.Status > 499 || p.Type == "" || p.Detail == "" {
			t.Fatalf("problem %+v", p)
		}
		b, _ := json.Marshal(p)
		if !utf8.Valid(b) {
			t.Fatalf("problem is not UTF-8: %q", b)
		}
		for _, e := range p.Errors {
			if len(e.Field) > 64 {
				t.Fatalf("field name of %d bytes echoed", len(e.Field))
			}
		}
		if len(body) > 80 && strings.Contains(string(b), string(body)) {
			t.Fatalf("problem echoes the body")
		}
	})
}
