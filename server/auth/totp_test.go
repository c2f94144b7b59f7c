package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"
)

func TestCheckTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := t0.Add(10 * time.Second) // inside a step
	cur := now.Unix() / totpPeriod
	codeAt := func(step int64) string {
		c, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		wantErr  error
	}{
		{"current", codeAt(cur), 0, cur, nil},
		{"previous step (skew)", codeAt(cur - 1), 0, cur - 1, nil},
		{"next step (skew)", codeAt(cur + 1), 0, cur + 1, nil},
		{"two steps back", codeAt(cur - 2), 0, 0, ErrInvalidCredentials},
		{"two steps ahead", codeAt(cur + 2), 0, 0, ErrInvalidCredentials},
		{"current, already used", codeAt(cur), cur, 0, ErrReplay},
		{"previous, after current used", codeAt(cur - 1), cur, 0, ErrReplay},
		{"next, after current used", codeAt(cur + 1), cur, cur + 1, nil},
		{"current, after next used", codeAt(cur), cur + 1, 0, ErrReplay},
		{"spaces allowed", codeAt(cur)[:3] + " " + codeAt(cur)[3:], 0, cur, nil},
		{"five digits", codeAt(cur)[:5], 0, 0, ErrInvalidCredentials},
		{"seven digits", codeAt(cur) + "0", 0, 0, ErrInvalidCredentials},
		{"letters", "abcdef", 0, 0, ErrInvalidCredentials},
		{"unicode digits", "١٢٣٤٥٦", 0, 0, ErrInvalidCredentials},
		{"empty", "", 0, 0, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := checkTOTP(secret, tt.code, now, tt.last)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("checkTOTP = %v, want %v", err, tt.wantErr)
			}
			if step != tt.wantStep {
				t.Errorf("step = %d, want %d", step, tt.wantStep)
			}
		})
	}
	// The stock validator agrees on what is a right code.
	if ok, _ := totp.ValidateCustom(codeAt(cur+1), secret, now, totpOpts); !ok {
		t.Error("totp.ValidateCustom refuses a code checkTOTP accepts")
	}
}

func TestSealedSecret(t *testing.T) {
	e := newEnv(t, nil)
	p := e.admin(t)
	var u *userRecord
	e.db.View(func(tx *bbolt.Tx) error { u, _ = getUser(tx, "root"); return nil })
	raw := string(u.TOTPSealed)
	if len(u.TOTPSealed) == 0 || strings.Contains(raw, p.secret) {
		t.Fatal("TOTP secret not sealed")
	}
	got, err := e.s.unseal("root", u.TOTPSealed)
	if err != nil || string(got) != p.secret {
		t.Fatalf("unseal = %q, %v", got, err)
	}
	if _, err := e.s.unseal("bob", u.TOTPSealed); err == nil {
		t.Error("a secret sealed for root opens as bob's")
	}
	tampered := append([]byte(nil), u.TOTPSealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := e.s.unseal("root", tampered); err == nil {
		t.Error("a tampered secret opens")
	}
	if _, err := e.s.unseal("root", u.TOTPSealed[:10]); err == nil {
		t.Error("a truncated secret opens")
	}
	other := testOptions(e.clk, e.rec)
	other.DataKey[0] ^= 1
	s2, _ := New(e.db, other)
	if _, err := s2.unseal("root", u.TOTPSealed); err == nil {
		t.Error("the secret opens under another DataKey")
	}
}

func TestReenrolTOTP(t *testing.T) {
	e, _, bob := newEnvWithBob(t)
	tok, p := e.login(t, bob)

	// Not fresh enough after FreshWindow.
	e.clk.Advance(FreshWindow + time.Second)
	p, _ = e.s.AuthenticateSession(tok, ipA)
	if _, err := e.s.BeginTOTPEnrol(p); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("BeginTOTPEnrol on a stale session = %v, want ErrMFARequired", err)
	}
	if _, err := e.s.NewRecoveryCodes(p); !errors.Is(err, ErrMFARequired) {
		t.Fatalf("NewRecoveryCodes on a stale session = %v, want ErrMFARequired", err)
	}
	if _, err := e.s.Reauthenticate(tok, e.code(t, bob.secret), ipA); err != nil {
		t.Fatal(err)
	}
	e.step()
	p, _ = e.s.AuthenticateSession(tok, ipA)
	if _, err := e.s.ConfirmTOTPEnrol(p, "123456"); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("ConfirmTOTPEnrol with nothing pending = %v, want ErrNotEnrolled", err)
	}
	en, err := e.s.BeginTOTPEnrol(p)
	if err != nil {
		t.Fatal(err)
	}
	// Until confirmed, the old secret is the one that logs in.
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); err != nil {
		t.Fatalf("old secret before confirmation: %v", err)
	}
	e.step()
	if _, err := e.s.ConfirmTOTPEnrol(p, e.code(t, bob.secret)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("confirming with the old secret's code = %v", err)
	}
	rc, err := e.s.ConfirmTOTPEnrol(p, e.code(t, en.Secret))
	if err != nil {
		t.Fatal(err)
	}
	e.step()
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old secret after re-enrolment = %v, want ErrInvalidCredentials", err)
	}
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, en.Secret), RemoteIP: ipA}); err != nil {
		t.Errorf("new secret: %v", err)
	}
	// Old recovery codes are gone, new ones work.
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: bob.recovery[0], RemoteIP: ipA}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old recovery code = %v", err)
	}
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: rc[0], RemoteIP: ipA}); err != nil {
		t.Errorf("new recovery code: %v", err)
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	e, _, bob := newEnvWithBob(t)
	_, p := e.login(t, bob)
	rc, err := e.s.NewRecoveryCodes(p)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range rc {
		if seen[c] {
			t.Errorf("duplicate recovery code")
		}
		seen[c] = true
	}
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: bob.recovery[0], RemoteIP: ipA}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("replaced recovery code = %v", err)
	}
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: rc[9], RemoteIP: ipA}); err != nil {
		t.Errorf("new recovery code: %v", err)
	}
}
