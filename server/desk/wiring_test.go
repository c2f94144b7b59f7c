package desk_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

var (
	_ desk.Tracker        = (*fleet.Fleet)(nil)
	_ auth.DeviceZoneFunc = (*fleet.Fleet)(nil).DeviceZone
)

// TestDeskWithFleet wires the desk to fleet as the server does: fleet
// tracks every record the desk issues, and acks of a renewal count for
// the alert.
func TestDeskWithFleet(t *testing.T) {
	var fl *fleet.Fleet
	e := newEnv(t, func(o *desk.Options) {
		o.Tracker = trackerFunc(func(id string, ids []record.ID, sc record.Scope, at time.Time) { fl.Track(id, ids, sc, at) })
	})
	var err error
	if fl, err = fleet.New(e.db, fleet.Options{Clock: e.clk, Auditor: e.aud}); err != nil {
		t.Fatal(err)
	}
	p := testPKI()
	signers := map[string]record.Signer{}
	for id, zone := range devices {
		cert, s, err := p.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fl.Register(cert); err != nil {
			t.Fatal(err)
		}
		signers[id] = s
	}
	sam := e.login("sam")
	a := e.publish(sam, sam, draftReq("warning", "zone:z1"))
	e.clk.Advance(time.Minute)
	if _, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	v, _ := e.desk.Get(sam, a.ID)
	renewal := v.Records[1].ID
	ack, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope("pole-2"),
		Issued: e.clk.Now(), Expires: e.clk.Now().Add(time.Hour), Origin: "pole-2", Seq: 1,
		Body: &record.Ack{Record: renewal, Device: "pole-2", State: record.AckDisplayed, At: record.MillisOf(e.clk.Now())}}, signers["pole-2"])
	if err != nil {
		t.Fatal(err)
	}
	fl.Observe(ack, e.clk.Now())
	st, err := fl.Status(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.InScope != 2 || st.Displayed != 1 || st.States[fleet.NotReached] != 1 || st.Records != 2 {
		t.Errorf("status %+v", st)
	}
}

type trackerFunc func(string, []record.ID, record.Scope, time.Time)

func (f trackerFunc) Track(id string, ids []record.ID, sc record.Scope, at time.Time) {
	f(id, ids, sc, at)
}

// TestRetrack checks that Retrack tells a new tracker every record of every
// published alert (renewals and updates included, cancels not), as the
// server needs after a crash took the fleet's unflushed tracking.
func TestRetrack(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	a := e.publish(sam, sam, draftReq("warning", "zone:z1"))
	e.clk.Advance(time.Minute)
	if _, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	b := e.publish(sam, sam, draftReq("warning", "city"))
	if _, err := e.desk.Cancel(ctx(), sam, b.ID, "all clear"); err != nil {
		t.Fatal(err)
	}
	draft, err := e.desk.Draft(sam, draftReq("warning", "zone:z2")) // never published: nothing to track
	if err != nil {
		t.Fatal(err)
	}

	fresh := &trackRec{}
	o := e.opts
	o.Tracker = fresh
	d2, err := desk.New(e.db, o)
	if err != nil {
		t.Fatal(err)
	}
	n, err := d2.Retrack()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Retrack = %d alerts, want 2", n)
	}
	for _, al := range []*desk.Alert{a, b} {
		v, err := e.desk.Get(sam, al.ID)
		if err != nil {
			t.Fatal(err)
		}
		var want []record.ID
		for _, r := range v.Records {
			if r.Kind != record.KindCancel {
				want = append(want, r.ID)
			}
		}
		if got := fresh.ids[al.ID]; !slices.Equal(got, want) {
			t.Errorf("alert %s: retracked %d records %v, want %v", al.ID, len(got), got, want)
		}
	}
	if _, ok := fresh.ids[draft.ID]; ok {
		t.Errorf("a draft was tracked")
	}
}
