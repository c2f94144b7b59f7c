package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Reconciliation messages. See doc.go, "Anti-entropy", for the protocol;
// this is the byte layout.
//
//	message = version:u8 (=1) cutoff:uvarint range*
//	range   = upper:bound mode:u8 payload
//	bound   = 0x00                                  the end of the key space (MaxBound)
//	        | delta:uvarint (≥1) plen:u8 prefix     expires = previous bound's expires + delta - 1
//	                                                (the first bound counts from 0); the id is
//	                                                prefix (plen ≤ 32 bytes, not ending in 0x00)
//	                                                followed by zero bytes
//	mode 0  skip         no payload: nothing to say about this range
//	mode 1  fingerprint  fp[16]: the sender's fingerprint of the range
//	mode 2  id list      n:uvarint id[32]×n: all the sender's ids in the range
//	mode 3  diff         n:uvarint id[32]×n  ids the sender has and the receiver lacks
//	                     m:uvarint pfx[8]×m  the first 8 bytes of each id the receiver has
//	                                         (in this range) and the sender lacks: the
//	                                         receiver sent them in full in its id list
//
// A range runs from the previous range's upper bound (MinBound for the
// first) to its own. Upper bounds strictly increase; nothing follows the
// end bound; ranges after the last one are skipped, so a message never
// ends with a skip, and two skips are never adjacent. cutoff is the
// initiator's clock in unix milliseconds: both sides reconcile the records
// that expire after it. A message is at most MaxMessage bytes.
// MaxMessage is the largest reconciliation message, in bytes.
const MaxMessage = 64 << 10

const (
	msgVersion = 1
	splitWays  = 16                 // a range that differs is split this many ways…
	idListMax  = 2 * splitWays      // …unless it holds at most this many records: then its ids are sent
	diffMax    = 3 * idListMax      // an id list is answered with a diff if both sides hold at most this many
	softLimit  = MaxMessage - 8<<10 // stop adding ranges past this; one range adds < 4 KiB
	echoLen    = 8                  // bytes of an id echoed back in a diff
	maxCutoff  = math.MaxInt64 / 2  // a cutoff must be a plausible clock
)

// Range modes.
const (
	modeSkip   = 0
	modeFP     = 1
	modeIDList = 2
	modeDiff   = 3
)

// Roles.
const (
	roleNone = iota
	roleInit
	roleResp
)

// Reconciler runs one anti-entropy exchange with one peer, Negentropy
// style: it compares range fingerprints of the two sides' (expiry, id)
// sets, splits the ranges that differ and exchanges ids only for small
// ranges, so the bytes exchanged grow with the difference, not the set.
// It is message-based and does no I/O: the caller carries the messages.
//
// One side calls Initiate and sends the result; then each side passes
// every message it receives to Respond and sends the reply it returns, if
// any, until Respond reports done. A Reconciler is not safe for concurrent
// use; the store may change during the exchange (a change shows up as a
// difference or is caught by the next exchange).
type Reconciler struct {
	s        *Store
	cutoff   int64
	role     int
	reported map[record.ID]bool
}

// NewReconciler returns a reconciler of s's records that have not expired
// at now. A responder uses the initiator's clock instead, carried in the
// messages, so that both sides compare the same set.
func NewReconciler(s *Store, now time.Time) *Reconciler {
	return &Reconciler{s: s, cutoff: now.UnixMilli(), reported: map[record.ID]bool{}}
}

// Initiate returns the first message of an exchange.
func (r *Reconciler) Initiate() ([]byte, error) {
	if r.role != roleNone {
		return nil, fmt.Errorf("store: reconcile: initiate: %w: the exchange has already started", ErrInvalid)
	}
	if r.cutoff < 0 || r.cutoff > maxCutoff {
		return nil, fmt.Errorf("store: reconcile: initiate: %w: clock %d ms is out of range", ErrInvalid, r.cutoff)
	}
	r.role = roleInit
	w := newMsgWriter(r.cutoff)
	err := r.s.view(func(t *txn) error {
		n := 0
		if err := r.walk(t, MinBound, MaxBound, func(Bound) bool { n++; return true }); err != nil {
			return err
		}
		return r.split(t, w, MinBound, MaxBound, n)
	})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, fmt.Errorf("store: reconcile: initiate: %w", err)
	}
	return w.buf, nil
}

