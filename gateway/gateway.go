package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Files a gateway keeps in its data directory.
const (
	RecordsFile    = mesh.RecordsFile
	TrustStateFile = mesh.TrustStateFile
	GossipPeers    = "gossip-peers.json"
)

// Options are what a program embedding a gateway may replace.
type Options struct {
	Logger  *slog.Logger
	Clock   clock.Clock // default clock.System
	Version string
	// Chains and Metas, if set, are verification caches shared with the
	// other nodes of this process (`cityarray up`, benches): each node
	// still checks every peer, but a chain or a gossip meta is verified
	// once per process (trust.ChainCache, gossip.MetaCache).
	Chains *trust.ChainCache
	Metas  *gossip.MetaCache
	// Memberlist is the base memberlist configuration (tests tune its
	// timing); nil uses memberlist's LAN defaults.
	Memberlist *memberlist.Config
	// OnEvent, if set, sees every mesh event of the gateway's node (a
	// record accepted or refused), after the gateway's own handling.
	OnEvent func(mesh.Event)
}

// Gateway is a running zone gateway: a mesh node with the zone's broker,
// the bridge to the control server and the zone's gossip membership.
type Gateway struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	clock clock.Clock

	ident    trust.Identity
	node     *mesh.Node
	store    *store.Store
	verifier *trust.Verifier
	broker   *mqttbroker.Broker
	bridge   *mqttlink.Link
	cellular *mqttlink.Link
	gossip   *gossip.Link
	signer   record.Signer // advisories, its own health
	parsed   show.Parsed   // records parsed once for zone health

	start  time.Time
	httpLn net.Listener // the zone health endpoint; nil when off
	// operators are the local accounts and opsLn the operator API's TLS
	// listener; nil when operators.listen is off.
	operators *Operators
	opsLn     net.Listener
	closers   []func() error
	mu        sync.Mutex
	seq       uint64 // the last sequence number the gateway signed
	zone      zoneHealth
	alerts    operatorAlerts
	// webhooks are the operator-alert POSTs in flight; Close waits for
	// them (each ends within webhookTimeout).
	webhooks sync.WaitGroup
}

