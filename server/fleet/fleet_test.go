package fleet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/fleet"
)

func ids(ds []fleet.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// TestRegistry: devices come from certificates and health reports, and
// survive a restart.
func TestRegistry(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	if diff := cmp.Diff([]string{"pole-010", "pole-011"}, ids(e.fleet.Devices("z3"))); diff != "" {
		t.Errorf("z3 (-want +got):\n%s", diff)
	}
	if n := len(e.fleet.Devices("")); n != 12 {
		t.Errorf("%d devices, want 12", n)
	}
	if z, ok := e.fleet.DeviceZone("pole-007"); !ok || z != "z2" {
		t.Errorf("DeviceZone(pole-007) = %q, %v", z, ok)
	}
	if _, ok := e.fleet.DeviceZone("pole-404"); ok {
		t.Error("unknown device has a zone")
	}
	// Only device certificates register.
	pub, _, _ := ed25519Key()
	gw, _ := p.CA.Issue(trust.Identity{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"}, pub, t0)
	if _, err := e.fleet.Register(gw); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("Register(gateway) = %v", err)
	}

	// A health report updates its device.
	d := p.devices[3]
	e.clk.Advance(time.Minute)
	e.fleet.Observe(d.health(t, "mesh", "1.2.3", e.clk.Now()), e.clk.Now())
	got, _ := e.fleet.Device(d.id)
	if got.Health == nil || got.Health.Rung != "mesh" || got.Health.Version != "1.2.3" || !got.LastHeard.Equal(e.clk.Now()) {
		t.Errorf("after health: %+v", got)
	}
	// An older report arriving late changes nothing.
	e.fleet.Observe(d.health(t, "offline", "1.2.2", e.clk.Now().Add(-time.Hour)), e.clk.Now())
	if got, _ := e.fleet.Device(d.id); got.Health.Rung != "mesh" {
		t.Errorf("late report applied: %+v", got.Health)
	}

	// An unknown device whose report carries its certificate joins.
	extra := newPKIDevice(t, p, "pole-900", "z9")
	e.fleet.Observe(extra.health(t, "lora", "", e.clk.Now()), e.clk.Now())
	if got, ok := e.fleet.Device("pole-900"); !ok || got.Zone != "z9" || got.Serial == "" {
		t.Errorf("device from health: %+v, %v", got, ok)
	}

	if _, err := e.fleet.Flush(); err != nil {
		t.Fatal(err)
	}
	f2 := e.reopen()
	if diff := cmp.Diff(e.fleet.Devices(""), f2.Devices("")); diff != "" {
		t.Errorf("after restart (-before +after):\n%s", diff)
	}
	if c := e.fleet.Counters(); c != (fleet.Counters{}) {
		t.Errorf("counters %+v", c)
	}
}

// TestDelivery runs acks through Observe and checks Status and Deliveries.
func TestDelivery(t *testing.T) {
	p := testPKI()
	dev := func(i int) *device { return p.devices[i] }
	for _, tc := range []struct {
		name  string
		scope record.Scope
		acks  func(t *testing.T, r0, r1 record.ID, at time.Time) []*record.Record
		want  fleet.DeliveryStatus
		state map[string]fleet.DeliveryState // devices whose state is not not-reached
	}{
		{
			name:  "zone with every outcome",
			scope: record.ZoneScope("z1"),
			acks: func(t *testing.T, r0, r1 record.ID, at time.Time) []*record.Record {
				return []*record.Record{
					dev(0).ack(t, r0, record.AckReceived, "", at),
					dev(0).ack(t, r0, record.AckDisplayed, "", at.Add(time.Second)),
					dev(0).ack(t, r0, record.AckPlayed, "", at.Add(2*time.Second)),
					dev(1).ack(t, r1, record.AckReceived, "", at), // a renewal counts
					dev(2).ack(t, r0, record.AckFailed, "panel dark", at),
					dev(3).ack(t, r0, record.AckFailed, "panel dark", at), // fails, then shows the renewal
					dev(3).ack(t, r1, record.AckDisplayed, "", at.Add(time.Minute)),
					dev(7).ack(t, r0, record.AckDisplayed, "", at), // z2: out of scope
				}
			},
			// Every state implies received: all four that acked.
			want: fleet.DeliveryStatus{InScope: 6, Reached: 4, Received: 4, Displayed: 2, Played: 1, Failed: 2, OutOfScope: 1,
				States: map[fleet.DeliveryState]int{fleet.NotReached: 2, fleet.Received: 1, fleet.Displayed: 2, fleet.Failed: 1}},
			state: map[string]fleet.DeliveryState{"pole-000": fleet.Displayed, "pole-001": fleet.Received, "pole-002": fleet.Failed, "pole-003": fleet.Displayed},
		},
		{
			name:  "city, nobody reached",
			scope: record.City,
			acks:  func(*testing.T, record.ID, record.ID, time.Time) []*record.Record { return nil },
			want:  fleet.DeliveryStatus{InScope: 12, States: map[fleet.DeliveryState]int{fleet.NotReached: 12, fleet.Received: 0, fleet.Displayed: 0, fleet.Failed: 0}},
		},
		{
			name:  "display that fails later",
			scope: record.DeviceScope("pole-004"),
			acks: func(t *testing.T, r0, r1 record.ID, at time.Time) []*record.Record {
				return []*record.Record{
					dev(4).ack(t, r0, record.AckDisplayed, "", at),
					dev(4).ack(t, r1, record.AckFailed, "watchdog reset", at.Add(time.Minute)),
				}
			},
			want:  fleet.DeliveryStatus{InScope: 1, Reached: 1, Received: 1, Displayed: 1, Failed: 1, States: map[fleet.DeliveryState]int{fleet.NotReached: 0, fleet.Received: 0, fleet.Displayed: 0, fleet.Failed: 1}},
			state: map[string]fleet.DeliveryState{"pole-004": fleet.Failed},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			now := e.clk.Now()
			r0, r1 := alertRecord(t, tc.scope, 1, now).ID(), alertRecord(t, tc.scope, 2, now.Add(time.Minute)).ID()
			e.fleet.Track("a1", []record.ID{r0}, tc.scope, now)
			e.fleet.Track("a1", []record.ID{r1}, tc.scope, now.Add(time.Minute))
			for _, a := range tc.acks(t, r0, r1, now.Add(time.Second)) {
				e.fleet.Observe(a, now)
			}
			check := func(f *fleet.Fleet) {
				t.Helper()
				got, err := f.Status("a1")
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				want.Alert, want.Scope, want.PublishedAt, want.Records = "a1", tc.scope, now, 2
				if want.States[fleet.NotReached] > 0 {
					want.NotReachedSince = now
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
				page, err := f.Deliveries("a1", fleet.DeliveryQuery{Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Devices) != tc.want.InScope {
					t.Errorf("%d devices listed, want %d", len(page.Devices), tc.want.InScope)
				}
				for _, d := range page.Devices {
					want := tc.state[d.Device]
					if want == "" {
						want = fleet.NotReached
					}
					if d.State != want {
						t.Errorf("%s: %s, want %s", d.Device, d.State, want)
					}
					if d.State == fleet.NotReached && !d.Since.Equal(now) {
						t.Errorf("%s not reached since %v, want publication", d.Device, d.Since)
					}
				}
			}
			check(e.fleet)
			if _, err := e.fleet.Flush(); err != nil {
				t.Fatal(err)
			}
			check(e.reopen())
		})
	}
}

// TestAckFiltering: acks of unknown records, and acks naming another
// device than their signer, do not count.
func TestAckFiltering(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	r0 := alertRecord(t, record.City, 1, t0).ID()
	e.fleet.Track("a1", []record.ID{r0}, record.City, t0)
	e.fleet.Observe(p.devices[0].ack(t, alertRecord(t, record.City, 9, t0).ID(), record.AckDisplayed, "", t0), t0)
	forged, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope("pole-001"),
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "pole-001", Seq: 99,
		Body: &record.Ack{Record: r0, Device: "pole-002", State: record.AckDisplayed, At: record.MillisOf(t0)}}, p.devices[1].signer)
	if err != nil {
		t.Fatal(err)
	}
	e.fleet.Observe(forged, t0)
	st, _ := e.fleet.Status("a1")
	if st.Reached != 0 {
		t.Errorf("reached %d, want 0", st.Reached)
	}
	if c := e.fleet.Counters(); c.UntrackedAcks != 1 || c.MismatchedAcks != 1 {
		t.Errorf("counters %+v", c)
	}
	if _, err := e.fleet.Status("nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Status(unknown) = %v", err)
	}
}

