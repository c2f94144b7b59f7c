package gossip

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// LinkName is the name gossip gives its records' sources.
const LinkName = "gossip"

// Config configures a gossip link.
type Config struct {
	// Node is the mesh node the link feeds and is fed by. Required.
	Node *mesh.Node
	// Verifier checks members' certificates at join. Required; usually the
	// node's own.
	Verifier *trust.Verifier
	// Cert and Key are this node's certificate and key: the certificate
	// goes in the node meta with a signature that proves the key.
	Cert *x509.Certificate
	Key  ed25519.PrivateKey
	// Memberlist is the base memberlist configuration (its timing preset
	// and transport); nil means memberlist.DefaultLANConfig(). New sets its
	// Name, delegates, Keyring and Label.
	Memberlist *memberlist.Config
	// Keys is the gossip keyring: 16, 24 or 32-byte AES keys, the first
	// used to encrypt and all tried to decrypt, so keys can be rotated.
	// Required unless Insecure.
	Keys [][]byte
	// Insecure allows a link without a keyring (tests only).
	Insecure bool
	// Label keeps cities apart: memberlist prefixes every packet and stream
	// with it and authenticates it. Required.
	Label string
	// Fanout is how many random members a new record is pushed to at once
	// (default 4); LazyFanout how many others get an "I have" notice
	// (default 10), from which they pull it if no push arrives. A member
	// that neither push nor notice reaches waits for anti-entropy, so the
	// cheap notices go wide: with 14 contacts a member, at 20 % loss each
	// member is missed by all with odds of about e^-11 (1 in 100,000);
	// with 10 contacts, e^-8 (1 in 3,000), which 200 members and 5 alerts
	// hit one run in three.
	Fanout, LazyFanout int
	// GraftTimeout is how long a member that heard "I have" waits for a
	// push before asking for the record (default 80 ms), and again before
	// asking another announcer; it doubles on each later try.
	GraftTimeout time.Duration
	// Carry, if set, says which accepted records the link spreads: a
	// record it refuses is neither pushed nor announced (members may still
	// pull it by id). Nil spreads every record. Roles use it to keep
	// uplink records (acks, health, telemetry) off the mesh unless a
	// device without an uplink needs its neighbours to relay them: the
	// mesh replicates alerts, not a city's acks (anti-entropy leaves
	// uplink kinds out for the same reason, see store.SharedFingerprint).
	Carry func(mesh.Forward) bool
	// AnnounceOnly, if set, says which carried records are only announced
	// ("I have", to Fanout members) instead of pushed: a record that came
	// by a medium the neighbours share (a pole's zone broker, which sends
	// every pole of the zone the same alert) has most likely reached them
	// that way, and pushing it to them would cost each a copy to receive
	// and drop. A neighbour that lacks it asks for it after GraftTimeout,
	// and pushes it on to others as a record new to the mesh.
	AnnounceOnly func(mesh.Forward) bool
	// AnnounceDelay is how long after it arrived such a record is
	// announced (default 1 s): a neighbour whose own uplink brought it
	// meanwhile ignores the notice, and the notices stay out of the burst
	// of work an alert makes in a zone. A neighbour without its uplink
	// reconciles every few seconds anyway; the notice is for one whose
	// uplink failed without it noticing yet.
	AnnounceDelay time.Duration
	// ReliableAbove: records larger than this many bytes go by memberlist's
	// reliable stream instead of a packet (default 1100).
	ReliableAbove int
	// AntiEntropyInterval is how often Run reconciles the store with one
	// random member (default DefaultAntiEntropyInterval, 30 s; 0 means the
	// default). It is only the backstop: members also reconcile when
	// memberlist's push/pull finds their stores differ and at once when a
	// member they knew re-joins (see the package doc).
	AntiEntropyInterval time.Duration
	// MaxSessions caps concurrent anti-entropy sessions, both roles
	// (default DefaultMaxSessions, 8); a session offered beyond it is
	// refused.
	MaxSessions int
	// SnapshotPath, if set, is where the link keeps every member it has
	// seen alive (name, address, last seen) as JSON written atomically, so
	// that a restarted node re-joins them. Members unseen for PeerForget
	// (72 h) are dropped. Without it the link remembers members in memory
	// only.
	SnapshotPath string
	// RejoinInterval is how often Run tries to re-join remembered members
	// that are not alive (default DefaultRejoinInterval, 10 s; 0 means the
	// default). memberlist forgets a member some seconds after it is
	// declared dead and never contacts it again; this loop is what heals
	// a partition of any length.
	RejoinInterval time.Duration
	// Seed seeds the choice of peers; 0 picks a random seed.
	Seed uint64
	// Metas, if set, is a cache of checked node metas shared with the
	// other links of this process (see MetaCache). Only the simulator and
	// benchmarks, which run many nodes in one process, need one.
	Metas *MetaCache
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Link is a mesh.Link over hashicorp/memberlist: membership and failure
// detection from memberlist, and dissemination of its own (see the package
// doc).
type Link struct {
	cfg   Config
	name  string
	node  *mesh.Node
	ml    *memberlist.Memberlist
	log   *slog.Logger
	meta  []byte
	sends chan func()

	ae    *antiEntropy // anti-entropy sessions (antientropy.go)
	peers *peerBook    // members seen alive, the snapshot (rejoin.go)

	mu      sync.Mutex
	rng     *rand.Rand
	pending map[record.ID]*pull
	// toAnnounce waits for announceTimer (announceLater).
	toAnnounce    []record.ID
	announceTimer *time.Timer
	members       map[string]trust.Identity // checked members, by name and meta digest
	// upstream are the members whose certificates say server or gateway:
	// where uplink records on the mesh go (see Offer).
	upstream map[string]bool
	// wrote is when each member last sent this one a message: those know
	// it, and can answer its anti-entropy sessions (Reconcile).
	wrote       map[string]time.Time
	introducing bool // Reconcile's join is under way
	stats       Stats
	closed      bool

	wg sync.WaitGroup
}

// A member asks for an announced record at most maxGraftTries times, from
// each announcer in turn. It waits GraftTimeout before the first ask and
// again before the second, then twice as long each time, up to
// maxGraftWait; after that anti-entropy is the repair. The second ask
// comes soon since on a lossy link a lost ask is common (one in three at
// 20 % loss each way) and it goes to another announcer.
const (
	maxGraftTries = 8
	maxGraftWait  = 640 * time.Millisecond
)

// pull is a record heard of but not yet received.
type pull struct {
	from  []string // members that said they have it
	tries int
	timer *time.Timer
}

// Stats are the link's counters.
type Stats struct {
	PushSent, PushReceived   uint64
	IHaveSent, IHaveReceived uint64
	GraftSent, GraftReceived uint64
	BadMessages              uint64 // dropped: did not decode
	RefusedMembers           uint64 // refused at join: bad meta
	SendQueueFull            uint64 // sends dropped on a full queue
	SendErrors               uint64

	// Anti-entropy.
	SessionsStarted   uint64 // sessions this node initiated
	SessionsAnswered  uint64 // sessions a member initiated with this node
	SessionsCompleted uint64 // sessions, either role, that ran to the end
	SessionsFailed    uint64 // ended by an error, a refusal, a lost member or 30 s of silence
	SessionsRefused   uint64 // offered sessions refused: MaxSessions, or crossing one of ours
	FetchSent         uint64 // fetch messages sent
	FetchReceived     uint64 // fetch messages received
	// Introductions counts Reconcile's joins: no member had written to
	// this one lately, so one was introduced to it before the session.
	Introductions uint64
	// AntiEntropyFetched counts records received in answer to a fetch,
	// AntiEntropySent records sent in answer to one.
	AntiEntropyFetched, AntiEntropySent uint64
	// ReconcileBytesSent and ReconcileBytesReceived count reconcile
	// messages, gossip header included.
	ReconcileBytesSent, ReconcileBytesReceived uint64
	BadReconcile                               uint64 // reconcile bodies the store refused
	StaleReconcile                             uint64 // reconcile messages for sessions that had ended
	BadSummaries                               uint64 // push/pull summaries that did not decode

	// Re-join.
	RejoinAttempts  uint64 // memberlist Joins tried by the re-join loop
	RejoinSuccesses uint64 // of those, Joins that reached the member
}

// New creates the link's memberlist and registers the link with the node.
// Call Join to meet peers and Close when done.
func New(cfg Config) (*Link, error) {
	if cfg.Node == nil || cfg.Verifier == nil || cfg.Cert == nil || cfg.Key == nil {
		return nil, errors.New("gossip: a link needs a node, a verifier, a certificate and a key")
	}
	if cfg.Label == "" {
		return nil, errors.New("gossip: a link needs a city label")
	}
	if len(cfg.Keys) == 0 && !cfg.Insecure {
		return nil, errors.New("gossip: no keyring: pass Keys (16, 24 or 32-byte AES keys)")
	}
	if cfg.Fanout <= 0 {
		cfg.Fanout = 4
	}
	if cfg.LazyFanout <= 0 {
		cfg.LazyFanout = 10
	}
	if cfg.AnnounceDelay <= 0 {
		cfg.AnnounceDelay = time.Second
	}
	if cfg.GraftTimeout <= 0 {
		cfg.GraftTimeout = 80 * time.Millisecond
	}
	if cfg.ReliableAbove <= 0 {
		cfg.ReliableAbove = 1100
	}
	if cfg.AntiEntropyInterval <= 0 {
		cfg.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = DefaultRejoinInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	name := cfg.Node.ID()
	l := &Link{
		cfg:      cfg,
		name:     name,
		node:     cfg.Node,
		log:      cfg.Logger.With("component", "gossip", "node", name),
		sends:    make(chan func(), 4096),
		rng:      rand.New(rand.NewPCG(seed, 0x9055)),
		pending:  map[record.ID]*pull{},
		members:  map[string]trust.Identity{},
		upstream: map[string]bool{},
		wrote:    map[string]time.Time{},
		ae:       newAntiEntropy(),
	}
	l.peers = l.newPeerBook(cfg.SnapshotPath)
	meta, err := makeMeta(cfg.Cert, cfg.Key, cfg.Label, name)
	if err != nil {
		return nil, err
	}
	l.meta = meta

	mc := cfg.Memberlist
	if mc == nil {
		mc = memberlist.DefaultLANConfig()
	}
	c := *mc
	c.Name = name
	c.Label = cfg.Label
	// Records are signed CBOR and compress poorly, and memberlist
	// compresses every packet with a fresh LZW table: on a small CPU
	// that costs more time than the bytes it saves.
	c.EnableCompression = false
	// Membership state carries each member's certificate in its meta, so a
	// push/pull is large; records do not depend on it (they have their own
	// anti-entropy), so it runs at half the LAN rate unless asked.
	if mc == nil || c.PushPullInterval == memberlist.DefaultLANConfig().PushPullInterval {
		c.PushPullInterval *= 2
	}
	c.Delegate = (*delegate)(l)
	c.Alive = (*delegate)(l)
	c.Merge = (*delegate)(l)
	c.Events = (*delegate)(l)
	if c.Logger == nil && c.LogOutput == nil {
		c.Logger = log.New(io.Discard, "", 0)
	}
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys[1:], cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		c.Keyring = kr
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	}
	for range 2 {
		l.wg.Add(1)
		go l.sender()
	}
	ml, err := memberlist.Create(&c)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("gossip: %w", err)
	}
	l.ml = ml
	cfg.Node.AddLink(l)
	return l, nil
}

