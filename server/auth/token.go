package auth

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// tokenRecord is an API token as stored (JSON in auth.tokens under the
// SHA-256 of its secret).
type tokenRecord struct {
	ID       string       `json:"id"`
	UserID   string       `json:"user"`
	Name     string       `json:"name"`
	Scopes   []Permission `json:"scopes"`
	Created  time.Time    `json:"created"`
	Expires  time.Time    `json:"expires"`
	LastUsed time.Time    `json:"last_used,omitzero"`
}

// Token is an API token for an integration, without its secret.
type Token struct {
	// ID is the public handle for listing and revoking.
	ID     string
	UserID string
	Name   string
	// Scopes are what the token was created for. What it may do is the
	// part of these that its user's role grants at the time of use.
	Scopes   []Permission
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time
}

func (r *tokenRecord) view() Token {
	return Token{ID: r.ID, UserID: r.UserID, Name: r.Name, Scopes: slices.Clone(r.Scopes),
		Created: r.Created, Expires: r.Expires, LastUsed: r.LastUsed}
}

func forEachToken(tx *bbolt.Tx, fn func(key []byte, r *tokenRecord) error) error {
	return forEachJSON(tx, bucketTokens, "token", fn)
}

// authorizeTokens checks that by may manage userID's tokens: its own with
// token.manage, anyone's with user.manage, and never through a token.
func authorizeTokens(tx *bbolt.Tx, by *Principal, userID string) error {
	if by != nil && by.token != nil {
		return fmt.Errorf("%w: tokens cannot manage tokens", ErrForbidden)
	}
	perm := PermUserManage
	if by != nil && userID == by.userID {
		perm = PermTokenManage
	}
	_, err := authorize(tx, by, perm, userID, false)
	return err
}

// normScopes checks scopes for a token of a user with role and returns
// them deduplicated in table order.
func normScopes(role Role, scopes []Permission) ([]Permission, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("%w: a token needs at least one scope", ErrInvalid)
	}
	var out []Permission
	for _, p := range Permissions() {
		if !slices.Contains(scopes, p) {
			continue
		}
		if !TokenGrantable(p) {
			return nil, fmt.Errorf("%w: %s is never granted to a token", ErrInvalid, p)
		}
		if !Allowed(role, p) {
			return nil, fmt.Errorf("%w: role %s does not have %s", ErrInvalid, role, p)
		}
		out = append(out, p)
	}
	for _, p := range scopes {
		if !p.Valid() {
			return nil, fmt.Errorf("%w: unknown permission %q", ErrInvalid, p)
		}
	}
	return out, nil
}

// CreateToken makes an API token for userID: your own with token.manage,
// anyone's with user.manage (how admins equip integration users, which
// have no password). Only a person in a session may create tokens. Scopes
// must be permissions that a token may carry (TokenGrantable) and that the
// user's role grants; expires must be in the future and within
// Options.MaxTokenLifetime. The secret ("cat_…") is returned once and
// stored only as a hash.
func (s *Service) CreateToken(by *Principal, userID, name string, scopes []Permission, expires time.Time) (secret string, tok Token, err error) {
	const op = "create token"
	now := s.now()
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len(name) > 100:
		return "", Token{}, wrap(op, fmt.Errorf("%w: token name must be 1 to 100 bytes", ErrInvalid))
	case !expires.After(now) || expires.Sub(now) > s.opts.MaxTokenLifetime:
		return "", Token{}, wrap(op, fmt.Errorf("%w: expiry must be in the next %v", ErrInvalid, s.opts.MaxTokenLifetime))
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := authorizeTokens(tx, by, userID); err != nil {
			return err
		}
		u, err := getUser(tx, userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return fmt.Errorf("%w: user %s is disabled", ErrInvalid, userID)
		}
		sc, err := normScopes(u.Role, scopes)
		if err != nil {
			return err
		}
		idb, err := randomBytes(s.opts.Rand, 8)
		if err != nil {
			return err
		}
		if secret, err = newAPIToken(s.opts.Rand); err != nil {
			return err
		}
		r := &tokenRecord{ID: hex.EncodeToString(idb), UserID: userID, Name: name, Scopes: sc,
			Created: now, Expires: expires}
		tok = r.view()
		return putJSON(tx, bucketTokens, secretKey(secret), r)
	})
	if err != nil {
		return "", Token{}, s.refused(op, by, userID, err)
	}
	s.emit(Event{Time: now, Actor: by.userID, Action: ActionTokenCreate, Target: userID, Outcome: OutcomeOK,
		RemoteIP: by.ip, Detail: fmt.Sprintf("token=%s name=%q scopes=%v expires=%s", tok.ID, tok.Name, tok.Scopes,
			tok.Expires.UTC().Format(time.RFC3339))})
	return secret, tok, nil
}

