package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestSessionLimits(t *testing.T) {
	tests := []struct {
		name string
		// uses are the times (after login) of requests; the last one is
		// the one checked.
		uses []time.Duration
		want error
	}{
		{"fresh", []time.Duration{0}, nil},
		{"just inside idle", []time.Duration{30*time.Minute - time.Second}, nil},
		{"idle limit", []time.Duration{30 * time.Minute}, ErrSessionExpired},
		{"kept alive", []time.Duration{20 * time.Minute, 40 * time.Minute, 60 * time.Minute}, nil},
		{"idle after use", []time.Duration{20 * time.Minute, 50 * time.Minute}, ErrSessionExpired},
		// A use less than a minute after the last write does not move the
		// idle timer: the session may end up to a minute early.
		{"touch is throttled", []time.Duration{30 * time.Second, 30*time.Minute + time.Second}, ErrSessionExpired},
		{"absolute limit", everyTwentyMinutes(12 * time.Hour), ErrSessionExpired},
		{"just inside absolute", everyTwentyMinutes(12*time.Hour - time.Minute), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tok, p := e.login(t, e.admin(t))
			sess, _ := p.Session()
			start := sess.Created
			var err error
			for _, d := range tt.uses {
				e.clk.Advance(start.Add(d).Sub(e.clk.Now()))
				_, err = e.s.AuthenticateSession(tok, ipA)
			}
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("AuthenticateSession = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				// An ended session is deleted, and stays ended.
				e.db.View(func(tx *bbolt.Tx) error {
					if tx.Bucket(bucketSessions).Get(secretKey(tok)) != nil {
						t.Error("ended session still stored")
					}
					return nil
				})
				e.clk.Advance(-time.Hour)
				if _, err := e.s.AuthenticateSession(tok, ipA); !errors.Is(err, ErrSessionExpired) {
					t.Errorf("ended session came back: %v", err)
				}
			}
		})
	}
}

func everyTwentyMinutes(until time.Duration) []time.Duration {
	var out []time.Duration
	for d := 20 * time.Minute; d < until; d += 20 * time.Minute {
		out = append(out, d)
	}
	return append(out, until)
}

func TestSessionTokens(t *testing.T) {
	e := newEnv(t, nil)
	tok, p := e.login(t, e.admin(t))
	if err := parseSessionToken(tok); err != nil || len(tok) != 43 {
		t.Fatalf("token %q: %v", tok, err)
	}
	// Stored by hash only.
	e.db.View(func(tx *bbolt.Tx) error {
		tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			if string(k) == tok || strings.Contains(string(v), tok) {
				t.Error("session token stored in clear")
			}
			return nil
		})
		return nil
	})
	for _, bad := range []string{"", "x", tok[:42], tok + "A", "cat_" + tok, tok[:42] + "!"} {
		if _, err := e.s.AuthenticateSession(bad, ipA); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("AuthenticateSession(%q) = %v, want ErrInvalidCredentials", bad, err)
		}
	}
	other, _ := newSessionToken(e.s.opts.Rand)
	if _, err := e.s.AuthenticateSession(other, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("unknown token = %v, want ErrSessionExpired", err)
	}
	sess, ok := p.Session()
	if !ok || sess.ID != sessionID(secretKey(tok)) || sess.UserID != "root" {
		t.Errorf("principal session %+v", sess)
	}
	if _, ok := p.Token(); ok {
		t.Error("session principal claims a token")
	}
}

