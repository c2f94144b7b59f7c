package desk_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/desk"
)

// TestRenewWarnings: a published warning is re-issued every minute as an
// update superseding the previous record, until it expires; an emergency
// is never renewed; a cancel supersedes every record of the alert.
func TestRenewWarnings(t *testing.T) {
	e := newEnv(t, nil)
	sam, olly := e.login("sam"), e.login("olly")
	req := draftReq("warning", "zone:z1")
	req.Lifetime = "10m"
	w := e.publish(sam, sam, req)
	em := e.publish(sam, olly, draftReq("emergency", "city"))

	ids := []record.ID{w.Current}
	// A tick 30 s after publication renews nothing.
	e.clk.Advance(30 * time.Second)
	if rep, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil || rep != (desk.RenewReport{}) {
		t.Fatalf("early Renew = %+v, %v", rep, err)
	}
	for i := range 4 {
		e.clk.Advance(time.Minute)
		rep, err := e.desk.Renew(ctx(), e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if rep != (desk.RenewReport{Renewed: 1}) {
			t.Fatalf("tick %d: %+v", i, rep)
		}
		recs := e.records()
		u := recs[len(recs)-1]
		if u.Kind != record.KindUpdate || u.Tier != record.TierWarning || !u.Issued.Equal(e.clk.Now().Truncate(time.Millisecond)) ||
			!slices.Equal(u.Supersedes, []record.ID{ids[len(ids)-1]}) || u.Seq <= recs[len(recs)-2].Seq {
			t.Fatalf("tick %d: renewal %s supersedes %v (rejected: %v)", i, u, u.Supersedes, e.rejections())
		}
		if diff := cmp.Diff([]trust.Role{trust.RoleServer}, verify(t, u, e.clk.Now())); diff != "" {
			t.Errorf("signers (-want +got):\n%s", diff)
		}
		ids = append(ids, u.ID())
	}
	v, err := e.desk.Get(sam, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []record.ID
	for _, r := range v.Records {
		got = append(got, r.ID)
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if e.track.ids[w.ID] == nil || !slices.Equal(e.track.ids[w.ID], ids) {
		t.Errorf("tracked %d ids, want %d", len(e.track.ids[w.ID]), len(ids))
	}
	if e.track.ids[em.ID] == nil || len(e.track.ids[em.ID]) != 1 {
		t.Errorf("emergency tracked %v", e.track.ids[em.ID])
	}

	// Cancel: one record at the warning tier superseding all five.
	sam = e.login("sam")
	if _, err := e.desk.Cancel(ctx(), sam, w.ID, "water receding"); err != nil {
		t.Fatal(err)
	}
	recs := e.records()
	c := recs[len(recs)-1]
	if c.Kind != record.KindCancel || c.Tier != record.TierWarning {
		t.Fatalf("cancel = %s", c)
	}
	if diff := cmp.Diff(ids, c.Supersedes); diff != "" {
		t.Errorf("cancel supersedes (-want +got):\n%s", diff)
	}
	if body := c.Body.(*record.Cancel); body.Reason != "water receding" {
		t.Errorf("reason %q", body.Reason)
	}
	// A cancelled warning is no longer renewed.
	e.clk.Advance(time.Minute)
	if rep, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil || rep.Renewed != 0 {
		t.Errorf("after cancel: %+v, %v", rep, err)
	}

	// The emergency was never renewed; a supervisor cannot cancel it.
	if _, err := e.desk.Cancel(ctx(), sam, em.ID, ""); !errors.Is(err, desk.ErrForbidden) {
		t.Errorf("supervisor cancels an emergency: %v", err)
	}
	// When its lifetime ends it is marked expired.
	e.clk.Advance(2 * time.Hour)
	rep, err := e.desk.Renew(ctx(), e.clk.Now())
	if err != nil || rep != (desk.RenewReport{Expired: 1}) {
		t.Errorf("Renew after expiry = %+v, %v", rep, err)
	}
	ev, _ := e.desk.Get(e.login("sam"), em.ID)
	if ev.Alert.State != desk.StateExpired || len(ev.Records) != 1 {
		t.Errorf("emergency: %s with %d records", ev.Alert.State, len(ev.Records))
	}
	last := ev.History[len(ev.History)-1]
	if last.Actor != "system" || last.Action != "alert.expire" {
		t.Errorf("last transition %+v", last)
	}
}

// TestUpdate replaces a warning's message and expiry.
func TestUpdate(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	w := e.publish(sam, sam, draftReq("warning", "city"))
	e.clk.Advance(time.Minute)
	e.desk.Renew(ctx(), e.clk.Now())

	for _, tc := range []struct {
		req   *desk.UpdateRequest
		field string
	}{
		{&desk.UpdateRequest{}, "alert"},
		{&desk.UpdateRequest{Params: map[string]string{"area": "x"}}, "params"},
		{&desk.UpdateRequest{Alert: alertBody("x"), Params: map[string]string{"area": "x"}}, "params"},
		{&desk.UpdateRequest{Expires: "tomorrow"}, "expires"},
		{&desk.UpdateRequest{Lifetime: "30s"}, "lifetime"},
	} {
		_, err := e.desk.Update(ctx(), sam, w.ID, tc.req)
		var fe *desk.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a field error on %s", tc.req, err, tc.field)
		}
	}

	before := e.records()
	u, err := e.desk.Update(ctx(), sam, w.ID, &desk.UpdateRequest{Alert: alertBody("Flood: Hill St. shelter is full, go to the school"), Lifetime: "4h", Reason: "shelter full"})
	if err != nil {
		t.Fatal(err)
	}
	recs := e.records()
	if len(recs) != len(before)+1 {
		t.Fatalf("%d new records", len(recs)-len(before))
	}
	r := recs[len(recs)-1]
	if r.Kind != record.KindUpdate || !r.Expires.Equal(e.clk.Now().Truncate(time.Millisecond).Add(4*time.Hour)) ||
		!slices.Equal(r.Supersedes, []record.ID{before[0].ID(), before[1].ID()}) {
		t.Errorf("update = %s expires %v supersedes %d", r, r.Expires, len(r.Supersedes))
	}
	if u.Content.Texts["en"].Short != "Flood: Hill St. shelter is full, go to the school" || u.Current != r.ID() {
		t.Errorf("alert after update: %+v", u)
	}
	v, _ := e.desk.Get(sam, w.ID)
	if h := v.History[len(v.History)-1]; h.Action != "alert.update" || h.Reason != "shelter full" || h.Record != r.ID() {
		t.Errorf("history %+v", h)
	}
	// The next renewal carries the new text.
	e.clk.Advance(time.Minute)
	e.desk.Renew(ctx(), e.clk.Now())
	recs = e.records()
	if got := recs[len(recs)-1].Body.(*record.Alert).Texts["en"].Short; got != "Flood: Hill St. shelter is full, go to the school" {
		t.Errorf("renewal text %q", got)
	}
}

// TestPublisherRefusal: a record the mesh refuses undoes the operation;
// one it fails to take is handed over again by Renew.
func TestPublisherRefusal(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	a, _ := e.desk.Draft(sam, draftReq("warning", "city"))
	e.desk.Submit(sam, a.ID)
	e.desk.Approve(sam, a.ID)

	e.pub.setFail(&trust.RejectError{Reason: trust.ReasonRevoked, Detail: "server certificate revoked"})
	_, err := e.desk.Publish(ctx(), sam, a.ID)
	if !errors.Is(err, desk.ErrRefused) || desk.StatusCode(err) != 502 {
		t.Fatalf("Publish: %v", err)
	}
	v, _ := e.desk.Get(sam, a.ID)
	if v.Alert.State != desk.StateApproved || len(v.Records) != 0 || !v.Alert.Current.IsZero() {
		t.Errorf("after refusal: state %s, %d records", v.Alert.State, len(v.Records))
	}
	if h := v.History[len(v.History)-1]; h.Action != "alert.refused" || h.To != desk.StateApproved {
		t.Errorf("history %+v", h)
	}

	e.pub.setFail(errors.New("inbox full"))
	pub, err := e.desk.Publish(ctx(), sam, a.ID)
	if !errors.Is(err, desk.ErrNotDelivered) || pub == nil || pub.State != desk.StatePublished {
		t.Fatalf("Publish: %v, %+v", err, pub)
	}
	if len(e.records()) != 0 {
		t.Fatal("a record reached the mesh")
	}
	e.pub.setFail(nil)
	rep, err := e.desk.Renew(ctx(), e.clk.Now())
	if err != nil || rep.Resent != 1 {
		t.Fatalf("Renew = %+v, %v", rep, err)
	}
	if recs := e.records(); len(recs) != 1 || recs[0].ID() != pub.Current {
		t.Errorf("mesh has %d records", len(recs))
	}
	// Nothing is left to resend.
	if rep, _ := e.desk.Renew(ctx(), e.clk.Now()); rep.Resent != 0 {
		t.Errorf("resent again: %+v", rep)
	}
}

// TestSeqAcrossRestart: seqs stay strictly increasing when the desk is
// opened again on the same file, even with a clock that went back.
func TestSeqAcrossRestart(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	e.publish(sam, sam, draftReq("warning", "city"))
	e.publish(sam, sam, draftReq("warning", "city"))

	d2, err := desk.New(e.db, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.desk = d2
	e.clk.Advance(-time.Hour) // the clock is set back
	e.publish(sam, sam, draftReq("warning", "city"))
	var seqs []uint64
	for _, r := range e.records() {
		seqs = append(seqs, r.Seq)
	}
	if len(seqs) != 3 || !slices.IsSorted(seqs) || seqs[0] == seqs[1] || seqs[1] == seqs[2] {
		t.Errorf("seqs %v: want 3 strictly increasing", seqs)
	}
}

// TestCancelAfterManyRenewals: a cancel names at most 64 records, the
// original and the newest 63.
func TestCancelAfterManyRenewals(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	w := e.publish(sam, sam, draftReq("warning", "city"))
	for range 70 {
		e.clk.Advance(time.Minute)
		if _, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := e.desk.Get(sam, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Records) != 71 {
		t.Fatalf("%d records, want 71", len(v.Records))
	}
	c, err := e.desk.Cancel(ctx(), e.login("sam"), w.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	recs := e.records()
	cr := recs[len(recs)-1]
	if cr.ID() != c.Current || len(cr.Supersedes) != 64 {
		t.Fatalf("cancel %s supersedes %d", cr, len(cr.Supersedes))
	}
	want := []record.ID{v.Records[0].ID}
	for _, r := range v.Records[len(v.Records)-63:] {
		want = append(want, r.ID)
	}
	if diff := cmp.Diff(want, cr.Supersedes); diff != "" {
		t.Errorf("supersedes (-want +got):\n%s", diff)
	}
}
