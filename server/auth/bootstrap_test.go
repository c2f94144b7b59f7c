package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestBootstrap(t *testing.T) {
	e := newEnv(t, nil)
	code, err := e.s.Bootstrap("root", "First Admin", ipA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseOneTimeCode(code); err != nil {
		t.Fatalf("setup code %q is not a one-time code: %v", code, err)
	}
	_, err = e.s.Bootstrap("other", "Second", ipA)
	if !errors.Is(err, ErrAlreadyInitialised) || !strings.Contains(err.Error(), "auth: bootstrap: already initialised") {
		t.Fatalf("second Bootstrap = %v, want auth: bootstrap: already initialised", err)
	}
	// No default password: root cannot log in before setup.
	for _, pw := range []string{"", "admin", "root", "password", code} {
		if _, _, err := e.s.Login(Credentials{UserID: "root", Password: pw, Code: "123456"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login before setup with %q = %v, want ErrInvalidCredentials", pw, err)
		}
	}
	// The setup code is stored hashed, not in clear.
	e.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketUsers).Get([]byte("root"))
		norm, _ := parseOneTimeCode(code)
		if strings.Contains(string(raw), norm) || strings.Contains(string(raw), code) {
			t.Error("setup code stored in clear")
		}
		return nil
	})
	want := []string{"bootstrap ok", "bootstrap denied already_initialised"}
	if diff := cmp.Diff(want, e.rec.actions()[:2]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestSetupFlow(t *testing.T) {
	e := newEnv(t, nil)
	code, _ := e.s.Bootstrap("root", "First Admin", ipA)

	// Wrong setup code: refused and counted.
	if _, err := e.s.StartSetup("root", "AAAA-AAAA-AAAA-AAAA", ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("StartSetup with wrong code = %v", err)
	}
	en, err := e.s.StartSetup("ROOT ", strings.ToLower(code), ipA) // id and code are normalised
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/CITYARRAY:root?") || !strings.Contains(en.URL, "secret="+en.Secret) {
		t.Errorf("enrolment URL %q", en.URL)
	}
	// FinishSetup checks the TOTP code against the pending secret…
	if _, err := e.s.FinishSetup("root", code, "admin horse battery staple", "000000", ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("FinishSetup with wrong TOTP = %v", err)
	}
	// …and the password policy.
	if _, err := e.s.FinishSetup("root", code, "short", e.code(t, en.Secret), ipA); !errors.Is(err, ErrPasswordShort) {
		t.Fatalf("FinishSetup with short password = %v", err)
	}
	if _, err := e.s.FinishSetup("root", code, "i am root, trust me", e.code(t, en.Secret), ipA); !errors.Is(err, ErrPasswordUserName) {
		t.Fatalf("FinishSetup with the user name in the password = %v", err)
	}
	rc, err := e.s.FinishSetup("root", code, "admin horse battery staple", e.code(t, en.Secret), ipA)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc) != RecoveryCodes {
		t.Errorf("got %d recovery codes, want %d", len(rc), RecoveryCodes)
	}
	// The setup code is used up.
	if _, err := e.s.StartSetup("root", code, ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("StartSetup after setup = %v, want ErrInvalidCredentials", err)
	}
	e.step()
	_, p := e.login(t, person{id: "root", password: "admin horse battery staple", secret: en.Secret})
	u, err := e.s.User(p, "root")
	if err != nil {
		t.Fatal(err)
	}
	want := User{ID: "root", DisplayName: "First Admin", Role: RoleAdmin, PasswordSet: true, MFAEnrolled: true,
		RecoveryCodesLeft: 10, PasswordChanged: t0, Created: t0, Updated: e.clk.Now().Add(-30 * time.Second)}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("user after setup (-want +got):\n%s", diff)
	}
	wantEv := []string{
		"bootstrap ok",
		"setup.fail fail bad_setup_code",
		"setup.start ok",
		"mfa.fail fail bad_code",
		"setup.fail fail password_policy",
		"setup.fail fail password_policy",
		"password.change ok", "mfa.enrol ok", "setup.complete ok",
		"setup.fail fail bad_setup_code",
		"login.ok ok",
	}
	if diff := cmp.Diff(wantEv, e.rec.actions()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestSetupCodeExpires(t *testing.T) {
	e := newEnv(t, nil)
	code, _ := e.s.Bootstrap("root", "First Admin", ipA)
	e.clk.Advance(24*time.Hour - time.Second)
	if _, err := e.s.StartSetup("root", code, ipA); err != nil {
		t.Fatalf("StartSetup just before expiry: %v", err)
	}
	e.clk.Advance(time.Second)
	e.rec.reset()
	if _, err := e.s.StartSetup("root", code, ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("StartSetup at expiry = %v, want ErrInvalidCredentials", err)
	}
	if diff := cmp.Diff([]string{"setup.fail fail setup_expired"}, e.rec.actions()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestFinishSetupNeedsStart(t *testing.T) {
	e := newEnv(t, nil)
	code, _ := e.s.Bootstrap("root", "First Admin", ipA)
	if _, err := e.s.FinishSetup("root", code, "admin horse battery staple", "123456", ipA); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("FinishSetup without StartSetup = %v, want ErrNotEnrolled", err)
	}
}

func TestSetupUnknownUserLocksLikeAKnownOne(t *testing.T) {
	e := newEnv(t, nil)
	e.s.Bootstrap("root", "First Admin", ipA)
	for _, id := range []string{"root", "ghost"} {
		var errs []error
		for range 6 {
			_, err := e.s.StartSetup(id, "AAAA-AAAA-AAAA-AAAA", ipA)
			errs = append(errs, errors.Unwrap(err))
		}
		want := []error{ErrInvalidCredentials, ErrInvalidCredentials, ErrInvalidCredentials, ErrInvalidCredentials,
			ErrInvalidCredentials, ErrLocked}
		if diff := cmp.Diff(want, errs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("%s: errors (-want +got):\n%s", id, diff)
		}
	}
}
