package record

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// KIDSize is the size of a key id: the SHA-256 of the signer's certificate.
const KIDSize = sha256.Size

// Signer signs records: an Ed25519 key and the certificate that vouches for
// it, named on the wire by its fingerprint (the kid).
type Signer struct {
	// Key signs. An ed25519.PrivateKey works; so does any crypto.Signer
	// whose public key is Ed25519 (an HSM, an unlocked officer key).
	Key crypto.Signer
	// KID is the SHA-256 of the signer's DER certificate.
	KID []byte
	// Chain, when set, travels in the x5chain header (leaf first, DER) so a
	// receiver that has not cached the signer's certificate can check it.
	Chain [][]byte
}

// NewSigner returns a signer for key whose certificate is certDER. If
// withChain is true the certificate and the intermediates travel with every
// record; otherwise receivers find the certificate by kid.
func NewSigner(key crypto.Signer, certDER []byte, withChain bool, intermediates ...[]byte) (Signer, error) {
	if _, ok := key.Public().(ed25519.PublicKey); !ok {
		return Signer{}, fmt.Errorf("record: signer key is %T, want Ed25519", key.Public())
	}
	if len(certDER) == 0 {
		return Signer{}, errors.New("record: signer has no certificate")
	}
	kid := sha256.Sum256(certDER)
	s := Signer{Key: key, KID: kid[:]}
	if withChain {
		s.Chain = append([][]byte{certDER}, intermediates...)
	}
	return s, nil
}

// Fingerprint returns the kid of a DER certificate.
func Fingerprint(certDER []byte) []byte {
	f := sha256.Sum256(certDER)
	return f[:]
}

// Signature is one signature on a record.
type Signature struct {
	KID   []byte   // SHA-256 of the signer's DER certificate
	Chain [][]byte // x5chain header, leaf first, DER; empty when not sent

}

// VerifySignature checks signature i of the record against pub. It is the
// low-level check; a Verifier decides whether the signer's certificate
// chain, role and tier are acceptable, and pub must be.
//
// It builds the COSE Sig_structure (RFC 9052 §4.4) itself rather than
// through go-cose's generic encoder: that is a third of the cost of parsing
// a record, and TestVerifyMatchesGoCOSE holds the two to the same answer.
func (r *Record) VerifySignature(i int, pub ed25519.PublicKey) error {
	k, err := NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("record: verify: %w", err)
	}
	return r.VerifySignatureKey(i, k)
}

// PublicKey is an Ed25519 public key prepared for verifying many
// signatures: the point is decompressed and its tables built once, which
// makes each verification about half the cost of crypto/ed25519's (see
// BenchmarkVerifyKey). Verification follows crypto/ed25519 exactly
// (cofactorless, the same encodings accepted), through curve25519-voi's
// VerifyOptionsStdLib; FuzzVerifyMatchesStdlib holds the two to the same
// answer. A PublicKey is safe for concurrent use.
type PublicKey struct {
	raw ed25519.PublicKey
	x   *voi.ExpandedPublicKey
}

// NewPublicKey prepares pub.
func NewPublicKey(pub ed25519.PublicKey) (*PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil, fmt.Errorf("public key %x…: %w", pub[:4], err)
	}
	return &PublicKey{raw: pub, x: x}, nil
}

// Raw returns the key as crypto/ed25519 holds it.
func (k *PublicKey) Raw() ed25519.PublicKey { return k.raw }

// Verify reports whether sig is a valid signature of msg by k, exactly as
// crypto/ed25519.Verify would.
func (k *PublicKey) Verify(msg, sig []byte) bool {
	return voi.VerifyExpandedWithOptions(k.x, msg, sig, stdlibVerify)
}

// stdlibVerify makes curve25519-voi accept exactly what crypto/ed25519
// accepts.
var stdlibVerify = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// VerifySignatureKey is VerifySignature with a prepared key.
func (r *Record) VerifySignatureKey(i int, k *PublicKey) error {
	if i < 0 || i >= len(r.sigs) {
		return fmt.Errorf("record: no signature %d (record has %d)", i, len(r.sigs))
	}
	var tbs, sig []byte
	switch {
	case r.sign1 != nil:
		tbs = sigStructure(nil, "Signature1", r.sign1.Headers.RawProtected, nil, r.payload)
		sig = r.sign1.Signature
	case r.multi != nil:
		s := r.multi.Signatures[i]
		tbs = sigStructure(nil, "Signature", r.multi.Headers.RawProtected, s.Headers.RawProtected, r.payload)
		sig = s.Signature
	default:
		return errors.New("record: verify: record was never signed")
	}
	if !k.Verify(tbs, sig) {
		return fmt.Errorf("%w: signature %d (kid %x…)", ErrSignature, i, r.sigs[i].KID[:4])
	}
	return nil
}

// sigStructure appends the ToBeSigned bytes of a signature with empty
// external data: the canonical encoding of
// [context, body_protected, ?sign_protected, h”, payload], where the
// protected headers are passed already encoded as byte strings.
func sigStructure(dst []byte, context string, bodyProtected, signProtected, payload []byte) []byte {
	n := uint64(4)
	if signProtected != nil {
		n = 5
	}
	dst = appendHead(dst, 4, n)
	dst = appendHead(dst, 3, uint64(len(context)))
	dst = append(dst, context...)
	dst = append(dst, bodyProtected...)
	if signProtected != nil {
		dst = append(dst, signProtected...)
	}
	dst = append(dst, 0x40)
	dst = appendHead(dst, 2, uint64(len(payload)))
	return append(dst, payload...)
}

// appendHead appends a CBOR head in its shortest form.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
