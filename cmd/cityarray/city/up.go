package city

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cityarray/cityarray/edge"
	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/audio/audiotest"
	simpanel "github.com/cityarray/cityarray/hal/display/sim"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server"
	"github.com/cityarray/cityarray/server/auth"
)

// UpConfig configures Up.
type UpConfig struct {
	// Dir keeps the city's files (PKI, stores); "" uses a temporary
	// directory removed by Close.
	Dir string
	// Poles and Zones (defaults 40 and 2): the poles are spread over the
	// zones, one gateway each.
	Poles, Zones int
	// Listen is the demo page's address (default 127.0.0.1:8080; port 0
	// picks one).
	Listen string
	// Logger receives the components' logs (default: discarded).
	Logger *slog.Logger
	// Progress reports start-up steps; nil discards them.
	Progress func(format string, args ...any)
	// NoGossip leaves the gossip mesh out: each pole then hears only its
	// zone's gateway. With gossip (the default) the server, the gateways
	// and the poles are one gossip cluster on loopback UDP, as a city's
	// LAN island is, and a pole whose gateway dies still gets alerts.
	NoGossip bool
	// FastLogins gives the whole city the local server's stepped clock and
	// cheap password hashing, so that a script can log people in many
	// times a minute (benches, tests). Without it the machine's clock and
	// real hashing are used, so that an authenticator app's codes work.
	FastLogins bool
	// NoSpeech leaves the poles' speakers out: no attention tone and no
	// speech (benches: 500 tone syntheses and espeak-ng runs on one
	// machine measure the machine, not the city). Speech synthesis is
	// also off above 50 poles.
	NoSpeech bool
	// OnEvent, if set, sees every mesh event of the server ("server") and
	// of each gateway (its id); it must not block.
	OnEvent func(where string, ev mesh.Event)
}

// upGateway is one zone's gateway and what restarting it takes: its
// configuration, pinned to the ports it first got, so that its poles find
// it again.
type upGateway struct {
	cfg      gateway.Config
	g        *gateway.Gateway
	u        *unit
	operator *Person // the demo operator account (nil: kept from a run before)
}

// upPole is a pole and what starting it again takes.
type upPole struct {
	cfg  edge.Config
	opts edge.Options
	u    *unit
}

// unit is a running part of the city that can be stopped and started
// again: a gateway or a pole.
type unit struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	close  func() error
}

// startUnit runs run until the unit is stopped or the city closes.
func (c *UpCity) startUnit(name string, run func(context.Context) error, closeFn func() error) *unit {
	ctx, cancel := context.WithCancel(c.runCtx)
	u := &unit{name: name, cancel: cancel, done: make(chan error, 1), close: closeFn}
	go func() { u.done <- run(ctx) }()
	return u
}

// profileAs labels the goroutines this one starts from now on, until done
// is called, with role=role: a CPU profile of the city (bench e2e
// --cpuprofile) then splits by role (go tool pprof -tags).
func profileAs(role string) (done func()) {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("role", role)))
	return func() { pprof.SetGoroutineLabels(context.Background()) }
}

// stop stops u and closes its files (nil: nothing running).
func (u *unit) stop() error {
	if u == nil {
		return nil
	}
	u.cancel()
	if err := errors.Join(<-u.done, u.close()); err != nil {
		return fmt.Errorf("%s: %w", u.name, err)
	}
	return nil
}

// UpCity is a whole city running in this process on loopback: a control
// server, a gateway per zone, simulated poles, and the demo page.
type UpCity struct {
	Server *LocalServer
	Poles  []*edge.Pole
	Admin  *Person
	// PageURL is the demo page.
	PageURL string

	dir, tmp string
	cfg      UpConfig
	clock    clock.Clock
	keyring  string // the gossip keyring ("" without gossip)
	chains   *trust.ChainCache
	metas    *gossip.MetaCache
	ml       *memberlist.Config // the members' timing
	runCtx   context.Context
	gwMu     sync.Mutex
	gws      []*upGateway
	poles    []*upPole
	zones    []string
	panels   map[string]*simpanel.Panel // pole id → its panel
	zoneOf   map[string]string          // pole id → zone
	order    []string                   // pole ids in order
	demoMu   sync.Mutex
	demo     map[string][]record.ID // zone → advisories the demo buttons issued, still on
	page     *http.Server
	pageLn   net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errMu    sync.Mutex
	errs     []error
	closers  []func() error
}

