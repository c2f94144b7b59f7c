package auth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestLoginOutcomes(t *testing.T) {
	type setup func(t *testing.T, e *env, root *Principal, bob person) Credentials
	tests := []struct {
		name      string
		setup     setup
		wantErr   error
		wantEvent string
	}{
		{"ok", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, nil, "login.ok ok"},
		{"ok, id case and spaces ignored", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: " Bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, nil, "login.ok ok"},
		{"code with a space", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := e.code(t, bob.secret)
			return Credentials{UserID: "bob", Password: bob.password, Code: c[:3] + " " + c[3:], RemoteIP: ipA}
		}, nil, "login.ok ok"},
		{"unknown user", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "mallory", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, ErrInvalidCredentials, "login.fail fail unknown_user"},
		{"wrong password", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "bob", Password: bob.password + "x", Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, ErrInvalidCredentials, "login.fail fail bad_password"},
		{"no code", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "bob", Password: bob.password, RemoteIP: ipA}
		}, ErrMFARequired, "login.fail fail mfa_required"},
		{"wrong code", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := []byte(e.code(t, bob.secret))
			c[0] = '0' + (c[0]-'0'+1)%10
			return Credentials{UserID: "bob", Password: bob.password, Code: string(c), RemoteIP: ipA}
		}, ErrInvalidCredentials, "mfa.fail fail bad_code"},
		{"malformed code", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "bob", Password: bob.password, Code: "12345x", RemoteIP: ipA}
		}, ErrInvalidCredentials, "mfa.fail fail bad_code"},
		{"code from two steps ago", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := e.code(t, bob.secret)
			e.step()
			e.step()
			return Credentials{UserID: "bob", Password: bob.password, Code: c, RemoteIP: ipA}
		}, ErrInvalidCredentials, "mfa.fail fail bad_code"},
		{"code from the previous step (skew)", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := e.code(t, bob.secret)
			e.step()
			return Credentials{UserID: "bob", Password: bob.password, Code: c, RemoteIP: ipA}
		}, nil, "login.ok ok"},
		{"replayed code", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := e.code(t, bob.secret)
			if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: c, RemoteIP: ipA}); err != nil {
				t.Fatal(err)
			}
			return Credentials{UserID: "bob", Password: bob.password, Code: c, RemoteIP: ipA}
		}, ErrReplay, "mfa.replay fail replay"},
		{"recovery code", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			return Credentials{UserID: "bob", Password: bob.password, Code: bob.recovery[3], RemoteIP: ipA}
		}, nil, "login.ok ok"},
		{"recovery code used twice", func(t *testing.T, e *env, _ *Principal, bob person) Credentials {
			c := Credentials{UserID: "bob", Password: bob.password, Code: strings.ToLower(bob.recovery[3]), RemoteIP: ipA}
			if _, _, err := e.s.Login(c); err != nil {
				t.Fatal(err)
			}
			return c
		}, ErrInvalidCredentials, "mfa.fail fail bad_code"},
		{"another user's recovery code", func(t *testing.T, e *env, root *Principal, bob person) Credentials {
			carol := e.user(t, root, "carol", RoleViewer)
			return Credentials{UserID: "bob", Password: bob.password, Code: carol.recovery[0], RemoteIP: ipA}
		}, ErrInvalidCredentials, "mfa.fail fail bad_code"},
		{"disabled", func(t *testing.T, e *env, root *Principal, bob person) Credentials {
			if err := e.s.SetDisabled(root, "bob", true); err != nil {
				t.Fatal(err)
			}
			return Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, ErrInvalidCredentials, "login.fail denied disabled"},
		{"reset, not set up again", func(t *testing.T, e *env, root *Principal, bob person) Credentials {
			if _, err := e.s.ResetUser(root, "bob"); err != nil {
				t.Fatal(err)
			}
			return Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
		}, ErrInvalidCredentials, "login.fail fail not_set_up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			_, root := e.login(t, e.admin(t))
			bob := e.user(t, root, "bob", RoleOfficer)
			c := tt.setup(t, e, root, bob)
			e.rec.reset()
			tok, sess, err := e.s.Login(c)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Login = %v, want %v", err, tt.wantErr)
			}
			evs := e.rec.actions()
			if len(evs) == 0 || evs[len(evs)-1] != tt.wantEvent {
				t.Errorf("events %q, want the last to be %q", evs, tt.wantEvent)
			}
			if tt.wantErr != nil {
				if tok != "" || sess != (Session{}) {
					t.Errorf("failed login returned a session")
				}
				// Callers see the generic sentinel and nothing else.
				if msg := err.Error(); strings.Contains(msg, "password") || strings.Contains(msg, "unknown") || strings.Contains(msg, "disabled") {
					t.Errorf("error %q tells too much", msg)
				}
				return
			}
			p, err := e.s.AuthenticateSession(tok, ipA)
			if err != nil {
				t.Fatalf("the new session does not authenticate: %v", err)
			}
			if p.UserID() != "bob" || p.Role() != RoleOfficer || sess.UserID != "bob" {
				t.Errorf("principal %s/%s, session user %s", p.UserID(), p.Role(), sess.UserID)
			}
		})
	}
}