// TestDeliveriesPages lists a city's devices a page at a time, filtered.
func TestDeliveriesPages(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	r0 := alertRecord(t, record.City, 1, t0).ID()
	e.fleet.Track("a1", []record.ID{r0}, record.City, t0)
	for i := 0; i < 12; i += 3 {
		e.fleet.Observe(p.devices[i].ack(t, r0, record.AckDisplayed, "", t0), t0)
	}
	var got []string
	var sizes []int
	q := fleet.DeliveryQuery{State: fleet.NotReached, Limit: 3}
	for {
		page, err := e.fleet.Deliveries("a1", q)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Devices))
		for _, d := range page.Devices {
			got = append(got, d.Device)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	want := []string{"pole-001", "pole-002", "pole-004", "pole-005", "pole-007", "pole-008", "pole-010", "pole-011"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("not reached (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 2}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	for _, q := range []fleet.DeliveryQuery{{State: "lost"}, {Cursor: "!!"}} {
		if _, err := e.fleet.Deliveries("a1", q); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%+v: %v", q, err)
		}
	}
}

// TestRevoke: an admin's revocation is signed by the city CA, accepted by
// a real mesh node, marks the device and takes it out of every scope.
func TestRevoke(t *testing.T) {
	var e *env
	var mu sync.Mutex
	node := startNode(t, clocktest.New(t0), func(r *record.Record) {
		mu.Lock()
		f := e.fleet
		mu.Unlock()
		f.Observe(r, t0)
	})
	mu.Lock()
	e = newEnv(t, node)
	mu.Unlock()
	admin, tech := principals(t, e.db, e.clk)
	r0 := alertRecord(t, record.ZoneScope("z3"), 1, t0).ID()
	e.fleet.Track("a1", []record.ID{r0}, record.ZoneScope("z3"), t0)

	if _, err := e.fleet.Revoke(context.Background(), tech, "pole-010", "stolen"); !errors.Is(err, fleet.ErrForbidden) || fleet.StatusCode(err) != 403 {
		t.Errorf("technician revokes: %v", err)
	}
	// Two revocations in the same instant of the clock both pass.
	for _, id := range []string{"pole-010", "pole-011"} {
		d, err := e.fleet.Revoke(context.Background(), admin, id, "stolen")
		if err != nil {
			t.Fatalf("Revoke(%s): %v", id, err)
		}
		if !d.Revoked || d.RevokedBy != "root" || d.Revocation.IsZero() {
			t.Errorf("revoked device %+v", d)
		}
	}
	recs := node.Records()
	if len(recs) != 2 {
		t.Fatalf("the node accepted %d revocations, want 2", len(recs))
	}
	for _, r := range recs {
		rv := r.Body.(*record.Revocation)
		if r.Kind != record.KindRevocation || r.Origin != "testville" || len(rv.Serials) != 1 || rv.Reason != "stolen" {
			t.Errorf("revocation %s %+v", r, rv)
		}
	}
	if _, err := e.fleet.Revoke(context.Background(), admin, "pole-010", "again"); !errors.Is(err, fleet.ErrState) {
		t.Errorf("second revocation: %v", err)
	}
	if _, err := e.fleet.Revoke(context.Background(), admin, "pole-404", ""); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	st, _ := e.fleet.Status("a1")
	if st.InScope != 0 {
		t.Errorf("revoked devices still in scope: %+v", st)
	}
	var got []string
	for _, en := range e.aud.Take() {
		got = append(got, en.Actor+" "+en.Action+" "+en.Target+" "+en.Outcome)
	}
	want := []string{"tess device.refused pole-010 denied", "root device.revoke pole-010 ok", "root device.revoke pole-011 ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	f2 := e.reopen()
	if d, _ := f2.Device("pole-011"); !d.Revoked {
		t.Error("revocation lost at restart")
	}
}

// TestObserveRevocation: a revocation made elsewhere marks the device.
func TestObserveRevocation(t *testing.T) {
	e := newEnv(t, nil)
	d := testPKI().devices[5]
	rec, err := trust.NewRevocation(testPKI().CA, [][]byte{trust.Serial(d.cert)}, "decommissioned", t0)
	if err != nil {
		t.Fatal(err)
	}
	e.fleet.Observe(rec, t0)
	got, _ := e.fleet.Device(d.id)
	want := fleet.Device{ID: d.id, Zone: d.zone, Revoked: true, RevokedAt: t0, RevokeReason: "decommissioned", Revocation: rec.ID()}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(fleet.Device{}, "Serial", "Cert", "NotAfter", "Registered")); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}
}

