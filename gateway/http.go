package gateway

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the zone's health:
//
//	/                  a page that refreshes itself every 5 s (no assets
//	                   from elsewhere: it works on a gateway cut off from
//	                   the internet), linking to the operators' page
//	                   when operators.listen is on
//	/api/zone/health   ZoneHealth as JSON (`cityarray mesh status` reads it)
//	/metrics           Prometheus: nodes by state, each node's last heard,
//	                   outbox, temperature and whether it shows what it
//	                   should, the bridge, the Go runtime
func (g *Gateway) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), zoneCollector{g})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /api/zone/health", func(w http.ResponseWriter, r *http.Request) {
		b, err := json.MarshalIndent(g.Health(g.clock.Now()), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		page := struct {
			ZoneHealth
			OperatorURL string
		}{g.Health(g.clock.Now()), g.operatorPageURL(r)}
		if err := zonePage.Execute(w, page); err != nil {
			g.log.Warn("zone page", "err", err)
		}
	})
	return mux
}

// operatorPageURL is the operators' page as seen from r's client, or ""
// when operators.listen is off: on the host r came to when the operator
// listener is on every address.
func (g *Gateway) operatorPageURL(r *http.Request) string {
	u := g.OperatorURL()
	if u == "" {
		return ""
	}
	ap, err := netip.ParseAddrPort(g.opsLn.Addr().String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return u + "/"
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(int(ap.Port()))) + "/"
}

