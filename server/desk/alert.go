package desk

import (
	"context"
	"maps"
	"reflect"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// Draft creates an alert in state draft, authored by by (alert.draft, and
// the scope must be one by may act on). An alert drafted from a protocol
// needs the protocol published; its texts are filled in now, to check
// them, and again at publication.
func (d *Desk) Draft(by *auth.Principal, req *DraftRequest) (*Alert, error) {
	const op = "draft"
	now := d.now()
	a, err := d.draft(by, req, now)
	if err != nil {
		return nil, d.refused(by, "alert", op, "", err)
	}
	_ = d.audit(entry(by, "alert.draft", a.ID, "ok", alertDetail(a, StateDraft, "")))
	return a, nil
}

func (d *Desk) draft(by *auth.Principal, req *DraftRequest, now time.Time) (*Alert, error) {
	const op = "draft"
	if err := require(by, op, "alert", "", auth.PermAlertDraft); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, fieldErr("", "no request")
	}
	dr, err := req.check(now, d.opts.MaxLifetime)
	if err != nil {
		return nil, err
	}
	if err := d.requireScope(by, op, "", dr.scope); err != nil {
		return nil, err
	}
	id, err := d.newID()
	if err != nil {
		return nil, err
	}
	a := &Alert{ID: id, State: StateDraft, Tier: dr.tier, Scope: dr.scope, Content: dr.alert,
		Protocol: dr.protocol, Params: dr.params, Expires: dr.expires, Lifetime: Duration(dr.lifetime),
		Author: by.UserID(), Created: now, Changed: now}
	err = d.db.Update(func(tx *bbolt.Tx) error {
		if a.Protocol != "" {
			if err := d.fillFromProtocol(tx, op, a, now); err != nil {
				return err
			}
		}
		if err := putAlert(tx, nil, a); err != nil {
			return err
		}
		return addHistory(tx, a.ID, Transition{At: now, Actor: by.UserID(), Role: string(by.Role()), Action: "alert.draft", To: StateDraft})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// fillFromProtocol renders a's content from its published protocol.
func (d *Desk) fillFromProtocol(tx *bbolt.Tx, op string, a *Alert, now time.Time) error {
	p, err := getProtocol(tx, op, a.Protocol)
	if err != nil {
		return err
	}
	if p.State != ProtocolPublished || p.Published == nil {
		return alertErr(op, a.ID, ErrState, "protocol %s is %s, not published", p.Name, p.State)
	}
	content, err := renderChecked(p.Published, a.Params, a.Tier, a.Scope, now)
	if err != nil {
		return err
	}
	a.Content = content
	return nil
}

// Edit replaces a draft's content with req. Only the author may edit, and
// only in state draft (a rejected alert is back in draft).
func (d *Desk) Edit(by *auth.Principal, id string, req *DraftRequest) (*Alert, error) {
	const op = "edit"
	now := d.now()
	return d.change(by, op, id, func(tx *bbolt.Tx, a *Alert) error {
		if err := d.requireOn(by, op, id, auth.PermAlertDraft, a.Scope); err != nil {
			return err
		}
		if a.Author != by.UserID() {
			return alertErr(op, id, ErrForbidden, "only its author %s may edit it", a.Author)
		}
		if a.State != StateDraft {
			return alertErr(op, id, ErrState, "%s: only a draft can be edited", a.State)
		}
		if req == nil {
			return fieldErr("", "no request")
		}
		dr, err := req.check(now, d.opts.MaxLifetime)
		if err != nil {
			return err
		}
		if err := d.requireScope(by, op, id, dr.scope); err != nil {
			return err
		}
		a.Tier, a.Scope, a.Content, a.Protocol, a.Params = dr.tier, dr.scope, dr.alert, dr.protocol, dr.params
		a.Expires, a.Lifetime = dr.expires, Duration(dr.lifetime)
		if a.Protocol != "" {
			return d.fillFromProtocol(tx, op, a, now)
		}
		return nil
	}, now, "alert.edit", "")
}

// Submit asks for approval of a draft (alert.submit, in scope). An alert
// drafted from a protocol gets the protocol's current texts.
func (d *Desk) Submit(by *auth.Principal, id string) (*Alert, error) {
	const op = "submit"
	now := d.now()
	return d.change(by, op, id, func(tx *bbolt.Tx, a *Alert) error {
		if err := d.requireOn(by, op, id, auth.PermAlertSubmit, a.Scope); err != nil {
			return err
		}
		if a.State != StateDraft {
			return alertErr(op, id, ErrState, "%s: only a draft can be submitted", a.State)
		}
		if a.Protocol != "" {
			// The approver sees the text of the protocol as it is now.
			if err := d.fillFromProtocol(tx, op, a, now); err != nil {
				return err
			}
		}
		a.State, a.Submitter, a.Rejection = StateSubmitted, by.UserID(), ""
		return nil
	}, now, "alert.submit", "")
}

// Approve approves a submitted alert (alert.approve, in scope). Under the
// two-person rule for its tier the approver must be neither its author
// nor its submitter. An emergency is approved only by an officer
// (alert.sign_emergency) with an enrolled key, since the approver's key
// co-signs it at publication.
func (d *Desk) Approve(by *auth.Principal, id string) (*Alert, error) {
	const op = "approve"
	return d.change(by, op, id, func(tx *bbolt.Tx, a *Alert) error {
		if err := d.requireOn(by, op, id, auth.PermAlertApprove, a.Scope); err != nil {
			return err
		}
		if a.State != StateSubmitted {
			return alertErr(op, id, ErrState, "%s: only a submitted alert can be approved", a.State)
		}
		if d.twoPerson(a.Tier) && (by.UserID() == a.Author || by.UserID() == a.Submitter) {
			return alertErr(op, id, ErrTwoPerson, "a %s is approved by someone other than its author (%s) and submitter (%s)", a.Tier, a.Author, a.Submitter)
		}
		if a.Tier == record.TierEmergency {
			if !by.Can(auth.PermAlertSignEmergency) {
				return alertErr(op, id, ErrForbidden, "an emergency is approved by an officer whose key co-signs it (%s)", auth.PermAlertSignEmergency)
			}
			if !hasOfficerKey(tx, by.UserID()) {
				return alertErr(op, id, ErrNoOfficerKey, "officer %s has no enrolled signing key", by.UserID())
			}
		}
		a.State, a.Approver = StateApproved, by.UserID()
		return nil
	}, d.now(), "alert.approve", "")
}

func (d *Desk) twoPerson(t record.Tier) bool {
	if t == record.TierEmergency {
		return d.opts.TwoPersonEmergency
	}
	return d.opts.TwoPersonWarning
}

// Reject sends a submitted or approved (not yet published) alert back to
// draft with a reason (alert.approve, in scope).
func (d *Desk) Reject(by *auth.Principal, id, reason string) (*Alert, error) {
	const op = "reject"
	return d.change(by, op, id, func(tx *bbolt.Tx, a *Alert) error {
		if err := d.requireOn(by, op, id, auth.PermAlertApprove, a.Scope); err != nil {
			return err
		}
		if a.State != StateSubmitted && a.State != StateApproved {
			return alertErr(op, id, ErrState, "%s: only a submitted or approved alert can be rejected", a.State)
		}
		if err := checkReason("reason", reason, true); err != nil {
			return err
		}
		a.State, a.Rejection, a.Approver, a.Submitter = StateDraft, reason, "", ""
		return nil
	}, d.now(), "alert.reject", reason)
}

// change runs one state change of alert id in one transaction: fn checks
// and changes a copy of the stored alert; change stores it, keeps the
// indexes, appends the history entry and, once committed, the audit entry.
// A refusal is audited as alert.refused.
func (d *Desk) change(by *auth.Principal, op, id string, fn func(*bbolt.Tx, *Alert) error, now time.Time, action, reason string) (*Alert, error) {
	var out *Alert
	var from State
	err := d.db.Update(func(tx *bbolt.Tx) error {
		prev, err := getAlert(tx, op, id)
		if err != nil {
			return err
		}
		a := *prev
		a.Params = maps.Clone(prev.Params)
		if err := fn(tx, &a); err != nil {
			return err
		}
		a.Changed = now
		if err := putAlert(tx, prev, &a); err != nil {
			return err
		}
		from = prev.State
		out = &a
		return addHistory(tx, id, Transition{At: now, Actor: by.UserID(), Role: string(by.Role()), Action: action, From: prev.State, To: a.State, Reason: reason})
	})
	if err != nil {
		return nil, d.refused(by, "alert", op, id, err)
	}
	_ = d.audit(entry(by, action, id, "ok", alertDetail(out, from, reason)))
	return out, nil
}

func alertDetail(a *Alert, from State, reason string) map[string]string {
	m := map[string]string{"tier": a.Tier.String(), "scope": string(a.Scope), "from": string(from), "to": string(a.State)}
	if from == "" {
		delete(m, "from")
	}
	if reason != "" {
		m["reason"] = reason
	}
	if a.Protocol != "" {
		m["protocol"] = a.Protocol
	}
	return m
}

// Publish signs an approved alert and hands it to the publisher
// (alert.publish, in scope). A warning is signed by the server key; an
// emergency by the server key and the key of the officer who approved it,
// who must be the one publishing, within Options.FreshTOTP of a TOTP
// entry (ErrFreshTOTPRequired otherwise). The record is an alert, or for
// an alert drafted from a protocol an activation of the protocol's current
// record when it expires no later than that record does (otherwise an
// alert with the filled-in texts, so it never outlives its template).
//
// If the publisher refuses the record the alert goes back to approved
// (ErrRefused); if it fails otherwise the alert stays published and Renew
// hands the record over again (ErrNotDelivered, with the alert).
func (d *Desk) Publish(ctx context.Context, by *auth.Principal, id string) (*Alert, error) {
	const op = "publish"
	d.signMu.Lock()
	defer d.signMu.Unlock()
	now := d.now()
	var out *Alert
	var p *pending
	var use *officerUse
	err := d.db.Update(func(tx *bbolt.Tx) error {
		prev, err := getAlert(tx, op, id)
		if err != nil {
			return err
		}
		if err := d.requireOn(by, op, id, auth.PermAlertPublish, prev.Scope); err != nil {
			return err
		}
		if prev.State != StateApproved {
			return alertErr(op, id, ErrState, "%s: only an approved alert can be published", prev.State)
		}
		if prev.Tier == record.TierEmergency && by.UserID() != prev.Approver {
			return alertErr(op, id, ErrTwoPerson, "an emergency is published by the officer who approved it (%s), whose key co-signs it", prev.Approver)
		}
		issued := now.UTC().Truncate(time.Millisecond)
		expires := prev.expiresFrom(issued).Truncate(time.Millisecond)
		if !expires.After(issued) {
			return alertErr(op, id, ErrState, "it expired at %s before it was published", expires.Format(time.RFC3339))
		}
		a := *prev
		r := &record.Record{Kind: record.KindAlert, Tier: a.Tier, Scope: a.Scope, Issued: issued, Expires: expires}
		if a.Protocol != "" {
			pr, err := getProtocol(tx, op, a.Protocol)
			if err != nil {
				return err
			}
			if pr.State != ProtocolPublished || pr.Published == nil || !pr.Expires.After(issued) {
				return alertErr(op, id, ErrState, "protocol %s is %s: publish it first", pr.Name, pr.State)
			}
			content, err := renderChecked(pr.Published, a.Params, a.Tier, a.Scope, now)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(content, a.Content) {
				// What was approved is what goes out: a protocol
				// published anew since must be approved anew.
				return alertErr(op, id, ErrState, "protocol %s changed since this alert was approved; reject it and submit it again", pr.Name)
			}
			if !expires.After(pr.Expires) {
				r.Kind = record.KindActivation
				r.Body = &record.Activation{Protocol: pr.Record, Params: a.Params}
				a.ProtocolRec = pr.Record
			}
		}
		if r.Body == nil {
			r.Body = a.Content
		}
		if p, use, err = d.issueIn(tx, op, by, prev, &a, r, "publish", now); err != nil {
			return err
		}
		a.State, a.Publisher, a.Changed = StatePublished, by.UserID(), now
		a.PublishedAt, a.ExpiresAt = p.rec.Issued.UTC(), p.rec.Expires.UTC()
		if err := putAlert(tx, prev, &a); err != nil {
			return err
		}
		out = &a
		return addHistory(tx, id, Transition{At: now, Actor: by.UserID(), Role: string(by.Role()), Action: "alert.publish",
			From: prev.State, To: a.State, Record: p.rec.ID()})
	})
	if err != nil {
		return nil, d.refused(by, "alert", op, id, err)
	}
	d.auditIssued(by, "alert.publish", out, StateApproved, p.rec, use, "")
	return handOver(ctx, d, p, out)
}

// auditIssued audits an operation that signed rec and, for an emergency,
// the use of the officer's key.
func (d *Desk) auditIssued(by *auth.Principal, action string, a *Alert, from State, rec *record.Record, use *officerUse, reason string) {
	det := alertDetail(a, from, reason)
	det["record"] = rec.ID().String()
	det["kind"] = rec.Kind.String()
	det["seq"] = strconv.FormatUint(rec.Seq, 10)
	if use != nil {
		det["officer_key_id"] = use.keyID
	}
	entries := []audit.Entry{entry(by, action, a.ID, "ok", det)}
	if use != nil {
		entries = append(entries, entry(by, "key.use", use.officer, "ok", map[string]string{
			"key_id": use.keyID, "record": rec.ID().String(), "alert": a.ID, "purpose": action}))
	}
	for _, e := range entries {
		_ = d.audit(e)
	}
}

// issueIn signs r for alert a, the copy of prev that the operation
// changes, in tx (signIn, with by's officer key for an emergency), and
// records it: a's current record, last issue time and record count, and
// an entry in desk.records that says why. It returns the record's
// hand-off and the officer key's use (nil but for an emergency).
func (d *Desk) issueIn(tx *bbolt.Tx, op string, by *auth.Principal, prev, a *Alert, r *record.Record, why string, now time.Time) (*pending, *officerUse, error) {
	rec, use, err := d.signIn(tx, op, prev.ID, r, by, now)
	if err != nil {
		return nil, nil, err
	}
	a.Current, a.LastIssued = rec.ID(), rec.Issued.UTC()
	a.Records++
	key, err := addRecord(tx, prev.ID, rec, why, use)
	if err != nil {
		return nil, nil, err
	}
	return &pending{op: op, actor: by, alertID: prev.ID, prevAlert: prev, refKey: key, rec: rec}, use, nil
}

// Update replaces the message or the expiry of a published alert with an
// update record that supersedes what the alert was published as
// (alert.publish, in scope). An emergency's update is co-signed by the
// updating officer's key, under the same fresh-TOTP rule as Publish.
// Updates are not subject to the two-person rule; they are audited.
func (d *Desk) Update(ctx context.Context, by *auth.Principal, id string, req *UpdateRequest) (*Alert, error) {
	const op = "update"
	d.signMu.Lock()
	defer d.signMu.Unlock()
	now := d.now()
	var out *Alert
	var p *pending
	var use *officerUse
	reason := ""
	if req != nil {
		reason = req.Reason
	}
	err := d.db.Update(func(tx *bbolt.Tx) error {
		prev, err := getAlert(tx, op, id)
		if err != nil {
			return err
		}
		if err := d.requireOn(by, op, id, auth.PermAlertPublish, prev.Scope); err != nil {
			return err
		}
		if prev.State != StatePublished || !now.Before(prev.ExpiresAt) {
			return alertErr(op, id, ErrState, "%s: only a published, unexpired alert can be updated", prev.State)
		}
		if req == nil {
			return fieldErr("", "no request")
		}
		issued := now.UTC().Truncate(time.Millisecond)
		expires, err := req.check(issued, d.opts.MaxLifetime, prev.Tier, prev.Scope)
		if err != nil {
			return err
		}
		a := *prev
		if expires.IsZero() {
			expires = prev.ExpiresAt
		}
		switch {
		case req.Alert != nil:
			a.Content, a.Protocol, a.Params, a.ProtocolRec = req.Alert, "", nil, record.ID{}
		case len(req.Params) > 0:
			if a.Protocol == "" {
				return fieldErr("params", "the alert was not drafted from a protocol")
			}
			pr, err := getProtocol(tx, op, a.Protocol)
			if err != nil {
				return err
			}
			if pr.Published == nil {
				return alertErr(op, id, ErrState, "protocol %s was never published", pr.Name)
			}
			if a.Content, err = renderChecked(pr.Published, req.Params, a.Tier, a.Scope, now); err != nil {
				return err
			}
			a.Params = req.Params
		}
		sup, err := supersedeSet(tx, id)
		if err != nil {
			return err
		}
		r := &record.Record{Kind: record.KindUpdate, Tier: a.Tier, Scope: a.Scope, Issued: issued, Expires: expires,
			Supersedes: sup, Body: a.Content}
		if p, use, err = d.issueIn(tx, op, by, prev, &a, r, "update", now); err != nil {
			return err
		}
		a.Changed, a.ExpiresAt = now, p.rec.Expires.UTC()
		if err := putAlert(tx, prev, &a); err != nil {
			return err
		}
		out = &a
		return addHistory(tx, id, Transition{At: now, Actor: by.UserID(), Role: string(by.Role()), Action: "alert.update",
			From: prev.State, To: a.State, Reason: reason, Record: p.rec.ID()})
	})
	if err != nil {
		return nil, d.refused(by, "alert", op, id, err)
	}
	d.auditIssued(by, "alert.update", out, StatePublished, p.rec, use, reason)
	return handOver(ctx, d, p, out)
}

// Cancel withdraws an alert. An alert not yet published is simply marked
// cancelled (alert.cancel, or its author with alert.draft). A published
// alert gets a cancel record at its own tier that supersedes every record
// it was published as (see supersedeSet) (alert.cancel, in scope): for an
// emergency that record is co-signed by the cancelling officer's key,
// under the same fresh-TOTP rule as Publish, because the tier table lets a
// server-only cancel through only at warning tier and an emergency must
// not be withdrawable by the server key alone.
func (d *Desk) Cancel(ctx context.Context, by *auth.Principal, id, reason string) (*Alert, error) {
	const op = "cancel"
	d.signMu.Lock()
	defer d.signMu.Unlock()
	now := d.now()
	var out *Alert
	var p *pending
	var use *officerUse
	var from State
	err := d.db.Update(func(tx *bbolt.Tx) error {
		prev, err := getAlert(tx, op, id)
		if err != nil {
			return err
		}
		if err := checkReason("reason", reason, false); err != nil {
			return err
		}
		a := *prev
		from = prev.State
		switch prev.State {
		case StateDraft, StateSubmitted, StateApproved:
			if !by.Can(auth.PermAlertCancel) && !(by.UserID() == prev.Author && by.Can(auth.PermAlertDraft)) {
				return alertErr(op, id, ErrForbidden, "needs %s, or to be its author", auth.PermAlertCancel)
			}
			if err := d.requireScope(by, op, id, prev.Scope); err != nil {
				return err
			}
		case StatePublished:
			if err := d.requireOn(by, op, id, auth.PermAlertCancel, prev.Scope); err != nil {
				return err
			}
			sup, err := supersedeSet(tx, id)
			if err != nil {
				return err
			}
			issued := now.UTC().Truncate(time.Millisecond)
			expires := issued.Add(d.opts.CancelLifetime)
			if prev.ExpiresAt.After(expires) {
				expires = prev.ExpiresAt
			}
			r := &record.Record{Kind: record.KindCancel, Tier: a.Tier, Scope: a.Scope, Issued: issued, Expires: expires,
				Supersedes: sup, Body: &record.Cancel{Reason: reason}}
			if p, use, err = d.issueIn(tx, op, by, prev, &a, r, "cancel", now); err != nil {
				return err
			}
		default:
			return alertErr(op, id, ErrState, "%s: already over", prev.State)
		}
		a.State, a.Changed = StateCancelled, now
		if err := putAlert(tx, prev, &a); err != nil {
			return err
		}
		out = &a
		t := Transition{At: now, Actor: by.UserID(), Role: string(by.Role()), Action: "alert.cancel", From: prev.State, To: a.State, Reason: reason}
		if p != nil {
			t.Record = p.rec.ID()
		}
		return addHistory(tx, id, t)
	})
	if err != nil {
		return nil, d.refused(by, "alert", op, id, err)
	}
	if p == nil {
		_ = d.audit(entry(by, "alert.cancel", id, "ok", alertDetail(out, from, reason)))
		return out, nil
	}
	d.auditIssued(by, "alert.cancel", out, from, p.rec, use, reason)
	return handOver(ctx, d, p, out)
}
