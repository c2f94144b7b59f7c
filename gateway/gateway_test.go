package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cityFiles makes a city PKI on disk: a server, gw-1 in z1, pole-1 in z1.
func cityFiles(t testing.TB) string {
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

func startZone(t *testing.T) *zone { t.Helper(); return startZoneWith(t, nil) }

// startZoneWith is startZone with adjust, if not nil, applied to the
// gateway's configuration.
func startZoneWith(t *testing.T, adjust func(*Config)) *zone {
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
	cfg.MQTT.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Server.Brokers = []string{sb.URL()}
	if adjust != nil {
		adjust(&cfg)
	}
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

// TestZoneHealth: the gateway judges its zone's poles from their health
// reports: healthy, then late and silent as reports stop; whether a pole
// shows what the zone should and whether its cache agrees with the
// gateway's; the same on the JSON endpoint, the page and /metrics.
func TestZoneHealth(t *testing.T) {
	var hookMu sync.Mutex
	var hooked []OperatorAlert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a OperatorAlert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook: %v, %s", err, r.Header.Get("Content-Type"))
		}
		hookMu.Lock()
		hooked = append(hooked, a)
		hookMu.Unlock()
	}))
	defer hook.Close()
	z := startZoneWith(t, func(c *Config) { c.Alerts.Webhook = hook.URL })
	pole, pl := z.connectPole(t)
	eventually(t, "the pole connected", pl.Connected)
	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := z.publish(t, flood(now, 1, record.ZoneScope("z1")))
	eventually(t, "the alert at the pole", func() bool { return pole.has(alert.ID()) })

	report := func(seq uint64, at time.Time, displayed record.ID) {
		t.Helper()
		es, err := show.ScopeEntries(pole.store, "pole-1", "z1")
		if err != nil {
			t.Fatal(err)
		}
		d := show.Digest(es, "pole-1", "z1", at)
		r, err := record.Sign(&record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"),
			Issued: at, Expires: at.Add(time.Hour), Origin: "pole-1", Seq: seq,
			Body: &record.Health{Rung: "ethernet", Version: "1.2.3", CPUTemp: 51500, Displayed: displayed, CacheDigest: d[:]}}, pole.signer)
		if err != nil {
			t.Fatal(err)
		}
		if err := pole.node.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	node := func(zh ZoneHealth) NodeHealth {
		for _, n := range zh.Nodes {
			if n.ID == "pole-1" {
				return n
			}
		}
		t.Fatalf("pole-1 not in %+v", zh)
		return NodeHealth{}
	}
	report(1, now, alert.ID())
	eventually(t, "pole-1's report at the gateway", func() bool {
		for _, n := range z.g.Health(time.Now()).Nodes {
			if n.ID == "pole-1" {
				return true
			}
		}
		return false
	})
	zh := z.g.Health(time.Now())
	n := node(zh)
	if n.State != StateHealthy || n.Role != "device" || n.Expected != alert.ID() || !n.ShowsExpected || n.CacheAgrees == nil || !*n.CacheAgrees ||
		n.CPUTempC != 51.5 || n.Version != "1.2.3" {
		t.Errorf("pole-1: %+v", n)
	}
	if gw := zh.Nodes[0]; gw.ID != "gw-1" || gw.Role != "gateway" {
		t.Errorf("the gateway itself is not listed first: %+v", zh.Nodes)
	}
	// Late and silent, by the heartbeat.
	beat := DefaultConfig().Poles.HealthEvery
	if s := node(z.g.Health(time.Now().Add(3 * beat))).State; s != StateLate {
		t.Errorf("after 3 heartbeats: %s, want late", s)
	}
	if s := node(z.g.Health(time.Now().Add(6 * beat))).State; s != StateSilent {
		t.Errorf("after 6 heartbeats: %s, want silent", s)
	}
	// A report, well after the alert, that shows the clock: wrong.
	report(2, now.Add(2*beat), record.ID{})
	eventually(t, "the wrong display flagged", func() bool { return z.g.Health(time.Now()).Wrong == 1 })

	h := z.g.Handler()
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	var fromAPI ZoneHealth
	if err := json.Unmarshal([]byte(get("/api/zone/health")), &fromAPI); err != nil || fromAPI.Zone != "z1" || fromAPI.Wrong != 1 || len(fromAPI.Nodes) != 2 {
		t.Errorf("/api/zone/health: %v %+v", err, fromAPI)
	}
	if page := get("/"); !strings.Contains(page, "pole-1") || !strings.Contains(page, `class="wrong"`) || !strings.Contains(page, "refresh") {
		t.Errorf("the page lacks the pole, the wrong display or the refresh:\n%s", page)
	}
	metrics := get("/metrics")
	for _, want := range []string{`cityarray_zone_wrong_display{zone="z1"} 1`, `cityarray_node_shows_expected{node="pole-1",zone="z1"} 0`, `cityarray_zone_nodes{state="healthy",zone="z1"} 2`,
		`cityarray_zone_operator_alerts_total{kind="wrong_display",zone="z1"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Silent: pole-1, and the gateway itself (its own report is a minute
	// old at six heartbeats on).
	if !regexp.MustCompile(`cityarray_zone_operator_alerts_total\{kind="silent",zone="z1"\} [1-9]`).MatchString(metrics) {
		t.Error("/metrics does not count the silent alerts")
	}

	// The operator heard of each change: late, silent, back, and the
	// wrong display, on the page, in the JSON, by the webhook, and at the
	// server as the gateway's anomaly records.
	kinds := map[string]bool{}
	for _, a := range fromAPI.Alerts {
		if a.Node == "pole-1" && a.Zone == "z1" {
			kinds[a.Kind] = true
		}
	}
	for _, k := range []string{AlertLate, AlertSilent, AlertHealthy, AlertWrongDisplay} {
		if !kinds[k] {
			t.Errorf("no %s alert for pole-1 in %+v", k, fromAPI.Alerts)
		}
	}
	if page := get("/"); !strings.Contains(page, "Operator alerts") || !strings.Contains(page, "wrong_display") {
		t.Error("the page does not list the operator alerts")
	}
	eventually(t, "the silent and wrong-display alerts at the webhook", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		got := map[string]bool{}
		for _, a := range hooked {
			got[a.Kind+" "+a.Node] = true
		}
		return got["silent pole-1"] && got["wrong_display pole-1"]
	})
	eventually(t, "the gateway's anomaly record of the silence at the server", func() bool {
		es, _ := z.server.store.ByKind(record.KindAnomaly)
		for _, e := range es {
			if r, err := e.Parse(); err == nil && e.Origin == "gw-1" && r.Body.(*record.Anomaly).Class == "zone_silent" &&
				strings.HasPrefix(r.Body.(*record.Anomaly).Detail, "pole-1: ") {
				return true
			}
		}
		return false
	})
}

// TestAlertsWebhookConfig: a webhook that is not an http(s) URL is refused
// by name, and so is a cellular interface that is not an interface name or
// has no cellular broker to go to.
func TestAlertsWebhookConfig(t *testing.T) {
	c := DefaultConfig()
	c.PKI.Dir, c.PKI.GatewayID = "/etc/cityarray/pki", "gw-1"
	c.Server.Brokers = []string{"tls://server.example:8883"}
	c.Alerts.Webhook = "ftp://pager.example/hook"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "alerts.webhook") {
		t.Errorf("validate: %v", err)
	}
	c.Alerts.Webhook = "https://pager.example/hook"
	if err := c.Validate(); err != nil && strings.Contains(err.Error(), "alerts.webhook") {
		t.Errorf("validate: %v", err)
	}
	// The cellular interface: a name, and only with a cellular broker.
	for _, tc := range []struct {
		iface    string
		brokers  []string
		wantFail bool
	}{{"wwan/0", []string{"tls://ops.example:8883"}, true}, {"wwan0", nil, true}, {"wwan0", []string{"tls://ops.example:8883"}, false}} {
		c.Server.CellularInterface, c.Server.Cellular = tc.iface, tc.brokers
		err := c.Validate()
		if failed := err != nil && strings.Contains(err.Error(), "server.cellular_interface"); failed != tc.wantFail {
			t.Errorf("cellular_interface %q with brokers %v: %v", tc.iface, tc.brokers, err)
		}
	}
}

// TestGrafanaDashboard: the sample dashboard is JSON and asks only for
// metrics the gateway exports.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "grafana-zone.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("docs/grafana-zone.json: %v", err)
	}
	exported := map[string]bool{}
	for _, desc := range []*prometheus.Desc{descNodes, descWrong, descServer, descHeard, descOutbox, descTemp, descShowsOK, descThrottle} {
		exported[metricName(desc)] = true
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`cityarray_[a-z_]+`).FindAllString(tg.Expr, -1) {
				if !exported[m] {
					t.Errorf("the dashboard asks for %s, which the gateway does not export", m)
				}
			}
		}
	}
}

// metricName reads a descriptor's fully qualified name.
func metricName(d *prometheus.Desc) string {
	s := d.String()
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// TestAdvisory: a gateway issues an Advisory for its zone: its pole gets
// it and so does the server, through the bridge; its cancel takes it off;
// it cannot issue a higher tier (its own node's tier table refuses).
func TestAdvisory(t *testing.T) {
	z := startZone(t)
	pole, pl := z.connectPole(t)
	eventually(t, "the pole connected", pl.Connected)
	a := &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Road closed: Main St"}}, Severity: "Moderate", Urgency: "Expected", Certainty: "Likely", Category: "Transport"}
	adv, err := z.g.Advisory(context.Background(), a, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the advisory at the pole", func() bool { return pole.has(adv.ID()) })
	eventually(t, "the advisory at the server", func() bool { return z.server.has(adv.ID()) })
	cancel, err := z.g.CancelAdvisories(context.Background(), []record.ID{adv.ID()}, "road open")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cancel at the pole", func() bool { return pole.has(cancel.ID()) })
	if sup, _ := pole.store.Superseded(adv.ID()); !sup {
		t.Error("the pole does not hold the advisory as cancelled")
	}
	if _, err := z.g.Advisory(context.Background(), a, 0); err == nil {
		t.Error("an advisory with no lifetime was issued")
	}
	// A warning signed by the gateway: its own node refuses it.
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := z.g.issue(context.Background(), &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Body: a}); err == nil {
		t.Error("a gateway issued a warning")
	}

	// A replayed advisory: the same bytes again are a duplicate, counted
	// and dropped without a second verification; another advisory under a
	// sequence number already used is refused as replayed, and counted.
	before := z.g.Node().Counters()
	z.g.Node().Deliver(mesh.Source{Link: "mqtt-broker", Peer: "pole-1"}, adv.Raw())
	eventually(t, "the replay counted as a duplicate", func() bool { return z.g.Node().Counters().Duplicates > before.Duplicates })
	if c := z.g.Node().Counters(); c.Accepted != before.Accepted {
		t.Errorf("the replay was accepted: %d accepted before, %d after", before.Accepted, c.Accepted)
	}
	again, err := record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Origin: adv.Origin, Seq: adv.Seq, Body: a}, z.g.signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.g.Node().Publish(context.Background(), again); err == nil {
		t.Error("an advisory under a used sequence number was accepted")
	}
	if n := z.g.Node().Counters().Rejected[trust.ReasonReplayed]; n == 0 {
		t.Errorf("the replay is not counted: rejected %v", z.g.Node().Counters().Rejected)
	}
}
