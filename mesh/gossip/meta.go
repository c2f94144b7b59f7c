package gossip

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"sync"
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
//
// The meta carries the whole certificate, not only its fingerprint: the
// role and zone are in it, and the fingerprint follows from it. A meta of
// role, zone and fingerprint alone (about 110 bytes) was built and
// measured, with certificates traded in a hello at join and fetched on
// demand: every member that met a newcomer's alive message before its
// certificate had to refuse it, and memberlist re-gossips only the alive
// messages a member accepts, so news of a join died out after a dozen
// members and the rest waited for push/pull or a fallback join. A
// 450-pole mass join stalled after 269 joins (141 s); with the
// certificate in the meta, 1,000 joins took 193 s on the same machine.
// Carrying the certificate lets every member check a newcomer at once
// and pass the news on.

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

// MetaCache memoises the parsing and signature check of node metas across
// the links of one process: the simulator and the benchmarks run hundreds
// of poles in one process, and each would otherwise parse every other
// pole's certificate and check its meta signature again (N² of each). A
// real node has one link and needs none. It is keyed by the label, the
// member name and the meta bytes, which are all the check depends on; each
// link still adds the certificate to its own verifier, which checks the
// chain at the time of asking against its own revocations (share a
// trust.ChainCache among those verifiers too). Safe for concurrent use.
type MetaCache struct {
	mu sync.RWMutex
	m  map[[32]byte]*x509.Certificate
}

// NewMetaCache returns an empty cache to pass in Config.Metas.
func NewMetaCache() *MetaCache { return &MetaCache{m: map[[32]byte]*x509.Certificate{}} }

// metaKey is what a checked meta is known by.
func metaKey(meta []byte, label, name string) [32]byte {
	h := sha256.New()
	h.Write(metaMessage(label, name))
	h.Write([]byte{0})
	h.Write(meta)
	return [32]byte(h.Sum(nil))
}

// checkMeta verifies a peer's meta for the member called name and returns
// its identity. cache may be nil.
func checkMeta(v *trust.Verifier, cache *MetaCache, meta []byte, label, name string, now time.Time) (trust.Identity, error) {
	var key [32]byte
	if cache != nil {
		key = metaKey(meta, label, name)
		cache.mu.RLock()
		cert := cache.m[key]
		cache.mu.RUnlock()
		if cert != nil {
			if err := v.AddCertificates(now, cert); err != nil {
				return trust.Identity{}, fmt.Errorf("gossip: member %q: %w", name, err)
			}
			return trust.IdentityOf(cert)
		}
	}
	cert, id, err := parseMeta(v, meta, label, name, now)
	if err == nil && cache != nil {
		cache.mu.Lock()
		cache.m[key] = cert
		cache.mu.Unlock()
	}
	return id, err
}

// parseMeta does checkMeta's work.
func parseMeta(v *trust.Verifier, meta []byte, label, name string, now time.Time) (*x509.Certificate, trust.Identity, error) {
	if len(meta) < 3 || meta[0] != metaVersion {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: no cityarray meta", name)
	}
	n := int(binary.BigEndian.Uint16(meta[1:]))
	if len(meta) != 3+n+ed25519.SignatureSize {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: meta of %d bytes for a %d-byte certificate", name, len(meta), n)
	}
	cert, err := x509.ParseCertificate(meta[3 : 3+n])
	if err != nil {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: certificate: %w", name, err)
	}
	if err := v.AddCertificates(now, cert); err != nil {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: %w", name, err)
	}
	id, err := trust.IdentityOf(cert)
	if err != nil {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: %w", name, err)
	}
	if id.ID != name {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q presents the certificate of %s", name, id)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, metaMessage(label, name), meta[3+n:]) {
		return nil, trust.Identity{}, fmt.Errorf("gossip: member %q: meta signature does not verify", name)
	}
	return cert, id, nil
}
