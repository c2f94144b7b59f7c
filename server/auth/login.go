package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Credentials are what a person types to log in.
type Credentials struct {
	UserID   string
	Password string
	// Code is a current TOTP code, or one of the user's recovery codes.
	// Empty asks only whether the password is right: Login then answers
	// ErrMFARequired (and never starts a session).
	Code     string
	RemoteIP netip.Addr
}

// normID is the form of a typed user id that is looked up.
func normID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// Login checks a user's password and second factor and starts a session.
// It returns the session token (give it to SetSessionCookie; it is not
// stored anywhere) and the session.
//
// The caller learns only ErrInvalidCredentials, ErrMFARequired,
// ErrReplay, ErrLocked or ErrRateLimited; the audit event says exactly
// what went wrong. Every attempt that gets past the rate limit computes
// one argon2id hash, for unknown, locked, disabled and unfinished accounts
// too, so the time taken tells nothing. Wrong passwords and codes count
// towards the lockout; a success resets it.
func (s *Service) Login(c Credentials) (token string, sess Session, err error) {
	const op = "login"
	now := s.now()
	id := normID(c.UserID)
	var u *userRecord
	err = s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if u, err = getUser(tx, id); errors.Is(err, ErrNotFound) {
			u, err = nil, nil
		}
		return err
	})
	if err != nil {
		return "", Session{}, wrap(op, err)
	}
	ev := Event{Time: now, Actor: id, Target: id, RemoteIP: c.RemoteIP}
	if u == nil {
		ev.Actor, ev.Target = s.unknownActor(id), ""
	}
	refuse := func(action string, outcome Outcome, reason Reason, e error) (string, Session, error) {
		ev.Action, ev.Outcome, ev.Reason = action, outcome, reason
		s.emit(ev)
		return "", Session{}, wrap(op, e)
	}
	if !s.allowLogin(id, c.RemoteIP, now) {
		return refuse(ActionLoginFail, OutcomeDenied, ReasonRateLimited, ErrRateLimited)
	}
	switch {
	case u == nil:
		s.hash.verify(c.Password, "")
		if s.phantom.locked(id, now) {
			return refuse(ActionLoginLocked, OutcomeDenied, ReasonLocked, ErrLocked)
		}
		locked := s.phantom.fail(id, now, s.opts.Lockout)
		_, _, err := refuse(ActionLoginFail, OutcomeFail, ReasonUnknownUser, ErrInvalidCredentials)
		s.emitLocked(ev, locked)
		return "", Session{}, err
	case u.locked(now):
		s.hash.verify(c.Password, "")
		return refuse(ActionLoginLocked, OutcomeDenied, ReasonLocked, ErrLocked)
	}
	pwOK := s.hash.verify(c.Password, u.PasswordHash)
	switch {
	case u.Disabled:
		return refuse(ActionLoginFail, OutcomeDenied, ReasonDisabled, ErrInvalidCredentials)
	case u.Role == RoleIntegration:
		return refuse(ActionLoginFail, OutcomeDenied, ReasonNoLogin, ErrInvalidCredentials)
	case !u.ready():
		return refuse(ActionLoginFail, OutcomeFail, ReasonNotSetUp, ErrInvalidCredentials)
	case s.CheckIP(u.Role, c.RemoteIP) != nil:
		return refuse(ActionLoginFail, OutcomeDenied, ReasonIPNotAllowed, ErrInvalidCredentials)
	case !pwOK:
		locked, err := s.recordFailure(id, now)
		if err != nil {
			return "", Session{}, wrap(op, err)
		}
		_, _, err = refuse(ActionLoginFail, OutcomeFail, ReasonBadPassword, ErrInvalidCredentials)
		s.emitLocked(ev, locked)
		return "", Session{}, err
	case strings.TrimSpace(c.Code) == "":
		return refuse(ActionLoginFail, OutcomeFail, ReasonMFARequired, ErrMFARequired)
	}

	// Password right: rehash it if the parameters have been raised, then
	// check the second factor and start the session in one transaction.
	var newHash string
	if s.hash.stale(u.PasswordHash) {
		newHash, _ = s.hash.hash(c.Password) // on failure, keep the old hash
	}
	var (
		result   error
		action   string
		reason   Reason
		locked   bool
		recovery bool
	)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u2, err := getUser(tx, id)
		if err != nil {
			return err
		}
		switch {
		case u2.PasswordHash != u.PasswordHash || !u2.ready():
			result, action, reason = ErrInvalidCredentials, ActionLoginFail, ReasonChanged
			return nil
		case u2.locked(now):
			result, action, reason = ErrLocked, ActionLoginLocked, ReasonLocked
			return nil
		}
		var lastTOTP time.Time
		if _, perr := parseTOTPCode(c.Code); perr == nil {
			secret, err := s.unseal(id, u2.TOTPSealed)
			if err != nil {
				return err
			}
			step, err := checkTOTP(string(secret), c.Code, now, u2.TOTPLastStep)
			switch {
			case errors.Is(err, ErrReplay):
				result, action, reason = ErrReplay, ActionMFAReplay, ReasonReplay
				return nil
			case errors.Is(err, ErrInvalidCredentials):
				locked = s.fail(u2, now)
				result, action, reason = ErrInvalidCredentials, ActionMFAFail, ReasonBadCode
				return putUser(tx, u2)
			case err != nil:
				return err
			}
			u2.TOTPLastStep, lastTOTP = step, now
		} else if useRecoveryCode(u2, c.Code) {
			recovery = true
		} else {
			locked = s.fail(u2, now)
			result, action, reason = ErrInvalidCredentials, ActionMFAFail, ReasonBadCode
			return putUser(tx, u2)
		}
		succeed(u2)
		if newHash != "" {
			if len(u2.PasswordHistory) > 0 && u2.PasswordHistory[0] == u2.PasswordHash {
				u2.PasswordHistory[0] = newHash
			}
			u2.PasswordHash = newHash
		}
		u2.Updated = now
		if err := putUser(tx, u2); err != nil {
			return err
		}
		token, sess, err = s.createSessionTx(tx, id, now, lastTOTP, c.RemoteIP)
		return err
	})
	switch {
	case err != nil:
		return "", Session{}, wrap(op, err)
	case result != nil:
		outcome := OutcomeFail
		if errors.Is(result, ErrLocked) {
			outcome = OutcomeDenied
		}
		_, _, err = refuse(action, outcome, reason, result)
		s.emitLocked(ev, locked)
		return "", Session{}, err
	}
	if recovery {
		s.emit(Event{Time: now, Actor: id, Action: ActionMFARecoveryUsed, Target: id, Outcome: OutcomeOK,
			RemoteIP: c.RemoteIP, Reason: ReasonRecoveryCode})
	}
	ev.Action, ev.Outcome, ev.Detail = ActionLoginOK, OutcomeOK, "session="+sess.ID
	s.emit(ev)
	return token, sess, nil
}