func TestFreshTOTPAndReauthenticate(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	olly := e.user(t, root, "olly", RoleOfficer)
	tok, _, err := e.s.Login(Credentials{UserID: "olly", Password: olly.password, Code: e.code(t, olly.secret), RemoteIP: ipA})
	if err != nil {
		t.Fatal(err)
	}
	login := e.clk.Now()
	e.step()
	check := func(at time.Duration) bool {
		e.clk.Advance(login.Add(at).Sub(e.clk.Now()))
		p, err := e.s.AuthenticateSession(tok, ipA)
		if err != nil {
			t.Fatal(err)
		}
		return p.FreshTOTP(e.clk.Now(), 5*time.Minute)
	}
	if !check(4 * time.Minute) {
		t.Error("not fresh 4 minutes after login")
	}
	if !check(5 * time.Minute) {
		t.Error("not fresh exactly 5 minutes after login")
	}
	if check(5*time.Minute + time.Second) {
		t.Error("still fresh after 5 minutes")
	}
	// Reauthenticate: a wrong code changes nothing and counts a failure.
	if _, err := e.s.Reauthenticate(tok, "000000", ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("Reauthenticate with a wrong code = %v", err)
	}
	if _, err := e.s.Reauthenticate(tok, olly.recovery[0], ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("Reauthenticate with a recovery code = %v, want ErrInvalidCredentials", err)
	}
	code := e.code(t, olly.secret)
	sess, err := e.s.Reauthenticate(tok, code, ipA)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.FreshTOTP(e.clk.Now(), time.Minute) {
		t.Error("Reauthenticate did not stamp the session")
	}
	if _, err := e.s.Reauthenticate(tok, code, ipA); !errors.Is(err, ErrReplay) {
		t.Errorf("same code again = %v, want ErrReplay", err)
	}
	if !check(6*time.Minute + 4*time.Minute) {
		t.Error("not fresh 4 minutes after Reauthenticate")
	}
	// Time going backwards is not freshness.
	if sess.FreshTOTP(sess.LastTOTP.Add(-time.Second), time.Hour) {
		t.Error("fresh before the TOTP entry")
	}
	// A token principal is never fresh.
	if (&Principal{token: &Token{}}).FreshTOTP(e.clk.Now(), time.Hour) {
		t.Error("token principal is fresh")
	}
	want := []string{"mfa.fail fail bad_code", "mfa.fail fail bad_code", "mfa.reauth ok", "mfa.replay fail replay"}
	evs := e.rec.actions()
	if diff := cmp.Diff(want, evs[len(evs)-4:]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestReauthenticateLockout(t *testing.T) {
	e := newEnv(t, nil)
	p := e.admin(t)
	tok, _ := e.login(t, p)
	for range 5 {
		e.s.Reauthenticate(tok, "000000", ipA)
	}
	if _, err := e.s.Reauthenticate(tok, e.code(t, p.secret), ipA); !errors.Is(err, ErrLocked) {
		t.Fatalf("Reauthenticate after five failures = %v, want ErrLocked", err)
	}
	e.clk.Advance(time.Minute)
	if _, err := e.s.Reauthenticate(tok, e.code(t, p.secret), ipA); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

func TestLogoutAndRevoke(t *testing.T) {
	e, root, bob := newEnvWithBob(t)
	t1, pb := e.login(t, bob)
	t2, _ := e.login(t, bob)
	t3, _ := e.login(t, bob)

	if err := e.s.Logout(t1, ipA); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Logout(t1, ipA); err != nil {
		t.Errorf("second logout: %v", err)
	}
	if _, err := e.s.AuthenticateSession(t1, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("after logout = %v", err)
	}
	pb, _ = e.s.AuthenticateSession(t2, ipA)
	list, err := e.s.Sessions(pb, "bob")
	if err != nil || len(list) != 2 {
		t.Fatalf("Sessions = %d, %v; want 2", len(list), err)
	}
	// Bob may not see or end root's sessions; root may end bob's.
	if _, err := e.s.Sessions(pb, "root"); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob listing root's sessions = %v", err)
	}
	if _, err := e.s.RevokeSessions(pb, "root"); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob revoking root's sessions = %v", err)
	}
	s3, _ := e.s.AuthenticateSession(t3, ipA)
	sess3, _ := s3.Session()
	if err := e.s.RevokeSession(pb, sess3.ID); err != nil {
		t.Fatalf("revoking own session: %v", err)
	}
	if _, err := e.s.AuthenticateSession(t3, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("after RevokeSession = %v", err)
	}
	if err := e.s.RevokeSession(pb, "0000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown session = %v", err)
	}
	n, err := e.s.RevokeSessions(root, "bob")
	if err != nil || n != 1 {
		t.Fatalf("RevokeSessions = %d, %v; want 1", n, err)
	}
	if _, err := e.s.AuthenticateSession(t2, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("after RevokeSessions = %v", err)
	}
}

func TestDisableEndsSessions(t *testing.T) {
	e, root, bob := newEnvWithBob(t)
	tok, _ := e.login(t, bob)
	if err := e.s.SetDisabled(root, "bob", true); err != nil {
		t.Fatal(err)
	}
	// Disabling deletes the sessions then and there…
	e.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSessions).Get(secretKey(tok)) != nil {
			t.Error("session of a disabled user still stored")
		}
		return nil
	})
	// …so re-enabling does not bring them back.
	if err := e.s.SetDisabled(root, "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AuthenticateSession(tok, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("re-enabling brought a session back: %v", err)
	}
	e.login(t, bob)
	// And a session of a user disabled by any other path is refused too.
	tok2, _ := e.login(t, bob)
	e.db.Update(func(tx *bbolt.Tx) error {
		u, _ := getUser(tx, "bob")
		u.Disabled = true
		return putUser(tx, u)
	})
	if _, err := e.s.AuthenticateSession(tok2, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("session of a disabled user = %v", err)
	}
}

func TestSweep(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.admin(t)
	_, root := e.login(t, admin)
	e.login(t, admin)
	if _, _, err := e.s.CreateToken(root, "root", "short", []Permission{PermAlertRead}, e.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.CreateToken(root, "root", "long", []Permission{PermAlertRead}, e.clk.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, tk, err := e.s.Sweep(); err != nil || s != 0 || tk != 0 {
		t.Fatalf("Sweep = %d, %d, %v; want nothing yet", s, tk, err)
	}
	e.clk.Advance(2 * time.Hour)
	if s, tk, err := e.s.Sweep(); err != nil || s != 2 || tk != 1 {
		t.Fatalf("Sweep = %d sessions, %d tokens, %v; want 2, 1", s, tk, err)
	}
}