// Respond processes a message from the peer. It returns the reply to send
// (nil: send nothing), the ids the peer has and this store lacks
// (peerHas: fetch them), the ids this store has and the peer lacks
// (peerNeeds: send them), and done, which is true when this side expects
// no further message: send the reply, if any, and end the exchange. An id
// is reported at most once per Reconciler.
func (r *Reconciler) Respond(msg []byte) (reply []byte, peerHas, peerNeeds []record.ID, done bool, err error) {
	m, err := parseMessage(msg)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("store: reconcile: %w", err)
	}
	switch r.role {
	case roleNone:
		r.role, r.cutoff = roleResp, m.cutoff
	default:
		if m.cutoff != r.cutoff {
			return nil, nil, nil, false, fmt.Errorf("store: reconcile: %w: cutoff %d, the exchange uses %d", ErrBadMessage, m.cutoff, r.cutoff)
		}
	}
	var t *txn // set inside the view below
	report := func(list *[]record.ID, ids []record.ID) {
		for _, id := range ids {
			if r.reported[id] || list == &peerHas && t.rec().Get(id[:]) != nil {
				continue // a peer's claim that we lack what we have is not passed on
			}
			r.reported[id] = true
			*list = append(*list, id)
		}
	}
	w := newMsgWriter(r.cutoff)
	peerWaits := false
	err = r.s.view(func(tx *txn) error {
		t = tx
		lower, full := MinBound, false
		for _, rg := range m.ranges {
			lo, hi := lower, rg.upper
			lower = hi
			if rg.mode == modeFP || rg.mode == modeIDList {
				peerWaits = true
			}
			if rg.mode == modeDiff {
				report(&peerHas, rg.ids)
				if len(rg.needs) > 0 {
					echoed := map[[echoLen]byte]bool{}
					for _, p := range rg.needs {
						echoed[p] = true
					}
					var needs []record.ID
					if err := r.scan(t, lo, hi, func(b Bound) bool {
						if echoed[[echoLen]byte(b.ID[:echoLen])] {
							needs = append(needs, b.ID)
						}
						return true
					}); err != nil {
						return err
					}
					report(&peerNeeds, needs)
				}
			}
			if full {
				continue
			}
			if len(w.buf) > softLimit {
				// Out of room: cover everything from here with one
				// fingerprint; the peer narrows it down next round.
				full = true
				acc, err := r.sum(t, lo, MaxBound)
				if err != nil {
					return err
				}
				w.fingerprint(MaxBound, acc.fingerprint())
				continue
			}
			switch rg.mode {
			case modeSkip, modeDiff:
				w.skip(hi)
			case modeFP:
				acc, err := r.sum(t, lo, hi)
				if err != nil {
					return err
				}
				if acc.fingerprint() == rg.fp {
					w.skip(hi)
					continue
				}
				if err := r.split(t, w, lo, hi, acc.n); err != nil {
					return err
				}
			case modeIDList:
				var ours []record.ID
				if err := r.scan(t, lo, hi, func(b Bound) bool {
					ours = append(ours, b.ID)
					return len(ours) <= diffMax
				}); err != nil {
					return err
				}
				theirs := map[record.ID]bool{}
				for _, id := range rg.ids {
					theirs[id] = true
				}
				if len(ours)+len(theirs) > diffMax {
					n := 0
					if err := r.walk(t, lo, hi, func(Bound) bool { n++; return true }); err != nil {
						return err
					}
					if err := r.split(t, w, lo, hi, n); err != nil {
						return err
					}
					continue
				}
				var has, needs []record.ID // has: we have, they lack; needs: they have, we lack
				for _, id := range ours {
					if theirs[id] {
						delete(theirs, id)
					} else {
						has = append(has, id)
					}
				}
				for _, id := range rg.ids {
					if theirs[id] {
						delete(theirs, id)
						needs = append(needs, id)
					}
				}
				report(&peerHas, needs)
				report(&peerNeeds, has)
				if len(has) == 0 && len(needs) == 0 {
					w.skip(hi)
					continue
				}
				echo := make([][echoLen]byte, len(needs))
				for i, id := range needs {
					echo[i] = [echoLen]byte(id[:echoLen])
				}
				w.diff(hi, has, echo)
			}
		}
		return nil
	})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("store: reconcile: %w", err)
	}
	switch {
	case w.ranges > 0:
		reply = w.buf
	case peerWaits:
		reply = w.buf // no ranges: "nothing differs", so the peer can stop waiting
	}
	return reply, peerHas, peerNeeds, !w.wantsReply, nil
}

