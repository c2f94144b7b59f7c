package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/hal/audio/audiotest"
	"github.com/cityarray/cityarray/hal/display/displaytest"
	"github.com/cityarray/cityarray/hal/sensors"
	"github.com/cityarray/cityarray/hal/sensors/sensorstest"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// zoneGateway is what a pole's uplink reaches in these tests: a mesh node
// with an embedded broker on loopback TLS, as a zone gateway runs, and the
// control server's signer to publish through it.
type zoneGateway struct {
	node   *mesh.Node
	store  *store.Store
	broker *mqttbroker.Broker
	server record.Signer
	pkiDir string
}

// fileCity makes a city PKI on disk: the root, the city CA, a server, a
// gateway and pole-1, pole-2 in zone z1.
func fileCity(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	if _, err := trust.InitDir(dir, "testville", now.Add(-time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []trust.Identity{
		{Role: trust.RoleServer, ID: "server-1"}, {Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"},
		{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, {Role: trust.RoleDevice, ID: "pole-2", Zone: "z1"},
	} {
		if _, err := trust.IssueInDir(dir, id, now.Add(-time.Hour), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadMember(t *testing.T, dir, id string, role trust.Role) *trust.Node {
	t.Helper()
	n, err := trust.LoadNode(trust.NodeFiles{RootCert: filepath.Join(dir, trust.RootCertFile),
		Cert: filepath.Join(dir, id+".pem"), Key: filepath.Join(dir, id+".key")}, role, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func startGateway(t *testing.T, pkiDir string) *zoneGateway {
	t.Helper()
	gw := loadMember(t, pkiDir, "gw-1", trust.RoleGateway)
	v, err := gw.Verifier(true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "gw.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	node, err := mesh.NewNode(mesh.NodeConfig{ID: "gw-1", Store: st, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	b, err := mqttbroker.New(mqttbroker.Config{Node: node, Address: "127.0.0.1:0", Certificate: gw.TLS, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		cancel()
		<-done
		st.Close()
	})
	srv := loadMember(t, pkiDir, "server-1", trust.RoleServer)
	signer, err := record.NewSigner(srv.Key, srv.Leaf.Raw, true, srv.CityCA.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return &zoneGateway{node: node, store: st, broker: b, server: signer, pkiDir: pkiDir}
}

var pubSeq uint64
var pubMu sync.Mutex

// publish signs r as the server and hands it to the gateway's node.
func (g *zoneGateway) publish(t *testing.T, r *record.Record) *record.Record {
	t.Helper()
	pubMu.Lock()
	pubSeq++
	r.Seq, r.Origin = pubSeq, "server-1"
	pubMu.Unlock()
	signed, err := record.Sign(r, g.server)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.node.Publish(context.Background(), signed); err != nil {
		t.Fatal(err)
	}
	return signed
}

// acks returns pole's acks the gateway holds, by record and state.
func (g *zoneGateway) acks(t *testing.T, pole string) map[record.ID]map[record.AckState]string {
	t.Helper()
	es, err := g.store.ByKind(record.KindAck)
	if err != nil {
		t.Fatal(err)
	}
	out := map[record.ID]map[record.AckState]string{}
	for _, e := range es {
		r, err := e.Parse()
		if err != nil || e.Origin != pole {
			continue
		}
		a := r.Body.(*record.Ack)
		if out[a.Record] == nil {
			out[a.Record] = map[record.AckState]string{}
		}
		out[a.Record][a.State] = a.Reason
	}
	return out
}

// testPole is a pole on fake hardware with an uplink to g.
type testPole struct {
	*Pole
	panel   *displaytest.Panel
	speaker *audiotest.Sink
	tts     *audiotest.TTS
	states  chan string
	stop    func() error
}

func startPole(t *testing.T, g *zoneGateway, dataDir string) *testPole {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dataDir
	cfg.PKI.Dir, cfg.PKI.DeviceID = g.pkiDir, "pole-1"
	cfg.Uplink.Gateways = []string{"tls://" + g.broker.Addr().String()}
	cfg.Languages.Zones = map[string][]string{"z1": {"es", "en"}}
	cfg.Info.Message = ""
	cfg.HealthEvery = time.Hour
	tp := &testPole{panel: displaytest.New(), speaker: &audiotest.Sink{}, tts: &audiotest.TTS{}, states: make(chan string, 64)}
	temp := sensors.Temperature{Celsius: 48.5, Zone: "thermal_zone0", Type: "cpu-thermal"}
	p, err := New(cfg, Options{
		Logger: slog.New(slog.DiscardHandler), Version: "test",
		Panel: tp.panel, Player: tp.speaker, TTS: tp.tts,
		Sensors: &sensorstest.Reader{Reading: sensors.Reading{CPUTemp: &temp}},
		Notify: func(s string) error {
			select {
			case tp.states <- s:
			default:
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tp.Pole = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	tp.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
			if err := p.Close(); err != nil && runErr == nil {
				runErr = err
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := tp.stop(); err != nil {
			t.Errorf("pole: %v", err)
		}
	})
	return tp
}

// eventually polls cond every 5 ms until it holds, or fails after 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestPoleEndToEnd: an alert published at the zone gateway reaches the
// pole over MQTT, goes on its panel in the zone's languages, is sounded,
// and its received, displayed and played acks reach the gateway; a forged
// alert is refused and never shown; a cancel brings the clock back; a
// brightness command dims the panel.
func TestPoleEndToEnd(t *testing.T) {
	pki := fileCity(t)
	g := startGateway(t, pki)
	tp := startPole(t, g, t.TempDir())
	select {
	case s := <-tp.states:
		if s != "READY=1" {
			t.Errorf("first notification %q, want READY=1", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the pole never said READY")
	}
	// The pole introduces itself with a health report carrying its chain.
	eventually(t, "the pole's first health report at the gateway", func() bool {
		es, _ := g.store.ByKind(record.KindHealth)
		return len(es) > 0
	})
	es, _ := g.store.ByKind(record.KindHealth)
	hr, _ := es[0].Parse()
	if h := hr.Body.(*record.Health); h.Rung != "ethernet" && h.Rung != "offline" || h.CPUTemp != 48500 || h.Version != "test" {
		t.Errorf("health %+v", h)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := g.publish(t, &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Body: alertBody("en=Flood", "es=Riada", "fr=Crue")})
	eventually(t, "displayed and played acks at the gateway", func() bool {
		a := g.acks(t, "pole-1")[alert.ID()]
		_, d := a[record.AckDisplayed]
		_, p := a[record.AckPlayed]
		return d && p
	})
	// Shown as it arrived: "displayed" says received too, so no
	// "received" ack of its own.
	if _, r := g.acks(t, "pole-1")[alert.ID()][record.AckReceived]; r {
		t.Error("a received ack besides displayed")
	}
	if sh := tp.Showing(); sh.Record != alert.ID() || !equalStrings(sh.Langs, []string{"es", "en"}) {
		t.Errorf("on show %+v, want the alert in the zone's order es, en", sh)
	}
	// The status page says the same.
	rec := httptest.NewRecorder()
	tp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("status.json: %d %v: %s", rec.Code, err, rec.Body)
	}
	if st.ID != "pole-1" || st.Zone != "z1" || st.Showing.Record != alert.ID() || st.Rung != "ethernet" {
		t.Errorf("status %+v", st)
	}
	// A tone and the speech in both languages.
	if n := len(tp.speaker.Clips()); n < 3 {
		t.Errorf("%d clips played, want the tone and two languages", n)
	}
	calls := tp.tts.Calls()
	if len(calls) != 2 || calls[0].Text != "Riada" && calls[1].Text != "Riada" {
		t.Errorf("speech synthesised: %+v", calls)
	}

	// A forged alert: a warning signed by a pole's key.
	pole2 := loadMember(t, pki, "pole-2", trust.RoleDevice)
	forger, _ := record.NewSigner(pole2.Key, pole2.Leaf.Raw, true, pole2.CityCA.Raw)
	forged, err := record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Origin: "pole-2", Seq: 1, Body: alertBody("en=Fake all clear")}, forger)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.node.Publish(context.Background(), forged); err == nil {
		t.Error("the gateway took a forged alert")
	}
	tp.Node().Deliver(mesh.Source{Link: "test"}, forged.Raw())
	eventually(t, "the pole to refuse the forged alert", func() bool { return tp.refused.Load() > 0 })
	if ok, _ := tp.Store().Has(forged.ID()); ok {
		t.Error("the pole stored a forged alert")
	}

	// A brightness command for the pole.
	g.publish(t, &record.Record{Kind: record.KindCommand, Tier: record.TierWarning, Scope: record.DeviceScope("pole-1"),
		Issued: now, Expires: now.Add(time.Hour), Body: &record.Command{Action: "brightness", Value: 30}})
	eventually(t, "the panel dimmed to 30 %", func() bool {
		l := tp.panel.Levels()
		return len(l) > 0 && l[len(l)-1].Brightness == 30
	})

	// The cancel: back to the clock.
	g.publish(t, &record.Record{Kind: record.KindCancel, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Supersedes: []record.ID{alert.ID()}, Body: &record.Cancel{Reason: "water receding"}})
	eventually(t, "the clock back on the panel", func() bool { sh := tp.Showing(); return sh.Record.IsZero() && sh.Frames > 0 })
	rec = httptest.NewRecorder()
	tp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"showing": {`) || strings.Contains(rec.Body.String(), `"record"`) {
		t.Errorf("status.json with the clock on show: %d %s", rec.Code, rec.Body)
	}
}

// TestPoleOffline: a pole with no upstream at all keeps showing the
// alerts in its cache after a restart, and refuses to start on a bad
// configuration with every problem listed.
func TestPoleOffline(t *testing.T) {
	pki := fileCity(t)
	g := startGateway(t, pki)
	data := t.TempDir()
	tp := startPole(t, g, data)
	eventually(t, "the pole connected (its health report at the gateway)", func() bool {
		es, _ := g.store.ByKind(record.KindHealth)
		return len(es) > 0
	})
	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := g.publish(t, &record.Record{Kind: record.KindAlert, Tier: record.TierIPAWS, Scope: record.City,
		Issued: now, Expires: now.Add(48 * time.Hour), Body: alertBody("en=Shelter in place")})
	eventually(t, "the alert in the pole's cache", func() bool { ok, _ := tp.Store().Has(alert.ID()); return ok })
	if err := tp.stop(); err != nil {
		t.Fatal(err)
	}
	// The gateway is gone: the pole restarts with nobody to talk to.
	g.broker.Close()
	tp2 := startPole(t, g, data)
	eventually(t, "the cached alert on the panel after a restart with no link", func() bool {
		return tp2.Showing().Record == alert.ID() && len(tp2.panel.Frames()) > 0
	})
	if r := tp2.ladder(); r != "offline" {
		t.Errorf("rung %q, want offline", r)
	}
}

// TestPoleFaults: a pole whose panel cannot be opened (HUB75 on a machine
// without /dev/pio0), whose espeak-ng is missing and whose speaker fails
// still starts, reports each fault in its health report, takes alerts and
// acks them received, and acks them failed to display (with the reason)
// rather than displayed.
func TestPoleFaults(t *testing.T) {
	pki := fileCity(t)
	g := startGateway(t, pki)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.PKI.Dir, cfg.PKI.DeviceID = pki, "pole-1"
	cfg.Uplink.Gateways = []string{"tls://" + g.broker.Addr().String()}
	cfg.Display.Backend, cfg.Display.Fallback = "hub75", "none"
	cfg.Display.HUB75.DevicePath = filepath.Join(t.TempDir(), "no-pio0")
	cfg.Audio.Espeak = filepath.Join(t.TempDir(), "no-espeak-ng")
	cfg.HealthEvery = 5 * time.Second
	p, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Player: &audiotest.Sink{Err: errors.New("ALSA: no card")},
		Sensors: &sensorstest.Reader{}, Notify: func(string) error { return nil }})
	if err != nil {
		t.Fatalf("New with broken hardware: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		p.Close()
	}()
	eventually(t, "the pole connected", func() bool { es, _ := g.store.ByKind(record.KindHealth); return len(es) > 0 })
	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := g.publish(t, &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Body: alertBody("en=Flood")})
	eventually(t, "a failed ack at the gateway", func() bool {
		_, f := g.acks(t, "pole-1")[alert.ID()][record.AckFailed]
		return f
	})
	a := g.acks(t, "pole-1")[alert.ID()]
	if _, d := a[record.AckDisplayed]; d || !strings.HasPrefix(a[record.AckFailed], "display: ") {
		t.Errorf("acks %v: want failed with the display's reason, not displayed", a)
	}
	if _, r := a[record.AckReceived]; r {
		t.Errorf("acks %v: a received ack besides failed (failed says received)", a)
	}
	eventually(t, "the speaker's fault", func() bool { return p.Faults()["audio"] != "" })
	faults := p.Faults()
	for _, c := range []string{"display", "speech", "audio"} {
		if faults[c] == "" {
			t.Errorf("no %s fault in %v", c, faults)
		}
	}
	if _, played := g.acks(t, "pole-1")[alert.ID()][record.AckPlayed]; played {
		t.Error("acked played with a dead speaker")
	}
	if h := p.health(ctx, time.Now()); len(h.Faults) < 3 {
		t.Errorf("health faults %v", h.Faults)
	}
}

// TestMeshRung: a pole whose gateway link is down gets the alert from its
// neighbour over gossip, and its acks reach the gateway through that
// neighbour (the mesh rung of the ladder); the neighbour does not relay
// for poles that reach the gateway themselves.
func TestMeshRung(t *testing.T) {
	pki := fileCity(t)
	g := startGateway(t, pki)
	keyring := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(keyring, []byte("c2l4dGVlbiBieXRlIGtleSAwMTIzNDU2Nzg5MDEyMzQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A dead gateway address for pole-2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tls://" + ln.Addr().String()
	ln.Close()
	start := func(id, gateway string) *Pole {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.PKI.Dir, cfg.PKI.DeviceID = pki, id
		cfg.Uplink.Gateways = []string{gateway}
		cfg.Gossip = gossip.FileConfig{Enabled: true, Bind: "127.0.0.1:0", KeyringFile: keyring}
		cfg.Audio.Player, cfg.Audio.Espeak = "none", ""
		cfg.HealthEvery = time.Hour
		p, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Panel: displaytest.New(),
			Sensors: &sensorstest.Reader{}, Notify: func(string) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", id, err)
			}
			p.Close()
		})
		return p
	}
	connected := start("pole-1", "tls://"+g.broker.Addr().String())
	cut := start("pole-2", dead)
	if _, err := cut.gossip.Join([]string{connected.gossip.Memberlist().LocalNode().Address()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pole-2 on the mesh rung and pole-1 on ethernet", func() bool {
		return cut.Status().Rung == "mesh" && connected.Status().Rung == "ethernet"
	})
	now := time.Now().UTC().Truncate(time.Millisecond)
	alert := g.publish(t, &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
		Issued: now, Expires: now.Add(time.Hour), Body: alertBody("en=Flood")})
	eventually(t, "the alert on pole-2's panel, by gossip", func() bool { return cut.Showing().Record == alert.ID() })
	defer func() {
		if t.Failed() {
			es, _ := g.store.ByKind(record.KindHealth)
			var who []string
			for _, e := range es {
				who = append(who, e.Origin)
			}
			t.Logf("gateway: health from %v; counters %+v; pole-1 uplink %+v; pole-1 rungs of neighbours: %v", who, g.node.Counters(), connected.uplink.Stats(), func() string { r, _ := connected.rungs.Load("pole-2"); return fmt.Sprint(r) }())
			ea, _ := cut.Store().ByKind(record.KindAck)
			t.Logf("pole-2 acks stored: %d; pole-1 has pole-2 acks: %v", len(ea), func() int {
				n := 0
				es, _ := connected.Store().ByKind(record.KindAck)
				for _, e := range es {
					if e.Origin == "pole-2" {
						n++
					}
				}
				return n
			}())
		}
	}()
	eventually(t, "pole-2's displayed ack at the gateway, relayed by pole-1", func() bool {
		_, ok := g.acks(t, "pole-2")[alert.ID()][record.AckDisplayed]
		return ok
	})
	eventually(t, "pole-1's own displayed ack at the gateway", func() bool {
		_, ok := g.acks(t, "pole-1")[alert.ID()][record.AckDisplayed]
		return ok
	})

	// What each spreads on gossip: the alert, both; acks, only the pole
	// without an uplink, and only its own (pole-1 sends its own to the
	// gateway, and the mesh does not copy acks onto every pole).
	ack1, err := record.Parse(firstAck(t, connected.Store(), "pole-1"))
	if err != nil {
		t.Fatal(err)
	}
	ack2, err := record.Parse(firstAck(t, cut.Store(), "pole-2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    *Pole
		r    *record.Record
		want bool
	}{{connected, alert, true}, {cut, alert, true}, {connected, ack1, false}, {cut, ack2, true}, {cut, ack1, false}, {connected, ack2, false}} {
		if got := c.p.meshCarry(mesh.Forward{Record: c.r}); got != c.want {
			t.Errorf("%s (rung %s) carries a %v on gossip: %v, want %v", c.p.ident.ID, c.p.ladder(), c.r.Kind, got, c.want)
		}
	}
}

// firstAck returns the raw bytes of an ack by origin in st.
func firstAck(t *testing.T, st *store.Store, origin string) []byte {
	t.Helper()
	es, err := st.ByKind(record.KindAck)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Origin == origin {
			return e.Raw
		}
	}
	t.Fatalf("no ack by %s", origin)
	return nil
}

// TestPoleCommands: the server's commands for this pole: a test pattern
// (then back to what was on show), a config update (written where the
// next start reads it, then a restart), a reboot (a restart, once: not
// again when the command is seen after the restart); a config the pole
// would not start with is refused; the watchdog is pinged.
func TestPoleCommands(t *testing.T) {
	pki := fileCity(t)
	g := startGateway(t, pki)
	data := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataDir = data
	cfg.PKI.Dir, cfg.PKI.DeviceID = pki, "pole-1"
	cfg.Uplink.Gateways = []string{"tls://" + g.broker.Addr().String()}
	cfg.Audio.Player, cfg.Audio.Espeak = "none", ""
	cfg.HealthEvery = time.Hour
	states := make(chan string, 256)
	panel := displaytest.New()
	run := func() (*Pole, chan error, context.CancelFunc) {
		p, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Panel: panel, Sensors: &sensorstest.Reader{},
			WatchdogEvery: 10 * time.Millisecond,
			Notify: func(s string) error {
				select {
				case states <- s:
				default:
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return p, done, cancel
	}
	p, done, cancel := run()
	eventually(t, "the pole connected", func() bool { es, _ := g.store.ByKind(record.KindHealth); return len(es) > 0 })
	eventually(t, "a watchdog ping", func() bool {
		for {
			select {
			case s := <-states:
				if s == "WATCHDOG=1" {
					return true
				}
			default:
				return false
			}
		}
	})
	now := time.Now().UTC().Truncate(time.Millisecond)
	cmd := func(c *record.Command) *record.Record {
		return g.publish(t, &record.Record{Kind: record.KindCommand, Tier: record.TierWarning, Scope: record.DeviceScope("pole-1"),
			Issued: now, Expires: now.Add(time.Hour), Body: c})
	}
	// A test pattern: colour bars fill the panel (no black frame).
	before := len(panel.Frames())
	cmd(&record.Command{Action: "test-pattern", Value: 1})
	eventually(t, "the test pattern", func() bool {
		fs := panel.Frames()
		for _, f := range fs[before:] {
			lit := 0
			for i := 0; i < len(f.Pix); i += 4 {
				if f.Pix[i]|f.Pix[i+1]|f.Pix[i+2] != 0 {
					lit++
				}
			}
			if lit > len(f.Pix)/4*3/4 {
				return true
			}
		}
		return false
	})
	// A config the pole would refuse: no restart, a fault.
	cmd(&record.Command{Action: "config", Config: []byte("display: {fps: 0}\n")})
	eventually(t, "the config fault", func() bool { return strings.Contains(p.Faults()["config"], "display.fps") })
	// A good config: written, then a restart.
	cmd(&record.Command{Action: "config", Config: []byte("info: {message: Welcome to Testville}\n")})
	select {
	case err := <-done:
		if !errors.Is(err, ErrRestart) {
			t.Fatalf("Run after a config command = %v, want ErrRestart", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no restart after a config command")
	}
	cancel()
	p.Close()
	got, err := LoadConfig(writeTempConfig(t, cfg))
	if err != nil || got.Info.Message != "Welcome to Testville" {
		t.Fatalf("config after the command: %v, message %q", err, got.Info.Message)
	}
	// Restart: the config command is not run again; a reboot command is,
	// once.
	p, done, cancel = run()
	defer func() { cancel(); <-done; p.Close() }()
	eventually(t, "the pole connected again", func() bool { return p.Status().Rung == "ethernet" })
	cmd(&record.Command{Action: "reboot"})
	select {
	case err := <-done:
		if !errors.Is(err, ErrRestart) {
			t.Fatalf("Run after a reboot command = %v, want ErrRestart", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no restart after a reboot command")
	}
	cancel()
	p.Close()
	p, done, cancel = run()
	eventually(t, "the pole connected after the reboot", func() bool { return p.Status().Rung == "ethernet" })
	select {
	case err := <-done:
		t.Fatalf("the pole restarted again (%v): a reboot command ran twice", err)
	case <-time.After(500 * time.Millisecond):
	}
}

// writeTempConfig writes cfg's essentials as a file, for LoadConfig.
func writeTempConfig(t *testing.T, cfg Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	doc := fmt.Sprintf("data_dir: %s\npki: {dir: %s, device_id: %s}\nuplink: {gateways: [%q]}\n", cfg.DataDir, cfg.PKI.Dir, cfg.PKI.DeviceID, cfg.Uplink.Gateways[0])
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
