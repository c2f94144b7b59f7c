package auth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.etcd.io/bbolt"
)

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again. Idle time is measured from the stored value,
// so a session may end up to this much earlier than SessionIdle after its
// last request, never later.
const touchEvery = time.Minute

// sessionRecord is a session as stored (JSON in auth.sessions under the
// SHA-256 of its token).
type sessionRecord struct {
	UserID   string     `json:"user"`
	Created  time.Time  `json:"created"`
	LastSeen time.Time  `json:"seen"`
	LastTOTP time.Time  `json:"totp,omitzero"`
	IP       netip.Addr `json:"ip,omitzero"`
}

// Session is a logged-in browser session, without its token.
type Session struct {
	// ID is a public handle (the first 8 bytes of the token's hash, in
	// hex) for listing and revoking; it cannot be used to authenticate.
	ID       string
	UserID   string
	Created  time.Time
	LastSeen time.Time
	// LastTOTP is when a TOTP code was last entered in this session (at
	// login or Reauthenticate); zero after a login with a recovery code.
	LastTOTP time.Time
	// RemoteIP is the address the session logged in from.
	RemoteIP netip.Addr
	// Expires is when the session ends unless used again: the earlier of
	// the idle and the absolute limit.
	Expires time.Time
}

// FreshTOTP reports whether a TOTP code was entered in this session at
// most `within` before now.
func (s Session) FreshTOTP(now time.Time, within time.Duration) bool {
	return !s.LastTOTP.IsZero() && !now.Before(s.LastTOTP) && now.Sub(s.LastTOTP) <= within
}

func sessionID(key []byte) string { return hex.EncodeToString(key[:8]) }

func (s *Service) sessionView(key []byte, r *sessionRecord) Session {
	return Session{ID: sessionID(key), UserID: r.UserID, Created: r.Created, LastSeen: r.LastSeen,
		LastTOTP: r.LastTOTP, RemoteIP: r.IP, Expires: s.sessionEnds(r)}
}