// Up starts a demo city: a throw-away PKI, a control server (with a demo
// admin whose one-time password and TOTP secret it returns), a gateway per
// zone and the poles, each on a simulated panel with a WAV sink for a
// speaker. Close stops everything.
func Up(ctx context.Context, cfg UpConfig) (*UpCity, error) {
	if cfg.Poles <= 0 {
		cfg.Poles = 40
	}
	if cfg.Zones <= 0 {
		cfg.Zones = 2
	}
	if cfg.Zones > cfg.Poles {
		return nil, fmt.Errorf("city: up: %d zones for %d poles: each zone needs a pole", cfg.Zones, cfg.Poles)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	c := &UpCity{dir: cfg.Dir, cfg: cfg, clock: clock.System{}, chains: trust.NewChainCache(), metas: gossip.NewMetaCache(), panels: map[string]*simpanel.Panel{}, zoneOf: map[string]string{}, demo: map[string][]record.ID{}}
	if c.dir == "" {
		tmp, err := os.MkdirTemp("", "cityarray-up-")
		if err != nil {
			return nil, err
		}
		c.dir, c.tmp = tmp, tmp
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.start(ctx, cfg); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *UpCity) start(ctx context.Context, cfg UpConfig) error {
	runCtx, cancel := context.WithCancel(context.Background())
	c.runCtx, c.cancel = runCtx, cancel
	// The demo page's port first: a busy port fails fast.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("city: up: demo page on %s: %w (choose another with --listen)", cfg.Listen, err)
	}
	c.pageLn = ln
	c.closers = append(c.closers, func() error { ln.Close(); return nil })
	c.ml = cityMemberlist(cfg.Poles)
	if !cfg.NoGossip {
		c.keyring = filepath.Join(c.dir, "gossip.keys")
		if _, err := os.Stat(c.keyring); errors.Is(err, fs.ErrNotExist) {
			if err := gossip.NewKeyringFile(c.keyring); err != nil {
				return err
			}
		}
	}

	cfg.Progress("starting the control server (a new city PKI in %s)", c.dir)
	serverStarted := profileAs("server")
	l, err := StartLocalServer(ctx, LocalServerConfig{Dir: c.dir, City: "demoville", Logger: cfg.Logger, Configure: func(sc *server.Config) {
		if !cfg.FastLogins {
			// A demo, but the real thing: the machine's clock and
			// password hashing, so that an authenticator app's codes work.
			sc.Hooks.Clock, sc.Hooks.Argon2 = nil, nil
			sc.Auth.RateLimits = server.DefaultConfig().Auth.RateLimits
		}
		if c.keyring != "" {
			sc.Gossip = server.GossipConfig{Enabled: true, Bind: "127.0.0.1:0", KeyringFile: c.keyring}
			sc.Hooks.Memberlist = c.ml
		}
	}})
	serverStarted()
	if err != nil {
		return err
	}
	c.Server = l
	c.closers = append(c.closers, l.Close)
	if cfg.FastLogins {
		c.clock = l.Clock
	}
	if cfg.OnEvent != nil {
		l.OnMeshEvent(func(ev mesh.Event) { cfg.OnEvent("server", ev) })
	}
	admin, err := l.SetUpAdmin(ctx, "admin", randomPassword())
	if err != nil {
		return fmt.Errorf("city: up: the demo admin: %w", err)
	}
	c.Admin = admin

	pkiDir := filepath.Join(c.dir, "pki")
	now := c.clock.Now()
	for z := range cfg.Zones {
		c.zones = append(c.zones, fmt.Sprintf("z%d", z+1))
	}
	for i := range cfg.Poles {
		id, zone := fmt.Sprintf("pole-%03d", i+1), c.zones[i*cfg.Zones/cfg.Poles]
		c.order = append(c.order, id)
		c.zoneOf[id] = zone
	}
	cfg.Progress("issuing certificates: %d gateways, %d poles", len(c.zones), cfg.Poles)
	for _, z := range c.zones {
		if _, err := l.PKI.Issue(trust.Identity{Role: trust.RoleGateway, ID: "gw-" + z, Zone: z}, now.Add(-time.Minute), nil); err != nil {
			return err
		}
	}
	for _, id := range c.order {
		if _, err := l.PKI.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: c.zoneOf[id]}, now.Add(-time.Minute), nil); err != nil {
			return err
		}
	}

	serverGossip := l.GossipAddr()
	for _, z := range c.zones {
		gc := gateway.DefaultConfig()
		gc.DataDir = filepath.Join(c.dir, "gw-"+z)
		gc.PKI.Dir, gc.PKI.GatewayID = pkiDir, "gw-"+z
		gc.MQTT.Listen, gc.HTTP.Listen, gc.Operators.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		gc.Server.Brokers = []string{"tls://" + l.MQTTAddr().String()}
		// The operators' page, with a demo operator account, and a web
		// certificate for browsers, which take neither the gateway's
		// Ed25519 city certificate nor its cityarray:// name; self-signed
		// for the demo.
		gc.Operators.WebCert, gc.Operators.WebKey = filepath.Join(c.dir, "gw-"+z+"-web.pem"), filepath.Join(c.dir, "gw-"+z+"-web.key")
		if err := demoWebCert(gc.Operators.WebCert, gc.Operators.WebKey, now); err != nil {
			return fmt.Errorf("city: up: gw-%s's web certificate: %w", z, err)
		}
		if c.keyring != "" {
			gc.Gossip = gossip.FileConfig{Enabled: true, Bind: "127.0.0.1:0", KeyringFile: c.keyring, Peers: []string{serverGossip}}
		}
		op, err := c.demoOperator(gc, z)
		if err != nil {
			return fmt.Errorf("city: up: gw-%s's demo operator: %w", z, err)
		}
		c.gws = append(c.gws, &upGateway{cfg: gc, operator: op})
		if err := c.StartGateway(len(c.gws) - 1); err != nil {
			return err
		}
	}

	cfg.Progress("starting %d poles", cfg.Poles)
	speak := ""
	if _, err := exec.LookPath("espeak-ng"); err == nil && cfg.Poles <= 50 && !cfg.NoSpeech {
		speak = "espeak-ng"
	}
	rnd := mrand.New(mrand.NewPCG(uint64(cfg.Poles), 7)) // whom each pole joins: the same city each run
	var gossipAddrs []string
	for i, id := range c.order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 0 && i%100 == 0 {
			cfg.Progress("  %d of %d poles started", i, cfg.Poles)
		}
		panel, err := simpanel.New(simpanel.DefaultConfig())
		if err != nil {
			return err
		}
		c.panels[id] = panel
		ec := edge.DefaultConfig()
		ec.DataDir = filepath.Join(c.dir, id)
		ec.PKI.Dir, ec.PKI.DeviceID = pkiDir, id
		ec.Uplink.Gateways = []string{c.gatewayOf(c.zoneOf[id]).BrokerURL()}
		ec.Audio.Espeak = speak
		// A large city on one machine draws at a lower frame rate: a real
		// pole draws 30 a second on its own processor, but here a few
		// cores draw for hundreds of poles. The first frame of a new
		// alert is drawn at once either way.
		ec.Display.FPS = max(2, min(ec.Display.FPS, 30*50/cfg.Poles))
		var player audio.Player = &audiotest.Sink{}
		if cfg.NoSpeech {
			ec.Audio.Player, ec.Audio.Speak, player = "none", false, nil
		}
		ec.Languages.Zones = map[string][]string{"z1": {"en", "es", "zh-Hans"}, "z2": {"en", "vi", "ar"}}
		ec.Info.Message = "Welcome to Demoville"
		if c.keyring != "" {
			// The first poles join the servers; the rest join two poles
			// that started before them, so that no member takes every join.
			peers := []string{c.gatewayOf(c.zoneOf[id]).GossipAddr(), serverGossip}
			if len(gossipAddrs) >= 8 {
				peers = []string{gossipAddrs[rnd.IntN(len(gossipAddrs))], gossipAddrs[rnd.IntN(len(gossipAddrs))]}
			}
			ec.Gossip = gossip.FileConfig{Enabled: true, Bind: "127.0.0.1:0", KeyringFile: c.keyring, Peers: peers}
		}
		c.poles = append(c.poles, &upPole{cfg: ec, opts: edge.Options{Logger: cfg.Logger, Version: "demo", Clock: c.clock, Chains: c.chains,
			Metas: c.metas, Memberlist: c.ml, Panel: panel, Player: player, Notify: func(string) error { return nil }}})
		c.Poles = append(c.Poles, nil)
		if err := c.StartPole(i); err != nil {
			return err
		}
		if a := c.Poles[i].GossipAddr(); a != "" {
			gossipAddrs = append(gossipAddrs, a)
		}
	}

	c.page = &http.Server{Handler: c.handler(), ReadHeaderTimeout: 5 * time.Second}
	c.PageURL = "http://" + ln.Addr().String() + "/"
	c.run("demo page", func() error {
		if err := c.page.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// cityMemberlist is the members' memberlist timing for a city of poles
// in one process: LAN defaults for a small one; for a large one, every
// period and timeout scaled up, since a few cores stand in for hundreds
// of machines and a probe answered late must not read as a dead member.
func cityMemberlist(poles int) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	if poles <= 50 {
		return mc
	}
	scale := time.Duration(min(poles/50, 10))
	mc.ProbeInterval *= scale  // 1 s on a LAN
	mc.ProbeTimeout *= scale   // 500 ms
	mc.GossipInterval *= scale // 200 ms
	mc.TCPTimeout *= scale     // 10 s
	mc.SuspicionMult = 6       // 4
	// A member's meta (its certificate) fills a gossip packet, so the
	// full membership spreads by push/pull, which memberlist slows
	// further as the city grows (×5 at 500): from 30 s, that leaves a
	// new mesh's poles knowing a fifth of it for minutes, and a pole few
	// know hears little. 5 s lets it converge in about a minute.
	mc.PushPullInterval = 5 * time.Second
	return mc
}

// Gateways returns the zones' gateways, in zone order; a stopped one is
// nil.
func (c *UpCity) Gateways() []*gateway.Gateway {
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	gs := make([]*gateway.Gateway, len(c.gws))
	for i, ug := range c.gws {
		gs[i] = ug.g
	}
	return gs
}

// gatewayOf returns zone's gateway (nil if stopped).
func (c *UpCity) gatewayOf(zone string) *gateway.Gateway {
	for i, z := range c.zones {
		if z == zone {
			return c.Gateways()[i]
		}
	}
	return nil
}

// StartGateway starts gateway i (in zone order), or starts it again after
// StopGateway on the same ports and data directory, as a gateway that
// comes back after a power cut does.
func (c *UpCity) StartGateway(i int) error {
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	ug := c.gws[i]
	if ug.g != nil {
		return fmt.Errorf("city: gateway %s is running", ug.cfg.PKI.GatewayID)
	}
	opts := gateway.Options{Logger: c.cfg.Logger, Version: "demo", Clock: c.clock, Chains: c.chains, Metas: c.metas, Memberlist: c.ml}
	if f := c.cfg.OnEvent; f != nil {
		id := ug.cfg.PKI.GatewayID
		opts.OnEvent = func(ev mesh.Event) { f(id, ev) }
	}
	defer profileAs("gateway")()
	g, err := gateway.New(ug.cfg, opts)
	if err != nil {
		return err
	}
	// The same ports next time.
	ug.cfg.MQTT.Listen = strings.TrimPrefix(g.BrokerURL(), "tls://")
	if u := g.HealthURL(); u != "" {
		ug.cfg.HTTP.Listen = strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/")
	}
	if u := g.OperatorURL(); u != "" {
		ug.cfg.Operators.Listen = strings.TrimPrefix(u, "https://")
	}
	if a := g.GossipAddr(); a != "" {
		ug.cfg.Gossip.Bind = a
	}
	ug.g, ug.u = g, c.startUnit("gateway "+g.Identity().ID, g.Run, g.Close)
	return nil
}

// StopGateway stops gateway i and closes its files, as a power cut does:
// nothing is flushed beyond what each commit already made durable.
func (c *UpCity) StopGateway(i int) error {
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	ug := c.gws[i]
	err := ug.u.stop()
	ug.g, ug.u = nil, nil
	return err
}

// StartPole starts pole i (in c.Poles' order), or starts it again after
// StopPole from its data directory, as a pole that comes back after a
// power cut does.
func (c *UpCity) StartPole(i int) error {
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	up := c.poles[i]
	if up.u != nil {
		return fmt.Errorf("city: pole %s is running", up.cfg.PKI.DeviceID)
	}
	defer profileAs("pole")()
	p, err := edge.New(up.cfg, up.opts)
	if err != nil {
		return err
	}
	if a := p.GossipAddr(); a != "" {
		up.cfg.Gossip.Bind = a // the same port next time
	}
	c.Poles[i], up.u = p, c.startUnit("pole "+p.Identity().ID, p.Run, p.Close)
	return nil
}

// StopPole stops pole i and closes its files, as a power cut does. Its
// entry in c.Poles stays, stopped, until StartPole.
func (c *UpCity) StopPole(i int) error {
	c.gwMu.Lock()
	defer c.gwMu.Unlock()
	up := c.poles[i]
	err := up.u.stop()
	up.u = nil
	return err
}

// run runs f on a goroutine of its own until the city closes; its error
// is kept for Close.
func (c *UpCity) run(name string, f func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := f(); err != nil {
			c.errMu.Lock()
			c.errs = append(c.errs, fmt.Errorf("%s: %w", name, err))
			c.errMu.Unlock()
		}
	}()
}

