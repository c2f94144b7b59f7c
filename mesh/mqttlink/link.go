package mqttlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// LinkName is the default name of a client link in record sources.
const LinkName = "mqtt"

// Defaults for Config.
const (
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = time.Minute
	DefaultStableAfter    = 10 * time.Second
	DefaultReceiptTimeout = 30 * time.Second
	DefaultRemoveAfter    = time.Second // see Config.RemoveAfter
	DefaultWindow         = 1024        // see Config.Window
	DefaultQueueSize      = 1024
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultExpiredGrace   = 10 * time.Minute
	DefaultDrainEvery     = 5 * time.Second
)

// Config configures a client link.
type Config struct {
	// Node is the mesh node the link feeds and is fed by. Required; its
	// store holds the outbox.
	Node *mesh.Node
	// Name is the link's name in record sources (default LinkName). Two
	// client links on one node (a pole's gateway and cellular uplinks)
	// need different names.
	Name string
	// Brokers are the broker URLs, tls://host:port (ssl:// and mqtts://
	// are the same), in order of preference. Required. The link connects
	// to the first that works and, when it loses a broker, tries the next
	// (see the package doc).
	Brokers []string
	// Interface, if set, is the network interface the link's connections
	// leave by (SO_BINDTODEVICE: Linux, CAP_NET_RAW or root), whatever the
	// routing table says: a gateway's or pole's cellular backup goes out
	// of its modem ("wwan0") even while the default route is the LAN.
	// Elsewhere a link with an interface fails to connect, saying why.
	Interface string
	// Certificate is this node's chain (leaf, city CA) and key. The
	// leaf's identity must name the node: it is the MQTT client id and
	// decides what the link subscribes to and may publish.
	Certificate tls.Certificate
	// Verifier checks the broker's certificate chain. Required; usually
	// the node's own.
	Verifier *trust.Verifier
	// BrokerRoles are the roles a broker's certificate may have (default
	// server and gateway).
	BrokerRoles []trust.Role
	// Subscriptions overrides SubscriptionsFor(identity).
	Subscriptions []string
	// Uplink, if set, decides which records the node offers are sent to
	// the broker, replacing the role's default (see the package doc).
	// Records that came from this link are never sent back.
	Uplink func(mesh.Forward) bool
	// Drain, if set, says whether the link may send the outbox's entries
	// now (checked before each round of sends, and every few seconds
	// while it says no). A standby link (a pole's cellular uplink) drains
	// the outbox only while the better links are down; by default a
	// connected link always drains it.
	Drain func() bool
	// DrainEvery is how often a link whose Drain says no asks again
	// (default DefaultDrainEvery).
	DrainEvery time.Duration
	// Clock defaults to SystemClock.
	Clock Clock
	// Seed seeds the backoff jitter; 0 picks a random seed.
	Seed uint64
	// MinBackoff and MaxBackoff bound the wait between connection rounds
	// (defaults DefaultMinBackoff and DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter: a connection that lasted less counts as a failure for
	// the backoff (default DefaultStableAfter), so a broker that accepts
	// and drops at once is not hammered.
	StableAfter time.Duration
	// ReceiptTimeout is how long an outbox entry waits for its receipt
	// before it is sent again (default DefaultReceiptTimeout).
	ReceiptTimeout time.Duration
	// RemoveAfter: the entries whose receipts arrived leave the outbox in
	// the store's next write, or this long after the first of them if
	// nothing writes before (default DefaultRemoveAfter): a receipt costs
	// no disk flush of its own (store.AckLater). A crash in between sends
	// them again, and receivers drop duplicates.
	RemoveAfter time.Duration
	// Window is how many outbox entries may wait for receipts at once
	// (default DefaultWindow). A receipt comes back only once the
	// receiver has stored the record, so a window's worth of records is
	// in flight per round trip (store batch included): a gateway
	// forwarding its zone's acks in an alert's burst needs a wide one.
	// With 256 the control server took about 15,000 acks/s from eight
	// gateways, with 1,024 about 19,500 (bench server, 2 cores), because
	// wider windows let it store larger batches. An entry in the window
	// costs its record's bytes in memory.
	Window int
	// QueueSize bounds the in-memory queue of records that do not go
	// through the outbox (default DefaultQueueSize).
	QueueSize int
	// ExpiredGrace: an outbox entry whose record expired this long ago is
	// dropped unsent (default DefaultExpiredGrace); every receiver would
	// refuse it.
	ExpiredGrace time.Duration
	// ConnectTimeout, KeepAlive and WriteTimeout tune paho (defaults
	// DefaultConnectTimeout, DefaultKeepAlive, DefaultWriteTimeout).
	ConnectTimeout, KeepAlive, WriteTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Stats are a client link's counters.
type Stats struct {
	Broker          string // the broker URL connected to; "" when disconnected
	Connects        uint64 // successful connections
	Reconnects      uint64 // of those, all but the first
	ConnectFailures uint64 // connection attempts that failed
	SubscribeFailed uint64 // subscriptions the broker refused
	Published       uint64 // records published (outbox sends and resends, queue)
	Resent          uint64 // of those, outbox entries sent again (timeout or reconnect)
	Received        uint64 // records received and handed to the node
	ReceiptsIn      uint64 // outbox entries removed on a receipt
	ReceiptsOut     uint64 // record ids confirmed to publishers (server role)
	BadMessages     uint64 // receipts payloads that did not parse
	OutboxAcks      int    // acks waiting in the outbox
	OutboxTelemetry int    // telemetry waiting in the outbox
	OutboxExpired   uint64 // outbox entries dropped because their record expired
	OutboxErrors    uint64 // records that could not be put in the outbox
	QueueDropped    uint64 // records dropped on a full in-memory queue
	Refused         uint64 // records this node may not publish (topic not granted)
	BytesIn         uint64 // payload bytes received
	BytesOut        uint64 // payload bytes published
}

// Link is a mesh.Link over an MQTT 3.1.1 broker, with eclipse/paho: see
// the package doc.
type Link struct {
	cfg      Config
	name     string
	self     trust.Identity
	node     *mesh.Node
	store    *store.Store
	log      *slog.Logger
	clock    Clock
	backoff  *Backoff
	brokers  []*url.URL
	receipts *Receipts // server role: confirms what it receives

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closed atomic.Bool

	toOutbox chan outboxReq
	queue    chan queued
	acks     chan []record.ID
	conns    chan *session

	connected   atomic.Bool
	lastContact atomic.Int64 // Unix ns

	mu    sync.Mutex
	stats Stats
	sess  *session       // the connected session, or nil
	peer  trust.Identity // the broker, while connected
}

type outboxReq struct {
	raw   []byte
	class store.OutboxClass
}

type queued struct {
	topic string
	raw   []byte
}

// New starts a client link and registers it with the node. It connects in
// the background; call Close when done.
func New(cfg Config) (*Link, error) {
	if cfg.Node == nil || cfg.Verifier == nil {
		return nil, errors.New("mqttlink: a link needs a node and a verifier")
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("mqttlink: no broker URLs")
	}
	self, err := OwnIdentity(cfg.Certificate)
	if err != nil {
		return nil, fmt.Errorf("mqttlink: %w", err)
	}
	if self.ID != cfg.Node.ID() {
		return nil, fmt.Errorf("mqttlink: the certificate names %s but the node is %q", self, cfg.Node.ID())
	}
	switch self.Role {
	case trust.RoleDevice, trust.RoleGateway, trust.RoleServer:
	default:
		return nil, fmt.Errorf("mqttlink: a %s may not connect to a broker", self.Role)
	}
	var brokers []*url.URL
	for _, b := range cfg.Brokers {
		u, err := url.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("mqttlink: broker %q: %w", b, err)
		}
		switch u.Scheme {
		case "tls", "ssl", "mqtts":
		default:
			return nil, fmt.Errorf("mqttlink: broker %q: scheme %q (want tls://host:port: the links speak only TLS)", b, u.Scheme)
		}
		if u.Port() == "" {
			return nil, fmt.Errorf("mqttlink: broker %q: no port", b)
		}
		brokers = append(brokers, u)
	}
	if cfg.Name == "" {
		cfg.Name = LinkName
	}
	if len(cfg.BrokerRoles) == 0 {
		cfg.BrokerRoles = []trust.Role{trust.RoleServer, trust.RoleGateway}
	}
	if cfg.Subscriptions == nil {
		cfg.Subscriptions = SubscriptionsFor(self)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.StableAfter, DefaultStableAfter)
	setDefault(&cfg.ReceiptTimeout, DefaultReceiptTimeout)
	setDefault(&cfg.RemoveAfter, DefaultRemoveAfter)
	setDefault(&cfg.ExpiredGrace, DefaultExpiredGrace)
	setDefault(&cfg.DrainEvery, DefaultDrainEvery)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.KeepAlive, DefaultKeepAlive)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{
		cfg:      cfg,
		name:     cfg.Name,
		self:     self,
		node:     cfg.Node,
		store:    cfg.Node.Store(),
		log:      cfg.Logger.With("component", "mqttlink", "link", cfg.Name, "node", self.ID),
		clock:    cfg.Clock,
		backoff:  NewBackoff(cfg.MinBackoff, cfg.MaxBackoff, cfg.Seed),
		brokers:  brokers,
		ctx:      ctx,
		cancel:   cancel,
		toOutbox: make(chan outboxReq, 4096),
		queue:    make(chan queued, cfg.QueueSize),
		acks:     make(chan []record.ID, 256),
		conns:    make(chan *session),
	}
	if self.Role == trust.RoleServer {
		l.receipts = NewReceipts(cfg.Node, cfg.Clock, l.sendReceipts)
	}
	l.wg.Add(2)
	go l.run()
	go l.pump()
	cfg.Node.AddLink(l)
	return l, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Name returns the link's name.
