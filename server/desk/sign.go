package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
)

// unsentRec is what desk.unsent keeps for a record signed but not yet
// taken by the publisher: enough to hand it over again (Renew).
type unsentRec struct {
	Alert    string `json:"alert,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Device   string `json:"device,omitempty"` // a command's device
	Raw      []byte `json:"raw"`
}

// pending is a record signed in a committed transaction, waiting to be
// handed to the publisher, with what is needed to undo the operation if
// the publisher refuses it.
type pending struct {
	op        string
	actor     *auth.Principal // nil for Renew
	alertID   string          // "" for a protocol record or a command
	protocol  string
	device    string    // a command's device
	prevAlert *Alert    // the alert before the operation (nil for protocols)
	prevProto *Protocol // the protocol before the operation
	refKey    []byte    // the record's key in desk.records (alerts only)
	rec       *record.Record
}

// signIn reserves a seq for r, signs it (with the server key, and for an
// emergency with officer's key as well, through officerSigner) and stores
// it in desk.unsent, all in tx: the signed bytes exist outside the
// transaction only once it commits. r.Origin and r.Seq are set here.
func (d *Desk) signIn(tx *bbolt.Tx, op, alertID string, r *record.Record, officer *auth.Principal, now time.Time) (*record.Record, *officerUse, error) {
	signers := []record.Signer{d.opts.Server}
	var use *officerUse
	if r.Tier == record.TierEmergency {
		s, wipe, u, err := d.officerSigner(tx, op, alertID, officer, now)
		if err != nil {
			return nil, nil, err
		}
		defer wipe()
		signers, use = append(signers, s), u
	}
	seq, err := reserveSeq(tx, d.opts.ServerID)
	if err != nil {
		return nil, nil, err
	}
	r.Origin, r.Seq = d.opts.ServerID, seq
	signed, err := record.Sign(r, signers...)
	if err != nil {
		// The record format refused what the desk checked; say so.
		return nil, nil, alertErr(op, alertID, ErrInvalid, "%s", trimRecord(err))
	}
	u := unsentRec{Alert: alertID, Raw: signed.Raw()}
	switch r.Kind {
	case record.KindProtocol:
		u = unsentRec{Protocol: alertID, Raw: signed.Raw()}
	case record.KindCommand:
		u = unsentRec{Device: scopeID(r.Scope), Raw: signed.Raw()}
	}
	id := signed.ID()
	if err := putJSON(tx.Bucket(bucketUnsent), id[:], &u); err != nil {
		return nil, nil, err
	}
	return signed, use, nil
}

// addRecord appends rec to the alert's records and returns its key.
func addRecord(tx *bbolt.Tx, alertID string, rec *record.Record, why string, use *officerUse) ([]byte, error) {
	b := tx.Bucket(bucketRecords)
	ref := RecordRef{ID: rec.ID(), Kind: rec.Kind, Tier: rec.Tier, Seq: rec.Seq, Issued: rec.Issued.UTC(), Expires: rec.Expires.UTC(),
		Why: why, Supersedes: len(rec.Supersedes), Size: len(rec.Raw())}
	if use != nil {
		ref.Officer = use.officer
	}
	n := uint64(0)
	if k, _ := lastOf(b.Cursor(), alertID); len(k) == len(alertID)+9 {
		n = be.Uint64(k[len(alertID)+1:]) + 1
	}
	key := seqKey(alertID, n)
	return key, putJSON(b, key, &ref)
}

func addHistory(tx *bbolt.Tx, alertID string, t Transition) error {
	return appendSeq(tx.Bucket(bucketHistory), alertID, &t)
}

// isRefusal reports whether a publisher error is a final refusal of the
// record (the verifier's tier table, a bad chain, …) rather than a failure
// that may pass.
func isRefusal(err error) bool {
	var rej *trust.RejectError
	return errors.As(err, &rej)
}

// deliver hands the records of ps to the publisher, in order (they were
// signed in seq order), after telling the tracker about them. Records the
// publisher took, or refused for good, leave desk.unsent; for a refusal
// the operation that made the record is undone. It returns one error per
// record (nil when delivered). Call with signMu held.
func (d *Desk) deliver(ctx context.Context, ps []*pending) []error {
	errs := make([]error, len(ps))
	var done []*pending
	var refused []*pending
	for i, p := range ps {
		// A cancel is not tracked: an ack of it says nothing about the
		// alert reaching a display.
		if d.opts.Tracker != nil && p.alertID != "" && p.rec.Kind != record.KindCancel {
			a := p.prevAlert
			published := p.rec.Issued
			if a != nil && !a.PublishedAt.IsZero() {
				published = a.PublishedAt
			}
			d.opts.Tracker.Track(p.alertID, []record.ID{p.rec.ID()}, p.rec.Scope, published)
		}
		err := d.opts.Publisher.Publish(ctx, p.rec)
		switch {
		case err == nil:
			done = append(done, p)
		case isRefusal(err):
			refused = append(refused, p)
			errs[i] = &Error{Op: p.op, What: what(p), ID: idOf(p), Kind: ErrRefused,
				Detail: fmt.Sprintf("the mesh refused record %s (%s); nothing was published: %v", p.rec.ID().Short(), trust.ReasonOf(err), err)}
		default:
			errs[i] = &Error{Op: p.op, What: what(p), ID: idOf(p), Kind: ErrNotDelivered,
				Detail: fmt.Sprintf("record %s is signed and recorded, but the mesh did not take it (%v); Renew hands it over again", p.rec.ID().Short(), err)}
			d.log.Warn("record not delivered", "op", p.op, "target", idOf(p), "record", p.rec.ID().Short(), "err", err)
		}
	}
	if len(done) == 0 && len(refused) == 0 {
		return errs
	}
	now := d.now()
	err := d.db.Update(func(tx *bbolt.Tx) error {
		ub := tx.Bucket(bucketUnsent)
		for _, p := range append(done, refused...) {
			id := p.rec.ID()
			if err := ub.Delete(id[:]); err != nil {
				return err
			}
		}
		for _, p := range refused {
			if err := d.undo(tx, p, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.log.Error("recording delivery", "err", err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("desk: recording delivery: %w", err)
			}
		}
	}
	for i, p := range ps {
		if errs[i] != nil && errors.Is(errs[i], ErrRefused) {
			_ = d.audit(entry(p.actor, what(p)+"."+p.op, idOf(p), "error", map[string]string{
				"record": p.rec.ID().String(), "reason": errs[i].Error()}))
		}
	}
	return errs
}

// handOver delivers the one record an operation signed and returns what
// the operation returns: out and the delivery error (ErrNotDelivered:
// Renew hands the record over again), or nil if the publisher refused the
// record (ErrRefused: deliver undid the operation).
func handOver[T any](ctx context.Context, d *Desk, p *pending, out *T) (*T, error) {
	err := d.deliver(ctx, []*pending{p})[0]
	if errors.Is(err, ErrRefused) {
		return nil, err
	}
	return out, err
}

// undo restores what the operation that made p's record changed: the
// alert (or protocol) as it was, without the record.
func (d *Desk) undo(tx *bbolt.Tx, p *pending, now time.Time) error {
	if p.device != "" {
		return nil // a command changed nothing at the desk
	}
	if p.alertID == "" {
		if p.prevProto == nil {
			return tx.Bucket(bucketProtocols).Delete([]byte(p.protocol))
		}
		return putJSON(tx.Bucket(bucketProtocols), []byte(p.protocol), p.prevProto)
	}
	cur, err := getAlert(tx, p.op, p.alertID)
	if err != nil {
		return err
	}
	if err := putAlert(tx, cur, p.prevAlert); err != nil {
		return err
	}
	if p.refKey != nil {
		if err := tx.Bucket(bucketRecords).Delete(p.refKey); err != nil {
			return err
		}
	}
	actor, role := "system", ""
	if p.actor != nil {
		actor, role = p.actor.UserID(), string(p.actor.Role())
	}
	return addHistory(tx, p.alertID, Transition{At: now, Actor: actor, Role: role, Action: "alert.refused",
		From: cur.State, To: p.prevAlert.State, Reason: "the mesh refused record " + p.rec.ID().Short() + "; undone"})
}

func what(p *pending) string {
	switch {
	case p.device != "":
		return "device"
	case p.alertID == "":
		return "protocol"
	}
	return "alert"
}

func idOf(p *pending) string {
	switch {
	case p.device != "":
		return p.device
	case p.alertID == "":
		return p.protocol
	}
	return p.alertID
}

// scopeID returns the id a zone or device scope names.
func scopeID(s record.Scope) string {
	_, id := s.Split()
	return id
}

// resend hands every record in desk.unsent to the publisher again: records
// signed before a crash, or whose hand-off failed. The publisher ignores a
// record it already holds. Call with signMu held.
func (d *Desk) resend(ctx context.Context, now time.Time) (int, []error) {
	var ps []*pending
	var drop [][]byte
	err := d.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUnsent).ForEach(func(k, v []byte) error {
			var u unsentRec
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("desk: stored unsent record %x: %w", k, err)
			}
			rec, err := record.Parse(u.Raw)
			if err != nil || rec.Expired(now) {
				drop = append(drop, append([]byte(nil), k...))
				return nil
			}
			// Resending does not undo: the operation may be long past.
			ps = append(ps, &pending{op: "resend", alertID: u.Alert, protocol: u.Protocol, device: u.Device, rec: rec})
			return nil
		})
	})
	if err != nil {
		return 0, []error{err}
	}
	if len(drop) > 0 {
		if err := d.db.Update(func(tx *bbolt.Tx) error {
			for _, k := range drop {
				if err := tx.Bucket(bucketUnsent).Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, []error{err}
		}
	}
	var errs []error
	sent := 0
	var gone [][]byte
	for _, p := range ps {
		err := d.opts.Publisher.Publish(ctx, p.rec)
		switch {
		case err == nil:
			sent++
			id := p.rec.ID()
			gone = append(gone, id[:])
		case isRefusal(err):
			id := p.rec.ID()
			gone = append(gone, id[:])
			d.log.Error("resent record refused", "record", p.rec.String(), "target", idOf(p), "err", err)
			errs = append(errs, &Error{Op: "resend", What: what(p), ID: idOf(p), Kind: ErrRefused,
				Detail: fmt.Sprintf("the mesh refused record %s on resend: %v", p.rec.ID().Short(), err)})
		default:
			errs = append(errs, &Error{Op: "resend", What: what(p), ID: idOf(p), Kind: ErrNotDelivered,
				Detail: fmt.Sprintf("record %s: %v", p.rec.ID().Short(), err)})
		}
	}
	if len(gone) > 0 {
		if err := d.db.Update(func(tx *bbolt.Tx) error {
			for _, k := range gone {
				if err := tx.Bucket(bucketUnsent).Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return sent, errs
}
