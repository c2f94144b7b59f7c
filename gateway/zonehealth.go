package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Node states, judged against the heartbeat a node is expected to keep
// (Config.Poles.HealthEvery), as LoRaWAN network servers judge devices.
const (
	StateHealthy = "healthy" // heard within 2 heartbeats
	StateLate    = "late"    // 2 to 5 heartbeats ago
	StateSilent  = "silent"  // more than 5 heartbeats ago
)

// NodeHealth is what the gateway knows of one node of its zone: from its
// latest health report and what the gateway expects it to show.
type NodeHealth struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	State     string    `json:"state"`
	LastHeard time.Time `json:"last_heard"` // when the gateway received its latest report
	Rung      string    `json:"rung"`
	Version   string    `json:"version,omitempty"`
	CPUTempC  float64   `json:"cpu_temp_c,omitempty"`
	Throttled uint32    `json:"throttled,omitempty"`
	Outbox    uint32    `json:"outbox"`
	// Displayed is the record the node said it shows; Expected what the
	// zone cache says it should show now (zero: informational content).
	Displayed record.ID `json:"displayed,omitzero"`
	Expected  record.ID `json:"expected,omitzero"`
	// ShowsExpected is false when Displayed differs from Expected in a
	// report made well after Expected was issued.
	ShowsExpected bool `json:"shows_expected"`
	// CacheAgrees says whether the node's cache digest matched the
	// gateway's when its report arrived (nil: the node sent none).
	CacheAgrees *bool    `json:"cache_agrees,omitempty"`
	Faults      []string `json:"faults,omitempty"`
}

// ZoneHealth is the health of the gateway's zone.
type ZoneHealth struct {
	Zone    string         `json:"zone"`
	Gateway string         `json:"gateway"`
	At      time.Time      `json:"at"`
	Server  bool           `json:"server_connected"`
	Counts  map[string]int `json:"counts"` // by state
	Wrong   int            `json:"wrong_display"`
	Nodes   []NodeHealth   `json:"nodes"`
	// Alerts are the latest operator alerts (at most 50), oldest first.
	Alerts []OperatorAlert `json:"alerts"`
}

// heard is the latest health report of a node and when it arrived.
type heard struct {
	ident   trust.Identity
	rec     *record.Record
	h       *record.Health
	at      time.Time
	agrees  *bool
	state   string // as last judged, to log changes
	showsOK bool
}

// zoneHealth tracks its zone's nodes from their health reports.
type zoneHealth struct {
	mu    sync.Mutex
	nodes map[string]*heard
}

// observe takes an event of the gateway's node (on the node's goroutine:
// cheap): a health report from a node of its zone updates that node. The
// cache digest is compared at once, against the gateway's cache now.
func (g *Gateway) observe(ev mesh.Event) {
	if g.opts.OnEvent != nil {
		defer g.opts.OnEvent(ev)
	}
	if ev.Kind != mesh.EventAccepted || ev.Record == nil || ev.Record.Kind != record.KindHealth || len(ev.Signers) == 0 {
		return
	}
	h, ok := ev.Record.Body.(*record.Health)
	if !ok {
		return
	}
	id := ev.Signers[0]
	if id.Zone != g.ident.Zone {
		return
	}
	g.recordHealth(id, ev.Record, h, g.clock.Now())
}

func (g *Gateway) recordHealth(id trust.Identity, rec *record.Record, h *record.Health, at time.Time) {
	var agrees *bool
	if len(h.CacheDigest) == 16 && id.Role == trust.RoleDevice {
		if es, err := show.ScopeEntries(g.store, id.ID, id.Zone); err == nil {
			d := show.Digest(es, id.ID, id.Zone, at)
			ok := bytes.Equal(d[:], h.CacheDigest)
			agrees = &ok
		}
	}
	z := &g.zone
	z.mu.Lock()
	defer z.mu.Unlock()
	if old := z.nodes[id.ID]; old != nil && old.rec.Seq >= rec.Seq {
		return
	}
	prev := z.nodes[id.ID]
	n := &heard{ident: id, rec: rec, h: h, at: at, agrees: agrees, state: StateHealthy, showsOK: true}
	if prev != nil {
		n.state, n.showsOK = prev.state, prev.showsOK
	}
	z.nodes[id.ID] = n
}

