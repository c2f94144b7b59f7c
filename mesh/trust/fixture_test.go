package trust

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// t0 is the fixed "now" of the tests: every certificate is issued at t0 and
// every record is issued at t0 unless a test says otherwise.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seedKey returns a fixed Ed25519 key derived from name.
func seedKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("cityarray test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// node is a certified key of the fixture PKI.
type node struct {
	id   Identity
	key  ed25519.PrivateKey
	cert *x509.Certificate
	ca   *CA // issuer
}

// signer returns a record signer for n that sends its chain (leaf and city
// CA) in x5chain.
func (n *node) signer() record.Signer {
	s, err := record.NewSigner(n.key, n.cert.Raw, true, n.ca.Cert.Raw)
	if err != nil {
		panic(err)
	}
	return s
}

// kidOnly returns a record signer for n that sends only its kid.
func (n *node) kidOnly() record.Signer {
	s, err := record.NewSigner(n.key, n.cert.Raw, false)
	if err != nil {
		panic(err)
	}
	return s
}

// fixture is a city PKI with one node of each role (two of some), and a
// second city with a server of its own.
type fixture struct {
	root, ca            *CA
	server, server2     *node
	operator, operator2 *node
	gw1, gw2            *node // zones z1, z2
	dev1, dev2          *node // zone z1
	caNode              *node // the city CA as a signer (revocations)

	otherRoot, otherCA *CA
	otherServer        *node // a server of the city "gotham"
}

var testFixture = sync.OnceValue(func() *fixture {
	f := &fixture{}
	var err error
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	f.root, err = newRoot("metropolis", t0, seedKey("root"))
	must(err)
	f.ca, err = f.root.newCityCA(t0, seedKey("ca"))
	must(err)
	issue := func(ca *CA, id Identity) *node {
		key := seedKey(ca.Cert.Subject.Organization[0] + id.String()) // the city
		cert, err := ca.Issue(id, key.Public().(ed25519.PublicKey), t0)
		must(err)
		return &node{id: id, key: key, cert: cert, ca: ca}
	}
	f.server = issue(f.ca, Identity{Role: RoleServer, ID: "server-1"})
	f.server2 = issue(f.ca, Identity{Role: RoleServer, ID: "server-2"})
	f.operator = issue(f.ca, Identity{Role: RoleOperator, ID: "officer-7"})
	f.operator2 = issue(f.ca, Identity{Role: RoleOperator, ID: "officer-8"})
	f.gw1 = issue(f.ca, Identity{Role: RoleGateway, ID: "gw-1", Zone: "z1"})
	f.gw2 = issue(f.ca, Identity{Role: RoleGateway, ID: "gw-2", Zone: "z2"})
	f.dev1 = issue(f.ca, Identity{Role: RoleDevice, ID: "pole-0001", Zone: "z1"})
	f.dev2 = issue(f.ca, Identity{Role: RoleDevice, ID: "pole-0002", Zone: "z1"})
	f.caNode = &node{id: Identity{Role: RoleCA, ID: "metropolis"}, key: f.ca.Key, cert: f.ca.Cert, ca: f.root}

	f.otherRoot, err = newRoot("gotham", t0, seedKey("other root"))
	must(err)
	f.otherCA, err = f.otherRoot.newCityCA(t0, seedKey("other ca"))
	must(err)
	f.otherServer = issue(f.otherCA, Identity{Role: RoleServer, ID: "server-1"})
	return f
})

// newTestVerifier returns a verifier trusting the fixture's root, with
// cfg's other fields.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	f := testFixture()
	if cfg.Roots == nil {
		cfg.Roots = []*x509.Certificate{f.root.Cert}
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// alertBody is a one-language alert body; pad adds that many bytes to its
// long text.
func alertBody(pad int) *record.Alert {
	long := "The river is rising fast. Leave low areas near the river and move to higher ground now."
	for len(long) < pad {
		long += " Do not drive through water."
	}
	if pad > 0 {
		long = long[:pad]
	}
	return &record.Alert{
		Texts: map[string]record.AlertText{"en": {
			Short: "Flash flood warning: move to higher ground now",
			Long:  long,
		}},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met",
	}
}

// rec returns an unsigned alert record issued at t0 for an hour.
func rec(tier record.Tier, scope record.Scope, origin string, seq uint64) *record.Record {
	return &record.Record{
		Kind: record.KindAlert, Tier: tier, Scope: scope,
		Issued: t0, Expires: t0.Add(time.Hour), Origin: origin, Seq: seq,
		Body: alertBody(0),
	}
}

// with returns r after applying edits to it.
func with(r *record.Record, edits ...func(*record.Record)) *record.Record {
	for _, e := range edits {
		e(r)
	}
	return r
}

func mustSign(t testing.TB, r *record.Record, signers ...record.Signer) *record.Record {
	t.Helper()
	out, err := record.Sign(r, signers...)
	if err != nil {
		t.Fatalf("record.Sign: %v", err)
	}
	return out
}
