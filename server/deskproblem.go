package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

// Problem type slugs of the alert desk and the fleet.
const (
	// ProblemReauthRequired: an officer's key may sign an Emergency only
	// within 5 minutes of a TOTP entry. The client sends a current code
	// to POST /api/v1/reauth and retries the same request.
	ProblemReauthRequired  = "reauth-required"
	ProblemOutOfScope      = "out-of-scope"
	ProblemTwoPerson       = "two-person-rule"
	ProblemWrongState      = "wrong-state"
	ProblemNoOfficerKey    = "no-officer-key"
	ProblemUnsupportedTier = "unsupported-tier"
	ProblemRefusedByMesh   = "refused-by-mesh"
	ProblemNotDelivered    = "not-delivered"
	ProblemNoCityCA        = "no-city-ca"
)

// ReauthPath is where a client enters a fresh TOTP code.
const ReauthPath = "/api/v1/reauth"

// deskProblem maps an error of server/desk or server/fleet to its problem
// document, with the status their StatusCode gives; ok is false for any
// other error. The detail is the package's own text for the person at the
// desk ("approve alert …: a warning is approved by someone other than
// …"), without the package prefix; storage failures are not theirs to
// describe and stay 500s.
func deskProblem(err error) (*Problem, bool) {
	var fe *desk.FieldError
	var de *desk.Error
	switch {
	case errors.As(err, &fe):
		status := desk.StatusCode(err)
		p := NewProblem(status, ProblemValidation, "the request has invalid fields: see errors")
		field := fe.Field
		if field == "" {
			p.Detail = fe.Msg
			return p, true
		}
		p.Errors = []FieldError{BodyField(field, fe.Msg)}
		return p, true
	case errors.As(err, &de):
		status := desk.StatusCode(err)
		if status == http.StatusInternalServerError {
			return nil, false
		}
		detail := strings.TrimPrefix(de.Error(), "desk: ")
		p := NewProblem(status, deskSlug(err), detail)
		switch {
		case errors.Is(err, desk.ErrFreshTOTPRequired):
			p.Title = "Fresh TOTP code required"
			p.Detail = detail + "; send a current code to POST " + ReauthPath + ", then retry within 5 minutes"
		case errors.Is(err, desk.ErrTwoPerson):
			p.Title = "Two-person rule"
		case errors.Is(err, desk.ErrOutOfScope):
			p.Title = "Scope not allowed"
		case errors.Is(err, desk.ErrBadCursor):
			p = ValidationProblem(FieldError{Field: "cursor", Detail: "not a cursor this list returned: use next_cursor as it came"})
		case errors.Is(err, desk.ErrNotDelivered):
			p.Detail = detail + " Do not publish again: the record goes out with the next renewal."
		}
		return p, true
	}
	if code := fleet.StatusCode(err); code != http.StatusInternalServerError && fleetError(err) {
		detail := err.Error()
		for strings.HasPrefix(detail, "fleet: ") {
			detail = strings.TrimPrefix(detail, "fleet: ")
		}
		slug := ProblemBadRequest
		switch {
		case errors.Is(err, fleet.ErrNotFound):
			slug = ProblemNotFound
		case errors.Is(err, fleet.ErrForbidden):
			slug = ProblemForbidden
		case errors.Is(err, fleet.ErrInvalid):
			slug = ProblemValidation
		case errors.Is(err, fleet.ErrState):
			slug = ProblemWrongState
		case errors.Is(err, fleet.ErrRefused):
			slug = ProblemRefusedByMesh
		case errors.Is(err, fleet.ErrNoCA):
			slug = ProblemNoCityCA
			detail = "the server holds no city CA key to sign revocations (pki.city_key): revoke with `cityarray keys revoke` offline"
		}
		return NewProblem(code, slug, detail), true
	}
	return nil, false
}

func fleetError(err error) bool {
	for _, s := range []error{fleet.ErrNotFound, fleet.ErrForbidden, fleet.ErrInvalid, fleet.ErrState, fleet.ErrRefused, fleet.ErrNoCA} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// deskSlug names the problem type of a desk sentinel.
func deskSlug(err error) string {
	switch {
	case errors.Is(err, desk.ErrFreshTOTPRequired):
		return ProblemReauthRequired
	case errors.Is(err, desk.ErrNotFound):
		return ProblemNotFound
	case errors.Is(err, desk.ErrForbidden):
		return ProblemForbidden
	case errors.Is(err, desk.ErrOutOfScope):
		return ProblemOutOfScope
	case errors.Is(err, desk.ErrTwoPerson):
		return ProblemTwoPerson
	case errors.Is(err, desk.ErrNoOfficerKey):
		return ProblemNoOfficerKey
	case errors.Is(err, desk.ErrState):
		return ProblemWrongState
	case errors.Is(err, desk.ErrUnsupportedTier):
		return ProblemUnsupportedTier
	case errors.Is(err, desk.ErrInvalid):
		return ProblemValidation
	case errors.Is(err, desk.ErrRefused):
		return ProblemRefusedByMesh
	case errors.Is(err, desk.ErrNotDelivered):
		return ProblemNotDelivered
	}
	return ProblemBadRequest
}
