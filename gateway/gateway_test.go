package gateway

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cityFiles makes a city PKI on disk: a server, gw-1 in z1, pole-1 in z1.
func cityFiles(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now().Add(-time.Hour)
	if _, err := trust.InitDir(dir, "testville", now, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []trust.Identity{{Role: trust.RoleServer, ID: "server-1"}, {Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"},
		{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}} {
		if _, err := trust.IssueInDir(dir, id, now, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// peer is a bare mesh node of the test city (the server, a pole).
type peer struct {
	member *trust.Node
	node   *mesh.Node
	store  *store.Store
	signer record.Signer
}

func startPeer(t *testing.T, pki, id string, role trust.Role) *peer {
	t.Helper()
	m, err := trust.LoadNode(trust.NodeFiles{RootCert: filepath.Join(pki, trust.RootCertFile), Cert: filepath.Join(pki, id+".pem"),
		Key: filepath.Join(pki, id+".key")}, role, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Verifier(true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), id+".db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	n, err := mesh.NewNode(mesh.NodeConfig{ID: id, Store: st, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	s, err := record.NewSigner(m.Key, m.Leaf.Raw, true, m.CityCA.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return &peer{member: m, node: n, store: st, signer: s}
}

func (p *peer) has(id record.ID) bool { ok, _ := p.store.Has(id); return ok }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// zone is a control server (a bare node with its broker), and a gateway
// bridged to it.
type zone struct {
	pki    string
	server *peer
	g      *Gateway
}

func startZone(t *testing.T) *zone {
	t.Helper()
	pki := cityFiles(t)
	server := startPeer(t, pki, "server-1", trust.RoleServer)
	sv, _ := server.member.Verifier(true, time.Now())
	sb, err := mqttbroker.New(mqttbroker.Config{Node: server.node, Address: "127.0.0.1:0", Certificate: server.member.TLS, Verifier: sv,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "gw")
	cfg.PKI.Dir, cfg.PKI.GatewayID = pki, "gw-1"
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Server.Brokers = []string{sb.URL()}
	g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		g.Close()
	})
	eventually(t, "the bridge connected", g.ServerConnected)
	return &zone{pki: pki, server: server, g: g}
}

// connectPole starts pole-1 with a link to the gateway.
func (z *zone) connectPole(t *testing.T) (*peer, *mqttlink.Link) {
	t.Helper()
	pole := startPeer(t, z.pki, "pole-1", trust.RoleDevice)
	pv, _ := pole.member.Verifier(true, time.Now())
	pl, err := mqttlink.New(mqttlink.Config{Node: pole.node, Brokers: []string{z.g.BrokerURL()}, Certificate: pole.member.TLS, Verifier: pv,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pole, pl
}

// publish signs r as the server and hands it to the server's node.
func (z *zone) publish(t *testing.T, r *record.Record) *record.Record {
	t.Helper()
	r.Origin = "server-1"
	signed, err := record.Sign(r, z.server.signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.server.node.Publish(context.Background(), signed); err != nil {
		t.Fatal(err)
	}
	return signed
}

func flood(now time.Time, seq uint64, scope record.Scope) *record.Record {
	return &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: scope, Issued: now, Expires: now.Add(time.Hour), Seq: seq,
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Flood"}}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}}
}

// TestGatewayBridges: a zone gateway between the control server and a
// pole: an alert the server publishes reaches the pole through the
// gateway's broker and stays in the gateway's zone cache; the pole's ack
// and the gateway's own health report reach the server.
func TestGatewayBridges(t *testing.T) {
	z := startZone(t)
	ctx := context.Background()
	pole, pl := z.connectPole(t)
	eventually(t, "the pole connected", pl.Connected)
	eventually(t, "the gateway's health report at the server", func() bool {
		es, _ := z.server.store.ByKind(record.KindHealth)
		return len(es) > 0 && es[0].Origin == "gw-1"
	})
	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := z.publish(t, flood(now, 1, record.ZoneScope("z1")))
	eventually(t, "the alert at the pole, through the gateway", func() bool { return pole.has(alert.ID()) })
	if ok, _ := z.g.Store().Has(alert.ID()); !ok {
		t.Error("the alert is not in the gateway's zone cache")
	}
	// The pole's health (its chain) then its ack, up through the gateway.
	health, _ := record.Sign(&record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"),
		Issued: now, Expires: now.Add(time.Hour), Origin: "pole-1", Seq: 1, Body: &record.Health{Rung: "ethernet"}}, pole.signer)
	ack, _ := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"),
		Issued: now, Expires: now.Add(time.Hour), Origin: "pole-1", Seq: 2,
		Body: &record.Ack{Record: alert.ID(), Device: "pole-1", State: record.AckDisplayed, At: record.MillisOf(now)}}, pole.signer)
	for _, r := range []*record.Record{health, ack} {
		if err := pole.node.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the pole's ack at the server, through the gateway", func() bool { return z.server.has(ack.ID()) })
}

// TestZoneCacheCatchUp: a pole that connects for the first time after
// alerts were published (no session at the broker to hold them) gets the
// zone cache: the city's and its zone's alerts and cancels, and commands
// for itself, not another zone's alerts.
func TestZoneCacheCatchUp(t *testing.T) {
	z := startZone(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	city := z.publish(t, flood(now, 1, record.City))
	zoneAlert := z.publish(t, flood(now, 2, record.ZoneScope("z1")))
	cancel := z.publish(t, &record.Record{Kind: record.KindCancel, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Seq: 3, Supersedes: []record.ID{zoneAlert.ID()}, Body: &record.Cancel{Reason: "clear"}})
	other := z.publish(t, flood(now, 4, record.ZoneScope("z2")))
	cmd := z.publish(t, &record.Record{Kind: record.KindCommand, Tier: record.TierWarning, Scope: record.DeviceScope("pole-1"),
		Issued: now, Expires: now.Add(time.Hour), Seq: 5, Body: &record.Command{Action: "brightness", Value: 40}})
	eventually(t, "the zone's records in the gateway's cache", func() bool {
		for _, r := range []*record.Record{city, zoneAlert, cancel, cmd} {
			if ok, _ := z.g.Store().Has(r.ID()); !ok {
				return false
			}
		}
		return true
	})
	pole, _ := z.connectPole(t)
	eventually(t, "the pole caught up", func() bool {
		return pole.has(city.ID()) && pole.has(zoneAlert.ID()) && pole.has(cancel.ID()) && pole.has(cmd.ID())
	})
	if pole.has(other.ID()) {
		t.Error("the pole was served another zone's alert")
	}
}
