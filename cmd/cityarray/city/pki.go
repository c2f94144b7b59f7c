package city

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// PKI is a city's certificate hierarchy, made in memory for a simulation.
type PKI struct {
	City string
	Root *trust.CA
	CA   *trust.CA

	// Chains and Metas are shared by every simulated node of the city, so
	// that one process can hold a thousand poles: each pole still checks
	// every peer's certificate, but a chain or a node meta is verified
	// once per process, not once per pole (trust.ChainCache,
	// gossip.MetaCache).
	Chains *trust.ChainCache
	Metas  *gossip.MetaCache
}

// Member is a certified node or person of the simulated city.
type Member struct {
	Identity trust.Identity
	Cert     *x509.Certificate
	Key      ed25519.PrivateKey
	// Signer signs with the certificate's chain in x5chain, so receivers
	// need only the root.
	Signer record.Signer
	// KIDSigner names the certificate by kid only: records stay small
	// enough for one packet, and receivers must know the certificate.
	KIDSigner record.Signer
}

// NewPKI makes a root CA and a city CA, valid from an hour before now.
func NewPKI(city string, now time.Time) (*PKI, error) {
	root, err := trust.NewRoot(city, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	ca, err := root.NewCityCA(now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	return &PKI{City: city, Root: root, CA: ca, Chains: trust.NewChainCache(), Metas: gossip.NewMetaCache()}, nil
}

// Issue certifies a new key for id. Its Signer sends the certificate chain
// with every record; KIDSigner does not.
func (p *PKI) Issue(id trust.Identity, now time.Time) (*Member, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := p.CA.Issue(id, pub, now.Add(-time.Hour))
	if err != nil {
		return nil, fmt.Errorf("city: issue %s: %w", id, err)
	}
	s, err := record.NewSigner(key, cert.Raw, true, p.CA.Cert.Raw)
	if err != nil {
		return nil, err
	}
	kidOnly, err := record.NewSigner(key, cert.Raw, false)
	if err != nil {
		return nil, err
	}
	return &Member{Identity: id, Cert: cert, Key: key, Signer: s, KIDSigner: kidOnly}, nil
}

// Verifier returns a fresh verifier trusting the city root, with the city
// CA and the given members' certificates known, on a trusted clock.
func (p *PKI) Verifier(now time.Time, known ...*Member) (*trust.Verifier, error) {
	v, err := trust.NewVerifier(trust.Config{
		Roots:         []*x509.Certificate{p.Root.Cert},
		Intermediates: []*x509.Certificate{p.CA.Cert},
		TrustedClock:  true,
		Chains:        p.Chains,
	})
	if err != nil {
		return nil, err
	}
	for _, m := range known {
		if err := v.AddCertificates(now, m.Cert); err != nil {
			return nil, err
		}
	}
	return v, nil
}