// recordFailure counts one failure on user id in its own transaction and
// reports whether the account is now locked.
func (s *Service) recordFailure(id string, now time.Time) (bool, error) {
	var locked bool
	err := s.db.Update(func(tx *bbolt.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		locked = s.fail(u, now)
		return putUser(tx, u)
	})
	return locked, err
}

// ChangePassword sets a new password for the principal's own account
// (a session, not a token), given the current one. The new password must
// pass CheckPassword and not be one of the last ten. Every session of the
// user ends, this one included: the person logs in again with the new
// password. A wrong current password counts towards the lockout.
func (s *Service) ChangePassword(by *Principal, oldPassword, newPassword string) error {
	const op = "change password"
	if by == nil {
		return wrap(op, ErrUnauthenticated)
	}
	if by.token != nil {
		return s.denied(op, by, by.userID, ErrForbidden)
	}
	now := s.now()
	ev := Event{Time: now, Actor: by.userID, Action: ActionPasswordChange, Target: by.userID, RemoteIP: by.ip}
	refuse := func(outcome Outcome, reason Reason, detail string, e error) error {
		ev.Outcome, ev.Reason, ev.Detail = outcome, reason, detail
		s.emit(ev)
		return wrap(op, e)
	}
	if !s.allowLogin(by.userID, by.ip, now) {
		return refuse(OutcomeDenied, ReasonRateLimited, "", ErrRateLimited)
	}
	var u *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		u, err = getUser(tx, by.userID)
		return err
	})
	switch {
	case err != nil:
		return wrap(op, err)
	case u.Disabled:
		return refuse(OutcomeDenied, ReasonDisabled, "", ErrForbidden)
	case u.locked(now):
		return refuse(OutcomeDenied, ReasonLocked, "", ErrLocked)
	}
	if !s.hash.verify(oldPassword, u.PasswordHash) {
		locked, err := s.recordFailure(u.ID, now)
		if err != nil {
			return wrap(op, err)
		}
		err = refuse(OutcomeFail, ReasonBadPassword, "", ErrInvalidCredentials)
		s.emitLocked(ev, locked)
		return err
	}
	if err := s.checkNewPassword(u, newPassword); err != nil {
		var pe *PolicyError
		errors.As(err, &pe)
		return refuse(OutcomeFail, ReasonPolicy, pe.Rule, err)
	}
	newHash, err := s.hash.hash(newPassword)
	if err != nil {
		return wrap(op, err)
	}
	var ended int
	var result error
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u2, err := getUser(tx, u.ID)
		if err != nil {
			return err
		}
		if u2.PasswordHash != u.PasswordHash {
			result = ErrInvalidCredentials
			return nil
		}
		setPassword(u2, newHash, now)
		if err := putUser(tx, u2); err != nil {
			return err
		}
		ended, err = revokeSessionsTx(tx, u.ID)
		return err
	})
	switch {
	case err != nil:
		return wrap(op, err)
	case result != nil:
		return refuse(OutcomeFail, ReasonChanged, "", result)
	}
	ev.Outcome = OutcomeOK
	s.emit(ev)
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionSessionRevoke, Target: by.userID, Outcome: OutcomeOK,
		RemoteIP: by.ip, Reason: ReasonPasswordChanged, Detail: fmt.Sprintf("sessions=%d", ended)})
	return nil
}

// checkNewPassword applies the whole policy, history included, to a new
// password for u. The history check costs one argon2id hash per entry.
func (s *Service) checkNewPassword(u *userRecord, pw string) error {
	if err := CheckPassword(u.ID, pw); err != nil {
		return err
	}
	for _, old := range u.PasswordHistory {
		if s.hash.verify(pw, old) {
			return ErrPasswordReused
		}
	}
	return nil
}

// setPassword makes hash u's password and keeps the history.
func setPassword(u *userRecord, hash string, now time.Time) {
	u.PasswordHash = hash
	u.PasswordHistory = append([]string{hash}, u.PasswordHistory...)
	if len(u.PasswordHistory) > PasswordHistory {
		u.PasswordHistory = u.PasswordHistory[:PasswordHistory]
	}
	u.PasswordChanged, u.Updated = now, now
}
