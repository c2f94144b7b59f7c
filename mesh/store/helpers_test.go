package store_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (Open runs bbolt's
// checker on a goroutine that must finish before Open returns).
func TestMain(m *testing.M) {
	code := m.Run()
	cleanupFixtures()
	if code == 0 && os.Getenv(crashEnv) == "" {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

var testSigner = func() record.Signer {
	seed := sha256.Sum256([]byte("cityarray mesh/store test key"))
	s, err := record.NewSigner(ed25519.NewKeyFromSeed(seed[:]), []byte("test certificate"), false)
	if err != nil {
		panic(err)
	}
	return s
}()

// spec describes a record to sign; zero fields get defaults.
type spec struct {
	Kind       record.Kind
	Tier       record.Tier
	Scope      record.Scope
	Issued     time.Duration // after t0 (may be negative)
	Expires    time.Duration // after t0; default 1 h
	Origin     string
	Seq        uint64
	Supersedes []record.ID
	Text       string
}

func sign(t testing.TB, sp spec) *record.Record {
	t.Helper()
	if sp.Kind == 0 {
		sp.Kind = record.KindAlert
	}
	if sp.Tier == 0 {
		sp.Tier = record.TierWarning
	}
	if sp.Scope == "" {
		sp.Scope = record.City
	}
	if sp.Issued == 0 {
		sp.Issued = -time.Minute
	}
	if sp.Expires == 0 {
		sp.Expires = time.Hour
	}
	if sp.Origin == "" {
		sp.Origin = "server1"
	}
	if sp.Text == "" {
		sp.Text = fmt.Sprintf("Flood warning %d", sp.Seq)
	}
	texts := map[string]record.AlertText{"en": {Short: sp.Text}}
	var body record.Body
	switch sp.Kind {
	case record.KindAlert, record.KindUpdate:
		body = &record.Alert{Texts: texts, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}
	case record.KindCancel:
		body = &record.Cancel{Reason: "all clear"}
	case record.KindProtocol:
		body = &record.Protocol{Template: "flood", Texts: texts, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}
	case record.KindActivation:
		body = &record.Activation{Protocol: record.IDOf([]byte("some protocol"))}
	case record.KindTelemetry:
		body = &record.Telemetry{From: record.MillisOf(t0.Add(-time.Hour)), To: record.MillisOf(t0), Counts: map[string]uint32{"person": 3}}
	case record.KindHealth:
		body = &record.Health{Uptime: sp.Seq, Rung: "ethernet"}
	default:
		t.Fatalf("sign: no body for kind %s", sp.Kind)
	}
	r, err := record.Sign(&record.Record{
		Kind: sp.Kind, Tier: sp.Tier, Scope: sp.Scope,
		Issued: t0.Add(sp.Issued), Expires: t0.Add(sp.Expires),
		Origin: sp.Origin, Seq: sp.Seq, Supersedes: sp.Supersedes, Body: body,
	}, testSigner)
	if err != nil {
		t.Fatalf("sign %+v: %v", sp, err)
	}
	return r
}

func testOptions() store.Options {
	return store.DefaultOptions()
}

func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "node.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ids(es []store.Entry) []record.ID {
	out := make([]record.ID, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func put(t testing.TB, s *store.Store, now time.Time, rs ...*record.Record) {
	t.Helper()
	for _, r := range rs {
		if _, err := s.Put(r, now); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtureDirs are removed when the test binary ends.
var fixtureDirs []string

func cleanupFixtures() {
	for _, d := range fixtureDirs {
		os.RemoveAll(d)
	}
}
