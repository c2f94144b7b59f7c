package auth

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var rewrite = flag.Bool("rewrite", false, "rewrite docs/permissions.md from Matrix()")

// expectedGrid is the permission matrix written out by hand: a change to
// the matrix must change this table too, on purpose.
const expectedGrid = `
permission            admin supervisor officer zone_operator technician auditor viewer integration
alert.read            x     x          x       x             x          x       x      x
alert.draft           -     x          x       x             -          -       -      x
alert.submit          -     x          x       x             -          -       -      x
alert.approve         -     x          x       -             -          -       -      -
alert.publish         -     x          x       -             -          -       -      -
alert.cancel          -     x          x       -             -          -       -      -
alert.sign_emergency  -     -          x       -             -          -       -      -
protocol.read         x     x          x       x             x          x       x      x
protocol.manage       -     x          -       -             -          -       -      -
device.read           x     x          x       x             x          x       x      x
device.revoke         x     -          -       -             -          -       -      -
device.command        -     -          -       -             x          -       -      -
user.read             x     x          -       -             -          x       -      -
user.manage           x     -          -       -             -          -       -      -
audit.read            x     -          -       -             -          x       -      -
config.read           x     -          -       -             x          x       -      -
config.manage         x     -          -       -             -          -       -      -
token.manage          x     -          -       -             x          x       -      -
health.read           x     x          x       x             x          x       x      x
metrics.read          x     -          -       -             x          x       -      x
`

func TestMatrixEveryPair(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(expectedGrid), "\n")
	header := strings.Fields(lines[0])[1:]
	var roles []Role
	for _, h := range header {
		roles = append(roles, Role(h))
	}
	if diff := cmp.Diff(Roles(), roles); diff != "" {
		t.Fatalf("grid columns differ from Roles() (-Roles +grid):\n%s", diff)
	}
	var perms []Permission
	want := map[string]bool{}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != len(roles)+1 {
			t.Fatalf("grid line %q has %d fields", line, len(f))
		}
		perms = append(perms, Permission(f[0]))
		for i, mark := range f[1:] {
			want[string(roles[i])+" "+f[0]] = mark == "x"
		}
	}
	if diff := cmp.Diff(Permissions(), perms); diff != "" {
		t.Fatalf("grid rows differ from Permissions() (-Permissions +grid):\n%s", diff)
	}
	got := map[string]bool{}
	for _, r := range Roles() {
		for _, p := range Permissions() {
			got[string(r)+" "+string(p)] = Allowed(r, p)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Allowed differs from the expected grid (-want +got):\n%s", diff)
	}
	// Deny by default: unknown roles and permissions get nothing.
	for _, p := range Permissions() {
		if Allowed("root", p) || Allowed("", p) {
			t.Errorf("unknown role granted %s", p)
		}
	}
	for _, r := range Roles() {
		if Allowed(r, "alert.*") || Allowed(r, "") {
			t.Errorf("%s granted an unknown permission", r)
		}
	}
}

