package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestCreateUserValidation(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	_, sup := e.login(t, e.user(t, root, "sue", RoleSupervisor))
	tests := []struct {
		name string
		by   *Principal
		nu   NewUser
		want error
	}{
		{"ok", root, NewUser{ID: "olly", DisplayName: "Olly", Role: RoleOfficer}, nil},
		{"zone operator", root, NewUser{ID: "zed", DisplayName: "Zed", Role: RoleZoneOperator, Zones: []string{"north"}}, nil},
		{"exists", root, NewUser{ID: "sue", DisplayName: "Sue", Role: RoleViewer}, ErrExists},
		{"upper case id", root, NewUser{ID: "Olly2", DisplayName: "O", Role: RoleViewer}, ErrInvalid},
		{"one-character id", root, NewUser{ID: "o", DisplayName: "O", Role: RoleViewer}, ErrInvalid},
		{"id with space", root, NewUser{ID: "o lly", DisplayName: "O", Role: RoleViewer}, ErrInvalid},
		{"id starting with dot", root, NewUser{ID: ".olly", DisplayName: "O", Role: RoleViewer}, ErrInvalid},
		{"no name", root, NewUser{ID: "nameless", Role: RoleViewer}, ErrInvalid},
		{"unknown role", root, NewUser{ID: "boss", DisplayName: "B", Role: "boss"}, ErrInvalid},
		{"zone operator without zones", root, NewUser{ID: "zip", DisplayName: "Z", Role: RoleZoneOperator}, ErrInvalid},
		{"zones on another role", root, NewUser{ID: "zap", DisplayName: "Z", Role: RoleOfficer, Zones: []string{"north"}}, ErrInvalid},
		{"supervisor cannot", sup, NewUser{ID: "sneaky", DisplayName: "S", Role: RoleAdmin}, ErrForbidden},
		{"nobody cannot", nil, NewUser{ID: "sneaky", DisplayName: "S", Role: RoleAdmin}, ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := e.s.CreateUser(tt.by, tt.nu)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CreateUser = %v, want %v", err, tt.want)
			}
			if err == nil && code == "" {
				t.Error("no setup code")
			}
		})
	}
	evs := e.rec.actions()
	if got := evs[len(evs)-2]; got != "access.denied denied forbidden" {
		t.Errorf("refused CreateUser event %q", got)
	}
}

