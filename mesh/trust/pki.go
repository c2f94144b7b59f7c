package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Validity periods of the certificates this package issues. Every
// certificate's NotBefore is backdated by Backdate so that a node whose clock
// is a little behind the issuer's accepts it at once; a leaf never outlives
// the city CA that issued it, nor the city CA its root.
const (
	RootValidity     = 20 // years
	CityCAValidity   = 10 // years
	ServerValidity   = 2  // years
	GatewayValidity  = 2  // years
	OperatorValidity = 1  // years
	DeviceValidity   = 5  // years
	Backdate         = 5 * time.Minute
)

// validityYears returns how many years a certificate for role lasts.
func validityYears(r Role) int {
	switch r {
	case RoleRoot:
		return RootValidity
	case RoleCA:
		return CityCAValidity
	case RoleServer:
		return ServerValidity
	case RoleGateway:
		return GatewayValidity
	case RoleOperator:
		return OperatorValidity
	case RoleDevice:
		return DeviceValidity
	}
	return 0
}

// CA is a certificate authority of the city PKI: the root or the city CA.
// Key may be nil for a CA loaded only to check certificates.
type CA struct {
	Cert *x509.Certificate
	Key  ed25519.PrivateKey
}

// NewRoot creates a city root CA: a fresh Ed25519 key and a self-signed
// certificate valid for RootValidity years, allowed one CA (the city CA)
// below it. The root key signs only city CA certificates and can be kept
// offline between those.
func NewRoot(city string, now time.Time) (*CA, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: new root: %w", err)
	}
	return newRoot(city, now, key)
}

// newRoot is NewRoot with a given key.
func newRoot(city string, now time.Time, key ed25519.PrivateKey) (*CA, error) {
	id := Identity{Role: RoleRoot, ID: city}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("trust: new root: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	tmpl, err := template(id, city, now)
	if err != nil {
		return nil, fmt.Errorf("trust: new root: %w", err)
	}
	tmpl.MaxPathLen = 1
	cert, err := create(tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("trust: new root: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// NewCityCA creates the city CA under the root ca: a fresh Ed25519 key and
// a certificate valid for CityCAValidity years that may issue leaves only
// (no CA below it).
func (ca *CA) NewCityCA(now time.Time) (*CA, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: new city CA: %w", err)
	}
	return ca.newCityCA(now, key)
}

// newCityCA is NewCityCA with a given key.
func (ca *CA) newCityCA(now time.Time, key ed25519.PrivateKey) (*CA, error) {
	rootID, err := ca.check(RoleRoot)
	if err != nil {
		return nil, fmt.Errorf("trust: new city CA: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	tmpl, err := template(Identity{Role: RoleCA, ID: rootID.ID}, rootID.ID, now)
	if err != nil {
		return nil, fmt.Errorf("trust: new city CA: %w", err)
	}
	tmpl.MaxPathLen = 0
	tmpl.MaxPathLenZero = true
	cert, err := create(tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("trust: new city CA: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue issues a leaf certificate for id and pub. ca must be the city CA
// (with its key); id must be a valid server, operator, gateway or device
// identity. The certificate lasts for its role's validity period, cut short
// to the city CA's own expiry.
func (ca *CA) Issue(id Identity, pub ed25519.PublicKey, now time.Time) (*x509.Certificate, error) {
	caID, err := ca.check(RoleCA)
	if err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	if id.Role.IsCA() {
		return nil, fmt.Errorf("trust: issue: %w: %s is an authority; use NewRoot or NewCityCA", ErrBadIdentity, id)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("trust: issue: %w: public key is %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("trust: issue: %w: city CA expired at %s", ErrNotCA, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl, err := template(id, caID.ID, now)
	if err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	cert, err := create(tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	return cert, nil
}

// check reports the CA's identity if it is a role authority with a key that
// matches its certificate.
func (ca *CA) check(role Role) (Identity, error) {
	if ca == nil || ca.Cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrNotCA)
	}
	id, err := IdentityOf(ca.Cert)
	if err != nil {
		return Identity{}, err
	}
	if id.Role != role {
		return Identity{}, fmt.Errorf("%w: %s is not a %s", ErrNotCA, id, role)
	}
	if len(ca.Key) != ed25519.PrivateKeySize {
		return Identity{}, fmt.Errorf("%w: %s has no key loaded", ErrNotCA, id)
	}
	pub, ok := ca.Cert.PublicKey.(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, ca.Key.Public().(ed25519.PublicKey)) {
		return Identity{}, fmt.Errorf("%w: %s: key does not match certificate", ErrBadKey, id)
	}
	return id, nil
}

// template returns the certificate template for id in city at now.
func template(id Identity, city string, now time.Time) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName(id), Organization: []string{city}},
		NotBefore:             now.Add(-Backdate).UTC(),
		NotAfter:              now.UTC().AddDate(validityYears(id.Role), 0, 0).UTC(),
		URIs:                  []*url.URL{id.URI()},
		BasicConstraintsValid: true,
	}
	if id.Role.IsCA() {
		t.IsCA = true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		t.KeyUsage = x509.KeyUsageDigitalSignature
	}
	return t, nil
}

// commonName is the subject CN of id's certificate: the id, except for
// the two authorities, which name their city and say which they are, so
// that the city CA's subject differs from the root's (tools such as
// OpenSSL take a certificate whose subject is its issuer's for
// self-signed). The CN is for people reading a certificate; nothing here
// reads an identity from it (IdentityOf reads the URI SAN).
func commonName(id Identity) string {
	switch id.Role {
	case RoleRoot:
		return id.ID + " root"
	case RoleCA:
		return id.ID + " city CA"
	}
	return id.ID
}

// create signs tmpl with parent's key and parses the result. The leaf's
// NotAfter is cut to the parent's.
func create(tmpl, parent *x509.Certificate, pub ed25519.PublicKey, key ed25519.PrivateKey) (*x509.Certificate, error) {
	if tmpl != parent && tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f // keep the DER INTEGER positive in 16 bytes
	if b[0] == 0 {
		b[0] = 1 // and exactly 16 bytes long
	}
	return new(big.Int).SetBytes(b), nil
}

// Serial returns the certificate's serial as big-endian unsigned bytes, the
// form revocation records carry.
func Serial(cert *x509.Certificate) []byte { return cert.SerialNumber.Bytes() }

// SerialString returns the certificate's serial in lower-case hex, as the
// command line shows it and ParseSerial reads it.
func SerialString(cert *x509.Certificate) string { return hex.EncodeToString(Serial(cert)) }

// ParseSerial decodes a serial written in hex, with or without colons
// between the bytes (as openssl prints it).
func ParseSerial(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: serial %q: want hex digits", ErrBadCertificate, s)
	}
	return normSerial(b), nil
}

// normSerial strips leading zero bytes, so that equal numbers compare equal.
func normSerial(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
