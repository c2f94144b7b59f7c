package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// Problem is an RFC 9457 problem details document, the body of every error
// response (Content-Type application/problem+json). Handlers return one as
// an error; WriteError writes it. Detail is written for the person using
// the API and never holds internals: storage errors become a generic 500
// whose detail names only the request id.
type Problem struct {
	// Type is a URI naming the kind of problem, "urn:cityarray:problem:<slug>".
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request's path and id, "/api/v1/users#req=…".
	Instance string `json:"instance,omitempty"`
	// Errors name the request fields that are wrong (validation problems).
	Errors []FieldError `json:"errors,omitempty"`

	// RetryAfter, if positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

// FieldError is one invalid field of a request: its name as the client
// sent it ("role", "zones[1]", or "limit" for a query parameter), a JSON
// Pointer to it in the body when it came from the body, and what is wrong.
type FieldError struct {
	Field   string `json:"field"`
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail"`
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Title + ": " + p.Detail
	}
	return p.Title
}

// Problem type slugs.
const (
	ProblemBadRequest      = "bad-request"
	ProblemValidation      = "validation"
	ProblemMalformedJSON   = "malformed-json"
	ProblemTooLarge        = "body-too-large"
	ProblemMediaType       = "unsupported-media-type"
	ProblemUnauthenticated = "unauthenticated"
	ProblemMFARequired     = "mfa-required"
	ProblemReplay          = "totp-replay"
	ProblemForbidden       = "forbidden"
	ProblemCSRF            = "csrf"
	ProblemIPNotAllowed    = "ip-not-allowed"
	ProblemLocked          = "locked"
	ProblemRateLimited     = "rate-limited"
	ProblemNotFound        = "not-found"
	ProblemMethod          = "method-not-allowed"
	ProblemConflict        = "conflict"
	ProblemGone            = "gone"
	ProblemPasswordPolicy  = "password-policy"
	ProblemUnavailable     = "unavailable"
	ProblemInternal        = "internal"
)

// ProblemTypePrefix starts every problem type URI.
const ProblemTypePrefix = "urn:cityarray:problem:"

