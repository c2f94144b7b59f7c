package gossip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

// Node meta proves who a member is. memberlist gossips it with every alive
// message (at most memberlist.MetaMaxSize = 512 bytes):
//
//	byte 0        version (1)
//	bytes 1–2     n, the DER certificate's length, big-endian
//	bytes 3…3+n   the node's leaf certificate (role and zone in its URI SAN)
//	64 bytes      Ed25519 signature by the certificate's key over
//	              metaContext || label || 0x00 || node name
//
// A peer whose meta does not hold a certificate that chains to the city
// root, names the same id as its memberlist name, and carries a valid
// signature, is refused at join (memberlist's alive and merge delegates).

const metaVersion = 1

var metaContext = []byte("cityarray gossip member v1\x00")

func metaMessage(label, name string) []byte {
	m := append(bytes.Clone(metaContext), label...)
	m = append(m, 0)
	return append(m, name...)
}

// makeMeta builds this node's meta.
func makeMeta(cert *x509.Certificate, key ed25519.PrivateKey, label, name string) ([]byte, error) {
	if len(cert.Raw) > 0xffff {
		return nil, fmt.Errorf("gossip: certificate of %d bytes", len(cert.Raw))
	}
	b := []byte{metaVersion, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(len(cert.Raw)))
	b = append(b, cert.Raw...)
	b = append(b, ed25519.Sign(key, metaMessage(label, name))...)
	if len(b) > 512 {
		return nil, fmt.Errorf("gossip: node meta of %d bytes is over memberlist's 512 (certificate of %d bytes)", len(b), len(cert.Raw))
	}
	return b, nil
}

// checkMeta verifies a peer's meta for the member called name and returns
// its identity.
func checkMeta(v *trust.Verifier, meta []byte, label, name string, now time.Time) (trust.Identity, error) {
	if len(meta) < 3 || meta[0] != metaVersion {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: no cityarray meta", name)
	}
	n := int(binary.BigEndian.Uint16(meta[1:]))
	if len(meta) != 3+n+ed25519.SignatureSize {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: meta of %d bytes for a %d-byte certificate", name, len(meta), n)
	}
	cert, err := x509.ParseCertificate(meta[3 : 3+n])
	if err != nil {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: certificate: %w", name, err)
	}
	if err := v.AddCertificates(now, cert); err != nil {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: %w", name, err)
	}
	id, err := trust.IdentityOf(cert)
	if err != nil {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: %w", name, err)
	}
	if id.ID != name {
		return trust.Identity{}, fmt.Errorf("gossip: member %q presents the certificate of %s", name, id)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, metaMessage(label, name), meta[3+n:]) {
		return trust.Identity{}, fmt.Errorf("gossip: member %q: meta signature does not verify", name)
	}
	return id, nil
}