// Close stops the poles, the gateways, the server and the page, and
// removes the temporary directory.
func (c *UpCity) Close() error {
	if c.page != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.page.Shutdown(sctx)
		cancel()
	}
	if c.cancel != nil {
		c.cancel()
	}
	var errs []error
	c.gwMu.Lock()
	for _, up := range c.poles {
		errs = append(errs, up.u.stop())
		up.u = nil
	}
	for _, ug := range c.gws {
		errs = append(errs, ug.u.stop())
		ug.g, ug.u = nil, nil
	}
	c.gwMu.Unlock()
	c.wg.Wait()
	errs = append(errs, c.errs...)
	for i := len(c.closers) - 1; i >= 0; i-- {
		if err := c.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.closers = nil
	if c.tmp != "" {
		if err := os.RemoveAll(c.tmp); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dir is where the city keeps its files.
func (c *UpCity) Dir() string { return c.dir }

// handler serves the demo page: every pole's live panel in a grid by zone,
// each panel under /pole/{id}/ (the simulated panel's own page and image).
func (c *UpCity) handler() http.Handler {
	mux := http.NewServeMux()
	for id, p := range c.panels {
		mux.Handle("/pole/"+id+"/", http.StripPrefix("/pole/"+id, p))
	}
	mux.HandleFunc("POST /demo/alert", func(w http.ResponseWriter, r *http.Request) {
		if err := c.demoAlert(r.Context(), r.FormValue("zone")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /demo/cancel", func(w http.ResponseWriter, r *http.Request) {
		if err := c.demoCancel(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		type zoneView struct {
			Zone, Gateway, Health string
			Poles                 []string
		}
		var zones []zoneView
		gws := c.Gateways()
		for i, z := range c.zones {
			zv := zoneView{Zone: z, Gateway: "gw-" + z + " (stopped)"}
			if g := gws[i]; g != nil {
				zv.Gateway, zv.Health = g.Identity().ID, g.HealthURL()
			}
			for _, id := range c.order {
				if c.zoneOf[id] == z {
					zv.Poles = append(zv.Poles, id)
				}
			}
			zones = append(zones, zv)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = demoPage.Execute(w, map[string]any{"Zones": zones, "API": c.Server.HTTPURL()})
	})
	return mux
}

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CITYARRAY demo city</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#0b0b0b;color:#ddd}
a{color:#8cf}.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0}figcaption{font-size:12px;color:#999}img{width:192px;height:96px;image-rendering:pixelated;background:#000;display:block}
</style></head><body>
<h1>CITYARRAY demo city</h1>
<p>Every pole's LED matrix, live. Send a Warning through the control server's API at <code>{{.API}}</code> (see the terminal),
or have a zone's gateway issue an Advisory (a 15-language flood advisory, signed by the gateway) with these buttons, and watch it sweep the zone.</p>
<form method="post" action="demo/alert" style="display:inline">{{range .Zones}}<button name="zone" value="{{.Zone}}">Flood advisory for {{.Zone}}</button> {{end}}</form>
<form method="post" action="demo/cancel" style="display:inline"><button>Cancel the demo advisories</button></form>
{{range .Zones}}<h2>Zone {{.Zone}} <small>gateway {{.Gateway}}{{if .Health}} · <a href="{{.Health}}">zone health</a>{{end}}</small></h2>
<div class="grid">{{range .Poles}}<figure><a href="pole/{{.}}/"><img data-pole="{{.}}" src="pole/{{.}}/frame.png?scale=3" alt="{{.}}"></a><figcaption>{{.}}</figcaption></figure>{{end}}</div>
{{end}}
<script>
const imgs=[...document.querySelectorAll('img[data-pole]')];const seen={};
async function tick(){
  await Promise.all(imgs.map(async img=>{
    const id=img.dataset.pole;
    try{const r=await fetch('pole/'+id+'/state.json',{cache:'no-store'});const s=await r.json();
      if(seen[id]!==s.version){seen[id]=s.version;img.src='pole/'+id+'/frame.png?scale=3&v='+s.version;}}catch(e){}
  }));
  setTimeout(tick,400);
}
tick();
</script></body></html>
`))

// Describe writes where to look and how to drive the city.
func (c *UpCity) Describe(w io.Writer) {
	gws := c.Gateways()
	mesh := "each pole hears its zone's gateway"
	if c.keyring != "" {
		mesh = "all in one gossip mesh on loopback UDP"
	}
	fmt.Fprintf(w, "\nCITYARRAY demo city: %d poles in %d zones, %d gateways, a control server; %s.\n\n", len(c.Poles), len(c.zones), len(gws), mesh)
	fmt.Fprintf(w, "  demo page (every pole's matrix):  %s\n", c.PageURL)
	fmt.Fprintf(w, "  control server API:               %s   (HTTPS; its certificate: %s)\n", c.Server.HTTPURL(), c.Server.WebCAFile)
	fmt.Fprintf(w, "  MQTT (server):                    tls://%s\n", c.Server.MQTTAddr())
	var flags []string
	for _, g := range gws {
		if g == nil {
			continue // stopped
		}
		fmt.Fprintf(w, "  gateway %-8s poles connect to %s; zone health %s\n", g.Identity().ID, g.BrokerURL(), g.HealthURL())
		flags = append(flags, "--gateway "+g.HealthURL())
	}
	ops := false
	for i, g := range gws {
		if g == nil {
			continue
		}
		if u := g.OperatorURL(); u != "" {
			fmt.Fprintf(w, "  gateway %-8s operators' page %s/\n", g.Identity().ID, u)
			if op := c.gws[i].operator; op != nil {
				fmt.Fprintf(w, "                   operator: user %s, password %q, TOTP secret %s\n", op.ID, op.Password, op.Secret)
			}
			ops = true
		}
	}
	if ops {
		fmt.Fprintf(w, "    (your browser will warn: the demo's web certificate for that page is self-signed, gw-*-web.pem in the files below;\n")
		fmt.Fprintf(w, "    an operator issues Advisories there, or: cityarray alert --gateway URL --ca %s --user operator send --text en=...)\n",
			filepath.Join(c.dir, "pki", trust.RootCertFile))
	}
	fmt.Fprintf(w, "\n  demo admin:  user %s, one-time password %q\n", c.Admin.ID, c.Admin.Password)
	fmt.Fprintf(w, "               TOTP secret %s (add it to an authenticator app; log in with the code after next)\n", c.Admin.Secret)
	conn := fmt.Sprintf("--server %s --ca %s", c.Server.HTTPURL(), c.Server.WebCAFile)
	fmt.Fprintf(w, "\nThe buttons on the demo page have a gateway issue an Advisory. A Warning goes through\n")
	fmt.Fprintf(w, "the control server's desk, by people (each command asks a password and a fresh TOTP code):\n")
	fmt.Fprintf(w, "  cityarray admin %s --as admin user add --id sam --name Sam --role supervisor   # prints sam's setup code\n", conn)
	fmt.Fprintf(w, "  cityarray admin %s setup --user sam\n", conn)
	fmt.Fprintf(w, "  cityarray alert %s --user sam send --scope zone:z1 --text en='Flood warning: move to higher ground' --text es='Alerta de inundación'\n", conn)
	fmt.Fprintf(w, "  cityarray alert %s --user sam approve ID; cityarray alert %s --user sam publish ID\n", conn, conn)
	fmt.Fprintf(w, "Zone health in the terminal:\n  cityarray mesh status %s --watch\n", strings.Join(flags, " "))
	fmt.Fprintf(w, "\nFiles: %s. Stop with Ctrl-C.\n", c.dir)
}

// demoOperator makes gateway gc's operator account "operator" (its
// administrator, who may issue advisories) with a random password and a
// TOTP secret, as `cityarray gateway operator init` does at a console. It
// returns nil if the gateway has accounts already (--keep of a city run
// before: they are as they were).
func (c *UpCity) demoOperator(gc gateway.Config, zone string) (*Person, error) {
	ops, err := gateway.OpenOperators(gc.DataDir, zone, c.clock, c.cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer ops.Close()
	code, err := ops.Init("operator", "Demo operator")
	if errors.Is(err, auth.ErrAlreadyInitialised) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	en, err := ops.StartSetup("operator", code)
	if err != nil {
		return nil, err
	}
	p := &Person{ID: "operator", Password: randomPassword(), Secret: en.Secret, Role: auth.RoleAdmin}
	totpCode, err := totp.GenerateCodeCustom(p.Secret, c.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	if _, err := ops.FinishSetup("operator", code, p.Password, totpCode); err != nil {
		return nil, err
	}
	return p, nil
}

// demoWebCert writes a throw-away web certificate for a demo gateway's
// operators' page: self-signed, for localhost and 127.0.0.1, valid 30 days
// from now; the key (mode 0600) to keyPath.
func demoWebCert(certPath, keyPath string, now time.Time) error {
	_, err := server.GenerateSelfSigned([]string{"localhost", "127.0.0.1"}, "CITYARRAY demo gateway (self-signed)", 30*24*time.Hour, now, certPath, keyPath)
	return err
}

// randomPassword is a one-time password for the demo admin: four random
// words' worth of base32 (80 bits), in groups for reading aloud.
func randomPassword() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	s := strings.ToLower(base32.StdEncoding.EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// demoAlert has the zone's gateway issue a 15-language flood advisory
// for its zone (a gateway signs Advisory for its own zone; the control
// server's Warnings go through the desk's approval, from the API).
func (c *UpCity) demoAlert(ctx context.Context, zone string) error {
	for _, g := range c.Gateways() {
		if g != nil && g.Identity().Zone == zone {
			r, err := g.Advisory(ctx, FloodAlert(), time.Hour)
			if err != nil {
				return err
			}
			c.demoMu.Lock()
			c.demo[zone] = append(c.demo[zone], r.ID())
			c.demoMu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("no gateway for zone %q", zone)
}

// demoCancel has each gateway cancel the advisories the demo buttons had
// it issue.
func (c *UpCity) demoCancel(ctx context.Context) error {
	c.demoMu.Lock()
	defer c.demoMu.Unlock()
	var errs []error
	for _, g := range c.Gateways() {
		if g == nil {
			continue
		}
		z := g.Identity().Zone
		if len(c.demo[z]) == 0 {
			continue
		}
		if _, err := g.CancelAdvisories(ctx, c.demo[z], "demo over"); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.demo, z)
	}
	return errors.Join(errs...)
}
