package record

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
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

	index int // position among the record's signatures
}

// VerifySignature checks signature i of the record against pub. It is the
// only place a record's signature is checked; mesh/trust decides whose key
// pub must be.
func (r *Record) VerifySignature(i int, pub ed25519.PublicKey) error {
	if i < 0 || i >= len(r.sigs) {
		return fmt.Errorf("record: no signature %d (record has %d)", i, len(r.sigs))
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("record: verify: public key is %d bytes", len(pub))
	}
	v, err := cose.NewVerifier(cose.AlgorithmEdDSA, pub)
	if err != nil {
		return fmt.Errorf("record: verify: %w", err)
	}
	switch {
	case r.sign1 != nil:
		err = r.sign1.Verify(nil, v)
	case r.multi != nil:
		err = r.multi.Signatures[i].Verify(v, r.multi.Headers.RawProtected, r.multi.Payload, nil)
	default:
		return errors.New("record: verify: record was never signed")
	}
	if err != nil {
		return fmt.Errorf("%w: signature %d (kid %x…)", ErrSignature, i, r.sigs[i].KID[:4])
	}
	return nil
}
