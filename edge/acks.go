package edge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// AckLifetime is how long an ack record lives: long enough to wait in the
// outbox through a 48-hour outage and still reach the server.
const AckLifetime = 72 * time.Hour

// Publisher takes records the pole signed (mesh.Node.PublishAll).
type Publisher interface {
	PublishAll(ctx context.Context, rs []*record.Record) error
}

// ackKey is one (record, state) a pole reports once.
type ackKey struct {
	rec   record.ID
	state record.AckState
}

// Acker signs the pole's own records (acks, health reports) with its
// device key and hands them to the node, which stores them, offers them to
// the gossip neighbours and puts them in the store's outbox for the
// uplinks (acks never dropped, health as telemetry) in the transaction
// that stores them: the node's outbox policy must be OwnOutbox. A power
// cut at any instant cannot leave an ack stored but never sent (the
// uplinks leave what the node queued to their pumps: mesh.Forward.Queued).
// It sends each (record, state) ack once: the ones already sent are read
// back from the store at start, so a restart does not repeat them (the
// node stores an ack and queues it together, so one that was queued is
// also known as sent). Safe for concurrent use.
type Acker struct {
	device string
	signer record.Signer // kid only: acks must fit one packet
	chain  record.Signer // with the chain: health reports, so that upstream learns the certificate
	pub    Publisher

	// Verifier, if set, is the node's: told of each record the acker
	// signs (trust.Verifier.SignedHere), so that the node's check of it
	// does not verify a signature made a moment before.
	Verifier *trust.Verifier

	mu   sync.Mutex
	sent map[ackKey]bool
	seq  uint64
}