func TestLoginRecoveryCodeIsNotFreshTOTP(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	bob := e.user(t, root, "bob", RoleOfficer)
	tok, sess, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: bob.recovery[0], RemoteIP: ipA})
	if err != nil {
		t.Fatal(err)
	}
	if sess.FreshTOTP(e.clk.Now(), FreshWindow) {
		t.Error("a recovery-code login counts as a fresh TOTP entry")
	}
	p, _ := e.s.AuthenticateSession(tok, ipA)
	u, _ := e.s.User(p, "bob")
	if u.RecoveryCodesLeft != 9 {
		t.Errorf("RecoveryCodesLeft = %d, want 9", u.RecoveryCodesLeft)
	}
	want := []string{"mfa.recovery_used ok recovery_code", "login.ok ok"}
	evs := e.rec.actions()
	if diff := cmp.Diff(want, evs[len(evs)-2:]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestLockoutBackoff walks the lock durations: five failures lock for a
// minute, each further failure doubles it up to an hour, attempts while
// locked are refused without counting, and a success resets all of it.
func TestLockoutBackoff(t *testing.T) {
	e, _, bob := newEnvWithBob(t)
	bad := Credentials{UserID: "bob", Password: "not the password at all", RemoteIP: ipA}
	good := func() Credentials {
		return Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}
	}
	lockedFor := func() time.Duration {
		var u *userRecord
		e.db.View(func(tx *bbolt.Tx) error { u, _ = getUser(tx, "bob"); return nil })
		return u.LockedUntil.Sub(e.clk.Now())
	}
	for i := 1; i <= 4; i++ {
		if _, _, err := e.s.Login(bad); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
		if d := lockedFor(); d > 0 {
			t.Fatalf("locked after %d failures", i)
		}
	}
	var got []time.Duration
	for range 9 {
		if _, _, err := e.s.Login(bad); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure that locks: %v", err)
		}
		d := lockedFor()
		got = append(got, d)
		// While locked even the right credentials are refused, and the
		// refusal does not extend the lock.
		if _, _, err := e.s.Login(good()); !errors.Is(err, ErrLocked) {
			t.Fatalf("login while locked = %v, want ErrLocked", err)
		}
		if lockedFor() != d {
			t.Fatal("an attempt while locked changed the lock")
		}
		e.clk.Advance(d)
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, time.Hour, time.Hour, time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lock durations (-want +got):\n%s", diff)
	}
	if _, _, err := e.s.Login(good()); err != nil {
		t.Fatalf("login after the lock ran out: %v", err)
	}
	e.step()
	for i := 1; i <= 4; i++ {
		e.s.Login(bad)
	}
	if d := lockedFor(); d > 0 {
		t.Error("success did not reset the failure counter")
	}
}

func TestLockoutCountsBadCodes(t *testing.T) {
	e, root, bob := newEnvWithBob(t)
	for range 5 {
		e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: "000000", RemoteIP: ipA})
	}
	_, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("after five bad codes Login = %v, want ErrLocked", err)
	}
	if err := e.s.Unlock(root, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
}

// TestUnknownUserLooksLikeAKnownOne: the same sequence of wrong passwords
// gives the same sequence of errors for a real and a made-up user id.
func TestUnknownUserLooksLikeAKnownOne(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	e.user(t, root, "bob", RoleViewer)
	seq := func(id string) []string {
		var out []string
		for range 7 {
			_, _, err := e.s.Login(Credentials{UserID: id, Password: "wrong wrong wrong", Code: "123456", RemoteIP: ipA})
			out = append(out, err.Error())
		}
		return out
	}
	bob, ghost := seq("bob"), seq("ghost")
	if diff := cmp.Diff(bob, ghost); diff != "" {
		t.Errorf("errors for a real and an unknown user differ (-real +unknown):\n%s", diff)
	}
	if !strings.Contains(bob[5], "locked") {
		t.Errorf("sixth attempt %q, want locked", bob[5])
	}
	// The unknown id is not written into events in clear.
	for _, ev := range e.rec.all() {
		if strings.Contains(ev.Actor+ev.Target+ev.Detail, "ghost") {
			t.Errorf("event %+v names the unknown id", ev)
		}
	}
}

