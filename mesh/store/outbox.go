package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// OutboxClass is what an outbox entry is; it decides what may be dropped.
type OutboxClass uint8

// Outbox classes.
const (
	OutboxAck       OutboxClass = 1 // never dropped
	OutboxTelemetry OutboxClass = 2 // the oldest is dropped when the outbox is full
)

// String returns the class's name.
func (c OutboxClass) String() string {
	switch c {
	case OutboxAck:
		return "ack"
	case OutboxTelemetry:
		return "telemetry"
	}
	return fmt.Sprintf("outbox-class(%d)", uint8(c))
}

// MaxOutboxData is the largest outbox entry, in bytes.
const MaxOutboxData = 64 << 10

// OutboxItem is one entry waiting in the outbox.
type OutboxItem struct {
	Seq   uint64 // increasing across both classes; never reused
	Class OutboxClass
	Data  []byte // owned by the caller
}

func (c OutboxClass) bucket(t *txn) (*bolt.Bucket, []byte) {
	if c == OutboxAck {
		return t.outAck(), kOutAcks
	}
	return t.outTel(), kOutTel
}

// Enqueue appends data to the outbox and returns its sequence number. When
// the outbox holds MaxOutbox entries, the oldest telemetry entry is dropped
// to make room (counted in Stats.OutboxDropped); acks are never dropped, so
// if the outbox is full of acks Enqueue fails with ErrOutboxFull.
func (s *Store) Enqueue(class OutboxClass, data []byte) (seq uint64, err error) {
	seqs, err := s.EnqueueBatch(class, [][]byte{data})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// EnqueueBatch is Enqueue of several entries in one transaction (one
// commit, so one disk flush): all of them or, on an error, none.
func (s *Store) EnqueueBatch(class OutboxClass, items [][]byte) (seqs []uint64, err error) {
	if class != OutboxAck && class != OutboxTelemetry {
		return nil, fmt.Errorf("store: enqueue: %w: class %d", ErrInvalid, uint8(class))
	}
	for _, data := range items {
		if len(data) > MaxOutboxData {
			return nil, fmt.Errorf("store: enqueue %s: %w: %d bytes, at most %d", class, ErrInvalid, len(data), MaxOutboxData)
		}
	}
	dropped := 0
	err = s.update(func(t *txn) error {
		dropped, seqs = 0, seqs[:0]
		for _, data := range items {
			seq, d, err := t.enqueue(class, data, s.opts.MaxOutbox)
			if err != nil {
				return err
			}
			dropped += d
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: enqueue %s: %w", class, err)
	}
	if dropped > 0 {
		s.log.Debug("outbox full: dropped the oldest telemetry", "dropped", dropped)
	}
	s.notifyOutbox()
	return seqs, nil
}

// OutboxChanged returns a channel that receives (without blocking the
// store: a signal already pending is enough) after every Enqueue, so that
// whoever drains the outbox (the MQTT links) learns of entries another part
// of the program put there. Each call returns a new channel.
func (s *Store) OutboxChanged() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.watchMu.Lock()
	s.watchers = append(s.watchers, ch)
	s.watchMu.Unlock()
	return ch
}

func (s *Store) notifyOutbox() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Peek returns up to n of the oldest outbox entries, acks and telemetry
// together in sequence order, without removing them (nor those AckLater
// holds).
func (s *Store) Peek(n int) ([]OutboxItem, error) {
	var items []OutboxItem
	acked := s.ackedSnapshot()
	err := s.view(func(t *txn) error {
		ca, ct := t.outAck().Cursor(), t.outTel().Cursor()
		ka, va := ca.First()
		kt, vt := ct.First()
		for len(items) < n && (ka != nil || kt != nil) {
			if ka != nil && (kt == nil || bytes.Compare(ka, kt) < 0) {
				if !held(acked, ka) {
					items = append(items, outboxItem(OutboxAck, ka, va))
				}
				ka, va = ca.Next()
			} else {
				if !held(acked, kt) {
					items = append(items, outboxItem(OutboxTelemetry, kt, vt))
				}
				kt, vt = ct.Next()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: peek: %w", err)
	}
	return items, nil
}

// held reports whether the outbox key k is one of acked (an
// ackedSnapshot).
func held(acked map[uint64]struct{}, k []byte) bool {
	if len(acked) == 0 || len(k) != 8 {
		return false
	}
	_, ok := acked[binary.BigEndian.Uint64(k)]
	return ok
}

func outboxItem(c OutboxClass, k, v []byte) OutboxItem {
	var seq uint64
	if len(k) == 8 {
		seq = binary.BigEndian.Uint64(k)
	}
	return OutboxItem{Seq: seq, Class: c, Data: bytes.Clone(v)}
}

// Ack removes the outbox entries with the given sequence numbers, once
// they have been delivered. Unknown numbers are ignored, so Ack may be
// repeated.
func (s *Store) Ack(seqs ...uint64) error {
	if err := s.update(func(t *txn) error { return t.removeOutbox(slices.Values(seqs)) }); err != nil {
		return fmt.Errorf("store: ack: %w", err)
	}
	return nil
}

// AckLater removes the entries as Ack does, but in the store's next write
// transaction (whatever it writes) or at FlushAcks or Close, so that a
// receipt does not cost a disk flush of its own: a pole's receipt for its
// ack comes in the burst of an alert. Peek, OutboxLen and Stats leave the
// entries out at once. A crash before the removal is written loses the
// removal, not an entry: the entries are sent again, and the receivers
// drop them as duplicates.
func (s *Store) AckLater(seqs ...uint64) {
	if len(seqs) == 0 {
		return
	}
	s.ackMu.Lock()
	if s.acked == nil {
		s.acked = map[uint64]struct{}{}
	}
	for _, seq := range seqs {
		s.acked[seq] = struct{}{}
	}
	s.ackMu.Unlock()
}

// FlushAcks writes the removals AckLater holds, if any.
func (s *Store) FlushAcks() error {
	s.ackMu.Lock()
	none := len(s.acked) == 0
	s.ackMu.Unlock()
	if none {
		return nil
	}
	if err := s.update(func(*txn) error { return nil }); err != nil {
		return fmt.Errorf("store: flushing outbox removals: %w", err)
	}
	return nil
}

// ackedSnapshot returns a copy of the sequence numbers AckLater holds, or
// nil if it holds none.
func (s *Store) ackedSnapshot() map[uint64]struct{} {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	if len(s.acked) == 0 {
		return nil
	}
	return maps.Clone(s.acked)
}

// outboxKey is the outbox key of sequence number seq.
func outboxKey(seq uint64) [8]byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k
}

// outboxHolder returns the class whose bucket holds the entry seq, if
// either does (sequence numbers are unique across the two).
func (t *txn) outboxHolder(seq uint64) (OutboxClass, bool) {
	k := outboxKey(seq)
	for _, c := range []OutboxClass{OutboxAck, OutboxTelemetry} {
		if b, _ := c.bucket(t); hasKey(b, k[:]) {
			return c, true
		}
	}
	return 0, false
}

// removeOutbox deletes the outbox entries with the given sequence numbers
// that exist, keeping the counters.
func (t *txn) removeOutbox(seqs iter.Seq[uint64]) error {
	for seq := range seqs {
		c, ok := t.outboxHolder(seq)
		if !ok {
			continue
		}
		b, ck := c.bucket(t)
		k := outboxKey(seq)
		if err := b.Delete(k[:]); err != nil {
			return err
		}
		if err := t.addCounter(ck, -1); err != nil {
			return err
		}
	}
	return nil
}

// pendingRemovals counts, by class, the entries of acked (an
// ackedSnapshot) that the outbox still has in t.
func (t *txn) pendingRemovals(acked map[uint64]struct{}) (acks, telemetry int) {
	for seq := range acked {
		c, ok := t.outboxHolder(seq)
		switch {
		case ok && c == OutboxAck:
			acks++
		case ok:
			telemetry++
		}
	}
	return acks, telemetry
}

// OutboxLen returns how many acks and telemetry entries are waiting.
func (s *Store) OutboxLen() (acks, telemetry int, err error) {
	acked := s.ackedSnapshot()
	err = s.view(func(t *txn) error {
		pa, pt := t.pendingRemovals(acked)
		acks, telemetry = int(t.counter(kOutAcks))-pa, int(t.counter(kOutTel))-pt
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: outbox len: %w", err)
	}
	return acks, telemetry, nil
}

// enqueue adds data to the outbox as class within t, first dropping the
// oldest telemetry while the outbox holds maxOutbox entries (acks are never
// dropped: a full outbox of acks is ErrOutboxFull). It returns the entry's
// sequence number and how many telemetry entries it dropped.
func (t *txn) enqueue(class OutboxClass, data []byte, maxOutbox int) (seq uint64, dropped int, err error) {
	acks, tel := t.counter(kOutAcks), t.counter(kOutTel)
	for acks+tel >= uint64(maxOutbox) {
		if tel == 0 {
			return 0, 0, fmt.Errorf("%w: %d acks are waiting, the bound is %d, and acks are never dropped", ErrOutboxFull, acks, maxOutbox)
		}
		k, _ := t.outTel().Cursor().First()
		if k == nil {
			return 0, 0, fmt.Errorf("%w: the telemetry count is %d but the bucket is empty", ErrCorrupt, tel)
		}
		if err := t.outTel().Delete(k); err != nil {
			return 0, 0, err
		}
		tel--
		dropped++
		if err := t.setCounter(kOutTel, tel); err != nil {
			return 0, 0, err
		}
		if err := t.addCounter(kOutDropped, 1); err != nil {
			return 0, 0, err
		}
	}
	seq = t.counter(kOutSeq) + 1
	if err := t.setCounter(kOutSeq, seq); err != nil {
		return 0, 0, err
	}
	b, ck := class.bucket(t)
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	if err := b.Put(k[:], data); err != nil {
		return 0, 0, err
	}
	if err := t.addCounter(ck, 1); err != nil {
		return 0, 0, err
	}
	return seq, dropped, nil
}