// scan is scanShared over the records that expire after the cutoff: the
// mesh reconciles what it replicates, not the uplink records.
func (r *Reconciler) scan(t *txn, lo, hi Bound, fn func(Bound) bool) error {
	return scanShared(t, r.above(lo), hi, fn)
}

// walk is scan in no particular order (walkShared): for sums and counts.
func (r *Reconciler) walk(t *txn, lo, hi Bound, fn func(Bound) bool) error {
	return walkShared(t, r.above(lo), hi, fn)
}

// sum accumulates the ids walk yields in [lo, hi).
func (r *Reconciler) sum(t *txn, lo, hi Bound) (acc accumulator, err error) {
	err = r.walk(t, lo, hi, func(b Bound) bool { acc.add(b.ID); return true })
	return acc, err
}

// above returns lo, raised to the first bound past the cutoff.
func (r *Reconciler) above(lo Bound) Bound {
	if floor := (Bound{Expires: r.cutoff + 1}); lo.Compare(floor) < 0 {
		return floor
	}
	return lo
}

// split writes the range [lo, hi), which holds n of our records, as an id
// list if it is small, or else as splitWays fingerprinted sub-ranges of
// (nearly) equal counts.
func (r *Reconciler) split(t *txn, w *msgWriter, lo, hi Bound, n int) error {
	if n <= idListMax {
		ids := make([]record.ID, 0, n)
		err := r.scan(t, lo, hi, func(b Bound) bool { ids = append(ids, b.ID); return true })
		w.idList(hi, ids)
		return err
	}
	per, extra := n/splitWays, n%splitWays
	want := func(bucket int) int {
		if bucket < extra {
			return per + 1
		}
		return per
	}
	var acc accumulator
	var prev Bound
	bucket := 0
	err := r.scan(t, lo, hi, func(b Bound) bool {
		if acc.n == want(bucket) && bucket < splitWays-1 {
			w.fingerprint(between(prev, b), acc.fingerprint())
			acc, bucket = accumulator{}, bucket+1
		}
		acc.add(b.ID)
		prev = b
		return true
	})
	w.fingerprint(hi, acc.fingerprint())
	return err
}

// between returns the shortest bound above a and at most b (a < b): b's
// expiry with the shortest id prefix that sorts above a.
func between(a, b Bound) Bound {
	if a.Expires != b.Expires {
		return Bound{Expires: b.Expires}
	}
	out := Bound{Expires: b.Expires}
	for i := range b.ID {
		out.ID[i] = b.ID[i]
		if a.ID[i] != b.ID[i] {
			break
		}
	}
	return out
}

// msgWriter builds a message, merging adjacent skips and dropping
// trailing ones.
type msgWriter struct {
	buf        []byte
	prevExp    int64
	last       Bound // the last upper bound written
	skipTo     *Bound
	ranges     int  // non-skip ranges written
	wantsReply bool // a fingerprint or id list was written
	err        error
}

func newMsgWriter(cutoff int64) *msgWriter {
	w := &msgWriter{buf: make([]byte, 0, 512), last: MinBound}
	w.buf = append(w.buf, msgVersion)
	w.buf = binary.AppendUvarint(w.buf, uint64(cutoff))
	return w
}

func (w *msgWriter) skip(upper Bound) { w.skipTo = &upper }

func (w *msgWriter) begin(upper Bound, mode byte) {
	if w.skipTo != nil {
		to := *w.skipTo
		w.skipTo = nil
		if to.Compare(upper) < 0 {
			w.begin(to, modeSkip)
		}
	}
	w.bound(upper)
	w.buf = append(w.buf, mode)
	if mode != modeSkip {
		w.ranges++
	}
}

func (w *msgWriter) bound(b Bound) {
	switch {
	case w.err != nil:
		return
	case b.Compare(w.last) <= 0:
		w.err = fmt.Errorf("bounds out of order: %v after %v", b, w.last)
		return
	case b == MaxBound:
		w.buf = append(w.buf, 0)
		w.last = b
		return
	case b.Expires < w.prevExp:
		w.err = fmt.Errorf("bound expiry %d cannot be encoded after %d", b.Expires, w.prevExp)
		return
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(b.Expires-w.prevExp)+1)
	plen := len(b.ID)
	for plen > 0 && b.ID[plen-1] == 0 {
		plen--
	}
	w.buf = append(w.buf, byte(plen))
	w.buf = append(w.buf, b.ID[:plen]...)
	w.prevExp, w.last = b.Expires, b
}

func (w *msgWriter) fingerprint(upper Bound, fp [16]byte) {
	w.begin(upper, modeFP)
	w.buf = append(w.buf, fp[:]...)
	w.wantsReply = true
}

func (w *msgWriter) idList(upper Bound, ids []record.ID) {
	w.begin(upper, modeIDList)
	w.appendIDs(ids)
	w.wantsReply = true
}

func (w *msgWriter) diff(upper Bound, has []record.ID, needs [][echoLen]byte) {
	w.begin(upper, modeDiff)
	w.appendIDs(has)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(needs)))
	for _, p := range needs {
		w.buf = append(w.buf, p[:]...)
	}
}

func (w *msgWriter) appendIDs(ids []record.ID) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(ids)))
	for _, id := range ids {
		w.buf = append(w.buf, id[:]...)
	}
}

// message is a parsed reconciliation message.
type message struct {
	cutoff int64
	ranges []msgRange
}

type msgRange struct {
	upper Bound
	mode  byte
	fp    [16]byte
	ids   []record.ID     // id list; for a diff, the ids the sender has
	needs [][echoLen]byte // for a diff, the receiver's ids the sender lacks
}

// parseMessage decodes a message strictly: anything the layout does not
// allow is an error that says where.
func parseMessage(b []byte) (message, error) {
	var m message
	if len(b) > MaxMessage {
		return m, fmt.Errorf("%w: %d bytes, at most %d", ErrBadMessage, len(b), MaxMessage)
	}
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrBadMessage)
	}
	if b[0] != msgVersion {
		return m, fmt.Errorf("%w: version %d, want %d", ErrBadMessage, b[0], msgVersion)
	}
	p := parser{b: b, off: 1}
	cutoff := p.uvarint("cutoff")
	if p.err == nil && cutoff > maxCutoff {
		p.fail("cutoff %d is out of range", cutoff)
	}
	m.cutoff = int64(cutoff)
	prevExp, last, lastMode := int64(0), MinBound, byte(255)
	for p.err == nil && p.off < len(b) {
		if last == MaxBound {
			p.fail("data after the end bound")
			break
		}
		var rg msgRange
		start := p.off
		d := p.uvarint("bound")
		if d == 0 {
			rg.upper = MaxBound
		} else {
			if d-1 > uint64(math.MaxInt64-prevExp) {
				p.fail("bound expiry overflows")
				break
			}
			rg.upper.Expires = prevExp + int64(d-1)
			plen := int(p.byte("prefix length"))
			if p.err == nil && plen > len(rg.upper.ID) {
				p.fail("id prefix of %d bytes", plen)
			}
			prefix := p.bytes(plen, "id prefix")
			if p.err == nil && plen > 0 && prefix[plen-1] == 0 {
				p.fail("id prefix ends in a zero byte")
			}
			copy(rg.upper.ID[:], prefix)
			prevExp = rg.upper.Expires
			if p.err == nil && rg.upper == MaxBound {
				p.fail("the end bound must be written as 0")
			}
		}
		if p.err != nil {
			break
		}
		if rg.upper.Compare(last) <= 0 {
			p.off = start
			p.fail("range bound does not increase")
			break
		}
		rg.mode = p.byte("mode")
		switch rg.mode {
		case modeSkip:
			if lastMode == modeSkip {
				p.fail("two adjacent skips")
			}
		case modeFP:
			copy(rg.fp[:], p.bytes(16, "fingerprint"))
		case modeIDList:
			rg.ids = p.ids("id list")
		case modeDiff:
			rg.ids = p.ids("diff (sender has)")
			rg.needs = p.prefixes("diff (sender lacks)")
		default:
			if p.err == nil {
				p.fail("unknown mode %d", rg.mode)
			}
		}
		last, lastMode = rg.upper, rg.mode
		m.ranges = append(m.ranges, rg)
	}
	if p.err == nil && lastMode == modeSkip {
		p.fail("ends with a skip")
	}
	if p.err != nil {
		return message{}, p.err
	}
	return m, nil
}

type parser struct {
	b   []byte
	off int
	err error
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: at byte %d: %s", ErrBadMessage, p.off, fmt.Sprintf(format, args...))
	}
}

func (p *parser) uvarint(what string) uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b[p.off:])
	if n <= 0 {
		p.fail("bad or truncated %s", what)
		return 0
	}
	if n != uvarintLen(v) {
		p.fail("%s is not in its shortest encoding", what)
		return 0
	}
	p.off += n
	return v
}

func (p *parser) byte(what string) byte {
	b := p.bytes(1, what)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func (p *parser) bytes(n int, what string) []byte {
	if p.err != nil {
		return nil
	}
	if n > len(p.b)-p.off {
		p.fail("%s truncated: want %d bytes, have %d", what, n, len(p.b)-p.off)
		return nil
	}
	b := p.b[p.off : p.off+n]
	p.off += n
	return b
}

func (p *parser) ids(what string) []record.ID {
	n := p.uvarint(what + " length")
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)-p.off)/32 {
		p.fail("%s of %d ids, but only %d bytes remain", what, n, len(p.b)-p.off)
		return nil
	}
	ids := make([]record.ID, n)
	for i := range ids {
		copy(ids[i][:], p.bytes(32, what))
	}
	return ids
}

func (p *parser) prefixes(what string) [][echoLen]byte {
	n := p.uvarint(what + " length")
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)-p.off)/echoLen {
		p.fail("%s of %d id prefixes, but only %d bytes remain", what, n, len(p.b)-p.off)
		return nil
	}
	ps := make([][echoLen]byte, n)
	for i := range ps {
		copy(ps[i][:], p.bytes(echoLen, what))
	}
	return ps
}

// appendMessage encodes m; parseMessage(appendMessage(nil, m)) == m for
// every m parseMessage returns.
func appendMessage(dst []byte, m message) ([]byte, error) {
	w := newMsgWriter(m.cutoff)
	w.buf = append(dst, w.buf...)
	for _, rg := range m.ranges {
		switch rg.mode {
		case modeSkip:
			w.begin(rg.upper, modeSkip)
		case modeFP:
			w.fingerprint(rg.upper, rg.fp)
		case modeIDList:
			w.idList(rg.upper, rg.ids)
		case modeDiff:
			w.diff(rg.upper, rg.ids, rg.needs)
		default:
			return nil, errors.New("unknown mode")
		}
	}
	return w.buf, w.err
}