func (s *Service) sessionEnds(r *sessionRecord) time.Time {
	idle, abs := r.LastSeen.Add(s.opts.SessionIdle), r.Created.Add(s.opts.SessionMax)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// createSessionTx stores a new session for userID and returns its token.
func (s *Service) createSessionTx(tx *bbolt.Tx, userID string, now, lastTOTP time.Time, ip netip.Addr) (string, Session, error) {
	token, err := newSessionToken(s.opts.Rand)
	if err != nil {
		return "", Session{}, err
	}
	key := secretKey(token)
	r := &sessionRecord{UserID: userID, Created: now, LastSeen: now, LastTOTP: lastTOTP, IP: ip}
	if err := putJSON(tx, bucketSessions, key, r); err != nil {
		return "", Session{}, err
	}
	return token, s.sessionView(key, r), nil
}

// loadSession finds the session of token and checks that it is live and
// its user enabled; a dead session is deleted (in a writable tx; the
// caller must then commit, so it should keep ErrSessionExpired as its
// result rather than return it from the transaction). It does not write
// anything else.
func (s *Service) loadSession(tx *bbolt.Tx, token string, now time.Time) ([]byte, *sessionRecord, *userRecord, error) {
	if parseSessionToken(token) != nil {
		return nil, nil, nil, ErrInvalidCredentials
	}
	key := secretKey(token)
	var r sessionRecord
	ok, err := getJSON(tx, bucketSessions, key, &r)
	if err != nil {
		return nil, nil, nil, err
	}
	if !ok {
		return nil, nil, nil, ErrSessionExpired
	}
	u, err := getUser(tx, r.UserID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, nil, err
	}
	if err != nil || u.Disabled || u.Role == RoleIntegration || !now.Before(s.sessionEnds(&r)) {
		if tx.Writable() {
			if err := tx.Bucket(bucketSessions).Delete(key); err != nil {
				return nil, nil, nil, err
			}
		}
		return nil, nil, nil, ErrSessionExpired
	}
	return key, &r, u, nil
}

// AuthenticateSession checks a session token from a cookie and returns
// the principal, refreshing the session's idle timer. It applies the
// role's IP allowlist and the per-user and per-address request limits.
// It does not check CSRF; AuthenticateRequest does both.
func (s *Service) AuthenticateSession(token string, ip netip.Addr) (*Principal, error) {
	const op = "authenticate session"
	now := s.now()
	if !s.requestIP.allow(ipKey(ip), now) {
		s.emit(Event{Time: now, Action: ActionAccessDenied, Outcome: OutcomeDenied, RemoteIP: ip, Reason: ReasonRateLimited, Detail: op})
		return nil, wrap(op, ErrRateLimited)
	}
	var (
		p      *Principal
		deny   Reason
		actor  string
		result error
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key, r, u, err := s.loadSession(tx, token, now)
		if errors.Is(err, ErrSessionExpired) {
			result = err
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.CheckIP(u.Role, ip); err != nil {
			deny, actor = ReasonIPNotAllowed, u.ID
			return err
		}
		if !s.requestUser.allow("user:"+u.ID, now) {
			deny, actor = ReasonRateLimited, u.ID
			return ErrRateLimited
		}
		if now.Sub(r.LastSeen) >= touchEvery {
			r.LastSeen = now
			if err := putJSON(tx, bucketSessions, key, r); err != nil {
				return err
			}
		}
		sess := s.sessionView(key, r)
		p = &Principal{userID: u.ID, role: u.Role, zones: u.Zones, session: &sess, ip: ip}
		return nil
	})
	if err == nil {
		err = result
	}
	if err != nil {
		if deny != "" {
			s.emit(Event{Time: now, Actor: actor, Action: ActionAccessDenied, Outcome: OutcomeDenied, RemoteIP: ip,
				Reason: deny, Detail: op})
		}
		return nil, wrap(op, err)
	}
	return p, nil
}

// Reauthenticate checks a fresh TOTP code for the session's user (codes
// only; recovery codes do not count) and stamps the session, so that
// Principal.FreshTOTP holds for the next few minutes: the server asks for
// it before an officer's key signs an Emergency. Wrong codes count towards
// the lockout like failed logins; a locked account cannot reauthenticate.
func (s *Service) Reauthenticate(sessionToken, code string, ip netip.Addr) (Session, error) {
	const op = "reauthenticate"
	now := s.now()
	var (
		sess   Session
		userID string
		result error
		locked bool
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key, r, u, err := s.loadSession(tx, sessionToken, now)
		if errors.Is(err, ErrSessionExpired) {
			result = err
			return nil
		}
		if err != nil {
			return err
		}
		userID = u.ID
		if err := s.CheckIP(u.Role, ip); err != nil {
			return err
		}
		if !s.allowLogin(u.ID, ip, now) {
			return ErrRateLimited
		}
		if u.locked(now) {
			return ErrLocked
		}
		secret, err := s.unseal(u.ID, u.TOTPSealed)
		if err != nil {
			return err
		}
		step, err := checkTOTP(string(secret), code, now, u.TOTPLastStep)
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			locked = s.fail(u, now)
			result = err
			return putUser(tx, u)
		case err != nil:
			return err
		}
		u.TOTPLastStep, u.Updated = step, now
		succeed(u)
		r.LastTOTP, r.LastSeen = now, now
		if err := putUser(tx, u); err != nil {
			return err
		}
		sess = s.sessionView(key, r)
		return putJSON(tx, bucketSessions, key, r)
	})
	ev := Event{Time: now, Actor: userID, Target: userID, RemoteIP: ip}
	switch {
	case errors.Is(result, ErrSessionExpired):
		return Session{}, wrap(op, result)
	case err == nil && result != nil:
		ev.Action, ev.Outcome, ev.Reason = ActionMFAFail, OutcomeFail, ReasonBadCode
		s.emit(ev)
		s.emitLocked(ev, locked)
		return Session{}, wrap(op, result)
	case errors.Is(err, ErrReplay):
		ev.Action, ev.Outcome, ev.Reason = ActionMFAReplay, OutcomeFail, ReasonReplay
		s.emit(ev)
	case errors.Is(err, ErrLocked):
		ev.Action, ev.Outcome, ev.Reason = ActionLoginLocked, OutcomeDenied, ReasonLocked
		s.emit(ev)
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrIPNotAllowed):
		ev.Action, ev.Outcome, ev.Reason = ActionAccessDenied, OutcomeDenied, ReasonRateLimited
		if errors.Is(err, ErrIPNotAllowed) {
			ev.Reason = ReasonIPNotAllowed
		}
		ev.Detail = op
		s.emit(ev)
	case err == nil:
		ev.Action, ev.Outcome = ActionMFAReauth, OutcomeOK
		s.emit(ev)
		return sess, nil
	}
	return Session{}, wrap(op, err)
}