// TestPrune drops old alerts.
func TestPrune(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	old, recent := alertRecord(t, record.City, 1, t0).ID(), alertRecord(t, record.City, 2, t0).ID()
	e.fleet.Track("old", []record.ID{old}, record.City, t0)
	e.fleet.Track("new", []record.ID{recent}, record.City, t0.Add(48*time.Hour))
	e.fleet.Observe(p.devices[0].ack(t, old, record.AckDisplayed, "", t0), t0)
	e.fleet.Flush()
	n, err := e.fleet.Prune(t0.Add(24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	for _, f := range []*fleet.Fleet{e.fleet, e.reopen()} {
		if _, err := f.Status("old"); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("old alert: %v", err)
		}
		if _, err := f.Status("new"); err != nil {
			t.Errorf("new alert: %v", err)
		}
	}
}

// TestConcurrentObserve runs Observe, Track, Flush and Status at once
// (for the race detector) and checks that nothing is lost.
func TestConcurrentObserve(t *testing.T) {
	e := newEnv(t, nil)
	p := testPKI()
	rec := alertRecord(t, record.City, 1, t0).ID()
	e.fleet.Track("a1", []record.ID{rec}, record.City, t0)
	acks := make([][]*record.Record, len(p.devices))
	for i, d := range p.devices {
		for _, st := range []record.AckState{record.AckReceived, record.AckDisplayed, record.AckPlayed} {
			acks[i] = append(acks[i], d.ack(t, rec, st, "", t0))
		}
	}
	var wg sync.WaitGroup
	for i := range acks {
		wg.Go(func() {
			for _, a := range acks[i] {
				e.fleet.Observe(a, t0)
			}
		})
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.fleet.Flush(); err != nil {
				t.Error(err)
			}
			e.fleet.Status("a1")
			e.fleet.Track("a1", []record.ID{rec}, record.City, t0)
		}
	})
	wg.Wait()
	close(stop)
	bg.Wait()
	if _, err := e.fleet.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fleet.Fleet{e.fleet, e.reopen()} {
		st, _ := f.Status("a1")
		if st.Displayed != 12 || st.Played != 12 || st.Received != 12 {
			t.Errorf("status %+v", st)
		}
	}
}