func TestLoginIPAllowlist(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.IPAllow = map[Role][]netip.Prefix{RoleOfficer: {netip.MustParsePrefix("192.0.2.0/24")}}
	})
	_, root := e.login(t, e.admin(t))
	bob := e.user(t, root, "bob", RoleOfficer)
	c := Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipB}
	if _, _, err := e.s.Login(c); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("officer login from outside the allowlist = %v", err)
	}
	if got := e.rec.actions(); got[len(got)-1] != "login.fail denied ip_not_allowed" {
		t.Errorf("last event %q", got[len(got)-1])
	}
	c.RemoteIP = ipA
	tok, _, err := e.s.Login(c)
	if err != nil {
		t.Fatalf("officer login from inside: %v", err)
	}
	if _, err := e.s.AuthenticateSession(tok, ipB); !errors.Is(err, ErrIPNotAllowed) {
		t.Errorf("session used from outside the allowlist = %v, want ErrIPNotAllowed", err)
	}
	if _, err := e.s.AuthenticateSession(tok, ipA); err != nil {
		t.Errorf("session used from inside: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Rate.LoginPerUser = Limit{Every: 10 * time.Second, Burst: 3}
		o.Rate.LoginPerIP = Limit{Every: time.Second, Burst: 5}
	})
	try := func(id string, ip netip.Addr) error {
		_, _, err := e.s.Login(Credentials{UserID: id, Password: "whatever whatever", RemoteIP: ip})
		return errors.Unwrap(err)
	}
	var got []error
	for range 4 {
		got = append(got, try("ann", ipA))
	}
	want := []error{ErrInvalidCredentials, ErrInvalidCredentials, ErrInvalidCredentials, ErrRateLimited}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("per-user limit (-want +got):\n%s", diff)
	}
	// Other ids from the same address: the address has one token left.
	if err := try("ben", ipA); err != ErrInvalidCredentials {
		t.Errorf("fifth attempt from ipA = %v", err)
	}
	if err := try("cid", ipA); err != ErrRateLimited {
		t.Errorf("sixth attempt from ipA = %v, want ErrRateLimited", err)
	}
	if err := try("cid", ipB); err != ErrInvalidCredentials {
		t.Errorf("another address = %v", err)
	}
	e.clk.Advance(10 * time.Second)
	if err := try("ann", ipB); err != ErrInvalidCredentials {
		t.Errorf("after refill = %v", err)
	}
}

