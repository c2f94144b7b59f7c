package server

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cityarray/cityarray/mesh/trust"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (nothing global): HTTP requests by route and code, latencies, the mesh
// node's counters, the broker, the audit log, and the Go runtime.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	auditFails  prometheus.Counter
	auditWrites prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "cityarray", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "cityarray", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "HTTP request latency by route pattern and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	m.auditFails = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "cityarray", Subsystem: "audit", Name: "append_errors_total",
		Help: "Audit entries that could not be written.",
	})
	m.auditWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "cityarray", Subsystem: "audit", Name: "appends_total",
		Help: "Audit entries written by this process.",
	})
	m.reg.MustRegister(m.requests, m.latency, m.auditFails, m.auditWrites,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{s: s})
	return m
}

// observe records one finished request.
func (m *metrics) observe(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method = metricMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// metricMethod bounds the method label's values.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// stateCollector reads the node, broker and audit counters at scrape time.
type stateCollector struct{ s *Server }

var (
	descMeshReceived   = prometheus.NewDesc("cityarray_mesh_records_received_total", "Records that reached the replica, duplicates included.", nil, nil)
	descMeshDuplicates = prometheus.NewDesc("cityarray_mesh_records_duplicate_total", "Received records already known or already rejected.", nil, nil)
	descMeshAccepted   = prometheus.NewDesc("cityarray_mesh_records_accepted_total", "Records verified and new.", nil, nil)
	descMeshRejected   = prometheus.NewDesc("cityarray_mesh_records_rejected_total", "Records rejected, by reason.", []string{"reason"}, nil)
	descMeshForwarded  = prometheus.NewDesc("cityarray_mesh_records_forwarded_total", "Accepted records offered to the links.", nil, nil)
	descMeshStoreFails = prometheus.NewDesc("cityarray_mesh_store_failures_total", "Accepted records that could not be stored.", nil, nil)
	descMeshDropped    = prometheus.NewDesc("cityarray_mesh_inbox_dropped_total", "Inbound records dropped on a full inbox.", nil, nil)
	descMeshBytesIn    = prometheus.NewDesc("cityarray_mesh_bytes_received_total", "Record bytes received, by link.", []string{"link"}, nil)
	descBrokerClients  = prometheus.NewDesc("cityarray_mqtt_clients_connected", "MQTT clients connected to the embedded broker.", nil, nil)
	descBrokerCounter  = prometheus.NewDesc("cityarray_mqtt_events_total", "Embedded broker link counters, by event.", []string{"event"}, nil)
	descAuditEntries   = prometheus.NewDesc("cityarray_audit_entries", "Entries in the audit log.", nil, nil)
	descAuditSigned    = prometheus.NewDesc("cityarray_audit_checkpoint_size", "Entries covered by the latest signed checkpoint.", nil, nil)
	descReady          = prometheus.NewDesc("cityarray_server_ready", "1 when every component is ready.", nil, nil)
	descFleetAcks      = prometheus.NewDesc("cityarray_fleet_acks_total", "Device acks, by what became of them: counted toward an alert, of no tracked alert, or naming another device than their signer.", []string{"outcome"}, nil)
	descFleetUnknown   = prometheus.NewDesc("cityarray_fleet_unknown_health_total", "Health reports from unregistered nodes without a device certificate.", nil, nil)
	descFleetDevices   = prometheus.NewDesc("cityarray_fleet_devices", "Devices in the registry.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMeshReceived, descMeshDuplicates, descMeshAccepted, descMeshRejected,
		descMeshForwarded, descMeshStoreFails, descMeshDropped, descMeshBytesIn, descBrokerClients, descBrokerCounter,
		descAuditEntries, descAuditSigned, descReady, descFleetAcks, descFleetUnknown, descFleetDevices} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	if s.node != nil {
		nc := s.node.Counters()
		counter(descMeshReceived, nc.Received)
		counter(descMeshDuplicates, nc.Duplicates)
		counter(descMeshAccepted, nc.Accepted)
		counter(descMeshForwarded, nc.Forwarded)
		counter(descMeshStoreFails, nc.StoreFails)
		counter(descMeshDropped, s.node.Dropped())
		// Every reason, so that a rate of zero is visible.
		reasons := slices.Clone(rejectReasons)
		for r := range nc.Rejected {
			if !slices.Contains(reasons, r) {
				reasons = append(reasons, r)
			}
		}
		for _, r := range reasons {
			counter(descMeshRejected, nc.Rejected[r], string(r))
		}
		links := make([]string, 0, len(nc.BytesIn))
		for l := range nc.BytesIn {
			links = append(links, l)
		}
		slices.Sort(links)
		for _, l := range links {
			name := l
			if name == "" {
				name = "local"
			}
			counter(descMeshBytesIn, nc.BytesIn[l], name)
		}
	}
	if s.broker != nil {
		gauge(descBrokerClients, float64(s.broker.Server().Info.Clone().ClientsConnected))
		st := s.broker.Link().Stats()
		for _, e := range []struct {
			name string
			v    uint64
		}{{"published", st.Published}, {"received", st.Received}, {"inbox_full", st.InboxFull},
			{"receipts", st.ReceiptMsgs}, {"dropped", st.Dropped}, {"unroutable", st.Unroutable},
			{"acl_refused", st.Refused}, {"auth_failures", st.AuthFailures}, {"tls_failures", st.TLSFailures}} {
			counter(descBrokerCounter, e.v, e.name)
		}
	}
	if s.audit != nil {
		gauge(descAuditEntries, float64(s.audit.Size()))
		if cp, ok := s.audit.Latest(); ok {
			gauge(descAuditSigned, float64(cp.Size))
		} else {
			gauge(descAuditSigned, 0)
		}
	}
	if s.fleet != nil {
		fc := s.fleet.Counters()
		counter(descFleetAcks, fc.Acks, "counted")
		counter(descFleetAcks, fc.UntrackedAcks, "untracked")
		counter(descFleetAcks, fc.MismatchedAcks, "mismatched")
		counter(descFleetUnknown, fc.UnknownHealth)
		gauge(descFleetDevices, float64(len(s.fleet.Devices(""))))
	}
	ready := 0.0
	if s.Ready() == nil {
		ready = 1
	}
	gauge(descReady, ready)
}

var rejectReasons = []trust.Reason{
	trust.ReasonMalformed, trust.ReasonUnknownSigner, trust.ReasonBadChain, trust.ReasonBadSignature,
	trust.ReasonTierNotAllowed, trust.ReasonRoleNotAllowed, trust.ReasonScopeNotAllowed,
	trust.ReasonMissingCosigner, trust.ReasonExtraSigner, trust.ReasonOriginMismatch,
	trust.ReasonExpired, trust.ReasonNotYetValid, trust.ReasonCertExpired, trust.ReasonRevoked,
	trust.ReasonReplayed,
}