var zonePage = template.Must(template.New("zone").Funcs(template.FuncMap{
	"ago":   func(t time.Time, now time.Time) string { return now.Sub(t).Round(time.Second).String() },
	"deref": func(b *bool) bool { return *b },
	"short": func(id fmt.Stringer) string {
		s := id.String()
		if len(s) > 12 {
			s = s[:12]
		}
		return s
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Zone {{.Zone}} — {{.Gateway}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #333;text-align:left}
.healthy,.display_ok{color:#6c6}.late{color:#ec4}.silent,.wrong_display{color:#f55;font-weight:bold}.wrong{background:#511}
</style></head><body>
<h1>Zone {{.Zone}} <small>gateway {{.Gateway}}</small></h1>
<p>Server link: {{if .Server}}<span class="healthy">up</span>{{else}}<span class="silent">down</span>{{end}} ·
healthy {{index .Counts "healthy"}} · late {{index .Counts "late"}} · silent {{index .Counts "silent"}} ·
showing the wrong thing {{.Wrong}} · {{.At.Format "15:04:05 MST"}}</p>
{{with .OperatorURL}}<p>Local operators: <a href="{{.}}">issue or cancel an Advisory</a> (HTTPS)</p>{{end}}
<table><tr><th>node</th><th>role</th><th>state</th><th>last heard</th><th>rung</th><th>shows</th><th>should show</th><th>cache</th><th>outbox</th><th>°C</th><th>version</th><th>faults</th></tr>
{{$now := .At}}{{range .Nodes}}<tr{{if not .ShowsExpected}} class="wrong"{{end}}>
<td>{{.ID}}</td><td>{{.Role}}</td><td class="{{.State}}">{{.State}}</td><td>{{ago .LastHeard $now}} ago</td><td>{{.Rung}}</td>
<td>{{if .Displayed.IsZero}}clock{{else}}{{short .Displayed}}{{end}}</td><td>{{if .Expected.IsZero}}clock{{else}}{{short .Expected}}{{end}}</td>
<td>{{if .CacheAgrees}}{{if deref .CacheAgrees}}agrees{{else}}<b>differs</b>{{end}}{{else}}–{{end}}</td>
<td>{{.Outbox}}</td><td>{{printf "%.1f" .CPUTempC}}</td><td>{{.Version}}</td><td>{{range .Faults}}{{.}}<br>{{end}}</td></tr>
{{end}}</table>
<h2>Operator alerts</h2>
{{if .Alerts}}<table><tr><th>at</th><th>node</th><th>alert</th><th>detail</th></tr>
{{range .Alerts}}<tr><td>{{.At.Format "15:04:05"}}</td><td>{{.Node}}</td><td class="{{.Kind}}">{{.Kind}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{else}}<p>None since the gateway started.</p>{{end}}
</body></html>
`))

// zoneCollector exports ZoneHealth to Prometheus at each scrape.
type zoneCollector struct{ g *Gateway }

var (
	descNodes    = prometheus.NewDesc("cityarray_zone_nodes", "Nodes of the zone by state (healthy, late, silent).", []string{"zone", "state"}, nil)
	descWrong    = prometheus.NewDesc("cityarray_zone_wrong_display", "Poles of the zone not showing what the zone should.", []string{"zone"}, nil)
	descServer   = prometheus.NewDesc("cityarray_gateway_server_connected", "1 while the bridge to the control server is up.", []string{"zone", "gateway"}, nil)
	descHeard    = prometheus.NewDesc("cityarray_node_last_heard_seconds", "Seconds since the node's last health report reached the gateway.", []string{"zone", "node", "role"}, nil)
	descOutbox   = prometheus.NewDesc("cityarray_node_outbox", "Records waiting in the node's outbox, as it last reported.", []string{"zone", "node"}, nil)
	descTemp     = prometheus.NewDesc("cityarray_node_cpu_temperature_celsius", "The node's CPU temperature, as it last reported.", []string{"zone", "node"}, nil)
	descShowsOK  = prometheus.NewDesc("cityarray_node_shows_expected", "1 if the pole shows what its zone should, else 0.", []string{"zone", "node"}, nil)
	descAlerts   = prometheus.NewDesc("cityarray_zone_operator_alerts_total", "Operator alerts raised since the gateway started, by kind.", []string{"zone", "kind"}, nil)
	descHookFail = prometheus.NewDesc("cityarray_zone_alert_webhook_failures_total", "Operator alerts the webhook did not take.", []string{"zone"}, nil)
	descThrottle = prometheus.NewDesc("cityarray_node_throttled", "The node's firmware throttling flags (get_throttled), as it last reported.", []string{"zone", "node"}, nil)
)

func (zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodes, descWrong, descServer, descHeard, descOutbox, descTemp, descShowsOK, descThrottle, descAlerts, descHookFail} {
		ch <- d
	}
}

func (c zoneCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.g.clock.Now()
	zh := c.g.Health(now)
	for state, n := range zh.Counts {
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(n), zh.Zone, state)
	}
	ch <- prometheus.MustNewConstMetric(descWrong, prometheus.GaugeValue, float64(zh.Wrong), zh.Zone)
	up := 0.0
	if zh.Server {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descServer, prometheus.GaugeValue, up, zh.Zone, zh.Gateway)
	c.g.alerts.mu.Lock()
	for _, kind := range []string{AlertSilent, AlertLate, AlertHealthy, AlertWrongDisplay, AlertDisplayOK} {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.CounterValue, float64(c.g.alerts.counts[kind]), zh.Zone, kind)
	}
	ch <- prometheus.MustNewConstMetric(descHookFail, prometheus.CounterValue, float64(c.g.alerts.webhookFails), zh.Zone)
	c.g.alerts.mu.Unlock()
	for _, n := range zh.Nodes {
		ch <- prometheus.MustNewConstMetric(descHeard, prometheus.GaugeValue, now.Sub(n.LastHeard).Seconds(), zh.Zone, n.ID, n.Role)
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n.Outbox), zh.Zone, n.ID)
		ch <- prometheus.MustNewConstMetric(descTemp, prometheus.GaugeValue, n.CPUTempC, zh.Zone, n.ID)
		ch <- prometheus.MustNewConstMetric(descThrottle, prometheus.GaugeValue, float64(n.Throttled), zh.Zone, n.ID)
		ok := 0.0
		if n.ShowsExpected {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(descShowsOK, prometheus.GaugeValue, ok, zh.Zone, n.ID)
	}
}