// DownOnly is a Carry for nodes that deliver uplink records themselves
// (the server, gateways): it spreads every record but acks, health,
// telemetry and anomalies.
func DownOnly(f mesh.Forward) bool { return !f.Record.Kind.Uplink() }

// Name returns LinkName.
func (l *Link) Name() string { return LinkName }

// Memberlist returns the underlying memberlist, for status and tests.
func (l *Link) Memberlist() *memberlist.Memberlist { return l.ml }

// Join meets the cluster through the given addresses and returns how many
// it reached.
func (l *Link) Join(addrs []string) (int, error) { return l.ml.Join(addrs) }

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Close saves the peer snapshot, leaves the cluster and stops the link's
// goroutines (Run returns).
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for id, p := range l.pending {
		p.timer.Stop()
		delete(l.pending, id)
	}
	if l.announceTimer != nil {
		l.announceTimer.Stop()
	}
	l.mu.Unlock()
	l.ae.close()
	close(l.peers.stop)
	l.saveSnapshot()
	var err error
	if l.ml != nil {
		err = l.ml.Shutdown()
	}
	close(l.sends)
	l.wg.Wait()
	return err
}

// sender runs queued sends, so that Offer and memberlist's handlers never
// wait on the network.
func (l *Link) sender() {
	defer l.wg.Done()
	for f := range l.sends {
		f()
	}
}

