package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"
)

// TOTP parameters (RFC 6238 as every authenticator app implements it).
const (
	totpPeriod = 30
	totpSkew   = 1
	// RecoveryCodes is how many recovery codes a user gets at a time.
	RecoveryCodes = 10
	// FreshWindow is how recent a TOTP entry must be for the operations
	// that change a user's own second factor (and what the server asks
	// before Emergency signing).
	FreshWindow = 5 * time.Minute
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: totpSkew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is a new TOTP secret to put into an authenticator app: Secret
// (base32) for typing in, URL (otpauth://) for a QR code. Show it once;
// it becomes active only when confirmed with a first code.
type Enrolment struct {
	Secret string
	URL    string
}

// newEnrolment makes a 160-bit TOTP secret for u and returns it with its
// sealed form.
func (s *Service) newEnrolment(userID string) (Enrolment, []byte, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.opts.Issuer, AccountName: userID, Period: totpPeriod, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: s.opts.Rand,
	})
	if err != nil {
		return Enrolment{}, nil, fmt.Errorf("totp: %w", err)
	}
	sealed, err := s.seal(userID, []byte(key.Secret()))
	if err != nil {
		return Enrolment{}, nil, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, sealed, nil
}

// checkTOTP checks code against secret at now, allowing one step of
// clock skew either way, and refuses every step at or before last (a code
// works once; so does every code older than the last one accepted). It
// returns the step to store as the new last, ErrReplay for a right code
// already used, or ErrInvalidCredentials.
//
// totp.ValidateCustom does not say which step matched, so this generates
// the three candidate codes with totp.GenerateCodeCustom (the same
// computation) and compares each in constant time.
func checkTOTP(secret, input string, now time.Time, last int64) (int64, error) {
	code, err := parseTOTPCode(input)
	if err != nil {
		return 0, ErrInvalidCredentials
	}
	if now.Unix() < totpPeriod {
		return 0, ErrInvalidCredentials
	}
	cur := now.Unix() / totpPeriod
	var step int64
	matched, replay := false, false
	for st := cur - totpSkew; st <= cur+totpSkew; st++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, fmt.Errorf("totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if st > last && !matched {
			step, matched = st, true
		} else if st <= last {
			replay = true
		}
	}
	switch {
	case matched:
		return step, nil
	case replay:
		return 0, ErrReplay
	}
	return 0, ErrInvalidCredentials
}

// newRecoveryCodes makes RecoveryCodes one-time codes for user id and
// returns them with their hashes.
func (s *Service) newRecoveryCodes(id string) ([]string, [][]byte, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		c, err := newOneTimeCode(s.opts.Rand)
		if err != nil {
			return nil, nil, err
		}
		n, _ := parseOneTimeCode(c)
		codes[i], hashes[i] = c, codeHash("recovery", id, n)
	}
	return codes, hashes, nil
}

// useRecoveryCode removes the recovery code input from u if it is one of
// its unused codes, and reports whether it was. Every stored hash is
// compared, so the time does not tell which one matched.
func useRecoveryCode(u *userRecord, input string) bool {
	code, err := parseOneTimeCode(input)
	if err != nil {
		return false
	}
	h := codeHash("recovery", u.ID, code)
	idx := -1
	for i, stored := range u.RecoveryHashes {
		if equalHash(h, stored) {
			idx = i
		}
	}
	if idx < 0 {
		return false
	}
	u.RecoveryHashes = slices.Delete(slices.Clone(u.RecoveryHashes), idx, idx+1)
	return true
}

// selfFresh loads by's own record for an operation on its own second
// factor: it must be a session (not a token) with a TOTP entry within
// FreshWindow.
func (s *Service) selfFresh(tx *bbolt.Tx, by *Principal, now time.Time) (*userRecord, error) {
	if by == nil {
		return nil, ErrUnauthenticated
	}
	if by.token != nil {
		return nil, fmt.Errorf("%w: not with an API token", ErrForbidden)
	}
	u, err := getUser(tx, by.userID)
	if err != nil || u.Disabled {
		return nil, ErrForbidden
	}
	if !by.FreshTOTP(now, FreshWindow) {
		return nil, fmt.Errorf("%w: enter a current code first (Reauthenticate)", ErrMFARequired)
	}
	return u, nil
}

