package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"
)

// Event is one security-relevant action, for the audit log. It never holds
// a password, code, token or secret: only who, what, to whom, from where,
// how it ended and why.
type Event struct {
	Time time.Time
	// Actor is the user id acting, or for a failed login with an unknown
	// id a keyed fingerprint "unknown:<hex>" (people type passwords into
	// the user name field).
	Actor string
	// Action is one of the Action constants.
	Action string
	// Target is the user, session id or token id acted on, if any.
	Target   string
	Outcome  Outcome
	RemoteIP netip.Addr
	// Reason says why an action failed or was refused (empty on success,
	// or a detail such as the new role).
	Reason Reason
	// Detail is extra context that is never secret: the operation refused,
	// the new role, a token's name and scopes.
	Detail string
}

// Outcome is how an action ended.
type Outcome string

// Outcomes.
const (
	OutcomeOK     Outcome = "ok"
	OutcomeFail   Outcome = "fail"   // wrong credentials, bad input
	OutcomeDenied Outcome = "denied" // refused by policy: lockout, RBAC, IP, rate
)

// Reason is the typed cause behind a generic error. Callers of Login see
// only ErrInvalidCredentials; the audit event carries one of these.
type Reason string

// Reasons.
const (
	ReasonUnknownUser     Reason = "unknown_user"
	ReasonBadPassword     Reason = "bad_password"
	ReasonBadCode         Reason = "bad_code"
	ReasonBadSetupCode    Reason = "bad_setup_code"
	ReasonSetupExpired    Reason = "setup_expired"
	ReasonReplay          Reason = "replay"
	ReasonLocked          Reason = "locked"
	ReasonDisabled        Reason = "disabled"
	ReasonNotSetUp        Reason = "not_set_up"
	ReasonIPNotAllowed    Reason = "ip_not_allowed"
	ReasonRateLimited     Reason = "rate_limited"
	ReasonMFARequired     Reason = "mfa_required"
	ReasonExpired         Reason = "expired"
	ReasonRevoked         Reason = "revoked"
	ReasonPolicy          Reason = "password_policy"
	ReasonForbidden       Reason = "forbidden"
	ReasonChanged         Reason = "changed_concurrently"
	ReasonRecoveryCode    Reason = "recovery_code"
	ReasonPasswordReset   Reason = "password_reset"
	ReasonPasswordChanged Reason = "password_changed"
	ReasonUnknownToken    Reason = "unknown_token"
	ReasonInitialised     Reason = "already_initialised"
	ReasonCSRF            Reason = "csrf"
	ReasonNoLogin         Reason = "no_interactive_login"
	ReasonDisable         Reason = "user_disabled"
	ReasonLogout          Reason = "logout"
)

// Actions.
const (
	ActionBootstrap       = "bootstrap"
	ActionSetupStart      = "setup.start"
	ActionSetupComplete   = "setup.complete"
	ActionSetupFail       = "setup.fail"
	ActionLoginOK         = "login.ok"
	ActionLoginFail       = "login.fail"
	ActionLoginLocked     = "login.locked"
	ActionLogout          = "logout"
	ActionMFAEnrol        = "mfa.enrol"
	ActionMFAEnrolStart   = "mfa.enrol_start"
	ActionMFAFail         = "mfa.fail"
	ActionMFAReplay       = "mfa.replay"
	ActionMFAReauth       = "mfa.reauth"
	ActionMFARecoveryUsed = "mfa.recovery_used"
	ActionMFARecoveryNew  = "mfa.recovery_regenerate"
	ActionPasswordChange  = "password.change"
	ActionUserCreate      = "user.create"
	ActionUserRoleChange  = "user.role_change"
	ActionUserDisable     = "user.disable"
	ActionUserEnable      = "user.enable"
	ActionUserReset       = "user.reset"
	ActionUserUnlock      = "user.unlock"
	ActionSessionRevoke   = "session.revoke"
	ActionTokenCreate     = "token.create"
	ActionTokenRevoke     = "token.revoke"
	ActionTokenFail       = "token.fail"
	ActionAccessDenied    = "access.denied"
)

// emit sends ev to the audit hook, stamping the time.
func (s *Service) emit(ev Event) {
	if s.opts.Audit == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	s.opts.Audit(ev)
}

// unknownActor is how an unknown user id appears in events: a keyed hash,
// so that repeated attempts on one name can be correlated without the
// name (which may be a mistyped password) being written down.
func (s *Service) unknownActor(id string) string {
	m := hmac.New(sha256.New, s.opts.CSRFKey)
	m.Write([]byte("cityarray/auth/audit-name\x00" + id))
	return "unknown:" + hex.EncodeToString(m.Sum(nil)[:8])
}
