package mqttlink

import (
	"errors"
	"slices"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

// entry is an outbox entry in the send window.
type entry struct {
	seq     uint64
	id      record.ID
	topic   string
	raw     []byte
	expires time.Time
	sent    time.Time // zero: not sent on this session
	tries   int       // times sent
}

// window is the pump's view of the oldest outbox entries, by sequence
// number and by record id. Only the pump goroutine touches it.
type window struct {
	bySeq map[uint64]*entry
	byID  map[record.ID]uint64
}

// pump owns the outbox and the in-memory queue: it stores what Offer
// hands it, publishes the oldest Window entries while connected, sends
// each again after ReceiptTimeout or a reconnect, and removes an entry
// when its receipt arrives.
func (l *Link) pump() {
	defer l.wg.Done()
	w := &window{bySeq: map[uint64]*entry{}, byID: map[record.ID]uint64{}}
	var sess *session
	resend := l.clock.NewTimer(time.Hour)
	resend.Stop()
	defer resend.Stop()
	remove := l.clock.NewTimer(time.Hour)
	remove.Stop()
	removing := false
	defer func() {
		remove.Stop()
		if removing {
			l.flushRemovals()
		}
	}()
	changed := l.store.OutboxChanged()
	var pending []outboxReq
	for {
		var queue <-chan queued
		if sess != nil {
			queue = l.queue
		}
		dirty := false
		select {
		case <-l.ctx.Done():
			return
		case req := <-l.toOutbox:
			reqs := append(pending[:0], req)
		drain:
			for range 255 {
				select {
				case req := <-l.toOutbox:
					reqs = append(reqs, req)
				default:
					break drain
				}
			}
			l.enqueue(reqs)
			pending = reqs
			dirty = true
		case ids := <-l.acks:
			if l.confirm(w, ids) && !removing {
				removing = true
				remove.Reset(l.cfg.RemoveAfter)
			}
			dirty = true
		case <-remove.C():
			removing = false
			l.flushRemovals()
		case s := <-l.conns:
			sess = s
			if sess != nil {
				for _, e := range w.bySeq {
					e.sent = time.Time{} // a new session: send everything again
				}
				dirty = true
			}
		case q := <-queue:
			l.publish(sess, q.topic, q.raw, false)
		case <-resend.C():
			dirty = true
		case <-changed:
			dirty = true // an entry some other part of the program enqueued
		}
		if dirty && sess != nil {
			if next, ok := l.fill(w, sess); ok {
				resend.Reset(max(next.Sub(l.clock.Now()), time.Millisecond))
			} else {
				resend.Stop()
			}
		}
	}
}

// enqueue puts records in the durable outbox in the order they came (a
// record naming its signer by kid must follow the one with the chain):
// each run of one class in one transaction, so that a gateway bridging a
// zone's acks flushes the disk once per burst, not once per ack. A run
// that would overflow the outbox is put in one record at a time, so that
// those that still fit are kept (all or none would leave them out).
func (l *Link) enqueue(reqs []outboxReq) {
	single := 0 // how many of reqs go in one at a time: their run overflowed
	for len(reqs) > 0 {
		class := reqs[0].class
		n := 1
		for single == 0 && n < len(reqs) && reqs[n].class == class {
			n++
		}
		raws := make([][]byte, n)
		for i, req := range reqs[:n] {
			raws[i] = req.raw
		}
		_, err := l.store.EnqueueBatch(class, raws)
		if errors.Is(err, store.ErrOutboxFull) && n > 1 {
			single = n
			continue
		}
		reqs, single = reqs[n:], max(single-1, 0)
		if err != nil {
			l.count(func(s *Stats) { s.OutboxErrors += uint64(len(raws)) })
			l.log.Error("records not put in the outbox", "records", len(raws), "first", record.IDOf(raws[0]).Short(), "class", class, "err", err)
		}
	}
}

// load refreshes the window from the outbox: entries that left it (acked,
// or telemetry the store dropped to make room) are forgotten, new ones
// parsed. An entry that no longer parses, or whose record expired more
// than ExpiredGrace ago, is removed from the outbox.
func (l *Link) load(w *window) {
	items, err := l.store.Peek(l.cfg.Window)
	if err != nil {
		l.log.Error("reading the outbox", "err", err)
		return
	}
	now := l.effectiveNow()
	keep := make(map[uint64]bool, len(items))
	var drop []uint64
	for _, it := range items {
		e := w.bySeq[it.Seq]
		if e == nil {
			r, err := record.Parse(it.Data)
			var topic string
			if err == nil {
				topic, err = l.topicFor(r)
			}
			if err != nil {
				l.log.Error("outbox entry dropped: not a publishable record", "seq", it.Seq, "err", err)
				drop = append(drop, it.Seq)
				continue
			}
			e = &entry{seq: it.Seq, id: r.ID(), topic: topic, raw: it.Data, expires: r.Expires}
		}
		if !now.Before(e.expires.Add(l.cfg.ExpiredGrace)) {
			l.log.Warn("outbox entry dropped: its record expired", "id", e.id.Short(), "expired", e.expires)
			l.count(func(s *Stats) { s.OutboxExpired++ })
			drop = append(drop, it.Seq)
			continue
		}
		keep[it.Seq] = true
		w.bySeq[it.Seq] = e
		w.byID[e.id] = it.Seq
	}
	for seq, e := range w.bySeq {
		if !keep[seq] {
			delete(w.bySeq, seq)
			delete(w.byID, e.id)
		}
	}
	if len(drop) > 0 {
		if err := l.store.Ack(drop...); err != nil {
			l.log.Error("removing outbox entries", "err", err)
		}
	}
}

// fill publishes the window's entries that were not sent on this session
// or whose receipt is overdue, and returns when the next one falls due.
func (l *Link) fill(w *window, sess *session) (next time.Time, ok bool) {
	l.load(w)
	now := l.clock.Now()
	if l.cfg.Drain != nil && !l.cfg.Drain() {
		// Not this link's turn: look again in a while.
		return now.Add(l.cfg.DrainEvery), true
	}
	// In outbox order: a record that names its signer by kid only must
	// reach the receiver after the one that carried the signer's chain.
	seqs := make([]uint64, 0, len(w.bySeq))
	for seq := range w.bySeq {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		e := w.bySeq[seq]
		due := e.sent.Add(l.cfg.ReceiptTimeout)
		if e.sent.IsZero() || !now.Before(due) {
			l.publish(sess, e.topic, e.raw, e.tries > 0)
			e.sent = now
			e.tries++
			due = now.Add(l.cfg.ReceiptTimeout)
		}
		if !ok || due.Before(next) {
			next, ok = due, true
		}
	}
	return next, ok
}

// confirm removes the entries whose receipts arrived, from the window at
// once and from the outbox with the store's next write (store.AckLater),
// and says whether it removed any. Ids the window does not hold (a receipt
// for an entry sent before a restart, queued by the broker for this
// session) are looked up after a reload; ids of entries already removed
// are ignored.
func (l *Link) confirm(w *window, ids []record.ID) bool {
	var seqs []uint64
	var unknown []record.ID
	match := func(ids []record.ID, unknown *[]record.ID) {
		for _, id := range ids {
			seq, ok := w.byID[id]
			if !ok {
				if unknown != nil {
					*unknown = append(*unknown, id)
				}
				continue
			}
			seqs = append(seqs, seq)
			delete(w.byID, id)
			delete(w.bySeq, seq)
		}
	}
	match(ids, &unknown)
	if len(unknown) > 0 {
		l.load(w)
		match(unknown, nil)
	}
	if len(seqs) == 0 {
		return false
	}
	l.store.AckLater(seqs...)
	l.count(func(s *Stats) { s.ReceiptsIn += uint64(len(seqs)) })
	return true
}

// flushRemovals writes the outbox removals of receipted entries, unless a
// write did already.
func (l *Link) flushRemovals() {
	if err := l.store.FlushAcks(); err != nil && !errors.Is(err, store.ErrClosed) {
		l.log.Warn("removing receipted outbox entries: they will be sent again", "err", err)
	}
}

// publish sends one record at QoS 1 without waiting for the PUBACK: the
// receipt, not the PUBACK, is what removes an outbox entry.
func (l *Link) publish(sess *session, topic string, raw []byte, resend bool) {
	tok := sess.client.Publish(topic, 1, false, raw)
	select {
	case <-tok.Done():
		if tok.Error() != nil { // not connected any more: the pump hears of it next
			return
		}
	default:
	}
	l.count(func(s *Stats) {
		s.Published++
		s.BytesOut += uint64(len(raw))
		if resend {
			s.Resent++
		}
	})
}
