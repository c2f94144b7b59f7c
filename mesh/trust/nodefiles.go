package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// NodeFiles names the files a node (a server, a gateway, a pole) starts
// from: the city root, optionally the city CA (else the second certificate
// of Cert), its certificate chain and its key.
type NodeFiles struct {
	RootCert string // root.pem
	CityCert string // city.pem; "" to take the city CA from Cert's chain
	Cert     string // the node's certificate, then the city CA's
	Key      string // its Ed25519 key
	// Passphrase, if not nil, opens an encrypted Key.
	Passphrase func() ([]byte, error)
	// Field names the configuration fields in errors ("pki.cert").
	Field func(file string) string
}

// Node is a node's identity, loaded and checked: its key matches its
// certificate, the certificate chains to the root through the city CA, and
// the role is the one wanted.
type Node struct {
	Identity Identity
	City     string // the root's city name
	Key      ed25519.PrivateKey
	Leaf     *x509.Certificate
	CityCA   *x509.Certificate
	Roots    []*x509.Certificate
	// TLS is the chain (leaf, city CA) and key, for MQTT and HTTPS.
	TLS tls.Certificate
}

// LoadNode reads and checks f for a node of role (and id, unless empty)
// at now.
func LoadNode(f NodeFiles, role Role, id string, now time.Time) (*Node, error) {
	field := f.Field
	if field == nil {
		field = func(file string) string { return file }
	}
	roots, err := ReadCertFile(f.RootCert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field("root_cert"), err)
	}
	rootID, err := IdentityOf(roots[0])
	if err != nil || rootID.Role != RoleRoot {
		return nil, fmt.Errorf("%s: %s is not a city root certificate", field("root_cert"), f.RootCert)
	}
	chain, err := ReadCertFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field("cert"), err)
	}
	leaf := chain[0]
	ident, err := IdentityOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field("cert"), err)
	}
	if ident.Role != role {
		return nil, fmt.Errorf("%s: %s is a %s certificate; issue one with `cityarray keys issue --role %s`", field("cert"), f.Cert, ident.Role, role)
	}
	if id != "" && ident.ID != id {
		return nil, fmt.Errorf("%s names %s %q, the configuration says %q", field("cert"), role, ident.ID, id)
	}
	var cas []*x509.Certificate
	switch {
	case f.CityCert != "":
		if cas, err = ReadCertFile(f.CityCert); err != nil {
			return nil, fmt.Errorf("%s: %w", field("city_cert"), err)
		}
	case len(chain) > 1:
		cas = chain[1:]
	default:
		return nil, fmt.Errorf("%s: %s holds only the %s's certificate: append the city CA's (city.pem)", field("cert"), f.Cert, role)
	}
	key, err := ReadKeyFile(f.Key, f.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field("key"), err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("%s does not belong to the certificate %s", field("key"), f.Cert)
	}
	// The chain must reach the root through the city CA now.
	v, err := NewVerifier(Config{Roots: roots, Intermediates: cas, TrustedClock: true})
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := v.AddCertificates(now, leaf); err != nil {
		return nil, fmt.Errorf("%s does not chain to the city root through the city CA: %w", field("cert"), err)
	}
	certs := [][]byte{leaf.Raw}
	if len(chain) > 1 {
		for _, c := range chain[1:] {
			certs = append(certs, c.Raw)
		}
	} else {
		certs = append(certs, cas[0].Raw)
	}
	return &Node{Identity: ident, City: rootID.ID, Key: key, Leaf: leaf, CityCA: cas[0], Roots: roots,
		TLS: tls.Certificate{Certificate: certs, PrivateKey: key, Leaf: leaf}}, nil
}

// Verifier returns a new verifier trusting n's roots and city CA, with
// n's own certificate known.
func (n *Node) Verifier(trustedClock bool, now time.Time) (*Verifier, error) {
	return n.SharedVerifier(trustedClock, now, nil)
}

// SharedVerifier is Verifier with a chain cache shared by the nodes of one
// process (nil: none; see ChainCache).
func (n *Node) SharedVerifier(trustedClock bool, now time.Time, chains *ChainCache) (*Verifier, error) {
	v, err := NewVerifier(Config{Roots: n.Roots, Intermediates: []*x509.Certificate{n.CityCA}, TrustedClock: trustedClock, Chains: chains})
	if err != nil {
		return nil, err
	}
	if err := v.AddCertificates(now, n.Leaf); err != nil {
		return nil, err
	}
	return v, nil
}
