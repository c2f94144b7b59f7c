package trust

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// certSummary is what the PKI tests compare of a certificate.
type certSummary struct {
	CN, O          string
	URI            string
	NotBefore      time.Time
	NotAfter       time.Time
	IsCA           bool
	MaxPathLen     int
	MaxPathLenZero bool
	KeyUsage       x509.KeyUsage
	Algorithm      x509.SignatureAlgorithm
}

func summarise(c *x509.Certificate) certSummary {
	s := certSummary{CN: c.Subject.CommonName, NotBefore: c.NotBefore, NotAfter: c.NotAfter, IsCA: c.IsCA,
		MaxPathLen: c.MaxPathLen, MaxPathLenZero: c.MaxPathLenZero, KeyUsage: c.KeyUsage, Algorithm: c.SignatureAlgorithm}
	if len(c.Subject.Organization) == 1 {
		s.O = c.Subject.Organization[0]
	}
	if len(c.URIs) == 1 {
		s.URI = c.URIs[0].String()
	}
	return s
}

func TestPKICertificates(t *testing.T) {
	f := testFixture()
	leaf := x509.KeyUsageDigitalSignature
	ca := x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	nb := t0.Add(-5 * time.Minute)
	years := func(n int) time.Time { return t0.AddDate(n, 0, 0) }
	tests := []struct {
		name string
		cert *x509.Certificate
		want certSummary
	}{
		{"root", f.root.Cert, certSummary{"metropolis root", "metropolis", "cityarray://root/metropolis", nb, years(20), true, 1, false, ca, x509.PureEd25519}},
		{"city CA", f.ca.Cert, certSummary{"metropolis city CA", "metropolis", "cityarray://ca/metropolis", nb, years(10), true, 0, true, ca, x509.PureEd25519}},
		{"server", f.server.cert, certSummary{"server-1", "metropolis", "cityarray://server/server-1", nb, years(2), false, -1, false, leaf, x509.PureEd25519}},
		{"gateway", f.gw1.cert, certSummary{"gw-1", "metropolis", "cityarray://zone/z1/gateway/gw-1", nb, years(2), false, -1, false, leaf, x509.PureEd25519}},
		{"operator", f.operator.cert, certSummary{"officer-7", "metropolis", "cityarray://operator/officer-7", nb, years(1), false, -1, false, leaf, x509.PureEd25519}},
		{"device", f.dev1.cert, certSummary{"pole-0001", "metropolis", "cityarray://zone/z1/device/pole-0001", nb, years(5), false, -1, false, leaf, x509.PureEd25519}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, summarise(tt.cert)); diff != "" {
			t.Errorf("%s certificate (-want +got):\n%s", tt.name, diff)
		}
		if n := tt.cert.SerialNumber.BitLen(); n < 120 || n > 127 || tt.cert.SerialNumber.Sign() <= 0 {
			t.Errorf("%s serial %x: %d bits, want a positive 128-bit DER integer", tt.name, tt.cert.SerialNumber, n)
		}
	}
	// The chain verifies with the standard library too.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.root.Cert)
	inter.AddCert(f.ca.Cert)
	if _, err := f.dev1.cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("device chain: %v", err)
	}
}

func TestNewRootRandom(t *testing.T) {
	a, err := NewRoot("metropolis", t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRoot("metropolis", t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key.Equal(b.Key) || a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Error("two roots share a key or serial")
	}
	c, err := a.NewCityCA(t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cert.CheckSignatureFrom(a.Cert); err != nil {
		t.Errorf("city CA not signed by root: %v", err)
	}
	if _, err := NewRoot("no city", t0); !errors.Is(err, ErrBadIdentity) {
		t.Errorf("NewRoot with a bad city: %v", err)
	}
}

func TestLeafCutToCityCAExpiry(t *testing.T) {
	f := testFixture()
	late := f.ca.Cert.NotAfter.AddDate(-1, 0, 0) // a 5-year device cert would outlive the CA
	key := seedKey("late device")
	cert, err := f.ca.Issue(Identity{Role: RoleDevice, ID: "pole-late", Zone: "z1"}, key.Public().(ed25519.PublicKey), late)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(f.ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the city CA's %v", cert.NotAfter, f.ca.Cert.NotAfter)
	}
}

func TestIssueRefuses(t *testing.T) {
	f := testFixture()
	pub := seedKey("x").Public().(ed25519.PublicKey)
	dev := Identity{Role: RoleDevice, ID: "pole-x", Zone: "z1"}
	tests := []struct {
		name string
		ca   *CA
		id   Identity
		pub  ed25519.PublicKey
		now  time.Time
		want error
	}{
		{"root issues a leaf", f.root, dev, pub, t0, ErrNotCA},
		{"city CA without key", &CA{Cert: f.ca.Cert}, dev, pub, t0, ErrNotCA},
		{"key of another CA", &CA{Cert: f.ca.Cert, Key: f.otherCA.Key}, dev, pub, t0, ErrBadKey},
		{"a leaf as CA", &CA{Cert: f.server.cert, Key: f.server.key}, dev, pub, t0, ErrNotCA},
		{"CA identity", f.ca, Identity{Role: RoleCA, ID: "metropolis"}, pub, t0, ErrBadIdentity},
		{"device without zone", f.ca, Identity{Role: RoleDevice, ID: "p"}, pub, t0, ErrBadIdentity},
		{"short key", f.ca, dev, pub[:16], t0, ErrBadKey},
		{"after the CA expired", f.ca, dev, pub, f.ca.Cert.NotAfter, ErrNotCA},
	}
	for _, tt := range tests {
		if _, err := tt.ca.Issue(tt.id, tt.pub, tt.now); !errors.Is(err, tt.want) {
			t.Errorf("%s: Issue: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := f.ca.NewCityCA(t0); !errors.Is(err, ErrNotCA) {
		t.Errorf("city CA making a city CA: %v", err)
	}
}

func TestParseSerial(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"0a:1b:2c", []byte{0x0a, 0x1b, 0x2c}},
		{"00ff", []byte{0xff}},
		{" 7F ", []byte{0x7f}},
	}
	for _, tt := range tests {
		got, err := ParseSerial(tt.in)
		if err != nil || !cmp.Equal(tt.want, got) {
			t.Errorf("ParseSerial(%q) = %x, %v; want %x", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "xyz", "1"} {
		if _, err := ParseSerial(bad); err == nil {
			t.Errorf("ParseSerial(%q) succeeded", bad)
		}
	}
	f := testFixture()
	back, err := ParseSerial(SerialString(f.dev1.cert))
	if err != nil || !cmp.Equal(Serial(f.dev1.cert), back) {
		t.Errorf("SerialString round trip: %x, %v", back, err)
	}
}