// Tokens lists userID's API tokens (your own with token.manage, anyone's
// with user.manage), expired ones included until Sweep removes them.
func (s *Service) Tokens(by *Principal, userID string) ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := authorizeTokens(tx, by, userID); err != nil {
			return err
		}
		return forEachToken(tx, func(_ []byte, r *tokenRecord) error {
			if r.UserID == userID {
				out = append(out, r.view())
			}
			return nil
		})
	})
	if err != nil {
		return nil, s.refused("tokens", by, userID, err)
	}
	slices.SortFunc(out, func(a, b Token) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// RevokeToken deletes an API token by its ID (yours with token.manage,
// anyone's with user.manage).
func (s *Service) RevokeToken(by *Principal, tokenID string) error {
	const op = "revoke token"
	var owner string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key, r, err := findJSON(tx, bucketTokens, "token", func(_ []byte, r *tokenRecord) bool { return r.ID == tokenID })
		if err != nil {
			return err
		}
		owner = r.UserID
		if err := authorizeTokens(tx, by, owner); err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).Delete(key)
	})
	if err != nil {
		return s.refused(op, by, tokenID, err)
	}
	s.emit(Event{Actor: by.userID, Action: ActionTokenRevoke, Target: owner, Outcome: OutcomeOK, RemoteIP: by.ip,
		Detail: "token=" + tokenID})
	return nil
}

// AuthenticateToken checks an API token secret (from an Authorization:
// Bearer header) and returns the principal. It refuses expired tokens
// and tokens of disabled users, and applies the role's IP allowlist and
// the request rate limits. API tokens need no CSRF token: browsers do
// not attach them by themselves.
func (s *Service) AuthenticateToken(secret string, ip netip.Addr) (*Principal, error) {
	const op = "authenticate token"
	now := s.now()
	ev := Event{Time: now, Action: ActionTokenFail, Outcome: OutcomeFail, RemoteIP: ip}
	refuse := func(outcome Outcome, reason Reason, e error) (*Principal, error) {
		ev.Outcome, ev.Reason = outcome, reason
		s.emit(ev)
		return nil, wrap(op, e)
	}
	if !s.requestIP.allow(ipKey(ip), now) {
		return refuse(OutcomeDenied, ReasonRateLimited, ErrRateLimited)
	}
	if parseAPIToken(secret) != nil {
		return refuse(OutcomeFail, ReasonUnknownToken, ErrInvalidCredentials)
	}
	var (
		p      *Principal
		reason Reason
		result error
	)
	key := secretKey(secret)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var r tokenRecord
		ok, err := getJSON(tx, bucketTokens, key, &r)
		if err != nil {
			return err
		}
		if !ok {
			reason, result = ReasonUnknownToken, ErrInvalidCredentials
			return nil
		}
		ev.Actor, ev.Detail = r.UserID, "token="+r.ID
		u, err := getUser(tx, r.UserID)
		switch {
		case err != nil:
			reason, result = ReasonUnknownUser, ErrInvalidCredentials
			return nil
		case !now.Before(r.Expires):
			reason, result = ReasonExpired, ErrInvalidCredentials
			return nil
		case u.Disabled:
			reason, result = ReasonDisabled, ErrInvalidCredentials
			return nil
		case s.CheckIP(u.Role, ip) != nil:
			reason, result = ReasonIPNotAllowed, ErrIPNotAllowed
			return nil
		case !s.requestUser.allow("user:"+u.ID, now):
			reason, result = ReasonRateLimited, ErrRateLimited
			return nil
		}
		if now.Sub(r.LastUsed) >= touchEvery {
			r.LastUsed = now
			if err := putJSON(tx, bucketTokens, key, &r); err != nil {
				return err
			}
		}
		t := r.view()
		p = &Principal{userID: u.ID, role: u.Role, zones: u.Zones, token: &t, ip: ip}
		return nil
	})
	switch {
	case err != nil:
		return nil, wrap(op, err)
	case result == ErrInvalidCredentials:
		return refuse(OutcomeFail, reason, result)
	case result != nil:
		return refuse(OutcomeDenied, reason, result)
	}
	return p, nil
}
