package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// rung is the gateway's uplink to the server: its primary bridge
// (ethernet), the cellular backup, or none.
func (g *Gateway) rung() string {
	switch {
	case g.bridge.Connected():
		return "ethernet"
	case g.cellular != nil && g.cellular.Connected():
		return "cellular"
	}
	return "offline"
}

// lastSeq returns the highest sequence number of the gateway's own records
// in its store: sequence numbers carry on from there after a restart.
func (g *Gateway) lastSeq() (uint64, error) {
	var top uint64
	for _, k := range []record.Kind{record.KindHealth, record.KindAnomaly, record.KindAlert, record.KindUpdate, record.KindCancel, record.KindActivation} {
		err := g.store.PutSince(k, time.Time{}, func(e store.Entry) error {
			if e.Origin == g.ident.ID {
				top = max(top, e.Seq)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return top, nil
}

// nextSeq returns the next sequence number for a record the gateway signs:
// one above the last, starting from the time in milliseconds when the store
// holds none of its records.
func (g *Gateway) nextSeq(now time.Time) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seq == 0 {
		g.seq = uint64(now.UnixMilli())
	}
	g.seq++
	return g.seq
}

// signAndPublish gives r (of Origin the gateway) its next sequence
// number, signs it as the gateway and publishes it through its node.
func (g *Gateway) signAndPublish(ctx context.Context, r *record.Record) (*record.Record, error) {
	r.Seq = g.nextSeq(r.Issued)
	signed, err := record.Sign(r, g.signer)
	if err == nil {
		err = g.node.Publish(ctx, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", r.Kind, err)
	}
	return signed, nil
}

// sendHealth signs and publishes the gateway's health report, with its
// certificate chain.
func (g *Gateway) sendHealth(ctx context.Context) {
	now := g.clock.Now()
	h := &record.Health{Rung: g.rung(), Version: g.opts.Version, Uptime: uint64(now.Sub(g.start) / time.Second)}
	if acks, tel, err := g.store.OutboxLen(); err == nil {
		h.OutboxDepth = uint32(acks + tel)
	}
	if t := g.bridge.LastContact(); !t.IsZero() {
		h.LastUpstream = record.MillisOf(t)
	}
	_, err := g.signAndPublish(ctx, &record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(g.ident.ID),
		Issued: now, Expires: now.Add(max(3*g.cfg.HealthEvery, 10*time.Minute)), Origin: g.ident.ID, Body: h})
	if err != nil && ctx.Err() == nil {
		g.log.Error("health report not stored", "err", err)
	}
}

// catchUpKinds are what a pole that joins or comes back is served: what
// it shows and what changes what it shows.
var catchUpKinds = map[record.Kind]bool{
	record.KindAlert: true, record.KindUpdate: true, record.KindCancel: true, record.KindActivation: true,
	record.KindProtocol: true, record.KindCommand: true, record.KindRevocation: true,
}

// catchUp returns the zone cache's records for device: unexpired records
// of catchUpKinds for the city, for the device's zone, and for the device
// itself.
func (g *Gateway) catchUp(device trust.Identity) []*record.Record {
	now := g.clock.Now()
	var out []*record.Record
	add := func(es []store.Entry, err error, scope record.Scope) {
		if err != nil {
			g.log.Warn("zone cache: reading records for a pole", "pole", device.ID, "err", err)
			return
		}
		for _, e := range es {
			if !catchUpKinds[e.Kind] || !now.Before(e.Expires) || (scope != "" && e.Scope != scope) {
				continue
			}
			if r, err := e.Parse(); err == nil {
				out = append(out, r)
			}
		}
	}
	es, err := g.store.ByScope(record.City)
	add(es, err, "")
	es, err = g.store.ByScope(record.ZoneScope(device.Zone))
	add(es, err, "")
	for _, k := range []record.Kind{record.KindCommand, record.KindAlert, record.KindActivation} {
		es, err = g.store.ByKind(k)
		add(es, err, record.DeviceScope(device.ID))
	}
	return out
}
