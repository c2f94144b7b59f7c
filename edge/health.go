package edge

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/store"
)

// The connectivity ladder (DESIGN §5): every link runs at once; the
// ladder says which one carries the pole's acks and health upstream, best
// first. A pole whose gateway link is up uses it (ethernet, or wifi when
// the route to the gateway leaves by a wireless interface); without it,
// its gossip neighbours carry its records (mesh); without neighbours, the
// cellular link to the server (cellular); with nothing, the outbox keeps
// them until a rung comes back (offline). LoRa joins the ladder with the
// LoRaWAN link.
func (p *Pole) ladder() string {
	switch {
	case p.uplink != nil && p.uplink.Connected():
		return p.lanRung()
	case p.gossip != nil && p.gossip.Memberlist().NumMembers() > 1:
		return "mesh"
	case p.cellular != nil && p.cellular.Connected():
		return "cellular"
	}
	return "offline"
}

// neighbourHealth remembers a neighbour's latest health report (gossiped):
// its rung tells the pole whom to relay for.
func (p *Pole) neighbourHealth(r *record.Record, h *record.Health) {
	if old, ok := p.neighbours.Load(r.Origin); ok && old.(*record.Record).Seq >= r.Seq {
		return
	}
	p.neighbours.Store(r.Origin, r)
	prev, _ := p.rungs.Swap(r.Origin, h.Rung)
	if !hasUplink(h.Rung) && (prev == nil || hasUplink(prev.(string))) {
		// It has just lost its uplink: what it sent before we knew came
		// by gossip and was not relayed; relay it now.
		go p.relayBacklog(r.Origin)
	}
}

// hasUplink reports whether a rung is a pole's own uplink to a gateway.
func hasUplink(rung string) bool { return rung == "ethernet" || rung == "wifi" }

// relayBacklog offers the gateway link the neighbour's uplink records of
// the last hour that this pole holds.
func (p *Pole) relayBacklog(origin string) {
	if p.uplink == nil {
		return
	}
	// Its health report first: it carries the certificate chain upstream
	// needs to check the acks, which name the certificate by kid only.
	if h, ok := p.neighbours.Load(origin); ok {
		p.uplink.Offer(mesh.Forward{Record: h.(*record.Record), From: mesh.Source{Link: gossip.LinkName}})
	}
	since := p.clock.Now().Add(-time.Hour)
	for _, k := range []record.Kind{record.KindAck, record.KindTelemetry, record.KindAnomaly} {
		err := p.store.PutSince(k, since, func(e store.Entry) error {
			if e.Origin != origin {
				return nil
			}
			r, err := e.Parse()
			if err == nil {
				p.uplink.Offer(mesh.Forward{Record: r, From: mesh.Source{Link: gossip.LinkName}})
			}
			return nil
		})
		if err != nil {
			p.log.Warn("relaying a neighbour's backlog", "neighbour", origin, "err", err)
		}
	}
}

// relayHealth offers the gateway link the latest health report of every
// neighbour without an uplink: the pole calls it when its own uplink comes
// up, so that the gateway has their certificates (health reports carry
// the chain) before their acks, which name the certificate by kid only.
func (p *Pole) relayHealth() {
	if p.uplink == nil {
		return
	}
	p.neighbours.Range(func(_, v any) bool {
		r := v.(*record.Record)
		if h, ok := r.Body.(*record.Health); ok && !hasUplink(h.Rung) {
			p.uplink.Offer(mesh.Forward{Record: r, From: mesh.Source{Link: gossip.LinkName}})
		}
		return true
	})
}

// meshCarry is the gossip link's policy for what the pole spreads: every
// alert, protocol, activation and revocation; but its own uplink records
// (acks, health) only while it has no uplink of its own, and a
// neighbour's never. The link sends those to the mesh's server and
// gateways, or without any to random neighbours, which relay them to
// their gateway (gatewayUplink). So a city's acks are not copied onto
// every pole, nor flooded among the poles that lost their gateway.
func (p *Pole) meshCarry(f mesh.Forward) bool {
	if !f.Record.Kind.Uplink() {
		return true
	}
	return f.Record.Origin == p.ident.ID && !hasUplink(p.ladder())
}

