package trust

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"github.com/cityarray/cityarray/mesh/record"
)

// Role is what a certificate's holder is in the city PKI. It decides which
// records the holder may sign (see the tier table in the package doc).
type Role string

// The roles. RoleRoot and RoleCA are the two certificate authorities; the
// others hold leaf certificates.
const (
	RoleRoot     Role = "root"     // the city root CA, self-signed, kept offline
	RoleCA       Role = "ca"       // the city CA: issues leaves, signs revocations
	RoleServer   Role = "server"   // a control server
	RoleOperator Role = "operator" // an ops-centre officer (co-signs emergencies)
	RoleGateway  Role = "gateway"  // a zone gateway
	RoleDevice   Role = "device"   // an edge pole
)

// URIScheme is the scheme of the URI SAN that carries an identity.
const URIScheme = "cityarray"

// Roles lists every role, authorities first.
func Roles() []Role {
	return []Role{RoleRoot, RoleCA, RoleServer, RoleOperator, RoleGateway, RoleDevice}
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleRoot, RoleCA, RoleServer, RoleOperator, RoleGateway, RoleDevice:
		return true
	}
	return false
}

// IsCA reports whether the role is a certificate authority.
func (r Role) IsCA() bool { return r == RoleRoot || r == RoleCA }

// zoned reports whether holders of the role belong to a zone.
func (r Role) zoned() bool { return r == RoleGateway || r == RoleDevice }

// Identity is who a certificate names, carried in its one cityarray URI SAN:
//
//	cityarray://zone/<zone>/device/<id>
//	cityarray://zone/<zone>/gateway/<id>
//	cityarray://server/<id>
//	cityarray://operator/<id>
//	cityarray://ca/<city>
//	cityarray://root/<city>
//
// For the two authorities ID is the city's name. ID is the node id that
// appears as a record's origin and in device scopes.
type Identity struct {
	Role Role
	ID   string
	Zone string // gateways and devices only
}

// Validate reports what, if anything, is wrong with the identity.
func (id Identity) Validate() error {
	if !id.Role.Valid() {
		return fmt.Errorf("%w: unknown role %q (want one of %v)", ErrBadIdentity, string(id.Role), Roles())
	}
	what := "id"
	if id.Role.IsCA() {
		what = "city"
	}
	if err := record.ValidateNodeID(id.ID); err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrBadIdentity, id.Role, what, err)
	}
	switch {
	case id.Role.zoned() && id.Zone == "":
		return fmt.Errorf("%w: %s %q has no zone (a %s belongs to exactly one zone)", ErrBadIdentity, id.Role, id.ID, id.Role)
	case !id.Role.zoned() && id.Zone != "":
		return fmt.Errorf("%w: %s %q has zone %q (only gateways and devices belong to a zone)", ErrBadIdentity, id.Role, id.ID, id.Zone)
	}
	if id.Zone != "" {
		if err := record.ValidateNodeID(id.Zone); err != nil {
			return fmt.Errorf("%w: %s %q: zone: %v", ErrBadIdentity, id.Role, id.ID, err)
		}
	}
	return nil
}

// URI returns the identity's URI SAN. It does not validate the identity.
func (id Identity) URI() *url.URL {
	u := &url.URL{Scheme: URIScheme}
	if id.Role.zoned() {
		u.Host = "zone"
		u.Path = "/" + id.Zone + "/" + string(id.Role) + "/" + id.ID
	} else {
		u.Host = string(id.Role)
		u.Path = "/" + id.ID
	}
	return u
}

// String returns the identity's URI.
func (id Identity) String() string { return id.URI().String() }

// ParseIdentity decodes an identity URI. It accepts only the canonical form
// URI returns for a valid identity: no user, port, query, fragment, escapes
// or trailing slash.
func ParseIdentity(u *url.URL) (Identity, error) {
	if u == nil {
		return Identity{}, fmt.Errorf("%w: no URI", ErrBadIdentity)
	}
	s := u.String()
	if u.Scheme != URIScheme {
		return Identity{}, fmt.Errorf("%w: %q: scheme is not %s", ErrBadIdentity, s, URIScheme)
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || u.RawPath != "" || strings.Contains(u.Host, ":") {
		return Identity{}, fmt.Errorf("%w: %q: want %s://<role>/<id> or %s://zone/<zone>/<role>/<id>, nothing else", ErrBadIdentity, s, URIScheme, URIScheme)
	}
	if !strings.HasPrefix(u.Path, "/") {
		return Identity{}, fmt.Errorf("%w: %q: no id", ErrBadIdentity, s)
	}
	segs := strings.Split(u.Path[1:], "/")
	var id Identity
	switch {
	case u.Host == "zone" && len(segs) == 3:
		id = Identity{Role: Role(segs[1]), ID: segs[2], Zone: segs[0]}
		if !id.Role.zoned() {
			return Identity{}, fmt.Errorf("%w: %q: role %q cannot belong to a zone", ErrBadIdentity, s, segs[1])
		}
	case u.Host == "zone":
		return Identity{}, fmt.Errorf("%w: %q: want %s://zone/<zone>/<device|gateway>/<id>", ErrBadIdentity, s, URIScheme)
	case len(segs) == 1:
		id = Identity{Role: Role(u.Host), ID: segs[0]}
		if id.Role.zoned() {
			return Identity{}, fmt.Errorf("%w: %q: a %s needs a zone: %s://zone/<zone>/%s/<id>", ErrBadIdentity, s, id.Role, URIScheme, id.Role)
		}
	default:
		return Identity{}, fmt.Errorf("%w: %q: want %s://%s/<id>", ErrBadIdentity, s, URIScheme, u.Host)
	}
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("%w (in %q)", err, s)
	}
	if id.URI().String() != s {
		return Identity{}, fmt.Errorf("%w: %q is not in canonical form", ErrBadIdentity, s)
	}
	return id, nil
}

// ParseIdentityString parses s as a URI and decodes it with ParseIdentity.
func ParseIdentityString(s string) (Identity, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrBadIdentity, err)
	}
	return ParseIdentity(u)
}

// IdentityOf returns the identity a certificate names. The certificate must
// carry exactly one cityarray URI SAN (URIs of other schemes are ignored),
// and its CA flag must match the role: authorities are CAs, leaves are not.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrBadCertificate)
	}
	var found *url.URL
	for _, u := range cert.URIs {
		if u.Scheme != URIScheme {
			continue
		}
		if found != nil {
			return Identity{}, fmt.Errorf("%w: %q: more than one %s URI SAN (%s, %s)", ErrBadCertificate, cert.Subject.CommonName, URIScheme, found, u)
		}
		found = u
	}
	if found == nil {
		return Identity{}, fmt.Errorf("%w: %q: no %s URI SAN", ErrBadCertificate, cert.Subject.CommonName, URIScheme)
	}
	id, err := ParseIdentity(found)
	if err != nil {
		return Identity{}, err
	}
	if id.Role.IsCA() != cert.IsCA {
		return Identity{}, fmt.Errorf("%w: %s: role %s but the certificate's CA flag is %t", ErrBadCertificate, id, id.Role, cert.IsCA)
	}
	return id, nil
}
