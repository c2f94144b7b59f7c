package mqttlink

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
)

// MaxReceiptIDs is the most record ids one receipts message carries.
const MaxReceiptIDs = 1024

// AppendReceipts appends a receipts payload, the ids concatenated, to dst.
func AppendReceipts(dst []byte, ids ...record.ID) []byte {
	for _, id := range ids {
		dst = append(dst, id[:]...)
	}
	return dst
}

// ParseReceipts decodes a receipts payload: 1 to MaxReceiptIDs 32-byte
// record ids, concatenated, nothing else.
func ParseReceipts(b []byte) ([]record.ID, error) {
	const n = len(record.ID{})
	if len(b) == 0 || len(b)%n != 0 || len(b) > MaxReceiptIDs*n {
		return nil, fmt.Errorf("mqttlink: receipts payload of %d bytes: want 1 to %d ids of %d bytes", len(b), MaxReceiptIDs, n)
	}
	ids := make([]record.ID, len(b)/n)
	for i := range ids {
		copy(ids[i][:], b[i*n:])
	}
	return ids, nil
}

// Receipts is the receiving side of the receipts protocol (see the
// package doc): it remembers which publisher sent which record until the
// node holds that record durably, then tells the publisher so, batching
// the ids for each publisher into as few messages as it can. The broker
// link and a server's client link each run one.
//
// Received and Offered never block; what does not fit the queue is
// dropped, and the publisher's resend repairs it.
type Receipts struct {
	node  *mesh.Node
	clock Clock
	send  func(to string, payload []byte)
	ttl   time.Duration

	in   chan receiptEvent
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	pending map[record.ID]*waiting // owned by loop

	ids, msgs, dropped atomic.Uint64
}

type receiptEvent struct {
	id      record.ID
	from    string // "" for Offered
	offered bool
}

type waiting struct {
	from []string
	at   time.Time
}

// Receipt tracking bounds: how many records may wait for the node at once
// and for how long (a record the node rejects never becomes known; its
// publisher resends it until it expires).
const (
	receiptQueue   = 8192
	maxPending     = 1 << 16
	pendingTTL     = 10 * time.Minute
	pendingSweep   = time.Minute
	receiptDrainAt = 4096 // events handled before a flush
)

// ReceiptStats are a Receipts' counters.
type ReceiptStats struct {
	IDs      uint64 // record ids confirmed
	Messages uint64 // receipts messages sent
	Dropped  uint64 // events dropped on a full queue or a full pending table
}

// NewReceipts starts a receipts tracker for node. send publishes a
// receipts payload on ReceiptsTopic(to); it is called from the tracker's
// goroutine only.
func NewReceipts(node *mesh.Node, clock Clock, send func(to string, payload []byte)) *Receipts {
	if clock == nil {
		clock = SystemClock{}
	}
	r := &Receipts{
		node:    node,
		clock:   clock,
		send:    send,
		ttl:     pendingTTL,
		in:      make(chan receiptEvent, receiptQueue),
		stop:    make(chan struct{}),
		pending: map[record.ID]*waiting{},
	}
	r.wg.Add(1)
	go r.loop()
	return r
}

// Received notes that from published the record id and that it was handed
// to the node (Deliver returned true).
func (r *Receipts) Received(from string, id record.ID) {
	r.push(receiptEvent{id: id, from: from})
}

// Offered notes that the node accepted and stored the record id: call it
// from the link's Offer, for every record.
func (r *Receipts) Offered(id record.ID) {
	r.push(receiptEvent{id: id, offered: true})
}

func (r *Receipts) push(ev receiptEvent) {
	select {
	case r.in <- ev:
	default:
		r.dropped.Add(1)
	}
}

// Stats returns the counters.
func (r *Receipts) Stats() ReceiptStats {
	return ReceiptStats{IDs: r.ids.Load(), Messages: r.msgs.Load(), Dropped: r.dropped.Load()}
}

// Close stops the tracker. Receipts not yet sent are forgotten: their
// publishers resend.
func (r *Receipts) Close() {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
}

func (r *Receipts) loop() {
	defer r.wg.Done()
	sweep := r.clock.NewTimer(pendingSweep)
	defer sweep.Stop()
	out := map[string][]record.ID{}
	for {
		select {
		case <-r.stop:
			return
		case <-sweep.C():
			now := r.clock.Now()
			for id, w := range r.pending {
				if now.Sub(w.at) > r.ttl {
					delete(r.pending, id)
				}
			}
			sweep.Reset(pendingSweep)
			continue
		case ev := <-r.in:
			r.handle(ev, out)
		}
	drain:
		for range receiptDrainAt {
			select {
			case ev := <-r.in:
				r.handle(ev, out)
			default:
				break drain
			}
		}
		r.flush(out)
	}
}

// handle applies one event. A record is confirmed when the node has
// offered it to the links (it is stored) after its publisher's copy
// arrived, or, for a copy of a record the node already held, at once:
// Node.Known is true only once the batch that accepted the record has
// been stored.
func (r *Receipts) handle(ev receiptEvent, out map[string][]record.ID) {
	if ev.offered {
		if w, ok := r.pending[ev.id]; ok {
			for _, from := range w.from {
				out[from] = append(out[from], ev.id)
			}
			delete(r.pending, ev.id)
		}
		return
	}
	w, ok := r.pending[ev.id]
	if !ok {
		if len(r.pending) >= maxPending {
			r.dropped.Add(1)
			return
		}
		w = &waiting{at: r.clock.Now()}
		r.pending[ev.id] = w
	}
	found := false
	for _, f := range w.from {
		found = found || f == ev.from
	}
	if !found {
		w.from = append(w.from, ev.from)
	}
	// Known after registering: if the node's Offer ran before, Known is
	// already true; if it runs after, the pending entry catches it.
	if r.node.Known(ev.id) {
		for _, from := range w.from {
			out[from] = append(out[from], ev.id)
		}
		delete(r.pending, ev.id)
	}
}

func (r *Receipts) flush(out map[string][]record.ID) {
	for to, ids := range out {
		for len(ids) > 0 {
			n := min(len(ids), MaxReceiptIDs)
			r.send(to, AppendReceipts(make([]byte, 0, n*len(record.ID{})), ids[:n]...))
			r.ids.Add(uint64(n))
			r.msgs.Add(1)
			ids = ids[n:]
		}
		delete(out, to)
	}
}
