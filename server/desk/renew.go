package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
)

// RenewReport says what one Renew did.
type RenewReport struct {
	Renewed   int // warnings re-issued
	Expired   int // alerts whose lifetime ended
	Protocols int // protocols re-signed
	Resent    int // records handed to the publisher again
}

// Renew is the desk's clock tick; the server calls it every minute with
// the time. In order, it:
//
//   - hands the publisher again every record signed but not yet taken
//     (after a crash, or a failed hand-off);
//   - marks published alerts whose lifetime has ended as expired;
//   - re-issues every other published warning whose last record is
//     RenewEvery old as an update record with the same message, Issued =
//     now, that supersedes the previous record, so displays keep it past
//     their 5-minute timeout; emergencies are never renewed (they do not
//     time out, and the officer's key is not available to a timer);
//   - re-signs every published protocol whose record is ProtocolRefresh
//     old, with a new seq, so caches keep it.
//
// It reads only the active-alert index and the protocol table. All the
// records are signed in one transaction, then handed to the publisher in
// seq order. The errors of records that could not be delivered are
// joined into the error; the report counts what was done.
func (d *Desk) Renew(ctx context.Context, now time.Time) (RenewReport, error) {
	d.signMu.Lock()
	defer d.signMu.Unlock()
	var rep RenewReport
	var errs []error

	sent, rerrs := d.resend(ctx, now)
	rep.Resent = sent
	errs = append(errs, rerrs...)

	var ps []*pending
	var expired []*Alert
	due := d.opts.RenewEvery - d.opts.RenewEvery/10
	err := d.db.Update(func(tx *bbolt.Tx) error {
		var ids []string
		if err := tx.Bucket(bucketActive).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			prev, err := getAlert(tx, "renew", id)
			if err != nil {
				return err
			}
			if prev.State != StatePublished {
				continue
			}
			if !now.Before(prev.ExpiresAt) {
				a := *prev
				a.State, a.Changed = StateExpired, now
				if err := putAlert(tx, prev, &a); err != nil {
					return err
				}
				if err := addHistory(tx, id, Transition{At: now, Actor: "system", Action: "alert.expire", From: prev.State, To: a.State}); err != nil {
					return err
				}
				expired = append(expired, &a)
				continue
			}
			if prev.Tier != record.TierWarning || now.Sub(prev.LastIssued) < due {
				continue
			}
			issued := now.UTC().Truncate(time.Millisecond)
			r := &record.Record{Kind: record.KindUpdate, Tier: prev.Tier, Scope: prev.Scope, Issued: issued,
				Expires: prev.ExpiresAt, Supersedes: []record.ID{prev.Current}, Body: prev.Content}
			a := *prev
			p, _, err := d.issueIn(tx, "renew", nil, prev, &a, r, "renew", now)
			if err != nil {
				return err
			}
			if err := putAlert(tx, prev, &a); err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return d.refreshProtocols(tx, now, &ps)
	})
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("desk: renew: %w", err))...)
	}
	rep.Expired = len(expired)
	for _, a := range expired {
		_ = d.audit(entry(nil, "alert.expire", a.ID, "ok", alertDetail(a, StatePublished, "")))
	}
	for i, err := range d.deliver(ctx, ps) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ps[i].alertID != "" {
			rep.Renewed++
		} else {
			rep.Protocols++
		}
	}
	for _, p := range ps {
		if p.alertID == "" {
			_ = d.audit(entry(nil, "protocol.refresh", p.protocol, "ok", map[string]string{"record": p.rec.ID().String()}))
		}
	}
	return rep, errors.Join(errs...)
}

// refreshProtocols re-signs, in tx, every published protocol whose record
// is ProtocolRefresh old (or already expired).
func (d *Desk) refreshProtocols(tx *bbolt.Tx, now time.Time, ps *[]*pending) error {
	var due []*Protocol
	err := tx.Bucket(bucketProtocols).ForEach(func(k, v []byte) error {
		var p Protocol
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("desk: stored protocol %q: %w", k, err)
		}
		if p.State == ProtocolPublished && p.Published != nil && now.Sub(p.Signed) >= d.opts.ProtocolRefresh {
			due = append(due, &p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range due {
		prev := *p
		rec, err := d.signProtocol(tx, "refresh", p, now)
		if err != nil {
			return err
		}
		*ps = append(*ps, &pending{op: "refresh", protocol: p.Name, prevProto: &prev, rec: rec})
	}
	return nil
}