// enqueue queues a send; a full queue drops it (the lazy path or
// anti-entropy repairs what is lost).
func (l *Link) enqueue(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	select {
	case l.sends <- f:
	default:
		l.stats.SendQueueFull++
	}
}

// Offer pushes an accepted record that Config.Carry allows to Fanout
// random members and tells LazyFanout others that this node has it. The
// member it came from is skipped. An uplink record (an ack, a health
// report: record.Kind.Uplink) is not for every member but for the
// server: it goes by reliable stream (no receipt comes back over gossip,
// so a dropped packet would lose it until the pole's uplink returns) to
// up to two members that are the server or a gateway, which deliver it,
// and only without any to Fanout random members (a pole's neighbours
// relay it), with no notices. A record Config.AnnounceOnly names is only
// announced, to Fanout members, Config.AnnounceDelay after it came.
func (l *Link) Offer(f mesh.Forward) {
	if l.cfg.Carry != nil && !l.cfg.Carry(f) {
		return
	}
	if l.repaired(f.Record.ID()) {
		return // anti-entropy fetched it: see repaired
	}
	skip := ""
	if f.From.Link == LinkName {
		skip = f.From.Peer
	}
	var eager, lazy []*memberlist.Node
	reliable := len(f.Record.Raw()) > l.cfg.ReliableAbove
	upstream := false
	if f.Record.Kind.Uplink() {
		if eager = l.pickWhere(upstreamFanout, skip, l.isUpstream); len(eager) > 0 {
			reliable, upstream = true, true
		} else {
			eager = l.pick(l.cfg.Fanout, skip)
		}
	} else if l.cfg.AnnounceOnly != nil && l.cfg.AnnounceOnly(f) {
		l.announceLater(f.Record.ID())
		return
	} else {
		peers := l.pick(l.cfg.Fanout+l.cfg.LazyFanout, skip)
		eager = peers[:min(len(peers), l.cfg.Fanout)]
		lazy = peers[len(eager):]
	}
	raw := f.Record.Raw()
	id := f.Record.ID()
	l.enqueue(func() {
		if len(eager) > 0 {
			l.push(eager, raw, reliable, upstream, skip)
		}
		l.announce(lazy, id)
	})
}

