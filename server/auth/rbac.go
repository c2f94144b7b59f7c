package auth

import (
	"fmt"
	"slices"

	"github.com/cityarray/cityarray/mesh/record"
)

// Role is what a user is for. Each user has exactly one.
type Role string

// The roles. See Matrix for what each may do, and docs/permissions.md for
// the table and the reasons.
const (
	RoleAdmin        Role = "admin"
	RoleSupervisor   Role = "supervisor"
	RoleOfficer      Role = "officer"
	RoleZoneOperator Role = "zone_operator"
	RoleTechnician   Role = "technician"
	RoleAuditor      Role = "auditor"
	RoleViewer       Role = "viewer"
	RoleIntegration  Role = "integration"
)

// Roles returns every role, in the order of the permission table.
func Roles() []Role {
	return []Role{RoleAdmin, RoleSupervisor, RoleOfficer, RoleZoneOperator,
		RoleTechnician, RoleAuditor, RoleViewer, RoleIntegration}
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Permission names one thing the server lets a principal do. Handlers ask
// for exactly one permission each.
type Permission string

// The permissions, one per kind of server endpoint.
const (
	PermAlertRead          Permission = "alert.read"
	PermAlertDraft         Permission = "alert.draft"
	PermAlertSubmit        Permission = "alert.submit"
	PermAlertApprove       Permission = "alert.approve"
	PermAlertPublish       Permission = "alert.publish"
	PermAlertCancel        Permission = "alert.cancel"
	PermAlertSignEmergency Permission = "alert.sign_emergency"
	PermProtocolRead       Permission = "protocol.read"
	PermProtocolManage     Permission = "protocol.manage"
	PermDeviceRead         Permission = "device.read"
	PermDeviceRevoke       Permission = "device.revoke"
	PermDeviceCommand      Permission = "device.command"
	PermUserRead           Permission = "user.read"
	PermUserManage         Permission = "user.manage"
	PermAuditRead          Permission = "audit.read"
	PermConfigRead         Permission = "config.read"
	PermConfigManage       Permission = "config.manage"
	PermTokenManage        Permission = "token.manage"
	PermHealthRead         Permission = "health.read"
	PermMetricsRead        Permission = "metrics.read"
)

// Permissions returns every permission, in the order of the table.
func Permissions() []Permission {
	return []Permission{
		PermAlertRead, PermAlertDraft, PermAlertSubmit, PermAlertApprove, PermAlertPublish,
		PermAlertCancel, PermAlertSignEmergency,
		PermProtocolRead, PermProtocolManage,
		PermDeviceRead, PermDeviceRevoke, PermDeviceCommand,
		PermUserRead, PermUserManage,
		PermAuditRead,
		PermConfigRead, PermConfigManage,
		PermTokenManage,
		PermHealthRead, PermMetricsRead,
	}
}

// Valid reports whether p is one of the permissions.
func (p Permission) Valid() bool { return slices.Contains(Permissions(), p) }

// matrix is the grant table: deny by default, a role has exactly the
// permissions listed here. doc.go (# Roles and permissions) says why.
var matrix = map[Role][]Permission{
	RoleAdmin: {
		PermAlertRead, PermProtocolRead,
		PermDeviceRead, PermDeviceRevoke,
		PermUserRead, PermUserManage,
		PermAuditRead,
		PermConfigRead, PermConfigManage,
		PermTokenManage,
		PermHealthRead, PermMetricsRead,
	},
	RoleSupervisor: {
		PermAlertRead, PermAlertDraft, PermAlertSubmit, PermAlertApprove, PermAlertPublish, PermAlertCancel,
		PermProtocolRead, PermProtocolManage,
		PermDeviceRead,
		PermUserRead,
		PermHealthRead,
	},
	RoleOfficer: {
		PermAlertRead, PermAlertDraft, PermAlertSubmit, PermAlertApprove, PermAlertPublish, PermAlertCancel,
		PermAlertSignEmergency,
		PermProtocolRead,
		PermDeviceRead,
		PermHealthRead,
	},
	RoleZoneOperator: {
		PermAlertRead, PermAlertDraft, PermAlertSubmit,
		PermProtocolRead,
		PermDeviceRead,
		PermHealthRead,
	},
	RoleTechnician: {
		PermAlertRead, PermProtocolRead,
		PermDeviceRead, PermDeviceCommand,
		PermConfigRead,
		PermTokenManage,
		PermHealthRead, PermMetricsRead,
	},
	RoleAuditor: {
		PermAlertRead, PermProtocolRead,
		PermDeviceRead,
		PermUserRead,
		PermAuditRead,
		PermConfigRead,
		PermTokenManage,
		PermHealthRead, PermMetricsRead,
	},
	RoleViewer: {
		PermAlertRead, PermProtocolRead, PermDeviceRead, PermHealthRead,
	},
	RoleIntegration: {
		PermAlertRead, PermAlertDraft, PermAlertSubmit,
		PermProtocolRead,
		PermDeviceRead,
		PermHealthRead, PermMetricsRead,
	},
}

// tokenGrantable is what an API token may ever carry: reading, and drafting
// and submitting alerts. Everything that approves, publishes, cancels or
// signs an alert, or changes people, configuration, devices or tokens,
// needs a person who passed MFA.
var tokenGrantable = []Permission{
	PermAlertRead, PermAlertDraft, PermAlertSubmit,
	PermProtocolRead, PermDeviceRead, PermUserRead, PermAuditRead, PermConfigRead,
	PermHealthRead, PermMetricsRead,
}

// Allowed reports whether role grants perm. Unknown roles and permissions
// are denied.
func Allowed(role Role, perm Permission) bool {
	return slices.Contains(matrix[role], perm)
}

// TokenGrantable reports whether an API token may carry perm at all.
func TokenGrantable(perm Permission) bool { return slices.Contains(tokenGrantable, perm) }

// Matrix returns a copy of the grant table: every role, with its
// permissions in the order of Permissions().
func Matrix() map[Role][]Permission {
	out := make(map[Role][]Permission, len(matrix))
	for _, r := range Roles() {
		for _, p := range Permissions() {
			if Allowed(r, p) {
				out[r] = append(out[r], p)
			}
		}
	}
	return out
}

// DeviceZoneFunc tells which zone a device is in; ok is false for an
// unknown device. The server supplies it from its device registry.
type DeviceZoneFunc func(deviceID string) (zone string, ok bool)

// AllowedScope reports whether u may act on a record scope ("city",
// "zone:<id>", "device:<id>"), on top of the permission check. Only
// zone_operator is restricted: to "zone:<z>" for one of its zones, and to
// "device:<d>" when deviceZone places d in one of its zones; never "city".
// Every other role may use any well-formed scope. A malformed scope is
// always refused, and so is a device scope when deviceZone is nil.
func AllowedScope(u User, scope string, deviceZone DeviceZoneFunc) bool {
	return allowedScope(u.Role, u.Zones, scope, deviceZone)
}

func allowedScope(role Role, zones []string, scope string, deviceZone DeviceZoneFunc) bool {
	sc, err := record.ParseScope(scope)
	if err != nil || !role.Valid() {
		return false
	}
	if role != RoleZoneOperator {
		return true
	}
	kind, id := sc.Split()
	switch kind {
	case record.ScopeZone:
		return slices.Contains(zones, id)
	case record.ScopeDevice:
		if deviceZone == nil {
			return false
		}
		z, ok := deviceZone(id)
		return ok && slices.Contains(zones, z)
	}
	return false
}

// checkRoleZones validates a role and its zones: zone_operator needs at
// least one valid zone; other roles take none.
func checkRoleZones(role Role, zones []string) error {
	if !role.Valid() {
		return fmt.Errorf("%w: unknown role %q", ErrInvalid, role)
	}
	if role != RoleZoneOperator {
		if len(zones) > 0 {
			return fmt.Errorf("%w: role %s takes no zones", ErrInvalid, role)
		}
		return nil
	}
	if len(zones) == 0 {
		return fmt.Errorf("%w: zone_operator needs at least one zone", ErrInvalid)
	}
	for _, z := range zones {
		if err := record.ValidateNodeID(z); err != nil {
			return fmt.Errorf("%w: zone: %v", ErrInvalid, err)
		}
	}
	return nil
}
