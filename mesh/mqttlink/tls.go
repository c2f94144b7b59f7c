package mqttlink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

// ErrPeer is wrapped by every refusal of a TLS peer.
var ErrPeer = errors.New("mqttlink: peer refused")

// CheckPeer decides whether a TLS peer that presented certs (leaf first,
// then any intermediates) may talk to this node: the leaf must chain to
// a city root of v through a city CA, at max(now, v.Floor()) (a node
// whose clock is behind, a pole without an RTC after a reboot, uses what
// the network has shown it), none of the certificates presented may be
// revoked, and the identity in its URI SAN must have one of roles.
// Certificates carry no DNS names: the peer is checked by its chain and
// identity, not by host name.
func CheckPeer(v *trust.Verifier, now time.Time, certs []*x509.Certificate, roles ...trust.Role) (trust.Identity, error) {
	if len(certs) == 0 {
		return trust.Identity{}, fmt.Errorf("%w: no certificate", ErrPeer)
	}
	if f := v.Floor(); f.After(now) {
		now = f
	}
	// Intermediates the peer sent are verified against the roots before
	// they are used; one that does not chain is simply not used.
	if len(certs) > 1 {
		var cas []*x509.Certificate
		for _, c := range certs[1:] {
			if c.IsCA {
				cas = append(cas, c)
			}
		}
		_ = v.AddCertificates(now, cas...)
	}
	leaf := certs[0]
	id, err := trust.IdentityOf(leaf)
	if err != nil {
		return trust.Identity{}, fmt.Errorf("%w: %v", ErrPeer, err)
	}
	if leaf.IsCA {
		return trust.Identity{}, fmt.Errorf("%w: %s is an authority, not a node", ErrPeer, id)
	}
	if err := v.AddCertificates(now, leaf); err != nil {
		return trust.Identity{}, fmt.Errorf("%w: %s: %v", ErrPeer, id, err)
	}
	if revoked := v.State().Revoked; len(revoked) > 0 {
		for _, c := range certs {
			if _, ok := slices.BinarySearch(revoked, trust.SerialString(c)); ok {
				return trust.Identity{}, fmt.Errorf("%w: %s: certificate serial %s is revoked", ErrPeer, id, trust.SerialString(c))
			}
		}
	}
	if !slices.Contains(roles, id.Role) {
		return trust.Identity{}, fmt.Errorf("%w: %s: role %s may not connect here (want %v)", ErrPeer, id, id.Role, roles)
	}
	return id, nil
}

// OwnIdentity returns the identity in the leaf of cert, a node's own
// chain and key, parsing the leaf if cert.Leaf is nil. Its errors carry
// no package prefix: the link and the broker add theirs.
func OwnIdentity(cert tls.Certificate) (trust.Identity, error) {
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return trust.Identity{}, errors.New("no certificate and key")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return trust.Identity{}, fmt.Errorf("certificate: %w", err)
		}
	}
	id, err := trust.IdentityOf(leaf)
	if err != nil {
		return trust.Identity{}, fmt.Errorf("certificate: %w", err)
	}
	return id, nil
}

// verifyPeer returns a tls.Config.VerifyConnection that applies
// CheckPeer and, on success, hands the identity to got (if not nil).
func verifyPeer(v *trust.Verifier, clock Clock, roles []trust.Role, got func(trust.Identity)) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		id, err := CheckPeer(v, clock.Now(), cs.PeerCertificates, roles...)
		if err != nil {
			return err
		}
		if got != nil {
			got(id)
		}
		return nil
	}
}

// ServerTLS returns the TLS configuration of a broker: cert is its chain
// (leaf, city CA) and key; every client must present a certificate that
// CheckPeer accepts with one of roles.
func ServerTLS(cert tls.Certificate, v *trust.Verifier, clock Clock, roles ...trust.Role) *tls.Config {
	if clock == nil {
		clock = SystemClock{}
	}
	return &tls.Config{
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAnyClientCert, // verified by VerifyConnection
		VerifyConnection: verifyPeer(v, clock, roles, nil),
		MinVersion:       tls.VersionTLS12,
	}
}

// ClientTLS returns the TLS configuration of a client link: cert is the
// node's chain and key; the broker must present a certificate that
// CheckPeer accepts with one of roles. Go's host name check is off
// (InsecureSkipVerify) because city certificates carry no DNS names;
// VerifyConnection does the whole check instead, and got (if not nil)
// learns the broker's identity.
func ClientTLS(cert tls.Certificate, v *trust.Verifier, clock Clock, roles []trust.Role, got func(trust.Identity)) *tls.Config {
	if clock == nil {
		clock = SystemClock{}
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // see VerifyConnection
		VerifyConnection:   verifyPeer(v, clock, roles, got),
		MinVersion:         tls.VersionTLS12,
	}
}