// fromZoneBroker says whether a record came by the pole's uplink: its
// zone's gateway sends every pole of the zone the same records, so the
// gossip link only announces it to neighbours (gossip.Config.AnnounceOnly);
// one whose gateway is down asks for it.
func fromZoneBroker(f mesh.Forward) bool { return f.From.Link == gatewayLink }

// gatewayLink is the name of the pole's MQTT link to its zone's gateways.
const gatewayLink = "gateway"

// meshOffer is when the loop last offered an outbox entry to the mesh,
// and how many times it has.
type meshOffer struct {
	at time.Time
	n  int
}

// Resends of an outbox entry over the mesh while the pole has no uplink:
// no receipt comes back over gossip, so an ack whose one stream upstream
// was lost (a member dead but not yet known to be, a full queue) is
// offered again meshResendAfter after it was first seen in the outbox,
// then twice that later, meshResends times in all.
const (
	meshResendAfter = 2 * time.Second
	meshResends     = 2
)

// dueMeshResends returns which of the outbox's entries (ids, oldest
// first) to offer the mesh again at now, and records it in offers (which
// forgets entries no longer in the outbox). An entry seen for the first
// time was offered when it was made: its clock starts.
func dueMeshResends(ids []record.ID, offers map[record.ID]meshOffer, now time.Time) []record.ID {
	in := make(map[record.ID]bool, len(ids))
	var due []record.ID
	for _, id := range ids {
		in[id] = true
		o, seen := offers[id]
		switch {
		case !seen:
			offers[id] = meshOffer{at: now}
		case o.n < meshResends && now.Sub(o.at) >= meshResendAfter<<o.n:
			offers[id] = meshOffer{at: now, n: o.n + 1}
			due = append(due, id)
		}
	}
	for id := range offers {
		if !in[id] {
			delete(offers, id)
		}
	}
	return due
}

// offerOutboxToMesh offers the gossip link what the pole's outbox still
// holds (acks and reports not yet confirmed upstream). With all, every
// entry: when the pole loses its uplink, what it queued while it had one
// would otherwise wait for the uplink to come back. Without, only the
// entries dueMeshResends says at now, recorded in st.meshOffers.
func (p *Pole) offerOutboxToMesh(all bool, now time.Time, st *loopState) {
	if p.gossip == nil {
		return
	}
	items, err := p.store.Peek(outboxRelayMax)
	if err != nil {
		p.log.Warn("offering the outbox to the mesh", "resends", !all, "err", err)
		return
	}
	offer := make([][]byte, 0, len(items))
	if all {
		for _, it := range items {
			offer = append(offer, it.Data)
		}
	} else {
		ids := make([]record.ID, len(items))
		raw := make(map[record.ID][]byte, len(items))
		for i, it := range items {
			ids[i] = record.IDOf(it.Data)
			raw[ids[i]] = it.Data
		}
		for _, id := range dueMeshResends(ids, st.meshOffers, now) {
			offer = append(offer, raw[id])
		}
	}
	for _, data := range offer {
		if r, err := record.Parse(data); err == nil {
			p.gossip.Offer(mesh.Forward{Record: r})
		}
	}
}

// outboxRelayMax bounds what offerOutboxToMesh offers at once: the
// newest matter most, and the rest follow when the uplink returns.
const outboxRelayMax = 256

// gatewayUplink is the gateway link's policy for what the node offers: the
// pole's own records (OwnUplink), and the uplink records of a neighbour
// that came by gossip while that neighbour has no uplink of its own (its
// latest health report says it is on the mesh rung or below) and this
// pole has one: the mesh rung of the ladder. Only such neighbours are
// relayed for, so a zone whose poles all reach their gateway sends each
// ack once; a neighbour's records reach the gateway through every pole
// next to it that has an uplink, and the gateway keeps one copy.
func (p *Pole) gatewayUplink(f mesh.Forward) bool {
	if OwnUplink(f) {
		return true
	}
	if f.From.Link != gossip.LinkName || !f.Record.Kind.Uplink() || f.Record.Origin == p.ident.ID {
		return false
	}
	var rung any
	if h, ok := f.Record.Body.(*record.Health); ok {
		rung = h.Rung // the report itself says (and carries the chain upstream needs)
	} else {
		rung, _ = p.rungs.Load(f.Record.Origin)
	}
	if r, ok := rung.(string); !ok || hasUplink(r) {
		return false // it sends its own (or it is a stranger)
	}
	return hasUplink(p.ladder())
}

