package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// TestGatewayAdvisoryAudited: a gateway's advisory that reaches the server
// (here an hour after it was issued, as when the gateway issued it with
// the server down) is in the audit log: who, which zone, the text, how
// late; its cancel too.
func TestGatewayAdvisoryAudited(t *testing.T) {
	ts := startServer(t, nil)
	d, err := trust.LoadDir(filepath.Dir(ts.Config().PKI.RootCert), nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := trust.IssueInDir(d.Path, trust.Identity{Role: trust.RoleGateway, ID: "gw-z1", Zone: "z1"}, time.Now().Add(-2*time.Hour), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := record.NewSigner(gw.Key, gw.Cert.Raw, true, d.City.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	issued := ts.clk.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	adv, err := record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1"),
		Issued: issued, Expires: issued.Add(3 * time.Hour), Origin: "gw-z1", Seq: 1,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Road closed: Main St"}}, Severity: "Moderate",
			Urgency: "Expected", Certainty: "Likely", Category: "Transport"}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	cancel, err := record.Sign(&record.Record{Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1"),
		Issued: issued.Add(time.Minute), Expires: issued.Add(3 * time.Hour), Origin: "gw-z1", Seq: 2, Supersedes: []record.ID{adv.ID()},
		Body: &record.Cancel{Reason: "road open"}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*record.Record{adv, cancel} {
		ts.Node().Deliver(mesh.Source{Link: "mqtt-broker", Peer: "gw-z1"}, r.Raw())
	}
	eventually(t, 10*time.Second, "both in the audit log", func() bool {
		es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 1<<20, ts.Audit().Size())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range es {
			switch {
			case e.Action == "advisory.alert" && e.Actor == "gw-z1" && e.Role == "gateway" && e.Target == adv.ID().String():
				if e.Detail["zone"] != "z1" || e.Detail["text"] != "en: Road closed: Main St" || !strings.HasPrefix(e.Detail["arrived_after"], "1h") {
					t.Errorf("advisory entry %+v", e)
				}
				got["alert"] = true
			case e.Action == "advisory.cancel" && e.Actor == "gw-z1" && e.Detail["supersedes"] == adv.ID().String():
				got["cancel"] = true
			}
		}
		return got["alert"] && got["cancel"]
	})
}
