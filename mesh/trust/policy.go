package trust

import (
	"slices"

	"github.com/cityarray/cityarray/mesh/record"
)

// scopeRule is which scopes a signer may target.
type scopeRule int

const (
	scopeAny  scopeRule = iota // any scope
	scopeSelf                  // device:<signer id>
	scopeZone                  // zone:<signer zone>
	scopeCity                  // city
)

// checkPolicy applies the tier table (DESIGN §4) to a record whose signers
// have been identified (not yet verified): the signer count, their roles,
// the scope they may target and the origin. See the package doc for the
// table.
func checkPolicy(r *record.Record, ss []*signer) *RejectError {
	switch r.Kind {
	case record.KindAlert, record.KindUpdate, record.KindCancel, record.KindActivation, record.KindProtocol:
		switch r.Tier {
		case record.TierInformational:
			return one(r, ss, scopeSelf, RoleDevice)
		case record.TierAdvisory:
			return one(r, ss, scopeZone, RoleGateway)
		case record.TierWarning, record.TierIPAWS:
			return one(r, ss, scopeAny, RoleServer)
		case record.TierEmergency:
			return emergency(r, ss)
		}
	case record.KindAck:
		if rej := needTier(r, record.TierInformational); rej != nil {
			return rej
		}
		return one(r, ss, scopeSelf, RoleDevice)
	case record.KindHealth, record.KindTelemetry, record.KindAnomaly:
		if rej := needTier(r, record.TierInformational); rej != nil {
			return rej
		}
		return one(r, ss, scopeSelf, RoleDevice, RoleGateway)
	case record.KindCommand, record.KindUpdateAnnouncement:
		if rej := needTier(r, record.TierWarning); rej != nil {
			return rej
		}
		return one(r, ss, scopeAny, RoleServer)
	case record.KindRevocation:
		if rej := needTier(r, record.TierWarning); rej != nil {
			return rej
		}
		return one(r, ss, scopeCity, RoleCA)
	}
	return reject(ReasonMalformed, "%s at tier %s: no rule", r.Kind, r.Tier)
}

func needTier(r *record.Record, t record.Tier) *RejectError {
	if r.Tier != t {
		return reject(ReasonTierNotAllowed, "a %s is always %s, not %s", r.Kind, t, r.Tier)
	}
	return nil
}

// one checks a record that needs exactly one signer of one of roles,
// targeting scopes allowed by rule, with origin = the signer's id.
func one(r *record.Record, ss []*signer, rule scopeRule, roles ...Role) *RejectError {
	if len(ss) != 1 {
		return reject(ReasonExtraSigner, "a %s %s takes one signer, has %d", r.Tier, r.Kind, len(ss))
	}
	s := ss[0].id
	if !slices.Contains(roles, s.Role) {
		return reject(ReasonRoleNotAllowed, "%s may not sign a %s %s (only %v)", s, r.Tier, r.Kind, roles)
	}
	var want record.Scope
	switch rule {
	case scopeSelf:
		want = record.DeviceScope(s.ID)
	case scopeZone:
		want = record.ZoneScope(s.Zone)
	case scopeCity:
		want = record.City
	}
	if want != "" && r.Scope != want {
		return reject(ReasonScopeNotAllowed, "%s may target only %s with a %s %s, not %s", s, want, r.Tier, r.Kind, r.Scope)
	}
	return origin(r, s)
}

// emergency checks the two signatures an emergency needs: a server and an
// operator, in either order, holding different keys. The origin is the
// server.
func emergency(r *record.Record, ss []*signer) *RejectError {
	if len(ss) > 2 {
		return reject(ReasonExtraSigner, "an emergency takes a server and an operator, has %d signers", len(ss))
	}
	var server, operator *signer
	for _, s := range ss {
		switch s.id.Role {
		case RoleServer:
			if server == nil {
				server = s
			}
		case RoleOperator:
			if operator == nil {
				operator = s
			}
		default:
			return reject(ReasonRoleNotAllowed, "%s may not sign an emergency (only a server with an operator)", s.id)
		}
	}
	switch {
	case server == nil && operator != nil:
		return reject(ReasonMissingCosigner, "emergency signed by operator %s has no server signature", operator.id.ID)
	case operator == nil && server != nil:
		return reject(ReasonMissingCosigner, "emergency signed by server %s has no operator signature", server.id.ID)
	case server == nil || operator == nil:
		return reject(ReasonMissingCosigner, "emergency needs a server and an operator signature")
	case server.pub.Equal(operator.pub):
		// Two certificates for one key are one signer, not two.
		return reject(ReasonMissingCosigner, "emergency: server %s and operator %s hold the same key", server.id.ID, operator.id.ID)
	}
	return origin(r, server.id)
}

func origin(r *record.Record, s Identity) *RejectError {
	if r.Origin != s.ID {
		return reject(ReasonOriginMismatch, "origin %q is not the signer %s", r.Origin, s)
	}
	return nil
}