// loadZoneHealth rebuilds the zone's nodes from the health reports in the
// store (the time each was stored stands for when it was heard).
func (g *Gateway) loadZoneHealth() error {
	return g.store.PutSince(record.KindHealth, time.Time{}, func(e store.Entry) error {
		r, err := e.Parse()
		if err != nil {
			return nil
		}
		h, ok := r.Body.(*record.Health)
		if !ok {
			return nil
		}
		var id trust.Identity
		if sigs := r.Signatures(); len(sigs) == 1 {
			if c, ok := g.verifier.Certificate(sigs[0].KID); ok {
				id, _ = trust.IdentityOf(c)
			} else if len(sigs[0].Chain) > 0 {
				if c, err := parseCert(sigs[0].Chain[0]); err == nil {
					id, _ = trust.IdentityOf(c)
				}
			}
		}
		if id.ID == "" || id.ID != r.Origin || id.Zone != g.ident.Zone {
			return nil
		}
		g.recordHealth(id, r, h, e.Refreshed)
		return nil
	})
}

// Health judges the zone's nodes at now, and raises an operator alert for
// each node whose state or display changed since it was last judged.
func (g *Gateway) Health(now time.Time) ZoneHealth {
	zh, alerts := g.judge(now)
	if len(alerts) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
		defer cancel()
		for _, a := range alerts {
			g.raise(ctx, a)
		}
	}
	zh.Alerts = g.Alerts()
	return zh
}

// judge is Health without raising: the zone now, and what changed.
func (g *Gateway) judge(now time.Time) (ZoneHealth, []OperatorAlert) {
	var alerts []OperatorAlert
	zh := ZoneHealth{Zone: g.ident.Zone, Gateway: g.ident.ID, At: now.UTC(), Server: g.ServerConnected(),
		Counts: map[string]int{StateHealthy: 0, StateLate: 0, StateSilent: 0}}
	active, err := g.store.Active(now)
	if err != nil {
		g.log.Warn("zone health: reading the active records", "err", err)
	}
	beat := g.cfg.Poles.HealthEvery
	g.zone.mu.Lock()
	defer g.zone.mu.Unlock()
	for _, n := range g.zone.nodes {
		nh := NodeHealth{ID: n.ident.ID, Role: string(n.ident.Role), LastHeard: n.at.UTC(), Rung: n.h.Rung, Version: n.h.Version,
			CPUTempC: float64(n.h.CPUTemp) / 1000, Throttled: n.h.Throttled, Outbox: n.h.OutboxDepth,
			Displayed: n.h.Displayed, CacheAgrees: n.agrees, Faults: n.h.Faults, ShowsExpected: true}
		switch age := now.Sub(n.at); {
		case age > 5*beat:
			nh.State = StateSilent
		case age > 2*beat:
			nh.State = StateLate
		default:
			nh.State = StateHealthy
		}
		if n.ident.Role == trust.RoleDevice {
			cands, _ := show.Candidates(active, n.ident.ID, n.ident.Zone, now, g.store.Get, &g.parsed)
			if c := show.Choose(cands); c != nil {
				nh.Expected = c.ID
				// A report made well after the expected record was
				// issued must name it.
				if n.rec.Issued.Sub(c.Issued) > beat && nh.Displayed != c.ID {
					nh.ShowsExpected = false
				}
			} else if !nh.Displayed.IsZero() && nh.State == StateHealthy {
				// It shows something the zone no longer has active;
				// judge it once its next report is due.
				nh.ShowsExpected = now.Sub(n.rec.Issued) < beat
			}
		}
		if nh.State != n.state {
			alerts = append(alerts, OperatorAlert{At: now.UTC(), Zone: zh.Zone, Node: nh.ID, Kind: nh.State,
				Detail: fmt.Sprintf("was %s; last heard %s ago", n.state, now.Sub(n.at).Round(time.Second))})
			n.state = nh.State
		}
		if nh.ShowsExpected != n.showsOK {
			a := OperatorAlert{At: now.UTC(), Zone: zh.Zone, Node: nh.ID, Kind: AlertDisplayOK, Detail: "shows what the zone should again"}
			if !nh.ShowsExpected {
				a.Kind, a.Detail = AlertWrongDisplay, fmt.Sprintf("shows %s, the zone should show %s", shortOrClock(nh.Displayed), shortOrClock(nh.Expected))
			}
			alerts = append(alerts, a)
			n.showsOK = nh.ShowsExpected
		}
		zh.Counts[nh.State]++
		if !nh.ShowsExpected {
			zh.Wrong++
		}
		zh.Nodes = append(zh.Nodes, nh)
	}
	slices.SortFunc(alerts, func(a, b OperatorAlert) int { return strings.Compare(a.Node, b.Node) })
	slices.SortFunc(zh.Nodes, func(a, b NodeHealth) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return zh, alerts
}

// shortOrClock names a displayed record briefly ("clock" for none).
func shortOrClock(id record.ID) string {
	if id.IsZero() {
		return "the clock"
	}
	return id.Short()
}

func parseCert(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }
