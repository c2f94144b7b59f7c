package servertest

import (
	"crypto/ed25519"
	"crypto/x509"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// PKI is the test city "testville": its root, its city CA (with key) and
// the server's signer.
type PKI struct {
	Root, CA *trust.CA
	Server   record.Signer // ServerID's, sending its chain
	issued   time.Time
}

// NewPKI makes the city with every certificate valid from issued. It
// panics on failure: tests make it once, in a sync.OnceValue.
func NewPKI(issued time.Time) *PKI {
	root, err := trust.NewRoot("testville", issued)
	if err != nil {
		panic(err)
	}
	ca, err := root.NewCityCA(issued)
	if err != nil {
		panic(err)
	}
	p := &PKI{Root: root, CA: ca, issued: issued}
	if _, p.Server, err = p.Issue(trust.Identity{Role: trust.RoleServer, ID: ServerID}); err != nil {
		panic(err)
	}
	return p
}

// Issue issues a certificate for id, valid from the PKI's issue time, on
// a new key, and returns it with a signer that sends its chain.
func (p *PKI) Issue(id trust.Identity) (*x509.Certificate, record.Signer, error) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, record.Signer{}, err
	}
	cert, err := p.CA.Issue(id, pub, p.issued)
	if err != nil {
		return nil, record.Signer{}, err
	}
	s, err := record.NewSigner(key, cert.Raw, true, p.CA.Cert.Raw)
	if err != nil {
		return nil, record.Signer{}, err
	}
	return cert, s, nil
}

// Verifier returns a new verifier that trusts the city's root.
func (p *PKI) Verifier(tb testing.TB, trustedClock bool) *trust.Verifier {
	tb.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{p.Root.Cert}, TrustedClock: trustedClock})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