func TestUserManagement(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	zed := e.user(t, root, "zed", RoleZoneOperator, "north")
	tz, pz := e.login(t, zed)
	if !pz.AllowedScope("zone:north", nil) || pz.AllowedScope("zone:south", nil) {
		t.Fatal("zone operator scopes wrong")
	}
	if err := e.s.SetRole(root, "zed", RoleZoneOperator, []string{"south"}); err != nil {
		t.Fatal(err)
	}
	pz, _ = e.s.AuthenticateSession(tz, ipA)
	if pz.AllowedScope("zone:north", nil) || !pz.AllowedScope("zone:south", nil) {
		t.Error("zone change did not take effect on the next request")
	}
	if err := e.s.SetRole(root, "zed", RoleAdmin, []string{"south"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("admin with zones = %v", err)
	}
	// Nobody changes their own role, state or credentials through
	// user management.
	for name, err := range map[string]error{
		"SetRole":     e.s.SetRole(root, "root", RoleViewer, nil),
		"SetDisabled": e.s.SetDisabled(root, "root", true),
		"Unlock":      e.s.Unlock(root, "root"),
	} {
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("%s on self = %v, want ErrForbidden", name, err)
		}
	}
	if _, err := e.s.ResetUser(root, "root"); !errors.Is(err, ErrForbidden) {
		t.Errorf("ResetUser on self = %v", err)
	}
	// A zone operator manages nobody.
	if err := e.s.SetRole(pz, "root", RoleViewer, nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("zone operator SetRole = %v", err)
	}
	// Users: own record yes, others only with user.read.
	if _, err := e.s.User(pz, "zed"); err != nil {
		t.Errorf("own record: %v", err)
	}
	if _, err := e.s.User(pz, "root"); !errors.Is(err, ErrForbidden) {
		t.Errorf("zone operator reading root = %v", err)
	}
	if _, err := e.s.User(root, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user = %v", err)
	}
	list, err := e.s.Users(root)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range list {
		ids = append(ids, u.ID+":"+string(u.Role))
	}
	if diff := cmp.Diff([]string{"root:admin", "zed:zone_operator"}, ids); diff != "" {
		t.Errorf("Users (-want +got):\n%s", diff)
	}
	// A principal whose user was demoted since it authenticated cannot
	// manage any more: the service checks the stored user.
	e.user(t, root, "ada", RoleAdmin)
	_, ada := e.login(t, person{id: "ada", password: "long enough secret for admin x", secret: secretOf(t, e, "ada")})
	if err := e.s.SetRole(root, "ada", RoleViewer, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser(ada, NewUser{ID: "eve", DisplayName: "Eve", Role: RoleAdmin}); !errors.Is(err, ErrForbidden) {
		t.Errorf("stale admin principal CreateUser = %v, want ErrForbidden", err)
	}
}

func TestResetUser(t *testing.T) {
	e, root, bob := newEnvWithBob(t)
	tok, _ := e.login(t, bob)
	code, err := e.s.ResetUser(root, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AuthenticateSession(tok, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("session after reset = %v", err)
	}
	// The old password is still in the history.
	en, _ := e.s.StartSetup("bob", code, ipA)
	if _, err := e.s.FinishSetup("bob", code, bob.password, e.code(t, en.Secret), ipA); !errors.Is(err, ErrPasswordReused) {
		t.Errorf("setting the old password again = %v, want ErrPasswordReused", err)
	}
	bob2 := e.setUp(t, "bob", code, "an entirely new password")
	e.login(t, bob2)
}

// TestStorageLayout: the package keeps to its own auth.* buckets and
// writes no secret in clear.
func TestStorageLayout(t *testing.T) {
	e := newEnv(t, nil)
	p := e.admin(t)
	tok, root := e.login(t, p)
	secret, _, _ := e.s.CreateToken(root, "root", "x", []Permission{PermHealthRead}, e.clk.Now().Add(time.Hour))
	var buckets []string
	var all strings.Builder
	e.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			buckets = append(buckets, string(name))
			return b.ForEach(func(k, v []byte) error {
				all.Write(k)
				all.Write(v)
				return nil
			})
		})
	})
	if diff := cmp.Diff([]string{"auth.meta", "auth.sessions", "auth.tokens", "auth.users"}, buckets); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	for _, s := range append([]string{p.password, p.secret, tok, secret, secret[4:]}, p.recovery...) {
		if strings.Contains(all.String(), s) {
			t.Errorf("secret %.8s… stored in clear", s)
		}
	}
	// Reopening the service on the same file keeps everything.
	s2, err := New(e.db, testOptions(e.clk, e.rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.AuthenticateSession(tok, ipA); err != nil {
		t.Errorf("session after reopening: %v", err)
	}
}

func TestSchemaMismatch(t *testing.T) {
	e := newEnv(t, nil)
	e.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(schemaKey, []byte("99")) })
	if _, err := New(e.db, testOptions(e.clk, e.rec)); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("New on a newer schema = %v", err)
	}
}

func TestIntegrationUsersNeverLogIn(t *testing.T) {
	e := newEnv(t, nil)
	_, root := e.login(t, e.admin(t))
	code, err := e.s.CreateUser(root, NewUser{ID: "cad", DisplayName: "CAD feed", Role: RoleIntegration})
	if err != nil || code != "" {
		t.Fatalf("CreateUser(integration) = %q, %v; want no setup code", code, err)
	}
	if code, err := e.s.ResetUser(root, "cad"); err != nil || code != "" {
		t.Fatalf("ResetUser(integration) = %q, %v; want no setup code", code, err)
	}
	// A person moved to the integration role loses interactive access at
	// once, sessions included.
	bob := e.user(t, root, "bob", RoleViewer)
	tok, _ := e.login(t, bob)
	if err := e.s.SetRole(root, "bob", RoleIntegration, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AuthenticateSession(tok, ipA); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("session after the move = %v, want ErrSessionExpired", err)
	}
	e.rec.reset()
	if _, _, err := e.s.Login(Credentials{UserID: "bob", Password: bob.password, Code: e.code(t, bob.secret), RemoteIP: ipA}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("integration login = %v", err)
	}
	if diff := cmp.Diff([]string{"login.fail denied no_interactive_login"}, e.rec.actions()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Moving back needs a reset and a new setup.
	if err := e.s.SetRole(root, "bob", RoleViewer, nil); err != nil {
		t.Fatal(err)
	}
	code, err = e.s.ResetUser(root, "bob")
	if err != nil || code == "" {
		t.Fatalf("ResetUser = %q, %v", code, err)
	}
	e.login(t, e.setUp(t, "bob", code, "back to being a person"))
}
