package city

import (
	"context"
	"testing"
	"time"
)

// TestE2EBench runs the end-to-end bench on a small city: every phase
// (normal, a gateway killed, the server killed) delivers every alert to
// every pole it addresses, with latencies that make sense, and the
// baseline fan-out is measured.
func TestE2EBench(t *testing.T) {
	res, err := RunE2EBench(context.Background(), E2EBenchConfig{Poles: 6, Zones: 2, Alerts: 2, Wait: 20 * time.Second, Gap: time.Millisecond, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	for name, ph := range map[string]E2EPhase{"normal": res.Normal, "failover": res.Failover, "gateway only": res.GatewayOnly} {
		if ph.Expected != 2*6 || ph.Delivered != ph.Expected || ph.Ratio() != 1 {
			t.Errorf("%s: delivered %d of %d", name, ph.Delivered, ph.Expected)
		}
		if ph.P50 <= 0 || ph.P50 > ph.P99 || ph.P99 > ph.Max {
			t.Errorf("%s: p50 %v, p99 %v, max %v", name, ph.P50, ph.P99, ph.Max)
		}
	}
	if res.BaselineP50 <= 0 || res.BaselineP99 < res.BaselineP50 {
		t.Errorf("baseline p50 %v, p99 %v", res.BaselineP50, res.BaselineP99)
	}
	t.Logf("normal p99 %v, failover p99 %v, gateway only p99 %v, baseline p99 %v", res.Normal.P99, res.Failover.P99, res.GatewayOnly.P99, res.BaselineP99)
}