// BeginTOTPEnrol starts replacing the principal's own TOTP secret (a new
// phone). The session must have had a fresh TOTP entry within FreshWindow.
// The old secret keeps working until ConfirmTOTPEnrol.
func (s *Service) BeginTOTPEnrol(by *Principal) (Enrolment, error) {
	const op = "begin TOTP enrolment"
	now := s.now()
	var e Enrolment
	err := s.db.Update(func(tx *bbolt.Tx) error {
		u, err := s.selfFresh(tx, by, now)
		if err != nil {
			return err
		}
		var sealed []byte
		if e, sealed, err = s.newEnrolment(u.ID); err != nil {
			return err
		}
		u.TOTPPending, u.Updated = sealed, now
		return putUser(tx, u)
	})
	if err != nil {
		return Enrolment{}, s.refused(op, by, by.UserID(), err)
	}
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionMFAEnrolStart, Target: by.userID, Outcome: OutcomeOK, RemoteIP: by.ip})
	return e, nil
}

// ConfirmTOTPEnrol activates the pending secret with its first code, and
// replaces the recovery codes: it returns the new ones, to be shown once.
// A wrong code counts as a failed login.
func (s *Service) ConfirmTOTPEnrol(by *Principal, code string) (recoveryCodes []string, err error) {
	const op = "confirm TOTP enrolment"
	now := s.now()
	var result error
	var locked bool
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u, err := s.selfFresh(tx, by, now)
		if err != nil {
			return err
		}
		if u.TOTPPending == nil {
			return ErrNotEnrolled
		}
		secret, err := s.unseal(u.ID, u.TOTPPending)
		if err != nil {
			return err
		}
		step, err := checkTOTP(string(secret), code, now, u.TOTPLastStep)
		if err != nil {
			if errors.Is(err, ErrInvalidCredentials) {
				locked = s.fail(u, now)
				result = err
				return putUser(tx, u)
			}
			return err
		}
		var hashes [][]byte
		if recoveryCodes, hashes, err = s.newRecoveryCodes(u.ID); err != nil {
			return err
		}
		u.TOTPSealed, u.TOTPPending, u.TOTPLastStep, u.RecoveryHashes = u.TOTPPending, nil, step, hashes
		u.Updated = now
		return putUser(tx, u)
	})
	if err == nil && result != nil {
		ev := Event{Time: now, Actor: by.userID, Action: ActionMFAFail, Target: by.userID, Outcome: OutcomeFail,
			RemoteIP: by.ip, Reason: ReasonBadCode, Detail: op}
		s.emit(ev)
		s.emitLocked(ev, locked)
		return nil, wrap(op, result)
	}
	if err != nil {
		if errors.Is(err, ErrReplay) {
			s.emit(Event{Time: now, Actor: by.userID, Action: ActionMFAReplay, Target: by.userID, Outcome: OutcomeFail,
				RemoteIP: by.ip, Reason: ReasonReplay, Detail: op})
		}
		return nil, s.refused(op, by, by.UserID(), err)
	}
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionMFAEnrol, Target: by.userID, Outcome: OutcomeOK, RemoteIP: by.ip})
	return recoveryCodes, nil
}

// NewRecoveryCodes replaces the principal's recovery codes with ten new
// ones, returned once (fresh TOTP entry required, as for enrolment).
func (s *Service) NewRecoveryCodes(by *Principal) ([]string, error) {
	const op = "new recovery codes"
	now := s.now()
	var codes []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		u, err := s.selfFresh(tx, by, now)
		if err != nil {
			return err
		}
		if u.TOTPSealed == nil {
			return ErrNotEnrolled
		}
		var hashes [][]byte
		if codes, hashes, err = s.newRecoveryCodes(u.ID); err != nil {
			return err
		}
		u.RecoveryHashes, u.Updated = hashes, now
		return putUser(tx, u)
	})
	if err != nil {
		return nil, s.refused(op, by, by.UserID(), err)
	}
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionMFARecoveryNew, Target: by.userID, Outcome: OutcomeOK, RemoteIP: by.ip})
	return codes, nil
}

// emitLocked records, if locked, that the failure just described by ev
// locked the account.
func (s *Service) emitLocked(ev Event, locked bool) {
	if locked {
		ev.Action, ev.Outcome, ev.Reason, ev.Detail = ActionLoginLocked, OutcomeDenied, ReasonLocked, ""
		s.emit(ev)
	}
}