// announce tells the members that this node has the records ("I have"),
// in messages of up to announceBatch ids.
func (l *Link) announce(to []*memberlist.Node, ids ...record.ID) {
	for len(to) > 0 && len(ids) > 0 {
		n := min(len(ids), announceBatch)
		ihave, err := (&message{typ: msgIHave, from: l.name, ids: ids[:n]}).encode(nil)
		if err != nil {
			return
		}
		ids = ids[n:]
		for _, p := range to {
			l.send(p, ihave, false)
		}
		l.countN(&l.stats.IHaveSent, len(to))
	}
}

// announceBatch is how many ids one "I have" carries at most: 32 ids are
// 1 KiB, which fits a packet.
const announceBatch = 32

// announceLater announces record id to Fanout members AnnounceDelay from
// now, with the others that came meanwhile (Config.AnnounceOnly).
func (l *Link) announceLater(id record.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.toAnnounce = append(l.toAnnounce, id)
	if l.announceTimer == nil {
		l.announceTimer = time.AfterFunc(l.cfg.AnnounceDelay, l.announceDue)
	}
}

// announceDue sends what announceLater gathered.
func (l *Link) announceDue() {
	l.mu.Lock()
	ids := l.toAnnounce
	l.toAnnounce, l.announceTimer = nil, nil
	closed := l.closed
	l.mu.Unlock()
	if closed || len(ids) == 0 {
		return
	}
	to := l.pick(l.cfg.Fanout, "")
	l.enqueue(func() { l.announce(to, ids...) })
}

// push sends a record to the eager members: by reliable streams, in
// parallel, if reliable; for an uplink record (upstream) that no server
// or gateway took, to Fanout random members instead.
func (l *Link) push(eager []*memberlist.Node, raw []byte, reliable, upstream bool, skip string) {
	push, err := (&message{typ: msgPush, from: l.name, record: raw}).encode(nil)
	if err != nil {
		return
	}
	if reliable {
		// Each reliable send dials a stream: in parallel, so that the
		// last peer does not wait for every other dial.
		var wg sync.WaitGroup
		var delivered atomic.Int32
		for _, p := range eager {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l.sendErr(p, push, true) == nil {
					delivered.Add(1)
				}
			}()
		}
		wg.Wait()
		if upstream && delivered.Load() == 0 {
			// No server or gateway took it (one may be dead and not
			// yet known to be): neighbours relay it instead.
			for _, p := range l.pick(l.cfg.Fanout, skip) {
				l.send(p, push, true)
			}
		}
	} else {
		for _, p := range eager {
			l.send(p, push, false)
		}
	}
	l.countN(&l.stats.PushSent, len(eager))
}

