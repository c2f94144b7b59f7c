package auth

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// userRecord is a user as stored (JSON in auth.users under the id). It
// holds the secrets; User is the view that leaves the package.
type userRecord struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"name"`
	Role        Role     `json:"role"`
	Zones       []string `json:"zones,omitempty"`
	Disabled    bool     `json:"disabled,omitempty"`

	// PasswordHash is the current PHC string ("" until setup completes).
	PasswordHash string `json:"pw,omitempty"`
	// PasswordHistory are the last PasswordHistory hashes, newest first,
	// the current one included.
	PasswordHistory []string  `json:"pw_history,omitempty"`
	PasswordChanged time.Time `json:"pw_changed,omitzero"`

	// TOTPSealed is the confirmed TOTP secret, sealed (seal.go).
	TOTPSealed []byte `json:"totp,omitempty"`
	// TOTPPending is a secret awaiting its first code.
	TOTPPending []byte `json:"totp_pending,omitempty"`
	// TOTPLastStep is the last accepted time step; codes for it and
	// earlier steps are refused.
	TOTPLastStep int64 `json:"totp_step,omitempty"`
	// RecoveryHashes are the unused recovery codes, hashed (codeHash).
	RecoveryHashes [][]byte `json:"recovery,omitempty"`

	Failures    int       `json:"failures,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`

	// SetupHash is the outstanding setup code, hashed, until SetupExpires.
	SetupHash    []byte    `json:"setup,omitempty"`
	SetupExpires time.Time `json:"setup_expires,omitzero"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// User is what the service tells about a user: no secrets, no hashes.
type User struct {
	ID          string
	DisplayName string
	Role        Role
	Zones       []string
	Disabled    bool
	// PasswordSet and MFAEnrolled are both true once setup is complete;
	// only then can the user log in.
	PasswordSet       bool
	MFAEnrolled       bool
	RecoveryCodesLeft int
	// SetupPending: a setup code has been issued and not yet used.
	SetupPending    bool
	SetupExpires    time.Time
	FailedLogins    int
	LockedUntil     time.Time
	PasswordChanged time.Time
	Created         time.Time
	Updated         time.Time
}

func (u *userRecord) view() User {
	return User{
		ID: u.ID, DisplayName: u.DisplayName, Role: u.Role, Zones: slices.Clone(u.Zones),
		Disabled: u.Disabled, PasswordSet: u.PasswordHash != "", MFAEnrolled: u.TOTPSealed != nil,
		RecoveryCodesLeft: len(u.RecoveryHashes), SetupPending: u.SetupHash != nil,
		SetupExpires: u.SetupExpires, FailedLogins: u.Failures, LockedUntil: u.LockedUntil,
		PasswordChanged: u.PasswordChanged, Created: u.Created, Updated: u.Updated,
	}
}

// ready reports whether the user may log in: set up, enabled, and a
// person (integration users work through API tokens only).
func (u *userRecord) ready() bool {
	return !u.Disabled && u.PasswordHash != "" && u.TOTPSealed != nil && u.Role != RoleIntegration
}

// NewUser describes a user to create.
type NewUser struct {
	// ID is the login name: 2 to 64 of a-z, 0-9, '.', '_', '-', starting
	// with a letter or digit. Lower case only, so that "Alice" and "alice"
	// cannot be two people.
	ID          string
	DisplayName string
	Role        Role
	// Zones, for zone_operator only (at least one).
	Zones []string
}

// validateID checks a login name (see NewUser.ID).
func validateID(id string) error {
	if len(id) < 2 || len(id) > 64 {
		return fmt.Errorf("%w: user id must be 2 to 64 characters", ErrInvalid)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%w: user id: character %q at %d is not allowed", ErrInvalid, c, i)
		}
	}
	return nil
}

func (nu NewUser) validate() error {
	if err := validateID(nu.ID); err != nil {
		return err
	}
	if nu.DisplayName == "" || len(nu.DisplayName) > 200 {
		return fmt.Errorf("%w: display name must be 1 to 200 bytes", ErrInvalid)
	}
	return checkRoleZones(nu.Role, nu.Zones)
}

// createUserTx adds a user with a fresh setup code and returns the code.
func (s *Service) createUserTx(tx *bbolt.Tx, nu NewUser, now time.Time) (string, error) {
	if tx.Bucket(bucketUsers).Get([]byte(nu.ID)) != nil {
		return "", fmt.Errorf("%w: user %q", ErrExists, nu.ID)
	}
	u := &userRecord{ID: nu.ID, DisplayName: nu.DisplayName, Role: nu.Role,
		Zones: slices.Clone(nu.Zones), Created: now, Updated: now}
	var code string
	if nu.Role != RoleIntegration {
		var err error
		if code, err = s.issueSetup(u, now); err != nil {
			return "", err
		}
	}
	return code, putUser(tx, u)
}

// issueSetup gives u a new setup code, valid for SetupTTL.
func (s *Service) issueSetup(u *userRecord, now time.Time) (string, error) {
	code, err := newOneTimeCode(s.opts.Rand)
	if err != nil {
		return "", err
	}
	norm, _ := parseOneTimeCode(code)
	u.SetupHash = codeHash("setup", u.ID, norm)
	u.SetupExpires = now.Add(s.opts.SetupTTL)
	return code, nil
}

// CreateUser adds a user (needs user.manage). The user has no password
// and no TOTP: CreateUser returns a one-time setup code, valid for
// Options.SetupTTL, that the caller hands to the person, who sets both
// with StartSetup and FinishSetup. The code is shown once and stored
// hashed. Integration users are systems, not people: they get no setup
// code (""), never log in, and work through API tokens (CreateToken).
func (s *Service) CreateUser(by *Principal, nu NewUser) (setupCode string, err error) {
	const op = "create user"
	if err := nu.validate(); err != nil {
		return "", wrap(op, err)
	}
	now := s.now()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserManage, nu.ID, false); err != nil {
			return err
		}
		setupCode, err = s.createUserTx(tx, nu, now)
		return err
	})
	if err != nil {
		return "", s.refused(op, by, nu.ID, err)
	}
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionUserCreate, Target: nu.ID, Outcome: OutcomeOK,
		RemoteIP: by.ip, Detail: "role=" + string(nu.Role)})
	return setupCode, nil
}

// refused wraps err for op, recording an access.denied event when the
// cause is a refused permission.
func (s *Service) refused(op string, by *Principal, target string, err error) error {
	if isForbidden(err) {
		return s.denied(op, by, target, err)
	}
	return wrap(op, err)
}

// User returns one user: the principal's own, or any with user.read.
func (s *Service) User(by *Principal, id string) (User, error) {
	var u *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserRead, id, true); err != nil {
			return err
		}
		var err error
		u, err = getUser(tx, id)
		return err
	})
	if err != nil {
		return User{}, s.refused("user", by, id, err)
	}
	return u.view(), nil
}

// Users returns every user, by id (needs user.read).
func (s *Service) Users(by *Principal) ([]User, error) {
	var out []User
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserRead, "", false); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u userRecord
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			out = append(out, u.view())
			return nil
		})
	})
	if err != nil {
		return nil, s.refused("users", by, "", err)
	}
	return out, nil
}

// manage runs fn on user id's record inside one transaction after
// checking that by has user.manage and is not acting on itself (people do
// not change their own role, state or credentials through these; that is
// separation of duties), then stores the record.
func (s *Service) manage(op string, by *Principal, id string, fn func(tx *bbolt.Tx, u *userRecord, now time.Time) error) error {
	now := s.now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := authorize(tx, by, PermUserManage, id, false); err != nil {
			return err
		}
		if by.userID == id {
			return fmt.Errorf("%w: not on your own account", ErrForbidden)
		}
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, u, now); err != nil {
			return err
		}
		u.Updated = now
		return putUser(tx, u)
	})
	if err != nil {
		return s.refused(op, by, id, err)
	}
	return nil
}

// SetRole changes a user's role and zones (needs user.manage; not your
// own). It takes effect on the user's next request: principals are
// rebuilt from the stored user every time.
func (s *Service) SetRole(by *Principal, id string, role Role, zones []string) error {
	const op = "set role"
	if err := checkRoleZones(role, zones); err != nil {
		return wrap(op, err)
	}
	var old Role
	err := s.manage(op, by, id, func(_ *bbolt.Tx, u *userRecord, _ time.Time) error {
		old, u.Role, u.Zones = u.Role, role, slices.Clone(zones)
		return nil
	})
	if err != nil {
		return err
	}
	s.emit(Event{Actor: by.userID, Action: ActionUserRoleChange, Target: id, Outcome: OutcomeOK, RemoteIP: by.ip,
		Detail: fmt.Sprintf("role=%s->%s zones=%v", old, role, zones)})
	return nil
}

// SetDisabled disables or re-enables a user (needs user.manage; not your
// own). Disabling ends all the user's sessions at once; their API tokens
// stop working while the user is disabled.
func (s *Service) SetDisabled(by *Principal, id string, disabled bool) error {
	var ended int
	err := s.manage("set disabled", by, id, func(tx *bbolt.Tx, u *userRecord, _ time.Time) error {
		u.Disabled = disabled
		if disabled {
			var err error
			ended, err = revokeSessionsTx(tx, id)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	action := ActionUserEnable
	if disabled {
		action = ActionUserDisable
	}
	s.emit(Event{Actor: by.userID, Action: action, Target: id, Outcome: OutcomeOK, RemoteIP: by.ip})
	if ended > 0 {
		s.emit(Event{Actor: by.userID, Action: ActionSessionRevoke, Target: id, Outcome: OutcomeOK,
			RemoteIP: by.ip, Reason: ReasonDisable, Detail: fmt.Sprintf("sessions=%d", ended)})
	}
	return nil
}

// ResetUser is for a forgotten password or a lost authenticator (needs
// user.manage; not your own): it clears the password, the TOTP enrolment
// and the recovery codes, ends every session, clears the lockout, and
// returns a new setup code. The password history stays, so the old
// passwords remain refused. An integration user gets no setup code.
// To turn an integration user into a person, SetRole then ResetUser.
func (s *Service) ResetUser(by *Principal, id string) (setupCode string, err error) {
	var ended int
	err = s.manage("reset user", by, id, func(tx *bbolt.Tx, u *userRecord, now time.Time) error {
		u.PasswordHash, u.TOTPSealed, u.TOTPPending, u.RecoveryHashes = "", nil, nil, nil
		u.SetupHash, u.SetupExpires = nil, time.Time{}
		u.Failures, u.LockedUntil = 0, time.Time{}
		if u.Role != RoleIntegration {
			if setupCode, err = s.issueSetup(u, now); err != nil {
				return err
			}
		}
		ended, err = revokeSessionsTx(tx, id)
		return err
	})
	if err != nil {
		return "", err
	}
	s.emit(Event{Actor: by.userID, Action: ActionUserReset, Target: id, Outcome: OutcomeOK, RemoteIP: by.ip})
	if ended > 0 {
		s.emit(Event{Actor: by.userID, Action: ActionSessionRevoke, Target: id, Outcome: OutcomeOK,
			RemoteIP: by.ip, Reason: ReasonPasswordReset, Detail: fmt.Sprintf("sessions=%d", ended)})
	}
	return setupCode, nil
}

// Unlock clears a user's failed-login counter and lockout (needs
// user.manage; not your own).
func (s *Service) Unlock(by *Principal, id string) error {
	err := s.manage("unlock", by, id, func(_ *bbolt.Tx, u *userRecord, _ time.Time) error {
		u.Failures, u.LockedUntil = 0, time.Time{}
		return nil
	})
	if err != nil {
		return err
	}
	s.emit(Event{Actor: by.userID, Action: ActionUserUnlock, Target: id, Outcome: OutcomeOK, RemoteIP: by.ip})
	return nil
}