func (l *Link) Name() string { return l.name }

// Identity returns the identity the link connects as.
func (l *Link) Identity() trust.Identity { return l.self }

// Connected reports whether the link is connected to a broker and
// subscribed.
func (l *Link) Connected() bool { return l.connected.Load() }

// LastContact returns when the link last heard from a broker: a
// connection, or a message received (zero if never). While Connected is
// true, paho's keepalive bounds how stale the broker can be: a broker
// silent for KeepAlive plus paho's ping timeout is dropped.
func (l *Link) LastContact() time.Time {
	ns := l.lastContact.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Broker returns the identity of the broker the link is connected to.
func (l *Link) Broker() (trust.Identity, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peer, l.peer.ID != ""
}

// BrokerURL is the broker the link is connected to or last tried ("" before
// the first): Stats().Broker without reading the outbox.
func (l *Link) BrokerURL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats.Broker
}

// Stats returns the link's counters, with the outbox depth read now.
func (l *Link) Stats() Stats {
	acks, tel, _ := l.store.OutboxLen()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.OutboxAcks, s.OutboxTelemetry = acks, tel
	if l.receipts != nil {
		s.ReceiptsOut = l.receipts.Stats().IDs
	}
	return s
}

func (l *Link) count(f func(*Stats)) {
	l.mu.Lock()
	f(&l.stats)
	l.mu.Unlock()
}

