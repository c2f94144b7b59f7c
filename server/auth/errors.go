package auth

import (
	"errors"
	"net/http"
	"strings"
)

// Sentinel errors. Every error a Service method returns wraps one of these
// (or a *PolicyError) as "auth: <op>: <reason>", so callers test with
// errors.Is and never by text.
var (
	// ErrInvalidCredentials is the one answer a caller gets for a wrong user
	// name, password, TOTP code, recovery code, setup code or token, and for
	// a disabled or unfinished account: the audit event says which.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrLocked: too many failures; the account is locked for a while.
	ErrLocked = errors.New("auth: account locked, try again later")
	// ErrMFARequired: the password was right but a TOTP or recovery code is
	// needed too, or an operation needs a fresh TOTP entry.
	ErrMFARequired = errors.New("auth: TOTP code required")
	// ErrReplay: the TOTP code was right but its time step has been used
	// already; wait for the next code.
	ErrReplay = errors.New("auth: TOTP code already used")
	// ErrForbidden: the principal's role (or token scopes) does not grant
	// the operation.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrUnauthenticated: the request carries no credentials at all.
	ErrUnauthenticated = errors.New("auth: not authenticated")
	// ErrSessionExpired: the session is unknown, logged out, revoked, idle
	// too long or past its absolute limit.
	ErrSessionExpired = errors.New("auth: session expired")
	// ErrCSRF: a state-changing cookie request without the right
	// X-CSRF-Token header, or from another site.
	ErrCSRF = errors.New("auth: cross-site request refused")
	// ErrIPNotAllowed: the remote address is outside the role's allowlist.
	ErrIPNotAllowed = errors.New("auth: address not allowed for this role")
	// ErrRateLimited: too many requests from this user or address.
	ErrRateLimited = errors.New("auth: too many requests")
	// ErrNotFound: no such user, session or token.
	ErrNotFound = errors.New("auth: not found")
	// ErrExists: a user with that id exists already.
	ErrExists = errors.New("auth: already exists")
	// ErrAlreadyInitialised: Bootstrap after the first user exists.
	ErrAlreadyInitialised = errors.New("auth: already initialised")
	// ErrInvalid: a malformed argument (id, role, zone, scope, expiry…);
	// the wrapping error says which.
	ErrInvalid = errors.New("auth: invalid argument")
	// ErrNotEnrolled: no TOTP enrolment is pending or confirmed.
	ErrNotEnrolled = errors.New("auth: TOTP not enrolled")
)

// PolicyError is a password refused by the policy. Its text names the rule
// broken and is meant for the person choosing the password.
type PolicyError struct{ Rule string }

func (e *PolicyError) Error() string { return "password: " + e.Rule }

// The password rules (see policy.go). Test with errors.Is, or errors.As
// with a *PolicyError for any of them.
var (
	ErrPasswordShort    = &PolicyError{"shorter than 12 characters"}
	ErrPasswordLong     = &PolicyError{"longer than 256 characters"}
	ErrPasswordCommon   = &PolicyError{"on the common-passwords list"}
	ErrPasswordUserName = &PolicyError{"contains the user name"}
	ErrPasswordReused   = &PolicyError{"used before (one of your last 10)"}
)

// opError is "auth: op: reason"; it unwraps to the reason.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "auth: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "auth: ")
}

func (e *opError) Unwrap() error { return e.err }

// wrap returns err as "auth: op: err", or nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

// StatusCode maps an error from this package to the HTTP status a handler
// should answer with: 401, 403, 423, 429, 400, 404, 409, or 500 for
// anything else (storage failures).
func StatusCode(err error) int {
	var pe *PolicyError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrUnauthenticated),
		errors.Is(err, ErrSessionExpired), errors.Is(err, ErrMFARequired), errors.Is(err, ErrReplay):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrCSRF), errors.Is(err, ErrIPNotAllowed):
		return http.StatusForbidden
	case errors.Is(err, ErrLocked):
		return http.StatusLocked
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.As(err, &pe), errors.Is(err, ErrInvalid), errors.Is(err, ErrNotEnrolled):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrAlreadyInitialised):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
