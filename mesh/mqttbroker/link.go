package mqttbroker

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// LinkName is the broker link's name in record sources. It differs from
// mqttlink.LinkName so that a gateway, which runs a broker for its poles
// and a client link to the server, can tell the two apart.
const LinkName = "mqtt-broker"

// onBehalfID is the client id of the broker's second inline client, which
// publishes records that came from a client with that client's id as the
// packet origin (see Link.Offer). No certificate may claim it.
const onBehalfID = "inline-link"

// Stats are the broker link's counters.
type Stats struct {
	Published    uint64 // records published to subscribers
	CaughtUp     uint64 // records served to devices that subscribed (Config.CatchUp)
	Received     uint64 // records received from clients and handed to the node
	InboxFull    uint64 // of those, the node's inbox refused (the client resends)
	ReceiptIDs   uint64 // record ids confirmed to their publishers
	ReceiptMsgs  uint64 // receipts messages sent
	Dropped      uint64 // offered records dropped on a full queue
	Unroutable   uint64 // offered records with no topic
	Refused      uint64 // publishes, subscriptions and deliveries the ACL refused
	AuthFailures uint64 // connections refused after TLS: client id, role
	TLSFailures  uint64 // handshakes refused: chain, role, revoked, timeout
	BytesIn      uint64 // record bytes received
	BytesOut     uint64 // record bytes published
}

// Link is the mesh.Link of the node that owns the broker. Offer publishes
// each accepted record on its topic (mqttlink.TopicFor) through mochi's
// inline client, at QoS 1, never retained; records that clients publish
// reach the node through the broker's hook, and the link confirms them
// with receipts once the node holds them (see the package doc).
type Link struct {
	b        *Broker
	node     *mesh.Node
	receipts *mqttlink.Receipts
	queue    chan outgoing
	onBehalf *mqtt.Client // used by the publisher goroutine only

	closing atomic.Bool
	catchMu sync.Mutex // orders startCatchUp's wg.Add before close's Wait
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu    sync.Mutex
	stats Stats
}

type outgoing struct {
	topic string
	raw   []byte
	from  string // the client the record came from, or ""
}

func newLink(b *Broker) *Link {
	l := &Link{
		b:     b,
		node:  b.cfg.Node,
		queue: make(chan outgoing, b.cfg.QueueSize),
		stop:  make(chan struct{}),
	}
	l.onBehalf = b.server.NewClient(nil, mqtt.LocalListener, onBehalfID, true)
	l.receipts = mqttlink.NewReceipts(b.cfg.Node, b.cfg.Clock, l.sendReceipts)
	l.wg.Add(1)
	go l.publisher()
	return l
}

// Name returns LinkName.
func (l *Link) Name() string { return LinkName }

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	rs := l.receipts.Stats()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.ReceiptIDs, s.ReceiptMsgs = rs.IDs, rs.Messages
	return s
}

func (l *Link) count(f func(*Stats)) {
	l.mu.Lock()
	f(&l.stats)
	l.mu.Unlock()
}

func (l *Link) countTLSFailure() { l.count(func(s *Stats) { s.TLSFailures++ }) }

// Offer queues an accepted record for publication. It never blocks: a
// full queue drops the record and counts it (the record is stored; the
// clients' sessions and gossip are the other ways it travels).
func (l *Link) Offer(f mesh.Forward) {
	if l.closing.Load() {
		return
	}
	r := f.Record
	l.receipts.Offered(r.ID())
	topic, err := mqttlink.TopicFor(r)
	if err != nil {
		l.count(func(s *Stats) { s.Unroutable++ })
		l.b.log.Debug("record not published: no topic", "id", r.ID().Short(), "err", err)
		return
	}
	out := outgoing{topic: topic, raw: r.Raw()}
	if f.From.Link == LinkName {
		out.from = f.From.Peer
	}
	select {
	case l.queue <- out:
	default:
		l.count(func(s *Stats) { s.Dropped++ })
	}
}

// publisher publishes queued records. A record that came from a client is
// injected with that client as its origin, so that the no-local flag the
// hook sets on every subscription keeps it from going back there.
func (l *Link) publisher() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		case out := <-l.queue:
			var err error
			if out.from == "" {
				err = l.b.server.Publish(out.topic, out.raw, false, 1)
			} else {
				l.onBehalf.ID = out.from
				err = l.b.server.InjectPacket(l.onBehalf, packets.Packet{
					FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
					TopicName:   out.topic,
					Payload:     out.raw,
					PacketID:    1, // needed by the validity check; inline publishes are not tracked
				})
			}
			if err != nil {
				l.b.log.Warn("publish failed", "topic", out.topic, "err", err)
				continue
			}
			l.count(func(s *Stats) {
				s.Published++
				s.BytesOut += uint64(len(out.raw))
			})
		}
	}
}

// startCatchUp runs catchUp on a goroutine of its own, which Close waits
// for.
func (l *Link) startCatchUp(device trust.Identity, topic string) {
	l.catchMu.Lock()
	defer l.catchMu.Unlock()
	if l.closing.Load() {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.catchUp(device, topic)
	}()
}

// catchUp publishes to device, on its own topic, what Config.CatchUp
// gives for it.
func (l *Link) catchUp(device trust.Identity, topic string) {
	recs := l.b.cfg.CatchUp(device)
	for _, r := range recs {
		// Its own goroutine: it may wait for room in the queue.
		select {
		case l.queue <- outgoing{topic: topic, raw: r.Raw()}:
		case <-l.stop:
			return
		}
	}
	l.count(func(s *Stats) { s.CaughtUp += uint64(len(recs)) })
	l.b.log.Debug("caught a device up", "device", device.ID, "records", len(recs))
}

// received hands a record a client published to the node, and notes it
// for a receipt.
func (l *Link) received(client string, raw []byte) {
	ok := l.node.Deliver(mesh.Source{Link: LinkName, Peer: client}, raw)
	l.count(func(s *Stats) {
		s.Received++
		s.BytesIn += uint64(len(raw))
		if !ok {
			s.InboxFull++
		}
	})
	if ok {
		l.receipts.Received(client, record.IDOf(raw))
	}
}

// sendReceipts publishes a receipts payload to the client to.
func (l *Link) sendReceipts(to string, payload []byte) {
	if err := l.b.server.Publish(mqttlink.ReceiptsTopic(to), payload, false, 1); err != nil {
		l.b.log.Warn("receipts not sent", "to", to, "err", err)
	}
}

// close stops the publisher and the receipts tracker.
func (l *Link) close() {
	l.once.Do(func() {
		l.catchMu.Lock()
		l.closing.Store(true)
		l.catchMu.Unlock()
		close(l.stop)
		l.wg.Wait()
		l.receipts.Close()
	})
}