// Close disconnects and stops the link's goroutines. Records waiting in
// the outbox stay there for the next start; the in-memory queue is lost.
func (l *Link) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		l.cancel()
		l.wg.Wait()
		if l.receipts != nil {
			l.receipts.Close()
		}
	})
	return nil
}

// Offer takes a record the node accepted. It never blocks: the record is
// handed to the link's goroutine (see the package doc for what goes
// through the outbox), or dropped and counted if that queue is full.
func (l *Link) Offer(f mesh.Forward) {
	if l.closed.Load() {
		return
	}
	r := f.Record
	if l.receipts != nil {
		l.receipts.Offered(r.ID())
	}
	if f.From.Link == l.name || !l.wants(f) {
		return
	}
	topic, err := l.topicFor(r)
	if err != nil || !Allowed(l.self, topic, true) {
		l.count(func(s *Stats) { s.Refused++ })
		l.log.Debug("record not published: topic not granted", "id", r.ID().Short(), "kind", r.Kind, "topic", topic, "err", err)
		return
	}
	if class, ok := l.durable(f); ok {
		if f.Queued {
			return // the node queued it as it stored it; the store wakes the pump
		}
		select {
		case l.toOutbox <- outboxReq{raw: r.Raw(), class: class}:
		default:
			l.count(func(s *Stats) { s.OutboxErrors++ })
			l.log.Error("outbox queue full: record not queued for the broker", "id", r.ID().Short(), "kind", r.Kind)
		}
		return
	}
	select {
	case l.queue <- queued{topic: topic, raw: r.Raw()}:
	default:
		l.count(func(s *Stats) { s.QueueDropped++ })
	}
}

