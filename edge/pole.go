package edge

import (
	"github.com/hashicorp/memberlist"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/edge/render"
	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/sensors"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Files a pole keeps in its data directory.
const (
	RecordsFile    = mesh.RecordsFile
	TrustStateFile = mesh.TrustStateFile
	GossipPeers    = "gossip-peers.json"  // the gossip re-join snapshot
	CommandsFile   = "commands-done.json" // one-shot commands already carried out
)

// Options are what a program embedding a pole may replace: the hardware
// (tests and the city simulator pass fakes or sims), the clock, logging.
type Options struct {
	Logger  *slog.Logger
	Clock   clock.Clock // default clock.System
	Version string      // reported in health
	// Chains and Metas, if set, are verification caches shared with the
	// other nodes of this process (`cityarray up`, benches): each node
	// still checks every peer, but a chain or a gossip meta is verified
	// once per process (trust.ChainCache, gossip.MetaCache).
	Chains *trust.ChainCache
	Metas  *gossip.MetaCache
	// Memberlist is the base memberlist configuration (a city simulated
	// in one process slows its timing); nil uses memberlist's LAN
	// defaults.
	Memberlist *memberlist.Config

	// Panel, Player, TTS and Sensors replace what the configuration
	// would open.
	Panel   display.Panel
	Player  audio.Player
	TTS     SpeechEngine
	Sensors SensorReader

	// Notify reports to the service manager ("READY=1", "WATCHDOG=1",
	// "STOPPING=1"); default: systemd's sd_notify when NOTIFY_SOCKET is
	// set, else nothing.
	Notify func(state string) error
	// WatchdogEvery is how often the loop pings the watchdog; default half
	// of systemd's WATCHDOG_USEC, or never.
	WatchdogEvery time.Duration
}

// SpeechEngine is a text-to-speech engine that says which voice it would
// use (audio.Espeak, or a fake).
type SpeechEngine interface {
	audio.TTS
	audio.Voicer
}

// SensorReader reads the pole's health sensors (sensors.Reader, or a
// fake).
type SensorReader interface {
	Read(ctx context.Context) (sensors.Reading, error)
}

// Pole is a running pole: its node, its links and its hardware.
type Pole struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	clock clock.Clock
	start time.Time

	ident    trust.Identity
	node     *mesh.Node
	store    *store.Store
	verifier *trust.Verifier
	uplink   *mqttlink.Link // to the gateways; nil without
	cellular *mqttlink.Link // to the server; nil without
	gossip   *gossip.Link   // nil without
	parsed   show.Parsed    // records parsed once for reselect

	panel    display.Panel
	disp     *display.Display // panel, when opened from the configuration
	renderer *render.Renderer
	screen   *screen
	player   audio.Player
	tts      SpeechEngine
	espeak   *audio.Espeak // tts, when it is espeak-ng: probed by Run
	ttsReady atomic.Bool   // tts can say which voices it has
	speech   *audio.Library
	sensors  SensorReader
	acker    *Acker

	events     chan mesh.Event
	missed     atomic.Bool // an event did not fit in events
	refused    atomic.Uint32
	rung       atomic.Value // string: the ladder's rung carrying the uplink
	rungs      sync.Map     // neighbour id → the rung its latest health report named
	neighbours sync.Map     // neighbour id → its latest health report (*record.Record)
	lanRungs   sync.Map     // broker URL → "ethernet" or "wifi"

	mu      sync.Mutex
	faults  map[string]string // component → what is wrong and what the pole does instead
	showing Showing           // what the panel shows, for other goroutines

	closers []func() error
}