// pick returns up to n distinct random live members other than this node
// and skip.
func (l *Link) pick(n int, skip string) []*memberlist.Node { return l.pickWhere(n, skip, nil) }

// pickWhere is pick of the members keep (called with l.mu held; nil keeps
// all) keeps.
func (l *Link) pickWhere(n int, skip string, keep func(name string) bool) []*memberlist.Node {
	if l.ml == nil {
		return nil
	}
	all := l.ml.Members()
	cands := all[:0]
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range all {
		if m.Name != l.name && m.Name != skip && (keep == nil || keep(m.Name)) {
			cands = append(cands, m)
		}
	}
	for i := 0; i < n && i < len(cands); i++ {
		j := i + l.rng.IntN(len(cands)-i)
		cands[i], cands[j] = cands[j], cands[i]
	}
	return cands[:min(n, len(cands))]
}

// upstreamFanout is how many of the mesh's servers and gateways an uplink
// record goes to.
const upstreamFanout = 2

// Upstream returns how many live members are the server or a gateway:
// where this member's uplink records go.
func (l *Link) Upstream() int {
	if l.ml == nil {
		return 0
	}
	all := l.ml.Members()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range all {
		if m.Name != l.name && l.isUpstream(m.Name) {
			n++
		}
	}
	return n
}

// isUpstream says whether the member name is the server or a gateway
// (called with l.mu held).
func (l *Link) isUpstream(name string) bool { return l.upstream[name] }

func (l *Link) send(to *memberlist.Node, msg []byte, reliable bool) {
	l.sendErr(to, msg, reliable)
}

// sendErr is send that also returns the error (already counted and
// logged).
func (l *Link) sendErr(to *memberlist.Node, msg []byte, reliable bool) error {
	var err error
	if reliable {
		err = l.ml.SendReliable(to, msg)
	} else {
		err = l.ml.SendBestEffort(to, msg)
	}
	if err != nil {
		l.countN(&l.stats.SendErrors, 1)
		l.log.Debug("send failed", "to", to.Name, "err", err)
	}
	return err
}