// TestMatrixInvariants states the separation-of-duties rules the matrix
// is built on, so that a future edit that breaks one says which.
func TestMatrixInvariants(t *testing.T) {
	holders := func(p Permission) []Role {
		var out []Role
		for _, r := range Roles() {
			if Allowed(r, p) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		perm Permission
		want []Role
		why  string
	}{
		{PermAlertSignEmergency, []Role{RoleOfficer}, "only an ops-centre officer signs emergencies (DESIGN §4)"},
		{PermUserManage, []Role{RoleAdmin}, "only admins manage people"},
		{PermConfigManage, []Role{RoleAdmin}, "only admins change configuration"},
		{PermAlertApprove, []Role{RoleSupervisor, RoleOfficer}, "approval is by supervisors and officers"},
		{PermAlertPublish, []Role{RoleSupervisor, RoleOfficer}, "publishing is by supervisors and officers"},
		{PermDeviceCommand, []Role{RoleTechnician}, "only technicians command devices"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, holders(tt.perm)); diff != "" {
			t.Errorf("%s (%s): holders differ (-want +got):\n%s", tt.perm, tt.why, diff)
		}
	}
	// Whoever manages people neither approves, publishes nor signs.
	for _, p := range []Permission{PermAlertDraft, PermAlertApprove, PermAlertPublish, PermAlertSignEmergency} {
		if Allowed(RoleAdmin, p) {
			t.Errorf("admin has %s: separation of duties", p)
		}
	}
	// Read-only roles write nothing.
	for _, r := range []Role{RoleAuditor, RoleViewer} {
		for _, p := range Matrix()[r] {
			if !strings.HasSuffix(string(p), ".read") && p != PermTokenManage {
				t.Errorf("%s has %s, but is read-only", r, p)
			}
		}
	}
	// Tokens never carry anything that approves, publishes or manages.
	for _, p := range Permissions() {
		want := strings.HasSuffix(string(p), ".read") || p == PermAlertDraft || p == PermAlertSubmit
		if TokenGrantable(p) != want {
			t.Errorf("TokenGrantable(%s) = %v, want %v", p, TokenGrantable(p), want)
		}
	}
}

func TestMatrixIsACopy(t *testing.T) {
	m := Matrix()
	m[RoleViewer] = append(m[RoleViewer], PermUserManage)
	m[RoleViewer][0] = PermConfigManage
	if Allowed(RoleViewer, PermUserManage) || Allowed(RoleViewer, PermConfigManage) {
		t.Fatal("changing Matrix()'s result changed the grants")
	}
}

// roleNotes say why each role has what it has; they go into
// docs/permissions.md under the table.
var roleNotes = []struct {
	role Role
	note string
}{
	{RoleAdmin, "Manages people, tokens, configuration and device revocation, and reads everything needed to run the system, including the audit log (append-only, so reading it cannot hide anything). It never drafts, approves, publishes, cancels or signs an alert: the person who can create accounts must not also be able to put words on the street (separation of duties). Admins cannot change their own role, state or credentials through user management."},
	{RoleSupervisor, "Runs the alert desk: drafts, submits, approves and publishes Advisory and Warning alerts (the server signs Warnings), cancels them, and maintains the pre-approved protocols. Reads users to see who is on shift. Cannot sign Emergencies."},
	{RoleOfficer, "The ops-centre officer: everything a supervisor does with alerts, and the only role whose key may co-sign an Emergency, which the server allows only within 5 minutes of a fresh TOTP entry (Reauthenticate, Principal.FreshTOTP). Does not maintain protocols."},
	{RoleZoneOperator, "Drafts and submits alerts for its own zones only (AllowedScope: `zone:<its zone>` or a device in one, never `city`); a supervisor or officer approves. Cannot publish."},
	{RoleTechnician, "Keeps poles running: reads devices, health, metrics and configuration, and sends device commands (display/audio tests, reboots). No alert authoring. May create API tokens for monitoring scripts (read scopes only)."},
	{RoleAuditor, "Read-only across the board, audit log included, for independent review. May create read-only API tokens (e.g. a SIEM export)."},
	{RoleViewer, "Read-only view of alerts, protocols, devices and health, e.g. for a public-information desk."},
	{RoleIntegration, "For systems, not people: an integration user has no password; an admin creates its API tokens. It may read, and draft and submit alerts (e.g. from a CAD system) for people to approve."},
}

// renderPermissions is docs/permissions.md.
func renderPermissions() string {
	var b strings.Builder
	b.WriteString("# Permissions\n\n")
	b.WriteString("<!-- Generated from auth.Matrix() by `go test ./server/auth -run TestPermissionsDoc -rewrite`. Do not edit. -->\n\n")
	b.WriteString("The control server's roles and what each may do (package `server/auth`, `rbac.go`). Access is denied by default: a role has exactly the permissions marked. ")
	b.WriteString("The *token* column says whether an API token may carry the permission at all; a token's effective permissions are its scopes, intersected with its user's role at the time of use, intersected with this column.\n\n")
	b.WriteString("| permission |")
	for _, r := range Roles() {
		fmt.Fprintf(&b, " %s |", r)
	}
	b.WriteString(" token |\n|---|")
	for range Roles() {
		b.WriteString(":-:|")
	}
	b.WriteString(":-:|\n")
	m := Matrix()
	for _, p := range Permissions() {
		fmt.Fprintf(&b, "| `%s` |", p)
		for _, r := range Roles() {
			mark := " "
			for _, q := range m[r] {
				if q == p {
					mark = "✓"
				}
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		mark := " "
		if TokenGrantable(p) {
			mark = "✓"
		}
		fmt.Fprintf(&b, " %s |\n", mark)
	}
	b.WriteString("\n## Why\n\n")
	for _, n := range roleNotes {
		fmt.Fprintf(&b, "- **%s**: %s\n", n.role, n.note)
	}
	b.WriteString("\nAPI tokens carry read permissions and `alert.draft`/`alert.submit` only: anything that approves, publishes, cancels or signs an alert, or changes people, configuration, devices or tokens, needs a person who passed MFA in a session. ")
	b.WriteString("Role and zone changes take effect on the user's next request.\n")
	return b.String()
}

func TestPermissionsDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "permissions.md")
	want := renderPermissions()
	if *rewrite {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -rewrite to create it)", err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("%s is out of date; run go test ./server/auth -run TestPermissionsDoc -rewrite (-want +got):\n%s", path, diff)
	}
	if len(roleNotes) != len(Roles()) {
		t.Errorf("roleNotes has %d roles, want %d", len(roleNotes), len(Roles()))
	}
}