func TestLoginRehashesWithRaisedParams(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.admin(t)
	var before string
	e.db.View(func(tx *bbolt.Tx) error { u, _ := getUser(tx, "root"); before = u.PasswordHash; return nil })

	raised := testOptions(e.clk, e.rec)
	raised.Argon2.Time = 2
	s2, err := New(e.db, raised)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.Login(Credentials{UserID: bob.id, Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); err != nil {
		t.Fatal(err)
	}
	var u *userRecord
	e.db.View(func(tx *bbolt.Tx) error { u, _ = getUser(tx, "root"); return nil })
	if u.PasswordHash == before || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=32,t=2,p=1$") {
		t.Errorf("hash after login %q, want t=2", u.PasswordHash)
	}
	if diff := cmp.Diff([]string{u.PasswordHash}, u.PasswordHistory); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	e.step()
	if _, _, err := s2.Login(Credentials{UserID: bob.id, Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); err != nil {
		t.Fatalf("login with the rehashed password: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	e, _, bob := newEnvWithBob(t)
	tok1, p := e.login(t, bob)
	tok2, _ := e.login(t, bob)

	tests := []struct {
		name, old, new string
		want           error
	}{
		{"wrong old", "nope nope nope nope", "fresh long password one", ErrInvalidCredentials},
		{"policy", bob.password, "password1234", ErrPasswordCommon},
		{"same as now", bob.password, bob.password, ErrPasswordReused},
	}
	for _, tt := range tests {
		if err := e.s.ChangePassword(p, tt.old, tt.new); !errors.Is(err, tt.want) {
			t.Errorf("%s: ChangePassword = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Ten changes: the last ten passwords (the current one included) are
	// refused, the one before them is allowed again.
	pws := []string{bob.password}
	for i := range 10 {
		pw := "rotating secret number " + string(rune('a'+i))
		if i > 0 {
			tok1, p = e.login(t, person{id: "bob", password: pws[len(pws)-1], secret: bob.secret})
		}
		if err := e.s.ChangePassword(p, pws[len(pws)-1], pw); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		pws = append(pws, pw)
	}
	_, p = e.login(t, person{id: "bob", password: pws[len(pws)-1], secret: bob.secret})
	for _, old := range pws[1:] {
		if err := e.s.ChangePassword(p, pws[len(pws)-1], old); !errors.Is(err, ErrPasswordReused) {
			t.Errorf("reusing %q = %v, want ErrPasswordReused", old, err)
		}
	}
	if err := e.s.ChangePassword(p, pws[len(pws)-1], pws[0]); err != nil {
		t.Errorf("reusing the 11th-last password: %v", err)
	}
	// Every earlier session has ended.
	for _, tok := range []string{tok1, tok2} {
		if _, err := e.s.AuthenticateSession(tok, ipA); !errors.Is(err, ErrSessionExpired) {
			t.Errorf("session after password change = %v, want ErrSessionExpired", err)
		}
	}
	var u *userRecord
	e.db.View(func(tx *bbolt.Tx) error { u, _ = getUser(tx, "bob"); return nil })
	if len(u.PasswordHistory) != PasswordHistory {
		t.Errorf("history holds %d hashes, want %d", len(u.PasswordHistory), PasswordHistory)
	}
}

func TestChangePasswordNotWithToken(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	secret, _, err := e.s.CreateToken(root, "root", "ci", []Permission{PermAlertRead}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.s.AuthenticateToken(secret, ipA)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.ChangePassword(p, "admin horse battery staple", "a brand new long password"); !errors.Is(err, ErrForbidden) {
		t.Errorf("ChangePassword with a token = %v, want ErrForbidden", err)
	}
}

// TestLoginConstantWork: every attempt that passes the rate limit costs
// exactly one argon2id computation, whatever is wrong with it, so the
// time taken does not tell an unknown, locked, disabled or unfinished
// account from a wrong password.
func TestLoginConstantWork(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.IPAllow = map[Role][]netip.Prefix{RoleOfficer: {netip.MustParsePrefix("192.0.2.0/24")}}
	})
	_, root := e.login(t, e.admin(t))
	bob := e.user(t, root, "bob", RoleViewer)
	olly := e.user(t, root, "olly", RoleOfficer)
	e.user(t, root, "dave", RoleViewer)
	e.s.SetDisabled(root, "dave", true)
	e.s.CreateUser(root, NewUser{ID: "newbie", DisplayName: "N", Role: RoleViewer})
	e.user(t, root, "lola", RoleViewer)
	for range 5 {
		e.s.Login(Credentials{UserID: "lola", Password: "wrong wrong wrong", RemoteIP: ipA})
	}
	tests := []struct {
		name string
		c    Credentials
	}{
		{"unknown", Credentials{UserID: "ghost", Password: "whatever whatever", RemoteIP: ipA}},
		{"locked", Credentials{UserID: "lola", Password: "whatever whatever", RemoteIP: ipA}},
		{"disabled", Credentials{UserID: "dave", Password: "whatever whatever", RemoteIP: ipA}},
		{"not set up", Credentials{UserID: "newbie", Password: "whatever whatever", RemoteIP: ipA}},
		{"wrong password", Credentials{UserID: "bob", Password: "whatever whatever", RemoteIP: ipA}},
		{"right password, no code", Credentials{UserID: "bob", Password: bob.password, RemoteIP: ipA}},
		{"address not allowed", Credentials{UserID: "olly", Password: olly.password, RemoteIP: ipB}},
		{"oversized password", Credentials{UserID: "bob", Password: strings.Repeat("x", 1<<20), RemoteIP: ipA}},
	}
	for _, tt := range tests {
		before := e.s.hash.computed.Load()
		if _, _, err := e.s.Login(tt.c); err == nil {
			t.Fatalf("%s: login succeeded", tt.name)
		}
		if n := e.s.hash.computed.Load() - before; n != 1 {
			t.Errorf("%s: %d argon2id computations, want 1", tt.name, n)
		}
	}
}
