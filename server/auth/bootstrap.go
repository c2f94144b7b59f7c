package auth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.etcd.io/bbolt"
)

// Bootstrap creates the first admin, only while there are no users at
// all, and returns a one-time setup code (valid for Options.SetupTTL,
// stored hashed, shown once) with which that person sets a password and
// enrols TOTP through StartSetup and FinishSetup. There is never a default
// password. Once any user exists it refuses with ErrAlreadyInitialised.
func (s *Service) Bootstrap(id, displayName string, ip netip.Addr) (setupCode string, err error) {
	const op = "bootstrap"
	nu := NewUser{ID: id, DisplayName: displayName, Role: RoleAdmin}
	if err := nu.validate(); err != nil {
		return "", wrap(op, err)
	}
	now := s.now()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketUsers).Cursor().First(); k != nil {
			return ErrAlreadyInitialised
		}
		setupCode, err = s.createUserTx(tx, nu, now)
		return err
	})
	ev := Event{Time: now, Actor: id, Action: ActionBootstrap, Target: id, Outcome: OutcomeOK, RemoteIP: ip}
	if errors.Is(err, ErrAlreadyInitialised) {
		ev.Actor, ev.Target, ev.Outcome, ev.Reason = "", "", OutcomeDenied, ReasonInitialised
		s.emit(ev)
	}
	if err != nil {
		return "", wrap(op, err)
	}
	s.emit(ev)
	return setupCode, nil
}

// checkSetup checks a typed setup code against u's at now.
func checkSetup(u *userRecord, input string, now time.Time) Reason {
	code, err := parseOneTimeCode(input)
	if err != nil || u.SetupHash == nil || !equalHash(codeHash("setup", u.ID, code), u.SetupHash) {
		return ReasonBadSetupCode
	}
	if !now.Before(u.SetupExpires) {
		return ReasonSetupExpired
	}
	return ""
}

