package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// Principal is who a request acts as: a user, authenticated by a session
// (cookie) or by an API token. Only the Service makes them, so a handler
// holding one knows it was authenticated (tests of handlers get one by
// logging in to a Service on a temporary database). A nil *Principal may
// do nothing. It is a snapshot taken when the
// request was authenticated; the Service's own management methods check
// the user's current state again.
type Principal struct {
	userID  string
	role    Role
	zones   []string
	session *Session
	token   *Token
	ip      netip.Addr
}

// UserID is the user acted as.
func (p *Principal) UserID() string {
	if p == nil {
		return ""
	}
	return p.userID
}

// Role is the user's role when the request was authenticated.
func (p *Principal) Role() Role {
	if p == nil {
		return ""
	}
	return p.role
}

// RemoteIP is the address the request was authenticated from.
func (p *Principal) RemoteIP() netip.Addr {
	if p == nil {
		return netip.Addr{}
	}
	return p.ip
}

// Zones are the zone_operator's zones (nil for other roles).
func (p *Principal) Zones() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.zones)
}

// Session returns the session the request came with, if it came with one.
func (p *Principal) Session() (Session, bool) {
	if p == nil || p.session == nil {
		return Session{}, false
	}
	return *p.session, true
}

// Token returns the API token the request came with, if it came with one.
func (p *Principal) Token() (Token, bool) {
	if p == nil || p.token == nil {
		return Token{}, false
	}
	t := *p.token
	t.Scopes = slices.Clone(t.Scopes)
	return t, true
}

// Can reports whether the principal may use perm: its role must grant it,
// and for a token, so must the token's scopes (and perm must be one a
// token may carry at all). Deny by default.
func (p *Principal) Can(perm Permission) bool {
	if p == nil || !Allowed(p.role, perm) {
		return false
	}
	if p.token != nil {
		return TokenGrantable(perm) && slices.Contains(p.token.Scopes, perm)
	}
	return true
}

// Require is Can as an error: nil, or ErrForbidden naming perm.
func (p *Principal) Require(perm Permission) error {
	if p.Can(perm) {
		return nil
	}
	return wrap("require "+string(perm), ErrForbidden)
}

// AllowedScope reports whether the principal may act on scope; see the
// package function AllowedScope.
func (p *Principal) AllowedScope(scope string, deviceZone DeviceZoneFunc) bool {
	return p != nil && allowedScope(p.role, p.zones, scope, deviceZone)
}

// FreshTOTP reports whether the principal entered a TOTP code within the
// last `within` before now: at login or through Reauthenticate. Always
// false for API tokens. The server requires it (within 5 minutes) before an
// officer's key signs an Emergency.
func (p *Principal) FreshTOTP(now time.Time, within time.Duration) bool {
	return p != nil && p.session != nil && p.session.FreshTOTP(now, within)
}

// authorize checks inside tx that the principal's user still exists, is
// enabled, and may use perm now (its current role, and the token's
// scopes), or, if self is true and the target is the principal's own user,
// that it may act on itself. It returns the actor's record.
func authorize(tx *bbolt.Tx, p *Principal, perm Permission, target string, selfOK bool) (*userRecord, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	actor, err := getUser(tx, p.userID)
	if err != nil || actor.Disabled {
		return nil, ErrForbidden
	}
	cur := *p
	cur.role = actor.Role
	if selfOK && target == p.userID && p.token == nil {
		return actor, nil
	}
	if !cur.Can(perm) {
		return nil, fmt.Errorf("%w: needs %s", ErrForbidden, perm)
	}
	return actor, nil
}

// denied records a refused management operation and returns err wrapped
// with op.
func (s *Service) denied(op string, p *Principal, target string, err error) error {
	ev := Event{Action: ActionAccessDenied, Target: target, Outcome: OutcomeDenied,
		Reason: ReasonForbidden, Detail: op}
	if p != nil {
		ev.Actor, ev.RemoteIP = p.userID, p.ip
	}
	s.emit(ev)
	return wrap(op, err)
}

func isForbidden(err error) bool {
	return errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthenticated)
}