// Logout ends the session of token. Ending a session that has already
// ended is not an error.
func (s *Service) Logout(token string, ip netip.Addr) error {
	if parseSessionToken(token) != nil {
		return nil
	}
	key := secretKey(token)
	var userID string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var r sessionRecord
		ok, err := getJSON(tx, bucketSessions, key, &r)
		if err != nil || !ok {
			return err
		}
		userID = r.UserID
		return tx.Bucket(bucketSessions).Delete(key)
	})
	if err != nil {
		return wrap("logout", err)
	}
	if userID != "" {
		s.emit(Event{Actor: userID, Action: ActionLogout, Target: sessionID(key), Outcome: OutcomeOK, RemoteIP: ip})
	}
	return nil
}

// forEachSession calls fn for every stored session.
func forEachSession(tx *bbolt.Tx, fn func(key []byte, r *sessionRecord) error) error {
	return forEachJSON(tx, bucketSessions, "session", fn)
}

// revokeSessionsTx deletes every session of userID and returns how many.
func revokeSessionsTx(tx *bbolt.Tx, userID string) (int, error) {
	return deleteJSON(tx, bucketSessions, "session", func(r *sessionRecord) bool { return r.UserID == userID })
}

// Sessions lists the live sessions of userID: your own, or anyone's with
// user.read.
func (s *Service) Sessions(by *Principal, userID string) ([]Session, error) {
	now := s.now()
	var out []Session
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserRead, userID, true); err != nil {
			return err
		}
		return forEachSession(tx, func(k []byte, r *sessionRecord) error {
			if r.UserID == userID && now.Before(s.sessionEnds(r)) {
				out = append(out, s.sessionView(k, r))
			}
			return nil
		})
	})
	if err != nil {
		return nil, s.refused("sessions", by, userID, err)
	}
	return out, nil
}

// RevokeSessions ends every session of userID: your own, or anyone's
// with user.manage. It returns how many ended. (Password changes, resets
// and disabling a user do this by themselves.)
func (s *Service) RevokeSessions(by *Principal, userID string) (int, error) {
	const op = "revoke sessions"
	var n int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserManage, userID, true); err != nil {
			return err
		}
		var err error
		n, err = revokeSessionsTx(tx, userID)
		return err
	})
	if err != nil {
		return 0, s.refused(op, by, userID, err)
	}
	s.emit(Event{Actor: by.userID, Action: ActionSessionRevoke, Target: userID, Outcome: OutcomeOK, RemoteIP: by.ip,
		Detail: fmt.Sprintf("sessions=%d", n)})
	return n, nil
}

// RevokeSession ends one session by its public ID: your own, or anyone's
// with user.manage.
func (s *Service) RevokeSession(by *Principal, id string) error {
	const op = "revoke session"
	var owner string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key, r, err := findJSON(tx, bucketSessions, "session", func(k []byte, _ *sessionRecord) bool { return sessionID(k) == id })
		if err != nil {
			return err
		}
		owner = r.UserID
		if _, err := authorize(tx, by, PermUserManage, owner, true); err != nil {
			return err
		}
		return tx.Bucket(bucketSessions).Delete(key)
	})
	if err != nil {
		return s.refused(op, by, id, err)
	}
	s.emit(Event{Actor: by.userID, Action: ActionSessionRevoke, Target: owner, Outcome: OutcomeOK, RemoteIP: by.ip,
		Detail: "session=" + id})
	return nil
}

// Sweep deletes the sessions that have ended and the API tokens that have
// expired, and returns how many of each. The server runs it now and then;
// nothing depends on it for correctness.
func (s *Service) Sweep() (sessions, tokens int, err error) {
	now := s.now()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		sessions, err = deleteJSON(tx, bucketSessions, "session", func(r *sessionRecord) bool { return !now.Before(s.sessionEnds(r)) })
		if err != nil {
			return err
		}
		tokens, err = deleteJSON(tx, bucketTokens, "token", func(r *tokenRecord) bool { return !now.Before(r.Expires) })
		return err
	})
	if err != nil {
		return 0, 0, wrap("sweep", err)
	}
	return sessions, tokens, nil
}