func TestAllowedScope(t *testing.T) {
	devices := map[string]string{"pole-1": "north", "pole-2": "south"}
	lookup := func(id string) (string, bool) { z, ok := devices[id]; return z, ok }
	zoneOp := User{ID: "zed", Role: RoleZoneOperator, Zones: []string{"north", "east"}}
	officer := User{ID: "olly", Role: RoleOfficer}
	tests := []struct {
		name   string
		u      User
		scope  string
		lookup DeviceZoneFunc
		want   bool
	}{
		{"zone op own zone", zoneOp, "zone:north", lookup, true},
		{"zone op second zone", zoneOp, "zone:east", lookup, true},
		{"zone op other zone", zoneOp, "zone:south", lookup, false},
		{"zone op city", zoneOp, "city", lookup, false},
		{"zone op device in zone", zoneOp, "device:pole-1", lookup, true},
		{"zone op device elsewhere", zoneOp, "device:pole-2", lookup, false},
		{"zone op unknown device", zoneOp, "device:pole-9", lookup, false},
		{"zone op device without lookup", zoneOp, "device:pole-1", nil, false},
		{"zone op prefix trick", zoneOp, "zone:northwest", lookup, false},
		{"zone op malformed", zoneOp, "zone:", lookup, false},
		{"zone op empty", zoneOp, "", lookup, false},
		{"officer city", officer, "city", lookup, true},
		{"officer any zone", officer, "zone:south", lookup, true},
		{"officer any device", officer, "device:pole-9", nil, true},
		{"officer malformed", officer, "region:x", lookup, false},
		{"unknown role", User{Role: "boss"}, "city", lookup, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AllowedScope(tt.u, tt.scope, tt.lookup); got != tt.want {
				t.Errorf("AllowedScope(%s, %q) = %v, want %v", tt.u.Role, tt.scope, got, tt.want)
			}
		})
	}
}

func TestCheckRoleZones(t *testing.T) {
	tests := []struct {
		role  Role
		zones []string
		ok    bool
	}{
		{RoleZoneOperator, []string{"north"}, true},
		{RoleZoneOperator, nil, false},
		{RoleZoneOperator, []string{"bad zone"}, false},
		{RoleOfficer, nil, true},
		{RoleOfficer, []string{"north"}, false},
		{"boss", nil, false},
	}
	for _, tt := range tests {
		if err := checkRoleZones(tt.role, tt.zones); (err == nil) != tt.ok {
			t.Errorf("checkRoleZones(%s, %v) = %v, want ok=%v", tt.role, tt.zones, err, tt.ok)
		}
	}
}

func TestPrincipalCan(t *testing.T) {
	for _, r := range Roles() {
		p := &Principal{userID: "u", role: r}
		for _, perm := range Permissions() {
			if p.Can(perm) != Allowed(r, perm) {
				t.Errorf("session principal %s: Can(%s) = %v, Allowed = %v", r, perm, p.Can(perm), Allowed(r, perm))
			}
			if err := p.Require(perm); (err == nil) != Allowed(r, perm) || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Errorf("%s: Require(%s) = %v", r, perm, err)
			}
		}
	}
	var nobody *Principal
	if nobody.Can(PermAlertRead) || nobody.AllowedScope("city", nil) || nobody.FreshTOTP(t0, time.Hour) ||
		nobody.UserID() != "" || nobody.Role() != "" {
		t.Error("a nil principal may do something")
	}
	if _, ok := nobody.Session(); ok {
		t.Error("nil principal has a session")
	}
}