// wants applies the uplink policy.
func (l *Link) wants(f mesh.Forward) bool {
	if l.cfg.Uplink != nil {
		return l.cfg.Uplink(f)
	}
	up := f.Record.Kind.Uplink()
	switch l.self.Role {
	case trust.RoleDevice:
		return up && f.From.Link == ""
	case trust.RoleGateway:
		return up || f.From.Link == ""
	case trust.RoleServer:
		return !up
	}
	return false
}

// durable reports whether a record goes through the outbox, and as what:
// on a device or gateway link, uplink kinds and every record this node
// published itself. A server's link has no one to send it receipts.
func (l *Link) durable(f mesh.Forward) (store.OutboxClass, bool) {
	if l.self.Role == trust.RoleServer {
		return 0, false
	}
	switch k := f.Record.Kind; {
	case k == record.KindAck:
		return store.OutboxAck, true
	case k.Uplink():
		return store.OutboxTelemetry, true
	case f.From.Link == "":
		return store.OutboxAck, true // e.g. a gateway's advisory: never dropped
	}
	return 0, false
}

// topicFor is TopicFor, except that a device publishes every uplink
// record on its own device topics (the only ones it may publish), even
// one it relays for a neighbour.
func (l *Link) topicFor(r *record.Record) (string, error) {
	if l.self.Role == trust.RoleDevice && r.Kind.Uplink() {
		return DeviceTopic(l.self.ID, uplinkSub(r.Kind)), nil
	}
	return TopicFor(r)
}

// effectiveNow is the clock, or the verifier's floor if later.
func (l *Link) effectiveNow() time.Time {
	now := l.clock.Now()
	if f := l.cfg.Verifier.Floor(); f.After(now) {
		return f
	}
	return now
}

// sendReceipts publishes a receipts payload (server role), through the
// current session if there is one.
func (l *Link) sendReceipts(to string, payload []byte) {
	s := l.currentSession()
	if s == nil {
		return // the publisher resends
	}
	s.client.Publish(ReceiptsTopic(to), 1, false, payload)
	l.count(func(st *Stats) { st.BytesOut += uint64(len(payload)) })
}

// grantedSubs returns the configured subscriptions the identity may
// make; the others are logged once and skipped.
func (l *Link) grantedSubs() map[string]byte {
	subs := map[string]byte{}
	for _, f := range l.cfg.Subscriptions {
		if !Allowed(l.self, f, false) {
			l.log.Warn("subscription not granted to this node's role: skipped", "filter", f, "role", l.self.Role)
			continue
		}
		subs[f] = 1
	}
	return subs
}
