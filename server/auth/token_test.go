package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestCreateTokenRules(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	_, tech := e.login(t, e.user(t, root, "tess", RoleTechnician))
	_, viewer := e.login(t, e.user(t, root, "vic", RoleViewer))
	if _, err := e.s.CreateUser(root, NewUser{ID: "cad", DisplayName: "CAD feed", Role: RoleIntegration}); err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	tests := []struct {
		name    string
		by      *Principal
		user    string
		scopes  []Permission
		expires time.Time
		want    error
	}{
		{"own token", tech, "tess", []Permission{PermHealthRead, PermMetricsRead}, now.Add(time.Hour), nil},
		{"admin for an integration user", root, "cad", []Permission{PermAlertDraft, PermAlertSubmit}, now.Add(time.Hour), nil},
		{"role lacks token.manage", viewer, "vic", []Permission{PermAlertRead}, now.Add(time.Hour), ErrForbidden},
		{"someone else's without user.manage", tech, "vic", []Permission{PermAlertRead}, now.Add(time.Hour), ErrForbidden},
		{"scope outside the role", tech, "tess", []Permission{PermAuditRead}, now.Add(time.Hour), ErrInvalid},
		{"scope never for tokens", root, "root", []Permission{PermUserManage}, now.Add(time.Hour), ErrInvalid},
		{"publish never for tokens", root, "cad", []Permission{PermAlertPublish}, now.Add(time.Hour), ErrInvalid},
		{"unknown scope", tech, "tess", []Permission{"alert.*"}, now.Add(time.Hour), ErrInvalid},
		{"no scopes", tech, "tess", nil, now.Add(time.Hour), ErrInvalid},
		{"expired already", tech, "tess", []Permission{PermHealthRead}, now, ErrInvalid},
		{"too long", tech, "tess", []Permission{PermHealthRead}, now.Add(400 * 24 * time.Hour), ErrInvalid},
		{"unknown user", root, "nobody", []Permission{PermHealthRead}, now.Add(time.Hour), ErrNotFound},
		{"no principal", nil, "tess", []Permission{PermHealthRead}, now.Add(time.Hour), ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, tok, err := e.s.CreateToken(tt.by, tt.user, "test token", tt.scopes, tt.expires)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CreateToken = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(secret, "cat_") || parseAPIToken(secret) != nil {
				t.Errorf("secret %q is not a cat_ token", secret)
			}
			p, err := e.s.AuthenticateToken(secret, ipA)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := p.Token(); got.ID != tok.ID || p.UserID() != tt.user {
				t.Errorf("token principal %s/%s, want %s/%s", p.UserID(), got.ID, tt.user, tok.ID)
			}
		})
	}
}

func TestTokenPermissionsAreTheIntersection(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	e.user(t, root, "tess", RoleTechnician)
	_, tech := e.login(t, person{id: "tess", password: "long enough secret for technician x", secret: secretOf(t, e, "tess")})
	secret, _, err := e.s.CreateToken(tech, "tess", "monitor", []Permission{PermHealthRead, PermConfigRead}, e.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.s.AuthenticateToken(secret, ipA)
	got := map[Permission]bool{}
	for _, perm := range Permissions() {
		if p.Can(perm) {
			got[perm] = true
		}
	}
	want := map[Permission]bool{PermHealthRead: true, PermConfigRead: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token permissions (-want +got):\n%s", diff)
	}
	if err := p.Require(PermDeviceCommand); !errors.Is(err, ErrForbidden) {
		t.Errorf("Require(device.command) = %v: the role has it but the token does not", err)
	}
	// The role loses config.read: so does the token, at once.
	if err := e.s.SetRole(root, "tess", RoleViewer, nil); err != nil {
		t.Fatal(err)
	}
	p, _ = e.s.AuthenticateToken(secret, ipA)
	if p.Can(PermConfigRead) || !p.Can(PermHealthRead) {
		t.Errorf("after demotion: config.read=%v health.read=%v, want false true", p.Can(PermConfigRead), p.Can(PermHealthRead))
	}
	// Tokens cannot make tokens, even for their own user.
	if _, _, err := e.s.CreateToken(p, "tess", "child", []Permission{PermHealthRead}, e.clk.Now().Add(time.Hour)); !errors.Is(err, ErrForbidden) {
		t.Errorf("token creating a token = %v, want ErrForbidden", err)
	}
}

// secretOf reads a user's TOTP secret from the store (tests only).
func secretOf(t *testing.T, e *env, id string) string {
	t.Helper()
	var secret []byte
	e.db.View(func(tx *bbolt.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			t.Fatal(err)
		}
		secret, err = e.s.unseal(id, u.TOTPSealed)
		return err
	})
	return string(secret)
}