// lanRung says whether the gateway link runs over WiFi or Ethernet: the
// interface the route to the connected broker leaves by (a wireless one's
// name starts with "wl", as Linux names them). It is worked out once per
// broker.
func (p *Pole) lanRung() string {
	broker := p.uplink.BrokerURL()
	if v, ok := p.lanRungs.Load(broker); ok {
		return v.(string)
	}
	rung := "ethernet"
	if u, err := url.Parse(broker); err == nil {
		// A UDP "connection" sends nothing: it only picks the route.
		if c, err := net.Dial("udp", u.Host); err == nil {
			local := c.LocalAddr().(*net.UDPAddr).IP
			c.Close()
			if name := interfaceOf(local); strings.HasPrefix(name, "wl") {
				rung = "wifi"
			}
		}
	}
	p.lanRungs.Store(broker, rung)
	return rung
}

// interfaceOf returns the name of the interface that has ip, or "".
func interfaceOf(ip net.IP) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return ifc.Name
			}
		}
	}
	return ""
}

// cellularUplink is the cellular link's policy for what the node offers:
// as the gateway link's (OwnUplink), and only while no better rung
// carries them (cellular data costs money and the gateway has them
// otherwise). Its Drain holds the outbox the same way.
func (p *Pole) cellularUplink(f mesh.Forward) bool {
	return OwnUplink(f) && (p.ladder() == "cellular" || p.ladder() == "offline")
}

// lastUpstream is the last contact with a gateway or the server.
func (p *Pole) lastUpstream() time.Time {
	var t time.Time
	for _, l := range []*mqttlink.Link{p.uplink, p.cellular} {
		if l != nil && l.LastContact().After(t) {
			t = l.LastContact()
		}
	}
	return t
}

// health builds the pole's health report.
func (p *Pole) health(ctx context.Context, now time.Time) *record.Health {
	rung := p.ladder()
	p.rung.Store(rung)
	h := &record.Health{Rung: rung, Version: p.opts.Version, Refused: p.refused.Load()}
	h.Uptime = uint64(now.Sub(p.start) / time.Second)
	if r, err := p.sensors.Read(ctx); err == nil {
		if r.CPUTemp != nil {
			h.CPUTemp = int32(r.CPUTemp.Celsius * 1000)
		}
		if r.Throttle != nil {
			h.Throttled = r.Throttle.Raw
		}
		if r.UnderVoltage != nil && r.UnderVoltage.Alarm {
			h.Throttled |= 1 // under-voltage now, as get_throttled's bit 0 says it
		}
		if len(r.Storage) > 0 {
			h.FreeBytes = r.Storage[0].Available
		}
		for _, f := range r.Faults() {
			p.fault("sensor "+f.Sensor, f.Reason)
		}
	}
	if t := p.lastUpstream(); !t.IsZero() {
		h.LastUpstream = record.MillisOf(t)
		h.CacheAge = uint32(now.Sub(t) / time.Second)
	}
	if acks, tel, err := p.store.OutboxLen(); err == nil {
		h.OutboxDepth = uint32(acks + tel)
	}
	if es, err := show.ScopeEntries(p.store, p.ident.ID, p.ident.Zone); err == nil {
		d := show.Digest(es, p.ident.ID, p.ident.Zone, now)
		h.CacheDigest = d[:]
	}
	p.mu.Lock()
	h.Displayed = p.showing.Record
	for c, f := range p.faults {
		h.Faults = append(h.Faults, truncate(c+": "+f, 250))
	}
	p.mu.Unlock()
	slices.Sort(h.Faults)
	if len(h.Faults) > 16 {
		h.Faults = append(h.Faults[:15], fmt.Sprintf("and %d more", len(h.Faults)-15))
	}
	return h
}

// sendHealth signs and publishes a health report.
func (p *Pole) sendHealth(ctx context.Context, st *loopState) {
	now := p.clock.Now()
	if err := p.acker.Health(ctx, p.health(ctx, now), now, p.cfg.HealthEvery); err != nil && ctx.Err() == nil {
		p.log.Error("health report not stored", "err", err)
	}
}

// truncate cuts s to at most n runes, with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
