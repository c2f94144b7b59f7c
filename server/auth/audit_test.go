package auth

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestNoSecretsInEvents runs every flow that handles a secret, with a
// recording audit hook, and checks that no password, code, token or TOTP
// secret (nor its normalised form) appears anywhere in any event.
func TestNoSecretsInEvents(t *testing.T) {
	e := newEnv(t, nil)
	var secrets []string
	keep := func(s ...string) {
		for _, x := range s {
			secrets = append(secrets, x)
			if n, err := parseOneTimeCode(x); err == nil {
				secrets = append(secrets, n)
			}
			if rest, ok := strings.CutPrefix(x, "cat_"); ok {
				secrets = append(secrets, rest)
			}
		}
	}

	// Bootstrap and setup, with mistakes.
	setup, _ := e.s.Bootstrap("root", "First Admin", ipA)
	keep(setup)
	wrongSetup := "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
	keep(wrongSetup)
	e.s.StartSetup("root", wrongSetup, ipA)
	en, _ := e.s.StartSetup("root", setup, ipA)
	keep(en.Secret, en.URL)
	weak := "password1234"
	keep(weak)
	e.s.FinishSetup("root", setup, weak, e.code(t, en.Secret), ipA)
	rootPW := "admin horse battery staple"
	code := e.code(t, en.Secret)
	keep(rootPW, code)
	rc, err := e.s.FinishSetup("root", setup, rootPW, code, ipA)
	if err != nil {
		t.Fatal(err)
	}
	keep(rc...)
	e.step()
	root := person{id: "root", password: rootPW, secret: en.Secret, recovery: rc}

	// Logins: right, wrong, a password typed as the user name, replay.
	wrongPW := "Tr0ub4dor&3-but-wrong"
	keep(wrongPW)
	e.s.Login(Credentials{UserID: "root", Password: wrongPW, Code: "111111", RemoteIP: ipA})
	e.s.Login(Credentials{UserID: rootPW, Password: "", RemoteIP: ipA})
	e.s.Login(Credentials{UserID: "root", Password: rootPW, RemoteIP: ipA})
	c := e.code(t, root.secret)
	keep(c)
	tok, _, err := e.s.Login(Credentials{UserID: "root", Password: rootPW, Code: c, RemoteIP: ipA})
	if err != nil {
		t.Fatal(err)
	}
	keep(tok, e.s.CSRFToken(tok))
	e.s.Login(Credentials{UserID: "root", Password: rootPW, Code: c, RemoteIP: ipA}) // replay
	e.step()
	p, _ := e.s.AuthenticateSession(tok, ipA)

	// CSRF failure through the HTTP helper.
	r := httptest.NewRequest("POST", "/api/x", nil)
	r.Header.Set("Cookie", SessionCookie+"="+tok)
	r.Header.Set(CSRFHeader, "forged-"+tok[:10])
	e.s.AuthenticateRequest(r, ipA)

	// Users, resets, tokens.
	bobSetup, _ := e.s.CreateUser(p, NewUser{ID: "bob", DisplayName: "Bob", Role: RoleTechnician})
	keep(bobSetup)
	bob := e.setUp(t, "bob", bobSetup, "tech long password here")
	keep(bob.password, bob.secret)
	keep(bob.recovery...)
	reset, _ := e.s.ResetUser(p, "bob")
	keep(reset)
	bob = e.setUp(t, "bob", reset, "tech second long password")
	keep(bob.password, bob.secret)
	keep(bob.recovery...)
	apiSecret, _, _ := e.s.CreateToken(p, "root", "ci", []Permission{PermHealthRead}, e.clk.Now().Add(time.Hour))
	keep(apiSecret)
	e.s.AuthenticateToken(apiSecret, ipA)
	e.s.AuthenticateToken(apiSecret+"x", ipA)
	bt, bp := e.login(t, bob)
	keep(bt)
	bobTok, _, _ := e.s.CreateToken(bp, "bob", "mon", []Permission{PermHealthRead}, e.clk.Now().Add(time.Hour))
	keep(bobTok)

	// Second factor: reauthenticate, re-enrol, recovery codes.
	rcode := e.code(t, root.secret)
	keep(rcode)
	e.s.Reauthenticate(tok, "999999", ipA)
	e.s.Reauthenticate(tok, rcode, ipA)
	e.s.Reauthenticate(tok, rcode, ipA)
	e.step()
	p, _ = e.s.AuthenticateSession(tok, ipA)
	en2, _ := e.s.BeginTOTPEnrol(p)
	keep(en2.Secret, en2.URL)
	c2 := e.code(t, en2.Secret)
	keep(c2)
	rc2, _ := e.s.ConfirmTOTPEnrol(p, c2)
	keep(rc2...)
	rc3, _ := e.s.NewRecoveryCodes(p)
	keep(rc3...)
	e.s.Login(Credentials{UserID: "root", Password: rootPW, Code: rc3[0], RemoteIP: ipA})
	e.s.Login(Credentials{UserID: "root", Password: rootPW, Code: rc3[0], RemoteIP: ipA})

	// Password change, wrong then right; logout.
	newPW := "a fresh password for the admin"
	keep(newPW)
	e.s.ChangePassword(p, wrongPW, newPW)
	e.s.ChangePassword(p, rootPW, weak)
	if err := e.s.ChangePassword(p, rootPW, newPW); err != nil {
		t.Fatal(err)
	}
	e.s.Logout(bt, ipA)

	evs := e.rec.all()
	if len(evs) < 40 {
		t.Fatalf("only %d events: the flow did not run", len(evs))
	}
	for i, ev := range evs {
		text := fmt.Sprintf("%+v %#v", ev, ev)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("event %d (%s) contains a secret %.6s…: %s", i, ev.Action, s, text)
			}
		}
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Action] = true
	}
	for _, a := range []string{ActionBootstrap, ActionSetupFail, ActionSetupStart, ActionSetupComplete, ActionLoginOK,
		ActionLoginFail, ActionMFAReplay, ActionMFAFail, ActionMFAReauth, ActionMFAEnrol, ActionMFAEnrolStart,
		ActionMFARecoveryNew, ActionMFARecoveryUsed, ActionUserCreate, ActionUserReset, ActionTokenCreate,
		ActionTokenFail, ActionPasswordChange, ActionSessionRevoke, ActionLogout, ActionAccessDenied} {
		if !seen[a] {
			t.Errorf("the flow produced no %s event", a)
		}
	}
}