// New builds a pole from cfg: it loads the PKI, opens the store (the 48-hour
// cache survives restarts), the node, the links and the hardware. Hardware
// that cannot be opened is reported as a fault in health and replaced by
// nothing (the pole shows and says what it still can); a bad PKI or store
// is an error.
func New(cfg Config, opts Options) (*Pole, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	p := &Pole{cfg: cfg, opts: opts, log: opts.Logger.With("component", "edge"), clock: opts.Clock,
		faults: map[string]string{}, events: make(chan mesh.Event, 1024)}
	p.start = p.clock.Now()
	p.rung.Store("offline")
	if err := p.open(); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

func (p *Pole) open() error {
	st, err := mesh.OpenStation(mesh.StationConfig{Role: trust.RoleDevice, ID: p.cfg.PKI.DeviceID,
		PKI: trust.NodeFiles{RootCert: p.cfg.PKI.RootCert, Cert: p.cfg.PKI.Cert, Key: p.cfg.PKI.Key,
			Field: func(f string) string { return "pki." + f }},
		TrustedClock: p.cfg.PKI.TrustedClock, DataDir: p.cfg.DataDir, Clock: p.clock, Logger: p.opts.Logger, OnEvent: p.onEvent,
		Chains: p.opts.Chains, Outbox: OwnOutbox(p.cfg.PKI.DeviceID)})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	node := st.Files
	p.ident, p.verifier, p.store, p.node = st.Identity, st.Verifier, st.Store, st.Node
	p.closers = append(p.closers, p.store.Close)
	kid, withChain := st.KIDSigner, st.ChainSigner
	if p.acker, err = NewAcker(p.ident.ID, kid, withChain, p.node, p.store); err != nil {
		return err
	}
	p.acker.Verifier = p.verifier
	if err := p.openLinks(node); err != nil {
		return err
	}
	p.openHardware()
	return nil
}

// openLinks starts the MQTT uplinks and the gossip link.
func (p *Pole) openLinks(node *trust.Node) error {
	if len(p.cfg.Uplink.Gateways) > 0 {
		l, err := mqttlink.New(mqttlink.Config{Node: p.node, Name: gatewayLink, Brokers: p.cfg.Uplink.Gateways,
			Certificate: node.TLS, Verifier: p.verifier, Uplink: p.gatewayUplink, Clock: p.clock, Logger: p.opts.Logger})
		if err != nil {
			return fmt.Errorf("edge: uplink: %w", err)
		}
		p.uplink = l
		p.node.AddLink(l)
		p.closers = append(p.closers, l.Close)
	}
	if len(p.cfg.Uplink.Cellular) > 0 {
		l, err := mqttlink.New(mqttlink.Config{Node: p.node, Name: "cellular", Brokers: p.cfg.Uplink.Cellular, Interface: p.cfg.Uplink.CellularInterface,
			Certificate: node.TLS, Verifier: p.verifier, BrokerRoles: []trust.Role{trust.RoleServer},
			Uplink: p.cellularUplink, Drain: func() bool { return p.ladder() == "cellular" },
			Clock: p.clock, Logger: p.opts.Logger})
		if err != nil {
			return fmt.Errorf("edge: cellular uplink: %w", err)
		}
		p.cellular = l
		p.node.AddLink(l)
		p.closers = append(p.closers, l.Close)
	}
	if p.cfg.Gossip.Enabled {
		l, err := p.cfg.Gossip.NewLink(gossip.Config{Node: p.node, Verifier: p.verifier, Carry: p.meshCarry, AnnounceOnly: fromZoneBroker, Metas: p.opts.Metas, Logger: p.opts.Logger},
			node.Leaf, node.Key, node.City, p.opts.Memberlist, filepath.Join(p.cfg.DataDir, GossipPeers))
		if err != nil {
			return fmt.Errorf("edge: %w", err)
		}
		p.gossip = l
		p.node.AddLink(l)
		p.closers = append(p.closers, l.Close)
	}
	return nil
}

// fault records that component does not work and what the pole does
// instead ("" clears it).
func (p *Pole) fault(component, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if what == "" {
		delete(p.faults, component)
		return
	}
	if p.faults[component] != what {
		p.log.Warn("fault", "component", component, "problem", what)
	}
	p.faults[component] = what
}

// Showing is what a pole's panel shows.
type Showing struct {
	Record record.ID   `json:"record,omitzero"` // zero: informational content
	Tier   record.Tier `json:"tier,omitzero"`   // of Record
	Langs  []string    `json:"languages,omitempty"`
	Lang   string      `json:"language,omitempty"` // the one on the panel now
	Frames uint64      `json:"frames"`             // frames shown since start
}

// Showing returns what the panel shows now. Safe for concurrent use.
func (p *Pole) Showing() Showing {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.showing
	s.Langs = append([]string(nil), s.Langs...)
	return s
}

// Faults returns the pole's faults now, as health reports them.
func (p *Pole) Faults() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.faults))
	for k, v := range p.faults {
		out[k] = v
	}
	return out
}

// Identity returns the pole's identity, from its certificate.
func (p *Pole) Identity() trust.Identity { return p.ident }

// Node returns the pole's mesh node.
func (p *Pole) Node() *mesh.Node { return p.node }

// GossipAddr is the address the pole's gossip member listens on
// (host:port), or "" without gossip.
func (p *Pole) GossipAddr() string {
	if p.gossip == nil {
		return ""
	}
	return p.gossip.Memberlist().LocalNode().Address()
}

// GossipMembers is how many members the pole's gossip link sees,
// itself included, or -1 without gossip.
func (p *Pole) GossipMembers() int {
	if p.gossip == nil {
		return -1
	}
	return p.gossip.Memberlist().NumMembers()
}

// GossipStats returns the gossip link's counters and how many live
// members are the server or a gateway (false without a gossip link).
func (p *Pole) GossipStats() (st gossip.Stats, upstream int, ok bool) {
	if p.gossip == nil {
		return gossip.Stats{}, 0, false
	}
	return p.gossip.Stats(), p.gossip.Upstream(), true
}

// Store returns the pole's record store.
func (p *Pole) Store() *store.Store { return p.store }

// Close releases what New opened, in reverse order.
func (p *Pole) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	p.closers = nil
	return errors.Join(errs...)
}
