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
	if a == nil {
		return nil, errors.New("gateway: advisory: no alert")
	}
	if lifetime <= 0 || lifetime > MaxAdvisoryLifetime {
		return nil, fmt.Errorf("gateway: advisory: lifetime %v: want more than 0 and at most %v", lifetime, MaxAdvisoryLifetime)
	}
	now := g.clock.Now().UTC().Truncate(time.Millisecond)
	return g.issue(ctx, &record.Record{Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope(g.ident.Zone),
		Issued: now, Expires: now.Add(lifetime), Body: a})
}

// CancelAdvisories cancels advisories the gateway issued (ids), for reason.
func (g *Gateway) CancelAdvisories(ctx context.Context, ids []record.ID, reason string) (*record.Record, error) {
	if len(ids) == 0 {
		return nil, errors.New("gateway: cancel: no advisory named")
	}
	now := g.clock.Now().UTC().Truncate(time.Millisecond)
	return g.issue(ctx, &record.Record{Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope(g.ident.Zone),
		Issued: now, Expires: now.Add(MaxAdvisoryLifetime), Supersedes: ids, Body: &record.Cancel{Reason: reason}})
}

// issue signs r as the gateway and publishes it through its node.
func (g *Gateway) issue(ctx context.Context, r *record.Record) (*record.Record, error) {
	r.Origin, r.Seq = g.ident.ID, g.nextSeq(r.Issued)
	signed, err := record.Sign(r, g.signer)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", r.Kind, err)
	}
	if err := g.node.Publish(ctx, signed); err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", r.Kind, err)
	}
	g.log.Info("issued", "kind", r.Kind, "tier", r.Tier, "record", signed.ID().Short(), "expires", r.Expires)
	return signed, nil
}