// NewProblem returns a problem of status with a type slug and a detail.
func NewProblem(status int, slug, detail string) *Problem {
	return &Problem{Type: ProblemTypePrefix + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

// ValidationProblem is a 400 naming each invalid field.
func ValidationProblem(errs ...FieldError) *Problem {
	p := NewProblem(http.StatusBadRequest, ProblemValidation, "the request has invalid fields: see errors")
	p.Errors = errs
	return p
}

// BodyField makes a FieldError for a field of the JSON body.
func BodyField(field, detail string) FieldError {
	return FieldError{Field: field, Pointer: jsonPointer(field), Detail: detail}
}

// jsonPointer turns "zones[1].name" into "/zones/1/name".
func jsonPointer(field string) string {
	if field == "" {
		return ""
	}
	r := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, part := range strings.Split(strings.ReplaceAll(field, "[", "."), ".") {
		part = strings.TrimSuffix(part, "]")
		if part == "" {
			continue
		}
		b.WriteString("/" + r.Replace(part))
	}
	return b.String()
}

// problemFor maps an error to the problem to send: a *Problem as it is,
// an auth error by auth.StatusCode with a fixed, generic text, audit proof
// errors, and anything else as a 500 that says nothing of the cause.
func problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if p, ok := deskProblem(err); ok {
		return p
	}
	var pe *auth.PolicyError
	switch {
	case errors.As(err, &pe):
		return &Problem{Type: ProblemTypePrefix + ProblemPasswordPolicy, Title: "Password refused", Status: http.StatusBadRequest,
			Detail: pe.Error(), Errors: []FieldError{BodyField("password", pe.Error())}}
	case errors.Is(err, auth.ErrMFARequired):
		return NewProblem(http.StatusUnauthorized, ProblemMFARequired, "a current TOTP code is required")
	case errors.Is(err, auth.ErrReplay):
		return NewProblem(http.StatusUnauthorized, ProblemReplay, "that TOTP code was used already; wait for the next one")
	case errors.Is(err, auth.ErrSessionExpired):
		return NewProblem(http.StatusUnauthorized, ProblemUnauthenticated, "the session has ended; log in again")
	case errors.Is(err, auth.ErrUnauthenticated):
		return NewProblem(http.StatusUnauthorized, ProblemUnauthenticated, "authentication required: a session cookie or an Authorization: Bearer token")
	case errors.Is(err, auth.ErrInvalidCredentials):
		return NewProblem(http.StatusUnauthorized, ProblemUnauthenticated, "invalid credentials")
	case errors.Is(err, auth.ErrCSRF):
		return NewProblem(http.StatusForbidden, ProblemCSRF, "cross-site request refused: send the session's CSRF token in the "+auth.CSRFHeader+" header")
	case errors.Is(err, auth.ErrIPNotAllowed):
		return NewProblem(http.StatusForbidden, ProblemIPNotAllowed, "your role may not be used from this address")
	case errors.Is(err, auth.ErrForbidden):
		return NewProblem(http.StatusForbidden, ProblemForbidden, "your role does not permit this")
	case errors.Is(err, auth.ErrLocked):
		return NewProblem(http.StatusLocked, ProblemLocked, "the account is locked after repeated failures; try again later")
	case errors.Is(err, auth.ErrRateLimited):
		p := NewProblem(http.StatusTooManyRequests, ProblemRateLimited, "too many requests; slow down")
		p.RetryAfter = 1
		return p
	case errors.Is(err, auth.ErrNotEnrolled):
		return NewProblem(http.StatusBadRequest, ProblemBadRequest, "no TOTP enrolment is pending: start setup first")
	case errors.Is(err, auth.ErrInvalid):
		// The auth package names the argument: "auth: create user: invalid argument: role "x"".
		return NewProblem(http.StatusBadRequest, ProblemValidation, authDetail(err))
	case errors.Is(err, auth.ErrNotFound):
		return NewProblem(http.StatusNotFound, ProblemNotFound, "no such user, session or token")
	case errors.Is(err, auth.ErrAlreadyInitialised):
		return NewProblem(http.StatusConflict, ProblemConflict, "the server is initialised already")
	case errors.Is(err, auth.ErrExists):
		return NewProblem(http.StatusConflict, ProblemConflict, "it exists already")
	case errors.Is(err, audit.ErrPruned):
		return NewProblem(http.StatusGone, ProblemGone, "the entry was removed by the retention policy")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return NewProblem(http.StatusServiceUnavailable, ProblemUnavailable, "the server is shutting down or the request timed out")
	}
	// Any other auth error: its status, with a generic text.
	if code := auth.StatusCode(err); code != http.StatusInternalServerError {
		return NewProblem(code, ProblemBadRequest, http.StatusText(code))
	}
	return NewProblem(http.StatusInternalServerError, ProblemInternal, "an internal error occurred; the request id identifies it in the server's log")
}

// authDetail strips the "auth: op: " prefixes from an ErrInvalid error,
// whose last part names the argument and is meant for the caller.
func authDetail(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "invalid argument"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// WriteError writes err as a problem document, with the request's path
// and id as its instance. A 5xx is logged with the cause, which the
// response never carries.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	info := infoFrom(r.Context())
	if p.Status >= 500 {
		s.log.Error("request failed", "request_id", info.id, "route", info.route, "err", err)
	}
	if info != nil {
		info.problem = p.Type
	}
	writeProblem(w, r, p)
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	out := *p
	if out.Instance == "" {
		out.Instance = r.URL.EscapedPath()
		if info := infoFrom(r.Context()); info != nil && info.id != "" {
			out.Instance += "#req=" + info.id
		}
	}
	if out.Title == "" {
		out.Title = http.StatusText(out.Status)
	}
	if out.Type == "" {
		out.Type = "about:blank"
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if out.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(out.RetryAfter))
	}
	if out.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="cityarray"`)
	}
	b, _ := json.Marshal(out)
	w.WriteHeader(out.Status)
	w.Write(append(b, '\n'))
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"type":"about:blank","title":"Internal Server Error","status":500}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
