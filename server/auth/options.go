package auth

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// Clock tells the time. The server passes the system clock; tests pass a
// fake one. The package never reads the time any other way.
type Clock interface{ Now() time.Time }

// Argon2Params are the argon2id cost parameters for new password hashes.
// Stored hashes carry their own parameters (PHC string), so raising these
// later only affects new hashes, and a login with an older hash rehashes
// it with the current ones.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultArgon2 is OWASP's argon2id recommendation at the high end of its
// equivalent settings: 64 MiB, one pass, two lanes, 16-byte salt, 32-byte
// hash.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Lockout is the backoff after failed logins: after Threshold consecutive
// failures the account is locked for Base, and every further failure
// doubles the lock up to Max. A success resets it.
type Lockout struct {
	Threshold int
	Base, Max time.Duration
}

// Limit is a token bucket: one event per Every, bursts of Burst. The zero
// Limit means unlimited.
type Limit struct {
	Every time.Duration
	Burst int
}

// RateLimits are the per-key token buckets. Login limits apply to
// password, setup, and re-authentication attempts; request limits to
// every authenticated request. Per-user limits key on the user id given
// (known or not), per-IP limits on the address (IPv6 by /64).
type RateLimits struct {
	LoginPerIP, LoginPerUser     Limit
	RequestPerIP, RequestPerUser Limit
	// MaxKeys bounds each limiter table; the least recently used key is
	// forgotten first.
	MaxKeys int
}

// Options configure a Service. Start from DefaultOptions and set Clock,
// DataKey and CSRFKey (and Audit); New validates all of it.
type Options struct {
	// Clock tells the time. Required.
	Clock Clock
	// Rand is the source of every secret: salts, tokens, codes, TOTP
	// secrets, nonces. crypto/rand.Reader in production.
	Rand io.Reader
	// Argon2 are the cost parameters for new password hashes.
	Argon2 Argon2Params
	// MaxHashes bounds concurrent argon2 computations (each takes
	// Argon2.Memory KiB); more wait their turn.
	MaxHashes int
	// DataKey (32 bytes) seals TOTP secrets at rest with
	// XChaCha20-Poly1305. Required. Losing it means every user re-enrols.
	DataKey []byte
	// CSRFKey (at least 32 bytes) derives the CSRF token of each session
	// by HMAC-SHA256, and keys the fingerprint of unknown user names in
	// audit events. Required.
	CSRFKey []byte
	// Audit receives one Event per security-relevant action, after the
	// change is committed. It must not block for long. Nil discards.
	Audit func(Event)
	// Lockout is the backoff after repeated failures.
	Lockout Lockout
	// IPAllow restricts roles to address ranges; a role that is absent or
	// has an empty list may come from anywhere.
	IPAllow map[Role][]netip.Prefix
	// Rate limits attempts and requests per user and per address.
	Rate RateLimits
	// TrustedOrigins are origins ("https://ops.example.org") other than
	// the request's own host that may send state-changing cookie requests.
	TrustedOrigins []string
	// InsecureCookie drops the Secure attribute and the __Host- prefix from
	// the session cookie, for plain-HTTP development only.
	InsecureCookie bool
	// Issuer names the service in authenticator apps.
	Issuer string
	// SessionIdle and SessionMax end a session after this long without
	// use, and this long after login, whichever comes first.
	SessionIdle, SessionMax time.Duration
	// SetupTTL is how long a setup code (Bootstrap, CreateUser, ResetUser)
	// stays valid.
	SetupTTL time.Duration
	// MaxTokenLifetime caps how far in the future an API token may expire.
	MaxTokenLifetime time.Duration
}

// DefaultOptions returns the production settings, without the parts only
// the caller can supply (Clock, Rand, DataKey, CSRFKey, Audit).
func DefaultOptions() Options {
	return Options{
		Argon2:    DefaultArgon2(),
		MaxHashes: 4,
		Lockout:   Lockout{Threshold: 5, Base: time.Minute, Max: time.Hour},
		Rate: RateLimits{
			LoginPerIP:     Limit{Every: 2 * time.Second, Burst: 20},
			LoginPerUser:   Limit{Every: 6 * time.Second, Burst: 10},
			RequestPerIP:   Limit{Every: 10 * time.Millisecond, Burst: 200},
			RequestPerUser: Limit{Every: 20 * time.Millisecond, Burst: 100},
			MaxKeys:        10000,
		},
		Issuer:           "CITYARRAY",
		SessionIdle:      30 * time.Minute,
		SessionMax:       12 * time.Hour,
		SetupTTL:         24 * time.Hour,
		MaxTokenLifetime: 366 * 24 * time.Hour,
	}
}

// validate returns every problem with o, joined.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Clock == nil {
		bad("Clock is required")
	}
	if o.Rand == nil {
		bad("Rand is required (crypto/rand.Reader in production)")
	}
	if err := o.Argon2.validate(); err != nil {
		bad("Argon2: %v", err)
	}
	if o.MaxHashes < 1 {
		bad("MaxHashes is %d, want at least 1", o.MaxHashes)
	}
	if len(o.DataKey) != 32 {
		bad("DataKey is %d bytes, want 32", len(o.DataKey))
	}
	if len(o.CSRFKey) < 32 {
		bad("CSRFKey is %d bytes, want at least 32", len(o.CSRFKey))
	}
	if o.Lockout.Threshold < 1 || o.Lockout.Base <= 0 || o.Lockout.Max < o.Lockout.Base {
		bad("Lockout %+v: want Threshold ≥ 1 and 0 < Base ≤ Max", o.Lockout)
	}
	for _, role := range slices.Sorted(maps.Keys(o.IPAllow)) {
		if !role.Valid() {
			bad("IPAllow: unknown role %q", role)
		}
		for _, p := range o.IPAllow[role] {
			if !p.IsValid() {
				bad("IPAllow[%s]: invalid prefix", role)
			}
		}
	}
	for _, l := range []struct {
		name string
		Limit
	}{{"LoginPerIP", o.Rate.LoginPerIP}, {"LoginPerUser", o.Rate.LoginPerUser},
		{"RequestPerIP", o.Rate.RequestPerIP}, {"RequestPerUser", o.Rate.RequestPerUser}} {
		if l.Every < 0 || l.Burst < 0 || (l.Every > 0) != (l.Burst > 0) {
			bad("Rate.%s %+v: want both Every and Burst positive, or both zero (unlimited)", l.name, l.Limit)
		}
	}
	if o.Rate.MaxKeys < 1 {
		bad("Rate.MaxKeys is %d, want at least 1", o.Rate.MaxKeys)
	}
	if o.Issuer == "" {
		bad("Issuer is required")
	}
	if o.SessionIdle <= 0 || o.SessionMax < o.SessionIdle {
		bad("SessionIdle %v, SessionMax %v: want 0 < idle ≤ max", o.SessionIdle, o.SessionMax)
	}
	if o.SetupTTL <= 0 {
		bad("SetupTTL %v: want > 0", o.SetupTTL)
	}
	if o.MaxTokenLifetime <= 0 {
		bad("MaxTokenLifetime %v: want > 0", o.MaxTokenLifetime)
	}
	if len(o.TrustedOrigins) > 0 {
		cop := http.NewCrossOriginProtection()
		for _, origin := range o.TrustedOrigins {
			if err := cop.AddTrustedOrigin(origin); err != nil {
				bad("TrustedOrigins: %v", err)
			}
		}
	}
	return errors.Join(errs...)
}