// NewAcker returns an acker for device, reading the acks it already sent
// and the highest sequence number it used from st. kidSigner names the
// device certificate by kid; chainSigner carries the chain.
func NewAcker(device string, kidSigner, chainSigner record.Signer, pub Publisher, st *store.Store) (*Acker, error) {
	a := &Acker{device: device, signer: kidSigner, chain: chainSigner, pub: pub, sent: map[ackKey]bool{}}
	for _, k := range []record.Kind{record.KindAck, record.KindHealth, record.KindTelemetry, record.KindAnomaly} {
		err := st.PutSince(k, time.Time{}, func(e store.Entry) error {
			if e.Origin != device {
				return nil
			}
			a.seq = max(a.seq, e.Seq)
			if k != record.KindAck {
				return nil
			}
			r, err := e.Parse()
			if err != nil {
				return nil // the store's problem; the ack is sent again
			}
			if b, ok := r.Body.(*record.Ack); ok {
				a.sent[ackKey{b.Record, b.State}] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("edge: acks: %w", err)
		}
	}
	return a, nil
}

// Sent reports whether the pole has acked rec in state; received counts
// as sent once any state of rec is (every state implies it).
func (a *Acker) Sent(rec record.ID, state record.AckState) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sentLocked(ackKey{rec, state})
}

func (a *Acker) sentLocked(k ackKey) bool {
	if k.state != record.AckReceived {
		return a.sent[k]
	}
	for st := record.AckReceived; st <= record.AckFailed; st++ {
		if a.sent[ackKey{k.rec, st}] {
			return true
		}
	}
	return false
}

// nextSeq returns the next sequence number: one above the last, so that
// records relayed out of order (an old ack behind a newer health report)
// stay inside upstream's replay window (trust.DefaultReplayWindow
// numbers). A pole whose store holds none of its records (new, or wiped)
// starts at the time in milliseconds, far above any number it used before.
func (a *Acker) nextSeq(now time.Time) uint64 {
	if a.seq == 0 {
		a.seq = uint64(now.UnixMilli())
	}
	a.seq++
	return a.seq
}

// Ack signs and publishes the pole's ack of rec in state (reason only for
// failed), unless it was sent before. It returns whether it sent one.
func (a *Acker) Ack(ctx context.Context, rec record.ID, state record.AckState, reason string, now time.Time) (bool, error) {
	n, err := a.AckAll(ctx, []AckRequest{{Record: rec, State: state, Reason: reason}}, now)
	return n == 1, err
}

// AckRequest is one ack to send: of Record, in State, with Reason for a
// failure.
type AckRequest struct {
	Record record.ID
	State  record.AckState
	Reason string
}

// AckAll is Ack of several at once: one batch for the node, which stores
// and queues them in one transaction, so that the acks of one moment cost
// one disk flush. A "received" with another state of the same record is
// left out (each state implies it). It returns how many it sent (those not
// sent before); on an error none is counted as sent, and the next attempt
// sends them.
func (a *Acker) AckAll(ctx context.Context, reqs []AckRequest, now time.Time) (int, error) {
	var keys []ackKey
	var recs []*record.Record
	// A "received" that comes with another state of its record says
	// nothing that state does not (each implies it): left out, it halves
	// the acks of an alert shown as it arrives, on every hop.
	implied := map[record.ID]bool{}
	for _, q := range reqs {
		if q.State != record.AckReceived {
			implied[q.Record] = true
		}
	}
	a.mu.Lock()
	for _, q := range reqs {
		k := ackKey{q.Record, q.State}
		if a.sentLocked(k) || (q.State == record.AckReceived && implied[q.Record]) {
			continue
		}
		a.sent[k] = true // claimed: a concurrent Ack of the same key sends nothing
		keys = append(keys, k)
		recs = append(recs, &record.Record{
			Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(a.device),
			Issued: now, Expires: now.Add(AckLifetime), Origin: a.device, Seq: a.nextSeq(now),
			Body: &record.Ack{Record: q.Record, Device: a.device, State: q.State, Reason: q.Reason, At: record.MillisOf(now)},
		})
	}
	a.mu.Unlock()
	if len(recs) == 0 {
		return 0, nil
	}
	err := func() error {
		for i, r := range recs {
			signed, err := record.Sign(r, a.signer)
			if err != nil {
				return err
			}
			a.signedHere(signed, a.signer)
			recs[i] = signed
		}
		return a.pub.PublishAll(ctx, recs)
	}()
	if err != nil {
		a.mu.Lock()
		for _, k := range keys {
			delete(a.sent, k) // not sent: the next attempt sends it
		}
		a.mu.Unlock()
		return 0, fmt.Errorf("edge: %d acks (%s %s first): %w", len(keys), keys[0].rec.Short(), keys[0].state, err)
	}
	return len(recs), nil
}

// Health signs and publishes a health report, with the certificate chain
// so that a gateway or server that has not met the pole learns it.
func (a *Acker) Health(ctx context.Context, h *record.Health, now time.Time, every time.Duration) error {
	a.mu.Lock()
	r := &record.Record{
		Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(a.device),
		Issued: now, Expires: now.Add(max(3*every, 10*time.Minute)), Origin: a.device, Seq: a.nextSeq(now), Body: h,
	}
	a.mu.Unlock()
	signed, err := record.Sign(r, a.chain)
	if err != nil {
		return fmt.Errorf("edge: health: %w", err)
	}
	a.signedHere(signed, a.chain)
	if err := a.pub.PublishAll(ctx, []*record.Record{signed}); err != nil {
		return fmt.Errorf("edge: health: %w", err)
	}
	return nil
}

func (a *Acker) signedHere(r *record.Record, s record.Signer) {
	if a.Verifier != nil {
		a.Verifier.SignedHere(r, s)
	}
}

// OwnOutbox returns the node's outbox policy for device (mesh.NodeConfig
// .Outbox, which the Acker relies on): its own acks (never dropped) and
// health reports (telemetry) go into the outbox as they are stored, in the
// same transaction, so a power cut leaves both or neither.
func OwnOutbox(device string) func(*record.Record) (store.OutboxClass, bool) {
	return func(r *record.Record) (store.OutboxClass, bool) {
		switch {
		case r.Origin != device:
			return 0, false
		case r.Kind == record.KindAck:
			return store.OutboxAck, true
		case r.Kind == record.KindHealth:
			return store.OutboxTelemetry, true
		}
		return 0, false
	}
}

// OwnUplink is the uplinks' policy for what the node offers them: the
// pole's own uplink records (its acks and health reports the node has
// queued already: mesh.Forward.Queued).
func OwnUplink(f mesh.Forward) bool { return f.From.Link == "" && f.Record.Kind.Uplink() }