func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	e.s.CreateUser(root, NewUser{ID: "cad", DisplayName: "CAD feed", Role: RoleIntegration})
	exp := e.clk.Now().Add(2 * time.Hour)
	secret, tok, err := e.s.CreateToken(root, "cad", "dispatch", []Permission{PermAlertSubmit, PermAlertDraft, PermAlertDraft}, exp)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Permission{PermAlertDraft, PermAlertSubmit}, tok.Scopes); diff != "" {
		t.Errorf("scopes not normalised (-want +got):\n%s", diff)
	}
	// Stored by hash only.
	e.db.View(func(tx *bbolt.Tx) error {
		tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			if strings.Contains(string(k)+string(v), secret) || strings.Contains(string(v), secret[4:]) {
				t.Error("token secret stored in clear")
			}
			return nil
		})
		return nil
	})
	e.clk.Advance(5 * time.Minute)
	if _, err := e.s.AuthenticateToken(secret, ipA); err != nil {
		t.Fatal(err)
	}
	list, err := e.s.Tokens(root, "cad")
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{ID: tok.ID, UserID: "cad", Name: "dispatch", Scopes: []Permission{PermAlertDraft, PermAlertSubmit},
		Created: tok.Created, Expires: exp, LastUsed: e.clk.Now()}}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("Tokens (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "cat_", secret[:len(secret)-1], "CAT_" + secret[4:], "Bearer " + secret, secret + "="} {
		if _, err := e.s.AuthenticateToken(bad, ipA); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("AuthenticateToken(%q) = %v", bad, err)
		}
	}
	// Expiry.
	e.clk.Advance(2 * time.Hour)
	if _, err := e.s.AuthenticateToken(secret, ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("expired token = %v", err)
	}
	// Revoke.
	e.rec.reset()
	secret2, tok2, _ := e.s.CreateToken(root, "cad", "second", []Permission{PermAlertRead}, e.clk.Now().Add(time.Hour))
	if err := e.s.RevokeToken(root, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AuthenticateToken(secret2, ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("revoked token = %v", err)
	}
	if err := e.s.RevokeToken(root, tok2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice = %v", err)
	}
	// A disabled user's tokens stop working.
	secret3, _, _ := e.s.CreateToken(root, "cad", "third", []Permission{PermAlertRead}, e.clk.Now().Add(time.Hour))
	e.s.SetDisabled(root, "cad", true)
	if _, err := e.s.AuthenticateToken(secret3, ipA); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("disabled user's token = %v", err)
	}
	wantEv := []string{"token.create ok", "token.revoke ok", "token.fail fail unknown_token",
		"token.create ok", "user.disable ok", "token.fail fail disabled"}
	if diff := cmp.Diff(wantEv, e.rec.actions()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestRevokeTokenAuthorization(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	_, tech := e.login(t, e.user(t, root, "tess", RoleTechnician))
	_, aud := e.login(t, e.user(t, root, "audrey", RoleAuditor))
	_, tok, _ := e.s.CreateToken(tech, "tess", "mon", []Permission{PermHealthRead}, e.clk.Now().Add(time.Hour))
	if err := e.s.RevokeToken(aud, tok.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("another user revoking = %v, want ErrForbidden", err)
	}
	if _, err := e.s.Tokens(aud, "tess"); !errors.Is(err, ErrForbidden) {
		t.Errorf("another user listing = %v, want ErrForbidden", err)
	}
	if err := e.s.RevokeToken(tech, tok.ID); err != nil {
		t.Errorf("owner revoking: %v", err)
	}
}