func (l *Link) member(name string) *memberlist.Node {
	for _, m := range l.ml.Members() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func (l *Link) countN(c *uint64, n int) {
	l.mu.Lock()
	*c += uint64(n)
	l.mu.Unlock()
}

// handle processes one decoded message from a member.
func (l *Link) handle(m *message) {
	l.mu.Lock()
	l.wrote[m.from] = time.Now()
	l.mu.Unlock()
	switch m.typ {
	case msgPush:
		l.countN(&l.stats.PushReceived, 1)
		l.notePush(m.record)
		l.node.Deliver(mesh.Source{Link: LinkName, Peer: m.from}, append([]byte(nil), m.record...))
	case msgIHave:
		l.countN(&l.stats.IHaveReceived, 1)
		for _, id := range m.ids {
			if !l.node.Known(id) {
				l.heard(id, m.from)
			}
		}
	case msgGraft:
		l.countN(&l.stats.GraftReceived, 1)
		ids := append([]record.ID(nil), m.ids...)
		from := m.from
		l.enqueue(func() { l.sendRecords(from, ids) })
	case msgReconcile:
		body := append([]byte(nil), m.body...)
		mm := *m
		mm.body = body
		size := 3 + len(m.from) + 9 + len(body)
		l.enqueue(func() { l.onReconcile(&mm, size) })
	case msgFetch:
		l.countN(&l.stats.FetchReceived, 1)
		ids := append([]record.ID(nil), m.ids...)
		from := m.from
		l.enqueue(func() { l.serveFetch(from, ids) })
	}
}

// heard notes that from has id; if no push arrives within GraftTimeout,
// the record is asked for.
func (l *Link) heard(id record.ID, from string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if p, ok := l.pending[id]; ok {
		p.from = append(p.from, from)
		return
	}
	p := &pull{from: []string{from}}
	l.pending[id] = p
	p.timer = time.AfterFunc(l.cfg.GraftTimeout, func() { l.graft(id) })
}

// graft asks the next member that has id for it, unless it has arrived,
// and tries again later (see maxGraftTries).
func (l *Link) graft(id record.ID) {
	l.mu.Lock()
	p, ok := l.pending[id]
	if !ok || l.closed {
		l.mu.Unlock()
		return
	}
	if l.node.Known(id) || p.tries >= maxGraftTries {
		delete(l.pending, id)
		l.mu.Unlock()
		return
	}
	from := p.from[p.tries%len(p.from)]
	p.tries++
	p.timer = time.AfterFunc(min(l.cfg.GraftTimeout<<(p.tries-1), maxGraftWait), func() { l.graft(id) })
	l.mu.Unlock()
	l.enqueue(func() {
		to := l.member(from)
		if to == nil {
			return
		}
		msg, err := (&message{typ: msgGraft, from: l.name, ids: []record.ID{id}}).encode(nil)
		if err != nil {
			return
		}
		l.send(to, msg, false)
		l.countN(&l.stats.GraftSent, 1)
	})
}

// sendRecords pushes the records with the given ids, from the store, to
// a member answering a graft: by packet unless a record is large.
func (l *Link) sendRecords(to string, ids []record.ID) {
	if m := l.member(to); m != nil {
		l.pushStored(m, ids, false, &l.stats.PushSent)
	}
}

// pushStored pushes stored records to a member, by reliable stream if
// reliable or if a record is over ReliableAbove, counting each record sent
// in *sent. Records no longer stored (expired, swept) are skipped.
func (l *Link) pushStored(to *memberlist.Node, ids []record.ID, reliable bool, sent *uint64) {
	for _, id := range ids {
		rec, err := l.node.Store().Get(id)
		if err != nil {
			continue
		}
		msg, err := (&message{typ: msgPush, from: l.name, record: rec.Raw()}).encode(nil)
		if err != nil {
			continue
		}
		if err := l.sendErr(to, msg, reliable || len(rec.Raw()) > l.cfg.ReliableAbove); err != nil {
			return // the member is unreachable: do not try the rest
		}
		l.countN(sent, 1)
	}
}

// delegate implements memberlist's delegates on the link.
type delegate Link

func (d *delegate) link() *Link { return (*Link)(d) }

// NodeMeta returns this node's certificate proof.
func (d *delegate) NodeMeta(limit int) []byte { return d.meta }

// NotifyMsg takes a user message from memberlist.
func (d *delegate) NotifyMsg(b []byte) {
	l := d.link()
	m, err := decode(b)
	if err != nil {
		l.countN(&l.stats.BadMessages, 1)
		l.log.Debug("bad message dropped", "err", err)
		return
	}
	l.handle(m)
}

// GetBroadcasts: records are pushed directly, not piggybacked.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState is this node's summary for memberlist's push/pull: its name
// and the fingerprint and count of its live records (see summary).
func (d *delegate) LocalState(join bool) []byte {
	l := d.link()
	s, err := l.localSummary()
	if err != nil {
		l.log.Error("anti-entropy: summary", "err", err)
		return nil
	}
	return s.appendTo(nil)
}

// MergeRemoteState compares a member's summary with this node's and, if
// they differ, reconciles (the member whose name sorts lower starts).
func (d *delegate) MergeRemoteState(buf []byte, join bool) { d.link().mergeSummary(buf) }

// NotifyAlive refuses a member whose meta does not prove its certificate.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	return d.link().admit(peer)
}

// NotifyMerge refuses a merge with a cluster holding any such member.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.link().admit(p); err != nil {
			return err
		}
	}
	return nil
}

// NotifyJoin remembers the member for the re-join loop and, if this node
// knew it before (a re-join after a partition or a restart), syncs with
// it at once. memberlist calls it under its lock.
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	if l := d.link(); l.noteMember(n) {
		l.rejoinedMember(n.Name)
	}
}

// NotifyLeave forgets a member that left on purpose; a dead one is kept
// for the re-join loop.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	if n.State == memberlist.StateLeft {
		d.link().forgetMember(n.Name)
	}
}

// NotifyUpdate follows a member's address.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.link().noteMember(n) }

// admit checks a member's meta once per distinct meta.
func (l *Link) admit(p *memberlist.Node) error {
	if p.Name == l.name {
		return nil
	}
	digest := sha256.Sum256(p.Meta)
	key := p.Name + "\x00" + string(digest[:])
	l.mu.Lock()
	_, ok := l.members[key]
	l.mu.Unlock()
	if ok {
		return nil
	}
	id, err := checkMeta(l.cfg.Verifier, l.cfg.Metas, p.Meta, l.cfg.Label, p.Name, l.node.Clock().Now())
	if err != nil {
		l.countN(&l.stats.RefusedMembers, 1)
		l.log.Warn("member refused", "member", p.Name, "err", err)
		return err
	}
	l.mu.Lock()
	l.members[key] = id
	if id.Role == trust.RoleServer || id.Role == trust.RoleGateway {
		l.upstream[p.Name] = true
	}
	l.mu.Unlock()
	return nil
}
