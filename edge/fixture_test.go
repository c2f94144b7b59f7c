package edge

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// city is an in-memory city PKI with a server and a pole, as the tests
// of the runtime need: real certificates, real signatures.
type city struct {
	root, ca *trust.CA
	server   member
	pole     member
}

type member struct {
	cert      *x509.Certificate
	chainSign record.Signer
	kidSign   record.Signer
}

var testCity = sync.OnceValue(func() *city {
	now := t0.Add(-24 * time.Hour)
	root, err := trust.NewRoot("testville", now)
	if err != nil {
		panic(err)
	}
	ca, err := root.NewCityCA(now)
	if err != nil {
		panic(err)
	}
	issue := func(id trust.Identity) member {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		cert, err := ca.Issue(id, pub, now)
		if err != nil {
			panic(err)
		}
		withChain, err := record.NewSigner(key, cert.Raw, true, ca.Cert.Raw)
		if err != nil {
			panic(err)
		}
		kid, err := record.NewSigner(key, cert.Raw, false)
		if err != nil {
			panic(err)
		}
		return member{cert: cert, chainSign: withChain, kidSign: kid}
	}
	return &city{root: root, ca: ca,
		server: issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}),
		pole:   issue(trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}),
	}
})

// verifier trusts the test city and knows the pole's certificate.
func (c *city) verifier(t *testing.T) *trust.Verifier {
	t.Helper()
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{c.root.Cert}, Intermediates: []*x509.Certificate{c.ca.Cert}, TrustedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddCertificates(t0, c.pole.cert); err != nil {
		t.Fatal(err)
	}
	return v
}

// runNode runs a real mesh node on a store in dir, with the pole's outbox
// policy (OwnOutbox), until stop is called or the test ends.
func runNode(t *testing.T, dir string, clk *clocktest.Clock) (n *mesh.Node, st *store.Store, stop func()) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "pole.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	n, err = mesh.NewNode(mesh.NodeConfig{ID: "pole-1", Store: st, Verifier: testCity().verifier(t), Clock: clk, Outbox: OwnOutbox("pole-1")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && err != context.Canceled {
				t.Errorf("node: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(stop)
	return n, st, stop
}
