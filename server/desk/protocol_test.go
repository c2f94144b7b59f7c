package desk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/desk"
)

// protocolBody is a two-language flood template with one parameter.
func protocolBody() *record.Protocol {
	return &record.Protocol{
		Template: "flood-evac",
		Params:   []string{"area"},
		Texts: map[string]record.AlertText{
			"en": {Short: "Flood: leave {area} now", Long: "Water is rising in {area}. Move to higher ground."},
			"es": {Short: "Inundación: salga de {area} ya"},
		},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met",
	}
}

// TestProtocolActivation: a published protocol is a warning-tier, city
// record that Renew re-signs every 24 h; an alert drafted from it is
// published as an activation naming the current protocol record, and
// renewed with the filled-in text.
func TestProtocolActivation(t *testing.T) {
	e := newEnv(t, nil)
	sam, zed := e.login("sam"), e.login("zed")

	if _, err := e.desk.SaveProtocol(sam, protocolBody()); err != nil {
		t.Fatal(err)
	}
	// Not yet published: no alert may use it.
	req := &desk.DraftRequest{Tier: "warning", Scope: "zone:z1", Lifetime: "2h", Protocol: "flood-evac", Params: map[string]string{"area": "Riverside"}}
	if _, err := e.desk.Draft(zed, req); !errors.Is(err, desk.ErrState) {
		t.Fatalf("draft from an unpublished protocol: %v", err)
	}
	p, err := e.desk.PublishProtocol(ctx(), sam, "flood-evac")
	if err != nil {
		t.Fatal(err)
	}
	recs := e.records()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	pr := recs[0]
	if pr.Kind != record.KindProtocol || pr.Tier != record.TierWarning || pr.Scope != record.City ||
		pr.Expires.Sub(pr.Issued) != 48*time.Hour || pr.ID() != p.Record {
		t.Errorf("protocol record = %s, expires %v", pr, pr.Expires)
	}
	verify(t, pr, e.clk.Now())

	for _, tc := range []struct {
		params map[string]string
		field  string
	}{
		{map[string]string{}, "params.area"},
		{map[string]string{"area": "Riverside", "when": "now"}, "params.when"},
		{map[string]string{"area": "Riverside and every street between the old mill, the ferry landing and the river bend"}, "params"},
	} {
		bad := *req
		bad.Params = tc.params
		_, err := e.desk.Draft(zed, &bad)
		var fe *desk.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("params %v: %v, want a field error on %s", tc.params, err, tc.field)
		}
	}

	a, err := e.desk.Draft(zed, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Content.Texts["en"].Short; got != "Flood: leave Riverside now" {
		t.Errorf("rendered %q", got)
	}
	e.desk.Submit(zed, a.ID)
	e.desk.Approve(sam, a.ID)
	a, err = e.desk.Publish(ctx(), sam, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	recs = e.records()
	act := recs[len(recs)-1]
	body, ok := act.Body.(*record.Activation)
	if act.Kind != record.KindActivation || !ok || body.Protocol != p.Record || body.Params["area"] != "Riverside" || a.ProtocolRec != p.Record {
		t.Fatalf("activation = %s %+v", act, act.Body)
	}
	verify(t, act, e.clk.Now())

	// A minute later the activation is renewed with the filled-in text.
	e.clk.Advance(time.Minute)
	rep, err := e.desk.Renew(ctx(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep != (desk.RenewReport{Renewed: 1}) {
		t.Errorf("report = %+v", rep)
	}
	recs = e.records()
	up := recs[len(recs)-1]
	if ab, ok := up.Body.(*record.Alert); up.Kind != record.KindUpdate || !ok || ab.Texts["en"].Short != "Flood: leave Riverside now" ||
		len(up.Supersedes) != 1 || up.Supersedes[0] != act.ID() {
		t.Errorf("renewal = %s %+v supersedes %v", up, up.Body, up.Supersedes)
	}

	// 24 hours on the protocol is re-signed with a new seq; the alert
	// (2 h) expired long ago.
	e.clk.Advance(24 * time.Hour)
	rep, err = e.desk.Renew(ctx(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep != (desk.RenewReport{Protocols: 1, Expired: 1}) {
		t.Errorf("report = %+v", rep)
	}
	recs = e.records()
	pr2 := recs[len(recs)-1]
	if pr2.Kind != record.KindProtocol || pr2.Seq <= pr.Seq || pr2.ID() == pr.ID() {
		t.Errorf("refresh = %s (first %s)", pr2, pr)
	}
	p2, _ := e.desk.GetProtocol(sam, "flood-evac")
	if p2.Record != pr2.ID() {
		t.Errorf("protocol record %s, want %s", p2.Record.Short(), pr2.ID().Short())
	}
	v, _ := e.desk.Get(sam, a.ID)
	if v.Alert.State != desk.StateExpired {
		t.Errorf("alert state %s, want expired", v.Alert.State)
	}

	// An alert that would outlive the protocol record goes out as an
	// alert with the text filled in.
	long := *req
	long.Lifetime = "72h"
	zed = e.login("zed")
	sam = e.login("sam")
	b, err := e.desk.Draft(zed, &long)
	if err != nil {
		t.Fatal(err)
	}
	e.desk.Submit(zed, b.ID)
	e.desk.Approve(sam, b.ID)
	if _, err := e.desk.Publish(ctx(), sam, b.ID); err != nil {
		t.Fatal(err)
	}
	recs = e.records()
	if last := recs[len(recs)-1]; last.Kind != record.KindAlert {
		t.Errorf("long-lived protocol alert published as %s", last.Kind)
	}

	// Retired: no refresh, no new alerts.
	if _, err := e.desk.RetireProtocol(sam, "flood-evac"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Draft(zed, req); !errors.Is(err, desk.ErrState) {
		t.Errorf("draft from a retired protocol: %v", err)
	}
	e.clk.Advance(25 * time.Hour)
	if rep, _ := e.desk.Renew(ctx(), e.clk.Now()); rep.Protocols != 0 {
		t.Errorf("retired protocol refreshed: %+v", rep)
	}
}

// TestProtocolChangedAfterApproval: what was approved is what goes out.
func TestProtocolChangedAfterApproval(t *testing.T) {
	e := newEnv(t, nil)
	sam, zed := e.login("sam"), e.login("zed")
	if _, err := e.desk.SaveProtocol(sam, protocolBody()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.PublishProtocol(ctx(), sam, "flood-evac"); err != nil {
		t.Fatal(err)
	}
	a, err := e.desk.Draft(zed, &desk.DraftRequest{Tier: "warning", Scope: "zone:z1", Lifetime: "1h", Protocol: "flood-evac", Params: map[string]string{"area": "Riverside"}})
	if err != nil {
		t.Fatal(err)
	}
	e.desk.Submit(zed, a.ID)
	if _, err := e.desk.Approve(sam, a.ID); err != nil {
		t.Fatal(err)
	}
	body := protocolBody()
	body.Texts["en"] = record.AlertText{Short: "Flood: everyone in {area} must leave now"}
	e.desk.SaveProtocol(sam, body)
	if _, err := e.desk.PublishProtocol(ctx(), sam, "flood-evac"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.Publish(ctx(), sam, a.ID); !errors.Is(err, desk.ErrState) {
		t.Fatalf("publish after the protocol changed: %v", err)
	}
	e.desk.Reject(sam, a.ID, "protocol changed")
	s, err := e.desk.Submit(zed, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Content.Texts["en"].Short; got != "Flood: everyone in Riverside must leave now" {
		t.Errorf("resubmitted text %q", got)
	}
	e.desk.Approve(sam, a.ID)
	if _, err := e.desk.Publish(ctx(), sam, a.ID); err != nil {
		t.Fatal(err)
	}
}

// TestEmergencyFromProtocol: an officer-co-signed activation passes the
// tier table.
func TestEmergencyFromProtocol(t *testing.T) {
	e := newEnv(t, nil)
	sam, olly := e.login("sam"), e.login("olly")
	if _, err := e.desk.SaveProtocol(sam, protocolBody()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.PublishProtocol(ctx(), sam, "flood-evac"); err != nil {
		t.Fatal(err)
	}
	e.publish(sam, olly, &desk.DraftRequest{Tier: "emergency", Scope: "city", Lifetime: "6h", Protocol: "flood-evac", Params: map[string]string{"area": "Riverside"}})
	recs := e.records()
	act := recs[len(recs)-1]
	if act.Kind != record.KindActivation || act.Tier != record.TierEmergency {
		t.Fatalf("record %s", act)
	}
	if diff := cmp.Diff([]trust.Role{trust.RoleServer, trust.RoleOperator}, verify(t, act, e.clk.Now())); diff != "" {
		t.Errorf("signers (-want +got):\n%s", diff)
	}
}