// setupGate loads user id and runs the checks both setup steps start
// with: rate limit, lockout (phantom for unknown ids), disabled, IP
// allowlist, and the setup code, counting a wrong code as a failure. It
// emits the event for a refusal.
func (s *Service) setupGate(id, code string, ip netip.Addr, now time.Time) (*userRecord, error) {
	ev := Event{Time: now, Actor: id, Action: ActionSetupFail, Target: id, Outcome: OutcomeFail, RemoteIP: ip}
	refuse := func(outcome Outcome, reason Reason, e error) (*userRecord, error) {
		ev.Outcome, ev.Reason = outcome, reason
		s.emit(ev)
		return nil, e
	}
	var u *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if u, err = getUser(tx, id); errors.Is(err, ErrNotFound) {
			u, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if u == nil {
		ev.Actor, ev.Target = s.unknownActor(id), ""
	}
	if !s.allowLogin(id, ip, now) {
		return refuse(OutcomeDenied, ReasonRateLimited, ErrRateLimited)
	}
	switch {
	case u == nil:
		if s.phantom.locked(id, now) {
			return refuse(OutcomeDenied, ReasonLocked, ErrLocked)
		}
		locked := s.phantom.fail(id, now, s.opts.Lockout)
		_, err := refuse(OutcomeFail, ReasonUnknownUser, ErrInvalidCredentials)
		s.emitLocked(ev, locked)
		return nil, err
	case u.locked(now):
		return refuse(OutcomeDenied, ReasonLocked, ErrLocked)
	case u.Disabled:
		return refuse(OutcomeDenied, ReasonDisabled, ErrInvalidCredentials)
	case u.Role == RoleIntegration:
		return refuse(OutcomeDenied, ReasonNoLogin, ErrInvalidCredentials)
	case s.CheckIP(u.Role, ip) != nil:
		return refuse(OutcomeDenied, ReasonIPNotAllowed, ErrInvalidCredentials)
	}
	if reason := checkSetup(u, code, now); reason != "" {
		locked, err := s.recordFailure(id, now)
		if err != nil {
			return nil, err
		}
		_, err = refuse(OutcomeFail, reason, ErrInvalidCredentials)
		s.emitLocked(ev, locked)
		return nil, err
	}
	return u, nil
}

// StartSetup is the first step for a new (or reset) user holding a setup
// code: it returns a new TOTP secret to enrol in an authenticator app.
// Calling it again replaces the pending secret. Wrong setup codes count
// towards the lockout.
func (s *Service) StartSetup(id, setupCode string, ip netip.Addr) (Enrolment, error) {
	const op = "start setup"
	id = normID(id)
	now := s.now()
	u, err := s.setupGate(id, setupCode, ip, now)
	if err != nil {
		return Enrolment{}, wrap(op, err)
	}
	e, sealed, err := s.newEnrolment(id)
	if err != nil {
		return Enrolment{}, wrap(op, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u2, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(u2.SetupHash, u.SetupHash) {
			return ErrInvalidCredentials
		}
		u2.TOTPPending, u2.Updated = sealed, now
		return putUser(tx, u2)
	})
	if err != nil {
		return Enrolment{}, wrap(op, err)
	}
	s.emit(Event{Time: now, Actor: id, Action: ActionSetupStart, Target: id, Outcome: OutcomeOK, RemoteIP: ip})
	return e, nil
}

// FinishSetup completes setup: with the setup code, a password that
// passes the policy, and a first code from the authenticator enrolled by
// StartSetup, it sets the password, activates TOTP, uses up the setup code
// and returns ten recovery codes (shown once, stored hashed). The user
// then logs in with Login.
func (s *Service) FinishSetup(id, setupCode, password, totpCode string, ip netip.Addr) (recoveryCodes []string, err error) {
	const op = "finish setup"
	id = normID(id)
	now := s.now()
	u, err := s.setupGate(id, setupCode, ip, now)
	if err != nil {
		return nil, wrap(op, err)
	}
	ev := Event{Time: now, Actor: id, Action: ActionSetupFail, Target: id, Outcome: OutcomeFail, RemoteIP: ip}
	if u.TOTPPending == nil {
		ev.Reason = ReasonNotSetUp
		s.emit(ev)
		return nil, wrap(op, fmt.Errorf("%w: call StartSetup first", ErrNotEnrolled))
	}
	secret, err := s.unseal(id, u.TOTPPending)
	if err != nil {
		return nil, wrap(op, err)
	}
	step, err := checkTOTP(string(secret), totpCode, now, u.TOTPLastStep)
	switch {
	case errors.Is(err, ErrReplay):
		ev.Action, ev.Reason = ActionMFAReplay, ReasonReplay
		s.emit(ev)
		return nil, wrap(op, err)
	case errors.Is(err, ErrInvalidCredentials):
		locked, ferr := s.recordFailure(id, now)
		if ferr != nil {
			return nil, wrap(op, ferr)
		}
		ev.Action, ev.Reason = ActionMFAFail, ReasonBadCode
		s.emit(ev)
		s.emitLocked(ev, locked)
		return nil, wrap(op, err)
	case err != nil:
		return nil, wrap(op, err)
	}
	if err := s.checkNewPassword(u, password); err != nil {
		var pe *PolicyError
		errors.As(err, &pe)
		ev.Reason, ev.Detail = ReasonPolicy, pe.Rule
		s.emit(ev)
		return nil, wrap(op, err)
	}
	hash, err := s.hash.hash(password)
	if err != nil {
		return nil, wrap(op, err)
	}
	codes, hashes, err := s.newRecoveryCodes(id)
	if err != nil {
		return nil, wrap(op, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u2, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if !bytes.Equal(u2.SetupHash, u.SetupHash) || !bytes.Equal(u2.TOTPPending, u.TOTPPending) ||
			u2.TOTPLastStep >= step {
			return ErrInvalidCredentials
		}
		setPassword(u2, hash, now)
		u2.TOTPSealed, u2.TOTPPending, u2.TOTPLastStep, u2.RecoveryHashes = u2.TOTPPending, nil, step, hashes
		u2.SetupHash, u2.SetupExpires = nil, time.Time{}
		succeed(u2)
		return putUser(tx, u2)
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	for _, action := range []string{ActionPasswordChange, ActionMFAEnrol, ActionSetupComplete} {
		s.emit(Event{Time: now, Actor: id, Action: action, Target: id, Outcome: OutcomeOK, RemoteIP: ip})
	}
	return codes, nil
}
