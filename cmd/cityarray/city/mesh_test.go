package city

import (
	"context"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/netsim/netsimtest"
	"github.com/cityarray/cityarray/mesh/record"
)

func TestMain(m *testing.M) { netsimtest.VerifyTestMain(m) }

// TestMeshDelivers runs a small city over the simulated network with real
// memberlist, stores and signatures: an alert published at one pole is
// accepted by every pole, and a pole's forgery is rejected by all of them.
func TestMeshDelivers(t *testing.T) {
	type acc struct {
		node int
		ev   mesh.Event
	}
	events := make(chan acc, 1000)
	m, err := StartMesh(MeshOptions{Nodes: 8, Seed: 3, Link: netsim.Link{Latency: 2 * time.Millisecond},
		OnEvent: func(i int, ev mesh.Event) { events <- acc{i, ev} }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.WaitConverged(30*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := m.PKI.alert(m.Server, 1, time.Now(), "Flood warning")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Nodes[0].Node.Publish(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < len(m.Nodes) {
		select {
		case a := <-events:
			if a.ev.Kind != mesh.EventAccepted || a.ev.ID != rec.ID() {
				t.Fatalf("node %d: %v %s (%v)", a.node, a.ev.Kind, a.ev.Reason, a.ev.Err)
			}
			got[a.node] = true
		case <-timeout:
			t.Fatalf("only %d of %d poles accepted the alert", len(got), len(m.Nodes))
		}
	}
	// A pole signs a warning it may not sign: every pole it reaches
	// rejects it, and none forwards it.
	forged, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.City,
		Issued: time.Now(), Expires: time.Now().Add(time.Hour), Origin: m.Nodes[1].Name, Seq: 1,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Fake"}}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"},
	}, m.Nodes[1].Member.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Nodes[1].Node.Publish(context.Background(), forged); err == nil {
		t.Fatal("the forging pole accepted its own forgery")
	}
	if a := <-events; a.node != 1 || a.ev.Kind != mesh.EventRejected || a.ev.Reason != "role-not-allowed" {
		t.Fatalf("forgery at its pole: %d %v %s", a.node, a.ev.Kind, a.ev.Reason)
	}
	// The same bytes arriving by gossip at another pole are rejected there.
	m.Nodes[2].Node.Deliver(mesh.Source{Link: "gossip", Peer: m.Nodes[1].Name}, forged.Raw())
	if a := <-events; a.node != 2 || a.ev.Kind != mesh.EventRejected || a.ev.Reason != "role-not-allowed" {
		t.Fatalf("forgery by gossip: %d %v %s", a.node, a.ev.Kind, a.ev.Reason)
	}
	for _, n := range m.Nodes {
		if ok, _ := n.Store.Has(forged.ID()); ok {
			t.Errorf("%s stored the forgery", n.Name)
		}
	}
}
