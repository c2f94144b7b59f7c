package desk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Every error a Desk method returns for a refused request
// wraps exactly one of these, so that an HTTP layer can map it with
// StatusCode and a caller can test it with errors.Is. The text of the
// wrapping error says which alert and why, for the person at the desk.
var (
	// ErrInvalid: the request is malformed or breaks a rule of the record
	// format (texts, CAP fields, scope, lifetime, parameters). A
	// *FieldError names the field. HTTP 400 (422 for a well-formed JSON
	// request whose content is refused; StatusCode answers 422).
	ErrInvalid = errors.New("desk: invalid request")
	// ErrNotFound: no such alert, protocol or officer key. HTTP 404.
	ErrNotFound = errors.New("desk: not found")
	// ErrForbidden: the principal's role does not grant the operation, or
	// (for edits) it is not the author. HTTP 403.
	ErrForbidden = errors.New("desk: forbidden")
	// ErrOutOfScope: the principal may not act on the alert's scope (a
	// zone operator outside its zones). HTTP 403.
	ErrOutOfScope = errors.New("desk: scope not allowed")
	// ErrTwoPerson: the two-person rule refuses the approval (the approver
	// wrote or submitted the alert), or an emergency is published by
	// someone other than the officer who approved it. HTTP 403.
	ErrTwoPerson = errors.New("desk: two-person rule")
	// ErrFreshTOTPRequired: an officer's key may sign only within
	// Options.FreshTOTP of a TOTP entry in the officer's session. The API
	// answers "re-enter your code" (auth.Service.Reauthenticate) and the
	// client retries. HTTP 401.
	ErrFreshTOTPRequired = errors.New("desk: re-enter your TOTP code to sign an emergency")
	// ErrNoOfficerKey: the officer has no enrolled signing key. HTTP 409.
	ErrNoOfficerKey = errors.New("desk: no officer key enrolled")
	// ErrState: the alert or protocol is not in a state that allows the
	// operation (approving a draft, publishing twice). HTTP 409.
	ErrState = errors.New("desk: wrong state")
	// ErrUnsupportedTier: advisory (a gateway's job), informational (a
	// device's) and IPAWS (FEMA CAP input, which the desk does not take
	// yet) alerts are not authored at the server desk. HTTP 422.
	ErrUnsupportedTier = errors.New("desk: tier not handled by the server desk")
	// ErrRefused: the publisher (the mesh node) refused the signed record,
	// for the reason given; the operation was undone. HTTP 502.
	ErrRefused = errors.New("desk: record refused by the mesh")
	// ErrNotDelivered: the record was signed and the operation recorded,
	// but handing it to the publisher failed for a reason that may pass
	// (a timeout); Renew hands it over again. HTTP 503.
	ErrNotDelivered = errors.New("desk: signed, not yet handed to the mesh (Renew retries)")
	// ErrBadCursor: a list cursor that this desk did not make for this
	// query. HTTP 400.
	ErrBadCursor = errors.New("desk: bad cursor")
)

// Error is a refused operation on one alert or protocol: "desk: <op>
// alert <id>: <detail>". It unwraps to its sentinel (Kind).
type Error struct {
	Op     string // "approve", "publish", …
	What   string // "alert", "protocol", "officer key"
	ID     string // the alert id, protocol name or officer id; may be empty
	Kind   error  // one of the sentinels
	Detail string // why, for a person
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("desk: ")
	b.WriteString(e.Op)
	if e.What != "" {
		b.WriteString(" " + e.What)
	}
	if e.ID != "" {
		b.WriteString(" " + e.ID)
	}
	b.WriteString(": ")
	if e.Detail != "" {
		b.WriteString(e.Detail)
	} else {
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "desk: "))
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

// FieldError is an invalid request field: "desk: field alert.texts.en.short:
// …". It unwraps to ErrInvalid.
type FieldError struct {
	Field string // dotted JSON path; empty for the request as a whole
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "desk: request: " + e.Msg
	}
	return "desk: field " + e.Field + ": " + e.Msg
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func alertErr(op, id string, kind error, format string, args ...any) *Error {
	return &Error{Op: op, What: "alert", ID: id, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// StatusCode maps an error from this package to the HTTP status a handler
// should answer with, or 500 for anything else (storage failures).
func StatusCode(err error) int {
	var fe *FieldError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrBadCursor):
		return http.StatusBadRequest
	case errors.As(err, &fe):
		if fe.Field == "" {
			return http.StatusBadRequest
		}
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrUnsupportedTier):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrFreshTOTPRequired):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrOutOfScope), errors.Is(err, ErrTwoPerson):
		return http.StatusForbidden
	case errors.Is(err, ErrState), errors.Is(err, ErrNoOfficerKey):
		return http.StatusConflict
	case errors.Is(err, ErrRefused):
		return http.StatusBadGateway
	case errors.Is(err, ErrNotDelivered):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
