package desk_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
)

// TestWarningLifecycle takes a zone operator's warning from draft to
// published and checks the record the node accepted, the history and the
// audit log.
func TestWarningLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	zed, sam := e.login("zed"), e.login("sam")

	a, err := e.desk.Draft(zed, draftReq("warning", "zone:z1"))
	if err != nil {
		t.Fatal(err)
	}
	if a.State != desk.StateDraft || a.Author != "zed" {
		t.Fatalf("draft = %+v", a)
	}
	if _, err := e.desk.Submit(zed, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Approve(sam, a.ID); err != nil {
		t.Fatal(err)
	}
	pub, err := e.desk.Publish(ctx(), sam, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pub.State != desk.StatePublished || pub.Current.IsZero() || !pub.ExpiresAt.Equal(e.clk.Now().Truncate(time.Millisecond).Add(2*time.Hour)) {
		t.Fatalf("published = %+v", pub)
	}

	recs := e.records()
	if len(recs) != 1 {
		t.Fatalf("node accepted %d records, want 1", len(recs))
	}
	rec := recs[0]
	if rec.ID() != pub.Current || rec.Kind != record.KindAlert || rec.Tier != record.TierWarning || rec.Scope != "zone:z1" || rec.Origin != "server-1" {
		t.Errorf("record = %s", rec)
	}
	if rec.Seq < uint64(t0.UnixMilli()) {
		t.Errorf("seq %d below the time floor %d", rec.Seq, t0.UnixMilli())
	}
	if diff := cmp.Diff([]trust.Role{trust.RoleServer}, verify(t, rec, e.clk.Now())); diff != "" {
		t.Errorf("signers (-want +got):\n%s", diff)
	}
	if got := e.track.ids[a.ID]; !slices.Equal(got, []record.ID{rec.ID()}) {
		t.Errorf("tracked %v, want [%s]", got, rec.ID().Short())
	}

	v, err := e.desk.Get(sam, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var hist []string
	for _, h := range v.History {
		hist = append(hist, h.Actor+" "+h.Action+" "+string(h.From)+"→"+string(h.To))
	}
	want := []string{"zed alert.draft →draft", "zed alert.submit draft→submitted", "sam alert.approve submitted→approved", "sam alert.publish approved→published"}
	if diff := cmp.Diff(want, hist); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if len(v.Records) != 1 || v.Records[0].ID != rec.ID() || v.Records[0].Why != "publish" {
		t.Errorf("records = %+v", v.Records)
	}
	if diff := cmp.Diff([]string{"alert.draft ok", "alert.submit ok", "alert.approve ok", "alert.publish ok"}, actions(e.aud.Take())); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// TestEmergencyLifecycle: an emergency is approved and published by an
// officer with a fresh TOTP entry, and carries the server's and the
// officer's signatures, which the tier table accepts.
func TestEmergencyLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	sam, olly := e.login("sam"), e.login("olly")
	a := e.publish(sam, olly, draftReq("emergency", "city"))

	recs := e.records()
	if len(recs) != 1 {
		t.Fatalf("node accepted %d records (rejected %v), want 1", len(recs), e.rejections())
	}
	rec := recs[0]
	if rec.Tier != record.TierEmergency || rec.ID() != a.Current || len(rec.Signatures()) != 2 {
		t.Fatalf("record = %s with %d signatures", rec, len(rec.Signatures()))
	}
	if diff := cmp.Diff([]trust.Role{trust.RoleServer, trust.RoleOperator}, verify(t, rec, e.clk.Now())); diff != "" {
		t.Errorf("signers (-want +got):\n%s", diff)
	}
	es := e.aud.Take()
	if diff := cmp.Diff([]string{"alert.draft ok", "alert.submit ok", "alert.approve ok", "alert.publish ok", "key.use ok"}, actions(es)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	key, err := e.desk.OfficerKeyInfo(e.login("root"), "olly")
	if err != nil {
		t.Fatal(err)
	}
	if use := es[len(es)-1]; use.Actor != "olly" || use.Detail["key_id"] != key.KeyID || use.Detail["record"] != rec.ID().String() {
		t.Errorf("key.use entry = %+v", use)
	}

	// The officer cancels it: an emergency-tier cancel, co-signed.
	olly = e.reauth("olly")
	if _, err := e.desk.Cancel(ctx(), olly, a.ID, "all clear"); err != nil {
		t.Fatal(err)
	}
	recs = e.records()
	c := recs[len(recs)-1]
	if c.Kind != record.KindCancel || c.Tier != record.TierEmergency || !slices.Equal(c.Supersedes, []record.ID{rec.ID()}) {
		t.Errorf("cancel = %s supersedes %v", c, c.Supersedes)
	}
	if diff := cmp.Diff([]trust.Role{trust.RoleServer, trust.RoleOperator}, verify(t, c, e.clk.Now())); diff != "" {
		t.Errorf("cancel signers (-want +got):\n%s", diff)
	}
}

// TestNoEmergencySignatureWithoutFreshTOTP tries every desk method that
// can make an emergency signature with an officer whose last TOTP entry
// is older than 5 minutes: each is refused with ErrFreshTOTPRequired,
// nothing reaches the mesh and the alert does not move; after
// re-entering a code the same call works.
func TestNoEmergencySignatureWithoutFreshTOTP(t *testing.T) {
	type setup func(e *env, sam, olly *auth.Principal) string // returns an alert id ready for the call
	approved := func(e *env, sam, olly *auth.Principal) string {
		a, err := e.desk.Draft(sam, draftReq("emergency", "zone:z1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.desk.Submit(sam, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.desk.Approve(olly, a.ID); err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	published := func(e *env, sam, olly *auth.Principal) string {
		return e.publish(sam, olly, draftReq("emergency", "zone:z1")).ID
	}
	for _, tc := range []struct {
		name  string
		setup setup
		state desk.State
		call  func(e *env, p *auth.Principal, id string) error
	}{
		{"publish", approved, desk.StateApproved, func(e *env, p *auth.Principal, id string) error {
			_, err := e.desk.Publish(ctx(), p, id)
			return err
		}},
		{"update", published, desk.StatePublished, func(e *env, p *auth.Principal, id string) error {
			_, err := e.desk.Update(ctx(), p, id, &desk.UpdateRequest{Alert: alertBody("Evacuate now"), Reason: "escalate"})
			return err
		}},
		{"cancel", published, desk.StatePublished, func(e *env, p *auth.Principal, id string) error {
			_, err := e.desk.Cancel(ctx(), p, id, "all clear")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			sam, olly := e.login("sam"), e.login("olly")
			id := tc.setup(e, sam, olly)
			before := len(e.records())

			e.clk.Advance(5*time.Minute + time.Second)
			stale := e.principal("olly")
			err := tc.call(e, stale, id)
			if !errors.Is(err, desk.ErrFreshTOTPRequired) {
				t.Fatalf("with a stale TOTP entry: err = %v, want ErrFreshTOTPRequired", err)
			}
			if desk.StatusCode(err) != 401 {
				t.Errorf("StatusCode = %d, want 401", desk.StatusCode(err))
			}
			if n := len(e.records()); n != before {
				t.Errorf("the mesh got %d records, want none", n-before)
			}
			v, _ := e.desk.Get(sam, id)
			if v.Alert.State != tc.state {
				t.Errorf("state = %s, want %s", v.Alert.State, tc.state)
			}
			es := e.aud.Take()
			if last := es[len(es)-1]; last.Action != "alert.refused" || !strings.Contains(last.Detail["reason"], "TOTP") {
				t.Errorf("last audit entry = %+v, want alert.refused naming TOTP", last)
			}

			// A supervisor (no sign_emergency) cannot do it either.
			if err := tc.call(e, e.login("sam"), id); !errors.Is(err, desk.ErrForbidden) && !errors.Is(err, desk.ErrTwoPerson) {
				t.Errorf("supervisor: err = %v, want forbidden", err)
			}
			// Renew never signs an emergency.
			if _, err := e.desk.Renew(ctx(), e.clk.Now()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.records()); n != before {
				t.Errorf("after Renew the mesh got %d records, want none", n-before)
			}

			fresh := e.reauth("olly")
			if err := tc.call(e, fresh, id); err != nil {
				t.Fatalf("with a fresh TOTP entry: %v", err)
			}
			recs := e.records()
			if len(recs) != before+1 {
				t.Fatalf("the mesh got %d records, want 1", len(recs)-before)
			}
			if diff := cmp.Diff([]trust.Role{trust.RoleServer, trust.RoleOperator}, verify(t, recs[before], e.clk.Now())); diff != "" {
				t.Errorf("signers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPITokenCannotSign: a token never has a fresh TOTP entry nor the
// permissions to publish.
func TestAPITokenCannotSign(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	sam, olly := e.login("sam"), e.login("olly")
	a, err := e.desk.Draft(sam, draftReq("emergency", "city"))
	if err != nil {
		t.Fatal(err)
	}
	e.desk.Submit(sam, a.ID)
	if _, err := e.desk.Approve(olly, a.ID); err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.auth.CreateToken(root, "olly", "script", []auth.Permission{auth.PermAlertRead, auth.PermAlertDraft}, e.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tokP, err := e.auth.AuthenticateToken(secret, ip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Publish(ctx(), tokP, a.ID); !errors.Is(err, desk.ErrForbidden) {
		t.Errorf("Publish by token: %v, want ErrForbidden", err)
	}
	if len(e.records()) != 0 {
		t.Error("a record reached the mesh")
	}
}

// TestTwoPersonRule checks who may approve and publish what.
func TestTwoPersonRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mutate    func(*desk.Options)
		tier      string
		author    string // drafts and submits
		approver  string
		publisher string
		wantApp   error
		wantPub   error
	}{
		{name: "warning self-approval allowed by default", tier: "warning", author: "sam", approver: "sam", publisher: "sam"},
		{name: "warning self-approval refused when configured", tier: "warning", author: "sam", approver: "sam",
			mutate: func(o *desk.Options) { o.TwoPersonWarning = true }, wantApp: desk.ErrTwoPerson},
		{name: "warning other approver, third publisher", tier: "warning", author: "zed", approver: "sam", publisher: "olly"},
		{name: "emergency self-approval refused", tier: "emergency", author: "olly", approver: "olly", wantApp: desk.ErrTwoPerson},
		{name: "emergency self-approval when disabled", tier: "emergency", author: "olly", approver: "olly", publisher: "olly",
			mutate: func(o *desk.Options) { o.TwoPersonEmergency = false }},
		{name: "emergency approved by a supervisor", tier: "emergency", author: "olly", approver: "sam", wantApp: desk.ErrForbidden},
		{name: "emergency published by another officer", tier: "emergency", author: "sam", approver: "olly", publisher: "otto", wantPub: desk.ErrTwoPerson},
		{name: "emergency published by its approver", tier: "emergency", author: "otto", approver: "olly", publisher: "olly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mutate)
			scope := "zone:z1"
			a, err := e.desk.Draft(e.login(tc.author), draftReq(tc.tier, scope))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.desk.Submit(e.principal(tc.author), a.ID); err != nil {
				t.Fatal(err)
			}
			_, err = e.desk.Approve(e.login(tc.approver), a.ID)
			if !errors.Is(err, tc.wantApp) || (err != nil) != (tc.wantApp != nil) {
				t.Fatalf("Approve: %v, want %v", err, tc.wantApp)
			}
			if err != nil {
				return
			}
			_, err = e.desk.Publish(ctx(), e.login(tc.publisher), a.ID)
			if !errors.Is(err, tc.wantPub) || (err != nil) != (tc.wantPub != nil) {
				t.Fatalf("Publish: %v, want %v", err, tc.wantPub)
			}
		})
	}
}

// TestScopeRules: a zone operator acts only in its zones, and a device
// scope counts as the device's zone.
func TestScopeRules(t *testing.T) {
	e := newEnv(t, nil)
	zed, sam := e.login("zed"), e.login("sam")
	for _, tc := range []struct {
		scope string
		want  error
	}{
		{"zone:z1", nil},
		{"device:pole-1", nil},
		{"zone:z2", desk.ErrOutOfScope},
		{"city", desk.ErrOutOfScope},
		{"device:pole-9", desk.ErrOutOfScope},   // in z2
		{"device:pole-404", desk.ErrOutOfScope}, // unknown device
	} {
		_, err := e.desk.Draft(zed, draftReq("warning", tc.scope))
		if !errors.Is(err, tc.want) || (err != nil) != (tc.want != nil) {
			t.Errorf("zed drafts for %s: %v, want %v", tc.scope, err, tc.want)
		}
	}
	// A supervisor's draft for z2 is out of zed's reach at every step.
	a, err := e.desk.Draft(sam, draftReq("warning", "zone:z2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Submit(zed, a.ID); !errors.Is(err, desk.ErrOutOfScope) {
		t.Errorf("zed submits a z2 alert: %v", err)
	}
	if _, err := e.desk.Cancel(ctx(), zed, a.ID, ""); !errors.Is(err, desk.ErrForbidden) {
		t.Errorf("zed cancels sam's alert: %v", err)
	}
	// An edit cannot move a draft out of the author's zones.
	mine, err := e.desk.Draft(zed, draftReq("warning", "zone:z1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Edit(zed, mine.ID, draftReq("warning", "city")); !errors.Is(err, desk.ErrOutOfScope) {
		t.Errorf("zed edits its draft to city: %v", err)
	}
	es := e.aud.Take()
	n := 0
	for _, en := range es {
		if en.Action == "alert.refused" {
			n++
			if en.Detail["reason"] == "" || en.Detail["op"] == "" {
				t.Errorf("refusal without reason: %+v", en)
			}
		}
	}
	if n != 7 {
		t.Errorf("%d alert.refused entries, want 7", n)
	}
}

// TestPermissions: roles without the permission are refused.
func TestPermissions(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	draft, _ := e.desk.Draft(sam, draftReq("warning", "city"))
	submitted, _ := e.desk.Draft(sam, draftReq("warning", "city"))
	e.desk.Submit(sam, submitted.ID)
	approved, _ := e.desk.Draft(sam, draftReq("warning", "city"))
	e.desk.Submit(sam, approved.ID)
	e.desk.Approve(sam, approved.ID)
	published := e.publish(sam, sam, draftReq("warning", "city"))

	for _, tc := range []struct {
		who  string
		op   string
		call func(p *auth.Principal) error
	}{
		{"vic", "draft", func(p *auth.Principal) error { _, err := e.desk.Draft(p, draftReq("warning", "city")); return err }},
		{"root", "draft", func(p *auth.Principal) error { _, err := e.desk.Draft(p, draftReq("warning", "city")); return err }},
		{"tess", "submit", func(p *auth.Principal) error { _, err := e.desk.Submit(p, draft.ID); return err }},
		{"zed", "approve", func(p *auth.Principal) error { _, err := e.desk.Approve(p, submitted.ID); return err }},
		{"zed", "reject", func(p *auth.Principal) error { _, err := e.desk.Reject(p, submitted.ID, "no"); return err }},
		{"root", "publish", func(p *auth.Principal) error { _, err := e.desk.Publish(ctx(), p, approved.ID); return err }},
		{"vic", "update", func(p *auth.Principal) error {
			_, err := e.desk.Update(ctx(), p, published.ID, &desk.UpdateRequest{Lifetime: "1h"})
			return err
		}},
		{"zed", "cancel", func(p *auth.Principal) error { _, err := e.desk.Cancel(ctx(), p, published.ID, ""); return err }},
		{"sam", "edit", func(p *auth.Principal) error {
			_, err := e.desk.Edit(e.login("olly"), draft.ID, draftReq("warning", "city"))
			return err
		}},
		{"sam", "save protocol", func(p *auth.Principal) error {
			_, err := e.desk.SaveProtocol(e.login("olly"), protocolBody())
			return err
		}},
		{"sam", "enrol key", func(p *auth.Principal) error { _, err := e.desk.CreateOfficerKey(p, "otto"); return err }},
	} {
		if err := tc.call(e.login(tc.who)); !errors.Is(err, desk.ErrForbidden) || desk.StatusCode(err) != 403 {
			t.Errorf("%s %s: %v, want ErrForbidden", tc.who, tc.op, err)
		}
	}
	if n := len(e.records()); n != 1 {
		t.Errorf("the mesh got %d records, want 1", n)
	}
}

// TestStateMachine: transitions out of the wrong state are refused with
// ErrState; rejection returns to draft with a reason.
func TestStateMachine(t *testing.T) {
	e := newEnv(t, nil)
	sam, otto := e.login("sam"), e.login("otto")
	a, err := e.desk.Draft(sam, draftReq("warning", "city"))
	if err != nil {
		t.Fatal(err)
	}
	id := a.ID
	step := func(name string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) || (err != nil) != (want != nil) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	_, err = e.desk.Approve(otto, id)
	step("approve a draft", err, desk.ErrState)
	_, err = e.desk.Publish(ctx(), otto, id)
	step("publish a draft", err, desk.ErrState)
	_, err = e.desk.Reject(otto, id, "no")
	step("reject a draft", err, desk.ErrState)
	_, err = e.desk.Submit(sam, id)
	step("submit", err, nil)
	_, err = e.desk.Submit(sam, id)
	step("submit twice", err, desk.ErrState)
	_, err = e.desk.Edit(sam, id, draftReq("warning", "city"))
	step("edit submitted", err, desk.ErrState)
	_, err = e.desk.Reject(otto, id, "")
	step("reject without a reason", err, desk.ErrInvalid)
	r, err := e.desk.Reject(otto, id, "say where the shelters are")
	step("reject", err, nil)
	if r.State != desk.StateDraft || r.Rejection != "say where the shelters are" {
		t.Errorf("after rejection: %+v", r)
	}
	req := draftReq("warning", "city")
	req.Alert.Texts["en"] = record.AlertText{Short: "Flood: go to the school on Hill St."}
	_, err = e.desk.Edit(sam, id, req)
	step("edit after rejection", err, nil)
	_, err = e.desk.Submit(sam, id)
	step("resubmit", err, nil)
	_, err = e.desk.Approve(otto, id)
	step("approve", err, nil)
	_, err = e.desk.Update(ctx(), otto, id, &desk.UpdateRequest{Lifetime: "1h"})
	step("update unpublished", err, desk.ErrState)
	_, err = e.desk.Publish(ctx(), otto, id)
	step("publish", err, nil)
	_, err = e.desk.Publish(ctx(), otto, id)
	step("publish twice", err, desk.ErrState)
	_, err = e.desk.Cancel(ctx(), otto, id, "over")
	step("cancel", err, nil)
	_, err = e.desk.Cancel(ctx(), otto, id, "over")
	step("cancel twice", err, desk.ErrState)
	_, err = e.desk.Get(sam, "nosuchalert")
	step("get unknown", err, desk.ErrNotFound)

	// Cancelling an unpublished draft issues no record; its author may.
	d2, _ := e.desk.Draft(sam, draftReq("warning", "city"))
	before := len(e.records())
	c, err := e.desk.Cancel(ctx(), sam, d2.ID, "")
	step("author cancels own draft", err, nil)
	if c.State != desk.StateCancelled || len(e.records()) != before {
		t.Errorf("cancelled draft: %+v, %d records", c, len(e.records())-before)
	}
}

// TestUnsupportedTiers: advisory and IPAWS are refused with clear errors.
func TestUnsupportedTiers(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	for _, tc := range []struct{ tier, says string }{
		{"advisory", "gateways"},
		{"ipaws", "IPAWS"},
		{"informational", "devices"},
	} {
		_, err := e.desk.Draft(sam, draftReq(tc.tier, "city"))
		if !errors.Is(err, desk.ErrUnsupportedTier) || !strings.Contains(err.Error(), tc.says) || desk.StatusCode(err) != 422 {
			t.Errorf("%s: %v (status %d)", tc.tier, err, desk.StatusCode(err))
		}
	}
}