// New builds a gateway from cfg: it loads the PKI (a gateway certificate),
// opens the store and the node, starts the zone broker and the bridge to
// the server, and joins the gossip mesh if configured.
func New(cfg Config, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	g := &Gateway{cfg: cfg, opts: opts, log: opts.Logger.With("component", "gateway"), clock: opts.Clock,
		zone: zoneHealth{nodes: map[string]*heard{}}}
	g.start = g.clock.Now()
	if err := g.open(); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

func (g *Gateway) open() error {
	st, err := mesh.OpenStation(mesh.StationConfig{Role: trust.RoleGateway, ID: g.cfg.PKI.GatewayID,
		PKI:          g.cfg.NodeFiles(),
		TrustedClock: g.cfg.PKI.TrustedClock, DataDir: g.cfg.DataDir, Clock: g.clock, Logger: g.opts.Logger, OnEvent: g.observe, Outbox: bridged,
		Chains: g.opts.Chains})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	n := st.Files
	g.ident, g.verifier, g.store, g.node, g.signer = st.Identity, st.Verifier, st.Store, st.Node, st.ChainSigner
	g.closers = append(g.closers, g.store.Close)
	if g.seq, err = g.lastSeq(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if g.cfg.HTTP.Listen != "" {
		if g.httpLn, err = net.Listen("tcp", g.cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("gateway: http listen on %s: %w", g.cfg.HTTP.Listen, err)
		}
		g.closers = append(g.closers, func() error {
			if err := g.httpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	if g.cfg.Operators.Listen != "" {
		var web *tls.Certificate
		if web, err = g.cfg.LoadWebCertificate(g.clock.Now()); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		if web != nil {
			g.log.Info("operator listener: a web certificate for browsers, the city certificate for Ed25519 clients",
				"subject", web.Leaf.Subject.String(), "expires", web.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if g.operators, err = OpenOperators(g.cfg.DataDir, g.ident.Zone, g.clock, g.log); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		g.closers = append(g.closers, g.operators.Close)
		if g.opsLn, err = tls.Listen("tcp", g.cfg.Operators.Listen, operatorTLS(st.Files.TLS, web)); err != nil {
			return fmt.Errorf("gateway: operators.listen on %s: %w", g.cfg.Operators.Listen, err)
		}
		g.closers = append(g.closers, func() error {
			if err := g.opsLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		})
	}
	if err := g.loadZoneHealth(); err != nil {
		return fmt.Errorf("gateway: zone health: %w", err)
	}
	if g.broker, err = mqttbroker.New(mqttbroker.Config{Node: g.node, Address: g.cfg.MQTT.Listen, Certificate: n.TLS,
		Verifier: g.verifier, Clock: g.clock, MessageExpiry: g.cfg.MQTT.MessageExpiry, CatchUp: g.catchUp, Logger: g.opts.Logger}); err != nil {
		return fmt.Errorf("gateway: zone broker on %s: %w", g.cfg.MQTT.Listen, err)
	}
	g.closers = append(g.closers, g.broker.Close)
	if g.bridge, err = mqttlink.New(mqttlink.Config{Node: g.node, Name: "server", Brokers: g.cfg.Server.Brokers,
		Certificate: n.TLS, Verifier: g.verifier, BrokerRoles: []trust.Role{trust.RoleServer}, Clock: g.clock, Logger: g.opts.Logger}); err != nil {
		return fmt.Errorf("gateway: bridge to the server: %w", err)
	}
	g.closers = append(g.closers, g.bridge.Close)
	if len(g.cfg.Server.Cellular) > 0 {
		if g.cellular, err = mqttlink.New(mqttlink.Config{Node: g.node, Name: "cellular", Brokers: g.cfg.Server.Cellular, Interface: g.cfg.Server.CellularInterface,
			Certificate: n.TLS, Verifier: g.verifier, BrokerRoles: []trust.Role{trust.RoleServer},
			Drain: func() bool { return !g.bridge.Connected() }, Clock: g.clock, Logger: g.opts.Logger}); err != nil {
			return fmt.Errorf("gateway: cellular bridge: %w", err)
		}
		g.closers = append(g.closers, g.cellular.Close)
	}
	if g.cfg.Gossip.Enabled {
		if g.gossip, err = g.cfg.Gossip.NewLink(gossip.Config{Node: g.node, Verifier: g.verifier, Carry: gossip.DownOnly, Metas: g.opts.Metas, Logger: g.opts.Logger},
			n.Leaf, n.Key, n.City, g.opts.Memberlist, filepath.Join(g.cfg.DataDir, GossipPeers)); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		g.node.AddLink(g.gossip)
		g.closers = append(g.closers, g.gossip.Close)
	}
	return nil
}

// Run runs the gateway until ctx ends: the node, the gossip link and its
// own health reports.
func (g *Gateway) Run(ctx context.Context) error {
	grp, ctx := mesh.NewGroup(ctx, g.log)
	grp.Go("node", g.node.Run)
	if g.gossip != nil {
		grp.Go("gossip", func(ctx context.Context) error { return g.gossip.JoinAndRun(ctx, g.cfg.Gossip.Peers) })
	}
	if g.httpLn != nil {
		grp.Go("http", func(ctx context.Context) error { return mesh.ServeHTTP(ctx, g.httpLn, g.Handler()) })
	}
	if g.opsLn != nil {
		grp.Go("operator api", func(ctx context.Context) error { return mesh.ServeHTTP(ctx, g.opsLn, g.operatorHandler()) })
	}
	g.log.Info("gateway running", "id", g.ident.ID, "zone", g.ident.Zone, "mqtt", g.broker.URL(), "health_page", g.HealthURL())
	health := g.clock.NewTimer(0)
	defer health.Stop()
	judge := g.clock.NewTimer(judgeEvery)
	defer judge.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-health.C():
			g.sendHealth(ctx)
			health.Reset(g.cfg.HealthEvery)
		case <-judge.C():
			g.Health(g.clock.Now()) // raises operator alerts for nodes gone silent or showing the wrong thing
			judge.Reset(judgeEvery)
		}
	}
	return grp.Wait()
}

// judgeEvery is how often the gateway judges its zone's nodes, to log
// changes even when nobody looks at the page.
const judgeEvery = 10 * time.Second

// GossipAddr is the address the gateway's gossip member listens on
// (host:port), or "" without gossip.
func (g *Gateway) GossipAddr() string {
	if g.gossip == nil {
		return ""
	}
	return g.gossip.Memberlist().LocalNode().Address()
}

// OperatorURL is the operator API's base URL (https://host:port), or ""
// when operators.listen is off.
func (g *Gateway) OperatorURL() string {
	if g.opsLn == nil {
		return ""
	}
	return "https://" + g.opsLn.Addr().String()
}

// HealthURL is the zone health page ("" when off).
func (g *Gateway) HealthURL() string {
	if g.httpLn == nil {
		return ""
	}
	return "http://" + g.httpLn.Addr().String() + "/"
}

// Identity returns the gateway's identity.
func (g *Gateway) Identity() trust.Identity { return g.ident }

// Node returns the gateway's mesh node.
func (g *Gateway) Node() *mesh.Node { return g.node }

// Store returns the gateway's record store (the zone cache).
func (g *Gateway) Store() *store.Store { return g.store }

// BrokerURL is where the zone's poles connect.
func (g *Gateway) BrokerURL() string { return g.broker.URL() }

// ServerConnected reports whether the bridge to the server is up.
func (g *Gateway) ServerConnected() bool {
	return g.bridge.Connected() || (g.cellular != nil && g.cellular.Connected())
}

// Close releases what New opened, in reverse order.
func (g *Gateway) Close() error {
	g.webhooks.Wait()
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	g.closers = nil
	return errors.Join(errs...)
}

// bridged names the records the gateway's node puts in its outbox as it
// stores them, for the bridge to the server: the uplink kinds (its poles'
// acks, health, telemetry and anomalies, and its own). Stored and queued
// in one transaction, a pole's ack that the zone's broker confirmed to the
// pole (receipts follow the store) is never lost by a power cut before
// the bridge queued it.
func bridged(r *record.Record) (store.OutboxClass, bool) {
	switch {
	case r.Kind == record.KindAck:
		return store.OutboxAck, true
	case r.Kind.Uplink():
		return store.OutboxTelemetry, true
	}
	return 0, false
}
