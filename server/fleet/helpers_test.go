package fleet_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/fleet"
	"github.com/cityarray/cityarray/server/internal/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = servertest.T0

// device is a pole of the test city: its certificate and a signer.
type device struct {
	id, zone string
	cert     *x509.Certificate
	signer   record.Signer // sends its chain
	seq      uint64
}

// pki is the test city with its registered poles.
type pki struct {
	*servertest.PKI
	devices []*device // pole-000 … pole-011: zones z1 (0–5), z2 (6–9), z3 (10–11)
}

func zoneOf(i int) string {
	switch {
	case i < 6:
		return "z1"
	case i < 10:
		return "z2"
	}
	return "z3"
}

var testPKI = sync.OnceValue(func() *pki { return newPKI(12) })

func newPKI(n int) *pki {
	p := &pki{PKI: servertest.NewPKI(t0.Add(-time.Hour))}
	for i := range n {
		d, err := issueDevice(p, fmt.Sprintf("pole-%03d", i), zoneOf(i))
		if err != nil {
			panic(err)
		}
		p.devices = append(p.devices, d)
	}
	return p
}

// ack returns d's signed ack of rec in state st at.
func (d *device) ack(tb testing.TB, rec record.ID, st record.AckState, reason string, at time.Time) *record.Record {
	tb.Helper()
	d.seq++
	r, err := record.Sign(&record.Record{
		Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
		Issued: at, Expires: at.Add(time.Hour), Origin: d.id, Seq: d.seq,
		Body: &record.Ack{Record: rec, Device: d.id, State: st, Reason: reason, At: record.MillisOf(at)},
	}, d.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// health returns d's signed health report.
func (d *device) health(tb testing.TB, rung, version string, at time.Time) *record.Record {
	tb.Helper()
	d.seq++
	r, err := record.Sign(&record.Record{
		Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
		Issued: at, Expires: at.Add(time.Hour), Origin: d.id, Seq: d.seq,
		Body: &record.Health{Rung: rung, Version: version, CPUTemp: 51000, Uptime: 3600},
	}, d.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// alertRecord returns a server-signed warning record for scope, issued at.
func alertRecord(tb testing.TB, scope record.Scope, seq uint64, at time.Time) *record.Record {
	tb.Helper()
	r, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: scope, Issued: at, Expires: at.Add(time.Hour),
		Origin: "server-1", Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Test alert"}},
			Severity: "Minor", Urgency: "Expected", Certainty: "Possible", Category: "Other"},
	}, testPKI().Server)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

type env struct {
	t     testing.TB
	dir   string
	clk   *clocktest.Clock
	db    *bbolt.DB
	aud   *servertest.Auditor
	fleet *fleet.Fleet
	opts  fleet.Options
}

// newEnv opens a fleet on a fresh database with a real audit log and
// registers the test PKI's devices. publisher may be nil.
func newEnv(tb testing.TB, publisher fleet.Publisher) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{t: tb, dir: dir, clk: clocktest.New(t0)}
	db, err := bbolt.Open(filepath.Join(dir, "server.db"), 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e.db = db
	tb.Cleanup(func() { db.Close() })
	e.aud = servertest.OpenAuditor(tb, filepath.Join(dir, "audit"), e.clk)
	e.opts = fleet.Options{Clock: e.clk, CA: testPKI().CA, Publisher: publisher, Auditor: e.aud}
	if e.fleet, err = fleet.New(db, e.opts); err != nil {
		tb.Fatal(err)
	}
	for _, d := range testPKI().devices {
		if _, err := e.fleet.Register(d.cert); err != nil {
			tb.Fatal(err)
		}
	}
	e.aud.Take()
	return e
}

// reopen opens a second Fleet on the same database, as after a restart.
func (e *env) reopen() *fleet.Fleet {
	e.t.Helper()
	f, err := fleet.New(e.db, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// startNode runs a real mesh node that trusts the test city, as the
// publisher of revocations.
func startNode(t *testing.T, clk mesh.Clock, onAccept func(*record.Record)) *servertest.Node {
	t.Helper()
	return servertest.StartNode(t, t.TempDir(), testPKI().Verifier(t, false), clk, onAccept)
}

// principals returns an admin and a technician of a real auth service.
func principals(t *testing.T, db *bbolt.DB, clk *clocktest.Clock) (admin, tech *auth.Principal) {
	t.Helper()
	people := servertest.NewPeople(t, db, clk, 7)
	people.Bootstrap("root", "Admin")
	admin = people.Login("root")
	people.Add(admin, auth.NewUser{ID: "tess", DisplayName: "Tess", Role: auth.RoleTechnician})
	return admin, people.Login("tess")
}

func ed25519Key() (ed25519.PublicKey, ed25519.PrivateKey, error) { return ed25519.GenerateKey(nil) }

// newPKIDevice issues a device outside the registered set.
func newPKIDevice(t testing.TB, p *pki, id, zone string) *device {
	t.Helper()
	d, err := issueDevice(p, id, zone)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func issueDevice(p *pki, id, zone string) (*device, error) {
	cert, s, err := p.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone})
	if err != nil {
		return nil, err
	}
	return &device{id: id, zone: zone, cert: cert, signer: s}, nil
}
