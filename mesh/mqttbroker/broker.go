package mqttbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Defaults for Config.
const (
	DefaultAddress          = ":8883"
	DefaultMessageExpiry    = 72 * time.Hour
	MinMessageExpiry        = 48 * time.Hour // the edge cache lifetime (DESIGN §1)
	DefaultSessionExpiry    = 72 * time.Hour
	DefaultQueueSize        = 4096
	DefaultHandshakeTimeout = 10 * time.Second
)

// Config configures an embedded broker.
type Config struct {
	// Node is the node that owns the broker: the broker's link feeds it
	// and is fed by it. Required.
	Node *mesh.Node
	// Address is the TLS listen address (default DefaultAddress). Use
	// "127.0.0.1:0" in tests; Addr tells the port.
	Address string
	// Certificate is the broker's chain (leaf, city CA) and key: the
	// node's own certificate, a server's or a gateway's.
	Certificate tls.Certificate
	// Verifier checks client certificates. Required; usually the node's.
	Verifier *trust.Verifier
	// Clock defaults to mqttlink.SystemClock.
	Clock mqttlink.Clock
	// MessageExpiry is how long the broker keeps a message queued for a
	// client that is away (default DefaultMessageExpiry; at least
	// MinMessageExpiry). mochi's own default, 24 h, is below the 48 h an
	// edge caches alerts for.
	MessageExpiry time.Duration
	// SessionExpiry is how long the session of a client that went away is
	// kept, with its subscriptions and queued messages (default
	// DefaultSessionExpiry).
	SessionExpiry time.Duration
	// QueueSize bounds records offered by the node and not yet published
	// (default DefaultQueueSize); Offer drops and counts beyond it.
	QueueSize int
	// HandshakeTimeout bounds the TLS handshake and the CONNECT packet of
	// a new connection (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// CatchUp, if set, gives the records a device that has just
	// subscribed should have: a zone gateway serves its zone cache to a
	// pole that joins or comes back (its session may be new, or gone with
	// a restart of the broker). They are published to that device alone,
	// on its cityarray/alerts/device/{id} topic; the pole deduplicates
	// what it has.
	CatchUp func(device trust.Identity) []*record.Record
}

// Broker is an embedded mochi-mqtt broker on a TLS listener, with the
// city's authentication and ACL, and the in-process Link that joins it to
// its node. See the package doc.
type Broker struct {
	cfg    Config
	self   trust.Identity
	log    *slog.Logger
	server *mqtt.Server
	ln     *listener
	hook   *hook
	link   *Link
	once   sync.Once
}

// New starts a broker and registers its link with the node.
func New(cfg Config) (*Broker, error) {
	if cfg.Node == nil || cfg.Verifier == nil {
		return nil, errors.New("mqttbroker: a broker needs a node and a verifier")
	}
	self, err := mqttlink.OwnIdentity(cfg.Certificate)
	if err != nil {
		return nil, fmt.Errorf("mqttbroker: %w", err)
	}
	if self.Role != trust.RoleServer && self.Role != trust.RoleGateway {
		return nil, fmt.Errorf("mqttbroker: %s may not run a broker (only a server or a gateway)", self)
	}
	if self.ID != cfg.Node.ID() {
		return nil, fmt.Errorf("mqttbroker: the certificate names %s but the node is %q", self, cfg.Node.ID())
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Clock == nil {
		cfg.Clock = mqttlink.SystemClock{}
	}
	if cfg.MessageExpiry == 0 {
		cfg.MessageExpiry = DefaultMessageExpiry
	}
	if cfg.MessageExpiry < MinMessageExpiry {
		return nil, fmt.Errorf("mqttbroker: message expiry %v is below %v, the edge cache lifetime", cfg.MessageExpiry, MinMessageExpiry)
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = DefaultSessionExpiry
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "mqttbroker", "node", self.ID)

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = int64(cfg.MessageExpiry / time.Second)
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.SessionExpiry/time.Second, 1<<32-1))
	caps.MaximumPacketSize = record.MaxSize + 4<<10 // a record, its topic and headers
	caps.MaximumQos = 1
	caps.RetainAvailable = 0 // records are never retained: the node's store is the cache
	caps.SharedSubAvailable = 0
	b := &Broker{cfg: cfg, self: self, log: log}
	b.server = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		SysTopicResendInterval: 60,
		Logger:                 slog.New(minLevel{log.With("part", "mochi").Handler(), slog.LevelWarn}),
	})
	b.hook = &hook{b: b, ids: map[string]trust.Identity{}}
	if err := b.server.AddHook(b.hook, nil); err != nil {
		return nil, fmt.Errorf("mqttbroker: %w", err)
	}
	b.link = newLink(b)
	tlsConf := mqttlink.ServerTLS(cfg.Certificate, cfg.Verifier, cfg.Clock, trust.RoleDevice, trust.RoleGateway, trust.RoleServer)
	ln, err := listen(cfg.Address, tlsConf, cfg.HandshakeTimeout, log, b.link.countTLSFailure)
	if err != nil {
		b.link.close()
		return nil, fmt.Errorf("mqttbroker: %w", err)
	}
	b.ln = ln
	if err := b.server.AddListener(ln); err != nil {
		ln.closeNow()
		b.link.close()
		return nil, fmt.Errorf("mqttbroker: %w", err)
	}
	if err := b.server.Serve(); err != nil {
		b.server.Close()
		b.link.close()
		return nil, fmt.Errorf("mqttbroker: %w", err)
	}
	cfg.Node.AddLink(b.link)
	log.Info("broker listening", "addr", ln.Addr().String())
	return b, nil
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// URL returns tls://<Addr>, for clients.
func (b *Broker) URL() string { return "tls://" + b.ln.Addr().String() }

// Link returns the broker's link.
func (b *Broker) Link() *Link { return b.link }

// Identity returns the broker's identity: its node's.
func (b *Broker) Identity() trust.Identity { return b.self }

// Server returns the underlying mochi server, for inspection.
func (b *Broker) Server() *mqtt.Server { return b.server }

// ClientConnected reports whether a client with id is connected now.
func (b *Broker) ClientConnected(id string) bool {
	cl, ok := b.server.Clients.Get(id)
	return ok && !cl.Closed() && !cl.Net.Inline
}

// Close disconnects every client, stops listening and stops the link.
// The node keeps running; records offered after Close are ignored.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.link.closing.Store(true)
		b.server.Close()
		b.ln.wait()
		b.link.close()
	})
	return nil
}

// minLevel drops records below a level: mochi logs every connection at
// Info.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(g string) slog.Handler { return minLevel{h.Handler.WithGroup(g), h.min} }
