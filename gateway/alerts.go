package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Operator alert kinds: a node's state changed (the kind is the new
// state), or a pole stopped (or went back to) showing what its zone
// should.
const (
	AlertSilent       = StateSilent
	AlertLate         = StateLate
	AlertHealthy      = StateHealthy
	AlertWrongDisplay = "wrong_display"
	AlertDisplayOK    = "display_ok"
)

// OperatorAlert is something the zone's operator must hear about: a pole
// gone silent (or late, or back), or a pole showing something else than
// what the zone should.
type OperatorAlert struct {
	At     time.Time `json:"at"`
	Zone   string    `json:"zone"`
	Node   string    `json:"node"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// operatorAlerts keeps the latest alerts for the page and the JSON, and
// counts them by kind for /metrics.
type operatorAlerts struct {
	mu           sync.Mutex
	recent       []OperatorAlert // newest last, at most maxRecentAlerts
	counts       map[string]uint64
	webhookFails uint64
}

// maxRecentAlerts is how many alerts the page and the JSON show.
const maxRecentAlerts = 50

// webhookTimeout bounds one webhook POST.
const webhookTimeout = 5 * time.Second

// raise tells the operator, each way the gateway has: its log, the zone
// page and /api/zone/health (the latest 50), /metrics (a count by kind),
// the configured webhook (a JSON POST), and the control server (an
// anomaly record signed by the gateway, which reaches the server's fleet
// view through the bridge or, while it is down, when it comes back).
func (g *Gateway) raise(ctx context.Context, a OperatorAlert) {
	g.log.Warn("operator alert", "kind", a.Kind, "node", a.Node, "detail", a.Detail)
	oa := &g.alerts
	oa.mu.Lock()
	oa.recent = append(oa.recent, a)
	if len(oa.recent) > maxRecentAlerts {
		oa.recent = append(oa.recent[:0], oa.recent[len(oa.recent)-maxRecentAlerts:]...)
	}
	if oa.counts == nil {
		oa.counts = map[string]uint64{}
	}
	oa.counts[a.Kind]++
	oa.mu.Unlock()

	now := g.clock.Now().UTC().Truncate(time.Millisecond)
	_, err := g.signAndPublish(ctx, &record.Record{Kind: record.KindAnomaly, Tier: record.TierInformational, Scope: record.DeviceScope(g.ident.ID),
		Issued: now, Expires: now.Add(72 * time.Hour), Origin: g.ident.ID,
		Body: &record.Anomaly{Class: "zone_" + a.Kind, Detail: a.Node + ": " + a.Detail, At: record.MillisOf(now)}})
	if err != nil && ctx.Err() == nil {
		g.log.Error("operator alert: the anomaly record was not stored", "err", err)
	}
	if g.cfg.Alerts.Webhook != "" {
		g.webhooks.Add(1)
		go func() {
			defer g.webhooks.Done()
			g.postWebhook(a)
		}()
	}
}

// postWebhook POSTs a as JSON to the configured webhook, once; a failure
// is logged and counted (the page, the metrics and the server still have
// the alert).
func (g *Gateway) postWebhook(a OperatorAlert) {
	body, _ := json.Marshal(a)
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.Alerts.Webhook, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
	}
	if err != nil {
		g.alerts.mu.Lock()
		g.alerts.webhookFails++
		g.alerts.mu.Unlock()
		g.log.Error("operator alert: webhook failed", "kind", a.Kind, "node", a.Node, "err", err)
	}
}

// Alerts returns the latest operator alerts, oldest first.
func (g *Gateway) Alerts() []OperatorAlert {
	g.alerts.mu.Lock()
	defer g.alerts.mu.Unlock()
	return append([]OperatorAlert(nil), g.alerts.recent...)
}
