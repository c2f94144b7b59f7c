package mesh

import (
	"errors"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Source says where a record came from: the link and the peer on it. A
// record published by this node has an empty Link.
type Source struct {
	Link string // link name, e.g. "gossip", "mqtt"; "" for local
	Peer string // the peer on that link that sent it, if known
}

func (s Source) String() string {
	if s.Link == "" {
		return "local"
	}
	return s.Link + "/" + s.Peer
}

// EventKind is what happened to a record in the replica.
type EventKind uint8

// Event kinds.
const (
	// EventAccepted: a record passed the tier table and is new here; it is
	// being stored and forwarded.
	EventAccepted EventKind = iota + 1
	// EventRejected: a record failed Parse or trust.Verify; Reason says why.
	// It is neither stored nor forwarded.
	EventRejected
	// EventStoreFailed: an accepted record could not be stored (Err); it was
	// not forwarded and will be accepted again if it arrives again.
	EventStoreFailed
)

func (k EventKind) String() string {
	switch k {
	case EventAccepted:
		return "accepted"
	case EventRejected:
		return "rejected"
	case EventStoreFailed:
		return "store-failed"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one outcome the replica reports to its driver and, through it,
// to the role (show the alert, log the rejection, count it).
type Event struct {
	Kind    EventKind
	ID      record.ID
	Record  *record.Record // nil when the bytes did not parse
	Source  Source
	Signers []trust.Identity // for accepted records
	Reason  trust.Reason     // for rejections
	Err     error            // the rejection or store error
}

// Output is what one step of the replica asks its driver to do, in order:
// persist the records (in one batch), then offer them on every link, then
// deliver the events.
type Output struct {
	Persist []*record.Record
	Forward []Forward
	Events  []Event
}

// Forward is an accepted record to offer on the links; From lets a link
// skip the peer that sent it.
type Forward struct {
	Record *record.Record
	From   Source
	// Queued: the node put the record in the store's outbox as it stored
	// it (NodeConfig.Outbox), so a link that sends from the outbox leaves
	// it to its pump.
	Queued bool
}

// Counters are the replica's running totals (DESIGN §4: every rejection is
// counted with its reason).
type Counters struct {
	Received   uint64                  // records that reached the replica, duplicates included
	Duplicates uint64                  // of those, already known or already rejected: a lookup, no verify
	Accepted   uint64                  // verified and new
	Rejected   map[trust.Reason]uint64 // by reason
	Forwarded  uint64                  // accepted records offered to the links
	StoreFails uint64
	BytesIn    map[string]uint64 // record bytes received, by link ("" = local)
}

func (c *Counters) clone() Counters {
	out := *c
	out.Rejected = make(map[trust.Reason]uint64, len(c.Rejected))
	for k, v := range c.Rejected {
		out.Rejected[k] = v
	}
	out.BytesIn = make(map[string]uint64, len(c.BytesIn))
	for k, v := range c.BytesIn {
		out.BytesIn[k] = v
	}
	return out
}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Node is this node's id, for logs and events.
	Node string
	// Verifier applies the tier table. Required.
	Verifier *trust.Verifier
	// MaxRejected bounds the cache of rejected ids that makes a flood of
	// the same bad record cost a lookup. Default 4096.
	MaxRejected int
}

// Replica is the mesh's state machine (DESIGN §2): records in from links,
// verified, deduplicated, out to the store and the other links. It does no
// I/O and reads no clock: inputs carry the time, and outputs say what to
// persist, forward and report. Its methods are not safe for concurrent use;
// one driver goroutine owns it (see Node).
type Replica struct {
	cfg      ReplicaConfig
	known    map[record.ID]int64 // accepted ids → expiry (Unix ms)
	rejected *idRing             // recently rejected ids
	counters Counters

	// Orphans: records refused only because their signer's certificate
	// was unknown (a kid-only ack that overtook the health report carrying
	// the chain, on another path or out of order). They wait, by kid, for
	// a record that brings the certificate, and are checked again then.
	orphans     map[[32]byte][]orphan
	orphanIDs   map[record.ID]bool
	orphanCount int
}

// orphan is a record waiting for its signer's certificate.
type orphan struct {
	rec *record.Record
	src Source
	at  time.Time
}

// Orphan limits: how many records wait, and for how long.
const (
	maxOrphans = 1024
	orphanTTL  = 10 * time.Minute
)

// NewReplica returns a replica that knows no records yet; call Know with
// what the store holds before the first Receive.
func NewReplica(cfg ReplicaConfig) (*Replica, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("mesh: replica: no verifier")
	}
	if cfg.MaxRejected <= 0 {
		cfg.MaxRejected = 4096
	}
	return &Replica{
		cfg:      cfg,
		known:    map[record.ID]int64{},
		rejected: newIDRing(cfg.MaxRejected),
		counters: Counters{Rejected: map[trust.Reason]uint64{}, BytesIn: map[string]uint64{}},
		orphans:  map[[32]byte][]orphan{}, orphanIDs: map[record.ID]bool{},
	}, nil
}

// Know marks ids the store already holds, with their expiry, so that they
// are not verified again when peers offer them.
func (r *Replica) Know(id record.ID, expires time.Time) {
	r.known[id] = expires.UnixMilli()
}

// Known reports whether the replica holds id.
func (r *Replica) Known(id record.ID) bool {
	_, ok := r.known[id]
	return ok
}

// Counters returns a copy of the running totals.
func (r *Replica) Counters() Counters { return r.counters.clone() }

// Receive takes one record's bytes from a link at now.
func (r *Replica) Receive(src Source, raw []byte, now time.Time, out *Output) {
	r.counters.Received++
	r.counters.BytesIn[src.Link] += uint64(len(raw))
	id := record.IDOf(raw)
	if r.Known(id) || r.rejected.has(id) {
		r.counters.Duplicates++
		return
	}
	rec, err := record.Parse(raw)
	if err != nil {
		r.reject(id, nil, src, trust.ReasonMalformed, err, out)
		return
	}
	r.verify(rec, src, now, out)
}

// ReceiveRecord takes one record from a link that the driver has parsed
// already, off the replica's goroutine (mesh.Node's verify workers do,
// and check its signatures ahead with trust.Verifier.CheckSignatures). It
// is Receive without the parse: what it accepts and rejects is the same.
func (r *Replica) ReceiveRecord(src Source, rec *record.Record, now time.Time, out *Output) {
	r.counters.Received++
	r.counters.BytesIn[src.Link] += uint64(len(rec.Raw()))
	id := rec.ID()
	if r.Known(id) || r.rejected.has(id) {
		r.counters.Duplicates++
		return
	}
	r.verify(rec, src, now, out)
}

// Publish takes a record this node signed. It goes through the same checks
// as any other: a node never forwards what it would reject.
func (r *Replica) Publish(rec *record.Record, now time.Time, out *Output) {
	if r.Known(rec.ID()) {
		r.counters.Duplicates++
		return
	}
	r.counters.Received++
	r.counters.BytesIn[""] += uint64(len(rec.Raw()))
	r.verify(rec, Source{}, now, out)
}

func (r *Replica) verify(rec *record.Record, src Source, now time.Time, out *Output) {
	vd, err := r.cfg.Verifier.Verify(rec, now)
	if err == nil {
		err = r.cfg.Verifier.Commit(vd)
	}
	if err != nil {
		reason := trust.ReasonOf(err)
		if reason == "" {
			reason = trust.ReasonMalformed
		}
		r.reject(rec.ID(), rec, src, reason, err, out)
		if reason == trust.ReasonUnknownSigner {
			r.park(rec, src, now)
		}
		return
	}
	r.known[rec.ID()] = rec.Expires.UnixMilli()
	r.counters.Accepted++
	r.counters.Forwarded++
	out.Persist = append(out.Persist, rec)
	out.Forward = append(out.Forward, Forward{Record: rec, From: src})
	out.Events = append(out.Events, Event{Kind: EventAccepted, ID: rec.ID(), Record: rec, Source: src, Signers: vd.Signers})
	r.adopt(rec, now, out)
}

// park keeps rec, refused for an unknown signer, until a record brings
// the certificate its first unknown kid names.
func (r *Replica) park(rec *record.Record, src Source, now time.Time) {
	if r.orphanIDs[rec.ID()] || r.orphanCount >= maxOrphans {
		return
	}
	for _, sig := range rec.Signatures() {
		if len(sig.KID) != 32 {
			continue
		}
		if _, ok := r.cfg.Verifier.Certificate(sig.KID); ok {
			continue
		}
		kid := [32]byte(sig.KID)
		r.orphans[kid] = append(r.orphans[kid], orphan{rec: rec, src: src, at: now})
		r.orphanIDs[rec.ID()] = true
		r.orphanCount++
		return
	}
}

// adopt checks again the orphans waiting for a certificate that accepted
// brought (its signers' kids, now known to the verifier).
func (r *Replica) adopt(accepted *record.Record, now time.Time, out *Output) {
	if r.orphanCount == 0 {
		return
	}
	for _, sig := range accepted.Signatures() {
		if len(sig.KID) != 32 {
			continue
		}
		kid := [32]byte(sig.KID)
		waiting := r.orphans[kid]
		if len(waiting) == 0 {
			continue
		}
		delete(r.orphans, kid)
		for _, o := range waiting {
			delete(r.orphanIDs, o.rec.ID())
			r.orphanCount--
			if !r.Known(o.rec.ID()) {
				r.verify(o.rec, o.src, now, out)
			}
		}
	}
}

func (r *Replica) reject(id record.ID, rec *record.Record, src Source, reason trust.Reason, err error, out *Output) {
	r.counters.Rejected[reason]++
	if permanent(reason) {
		r.rejected.add(id)
	}
	out.Events = append(out.Events, Event{Kind: EventRejected, ID: id, Record: rec, Source: src, Reason: reason, Err: err})
}

// StoreFailed tells the replica that the driver could not persist rec: it
// forgets the record so that a later copy is accepted again, withdraws its
// forward from out and turns its accepted event into a store failure.
func (r *Replica) StoreFailed(rec *record.Record, err error, out *Output) {
	id := rec.ID()
	delete(r.known, id)
	r.counters.StoreFails++
	r.counters.Accepted--
	r.counters.Forwarded--
	kept := out.Forward[:0]
	for _, f := range out.Forward {
		if f.Record.ID() != id {
			kept = append(kept, f)
		}
	}
	out.Forward = kept
	for i, ev := range out.Events {
		if ev.ID == id && ev.Kind == EventAccepted {
			out.Events[i] = Event{Kind: EventStoreFailed, ID: id, Record: rec, Source: ev.Source, Err: err}
		}
	}
}

// Tick forgets accepted ids that have expired at now (the store sweeps
// their bytes; a peer offering one again gets it rejected as expired), and
// orphans that waited orphanTTL for their certificate.
func (r *Replica) Tick(now time.Time) {
	ms := now.UnixMilli()
	for id, exp := range r.known {
		if exp <= ms {
			delete(r.known, id)
		}
	}
	for kid, os := range r.orphans {
		kept := os[:0]
		for _, o := range os {
			if now.Sub(o.at) < orphanTTL {
				kept = append(kept, o)
				continue
			}
			delete(r.orphanIDs, o.rec.ID())
			r.orphanCount--
		}
		if len(kept) == 0 {
			delete(r.orphans, kid)
		} else {
			r.orphans[kid] = kept
		}
	}
}

// permanent reports whether a rejection holds for good, so that the same
// bytes need not be checked again. An unknown signer may become known (its
// certificate arrives) and a record from the future may become current.
func permanent(reason trust.Reason) bool {
	return reason != trust.ReasonUnknownSigner && reason != trust.ReasonNotYetValid
}

// idRing is a bounded set of ids: the oldest is forgotten first. It grows
// as ids arrive, so an idle node does not hold its whole bound.
type idRing struct {
	set  map[record.ID]struct{}
	ring []record.ID
	max  int
	next int
}

func newIDRing(n int) *idRing {
	return &idRing{set: map[record.ID]struct{}{}, max: n}
}

func (q *idRing) has(id record.ID) bool {
	_, ok := q.set[id]
	return ok
}

func (q *idRing) add(id record.ID) {
	if q.has(id) {
		return
	}
	if len(q.ring) < q.max {
		q.ring = append(q.ring, id)
	} else {
		delete(q.set, q.ring[q.next])
		q.ring[q.next] = id
		q.next = (q.next + 1) % len(q.ring)
	}
	q.set[id] = struct{}{}
}
