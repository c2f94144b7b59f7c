package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// MaxAdvisoryLifetime bounds an advisory a gateway issues.
const MaxAdvisoryLifetime = 48 * time.Hour

// Advisory signs an Advisory alert for the gateway's zone with its own key
// (the tier table lets a gateway sign Advisory for its zone, and nothing
// else; DESIGN §4) and publishes it through its node: to the zone's poles
// at once, and up the bridge to the server (its outbox keeps it while the
// server is away, so it reaches the server's audit log when the link
// returns). It works with the server unreachable.
func (g *Gateway) Advisory(ctx context.Context, a *record.Alert, lifetime time.Duration) (*record.Record, error) {
	r, err := g.advisory(a, lifetime)
	if err != nil {
		return nil, err
	}
	return g.issue(ctx, r)
}

// advisory is the unsigned record Advisory signs, checked: the operator
// API builds it before it checks credentials, so that a mistake in the
// text does not spend the operator's one-time code.
func (g *Gateway) advisory(a *record.Alert, lifetime time.Duration) (*record.Record, error) {
	if a == nil {
		return nil, errors.New("gateway: advisory: no alert")
	}
	if lifetime <= 0 || lifetime > MaxAdvisoryLifetime {
		return nil, fmt.Errorf("gateway: advisory: lifetime %v: want more than 0 and at most %v", lifetime, MaxAdvisoryLifetime)
	}
	now := g.clock.Now().UTC().Truncate(time.Millisecond)
	return checked("advisory", &record.Record{Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope(g.ident.Zone),
		Issued: now, Expires: now.Add(lifetime), Origin: g.ident.ID, Body: a})
}

// CancelAdvisories cancels advisories the gateway issued (ids), for reason.
func (g *Gateway) CancelAdvisories(ctx context.Context, ids []record.ID, reason string) (*record.Record, error) {
	r, err := g.cancel(ids, reason)
	if err != nil {
		return nil, err
	}
	return g.issue(ctx, r)
}

// cancel is the unsigned record CancelAdvisories signs, checked.
func (g *Gateway) cancel(ids []record.ID, reason string) (*record.Record, error) {
	if len(ids) == 0 {
		return nil, errors.New("gateway: cancel: no advisory named")
	}
	now := g.clock.Now().UTC().Truncate(time.Millisecond)
	return checked("cancel", &record.Record{Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope(g.ident.Zone),
		Issued: now, Expires: now.Add(MaxAdvisoryLifetime), Origin: g.ident.ID, Supersedes: ids, Body: &record.Cancel{Reason: reason}})
}

// checked returns r if it is a valid record (but for its signature).
func checked(what string, r *record.Record) (*record.Record, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", what, err)
	}
	return r, nil
}

// ActiveAdvisories returns the advisories this gateway issued that are in
// force at now (not expired, not cancelled), newest first: those its
// operators may still cancel.
func (g *Gateway) ActiveAdvisories(now time.Time) ([]*record.Record, error) {
	es, err := g.store.Active(now)
	if err != nil {
		return nil, fmt.Errorf("gateway: active advisories: %w", err)
	}
	var out []*record.Record
	for _, e := range es {
		if e.Kind != record.KindAlert || e.Tier != record.TierAdvisory || e.Origin != g.ident.ID {
			continue
		}
		r, err := e.Parse()
		if err != nil {
			return nil, fmt.Errorf("gateway: active advisories: %s: %w", e.ID.Short(), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// issue signs r as the gateway, publishes it through its node and logs it.
func (g *Gateway) issue(ctx context.Context, r *record.Record) (*record.Record, error) {
	signed, err := g.signAndPublish(ctx, r)
	if err != nil {
		return nil, err
	}
	g.log.Info("issued", "kind", r.Kind, "tier", r.Tier, "record", signed.ID().Short(), "expires", r.Expires)
	return signed, nil
}
