package city

import (
	"context"
	"testing"
	"time"
)

// TestFailoverSelftest runs the deployment checklist's failover tests on
// a small city: every check passes, and each scenario has checks.
func TestFailoverSelftest(t *testing.T) {
	checks, err := RunFailoverSelftest(context.Background(), SelftestConfig{Poles: 6, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	scenarios := map[string]int{}
	for _, c := range checks {
		scenarios[c.Scenario]++
		if !c.Pass {
			t.Errorf("%s: %s: failed: %s", c.Scenario, c.Expect, c.Detail)
		}
	}
	for _, s := range []string{"pole offline, then back", "gateway offline", "gateway power cut and restart", "server offline"} {
		if scenarios[s] == 0 {
			t.Errorf("no checks for %q", s)
		}
	}
}

// TestFailoverSelftestFailsWithoutMesh: without the gossip mesh a zone
// whose gateway is down gets no new alert, and the selftest says so.
func TestFailoverSelftestFailsWithoutMesh(t *testing.T) {
	checks, err := RunFailoverSelftest(context.Background(), SelftestConfig{Poles: 4, NoGossip: true, Within: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.Expect == "a new alert reaches every pole of the zone over the mesh" {
			if c.Pass {
				t.Error("the alert reached a zone without its gateway and without a mesh")
			}
			return
		}
	}
	t.Error("the gateway-offline check did not run")
}
