package mesh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

type pki struct {
	root   *trust.CA
	ca     *trust.CA
	server record.Signer
	device record.Signer // pole-1 in zone z1
}

var testPKI = sync.OnceValue(func() *pki {
	root, err := trust.NewRoot("testville", t0.Add(-time.Hour))
	if err != nil {
		panic(err)
	}
	ca, err := root.NewCityCA(t0.Add(-time.Hour))
	if err != nil {
		panic(err)
	}
	issue := func(id trust.Identity) record.Signer {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		cert, err := ca.Issue(id, pub, t0.Add(-time.Hour))
		if err != nil {
			panic(err)
		}
		s, err := record.NewSigner(key, cert.Raw, true, ca.Cert.Raw)
		if err != nil {
			panic(err)
		}
		return s
	}
	return &pki{
		root: root, ca: ca,
		server: issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}),
		device: issue(trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}),
	}
})

func newVerifier(t testing.TB) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{testPKI().root.Cert}, TrustedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// warning returns a server-signed warning for zone z1 with sequence seq.
func warning(t testing.TB, seq uint64, text string) *record.Record {
	t.Helper()
	r, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: text}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
	}, testPKI().server)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// forgedWarning is a warning signed by a pole: well-formed, refused by the
// tier table.
func forgedWarning(t testing.TB) *record.Record {
	t.Helper()
	r, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "pole-1", Seq: 1,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Fake evacuation"}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
	}, testPKI().device)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tempStore opens a store in a new temporary folder, closed when the test
// ends.
func tempStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "node.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
