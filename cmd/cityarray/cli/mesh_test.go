package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/mesh/record"
)

// TestMeshStatus: the table and the JSON of two gateways' zones, --zone
// keeping one, and a clear failure when no gateway answers.
func TestMeshStatus(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	alert := record.IDOf([]byte("alert"))
	no := false
	zones := map[string]gateway.ZoneHealth{
		"z1": {Zone: "z1", Gateway: "gw-1", At: now, Server: true, Counts: map[string]int{"healthy": 1, "late": 0, "silent": 1}, Wrong: 1,
			Nodes: []gateway.NodeHealth{
				{ID: "pole-1", Role: "device", State: "healthy", LastHeard: now.Add(-20 * time.Second), Rung: "ethernet", Displayed: alert, Expected: alert, ShowsExpected: true, CPUTempC: 48.5},
				{ID: "pole-2", Role: "device", State: "silent", LastHeard: now.Add(-10 * time.Minute), Rung: "mesh", Expected: alert, ShowsExpected: false, CacheAgrees: &no},
			}},
		"z2": {Zone: "z2", Gateway: "gw-2", At: now, Counts: map[string]int{"healthy": 0, "late": 0, "silent": 0}},
	}
	serve := func(z string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/zone/health" {
				http.NotFound(w, r)
				return
			}
			json.NewEncoder(w).Encode(zones[z])
		}))
		t.Cleanup(s.Close)
		return s
	}
	g1, g2 := serve("z1"), serve("z2")
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		e := newEnv(&out, &errb)
		err := execute(context.Background(), newRootCmd(e), e, append([]string{"mesh", "status"}, args...))
		return out.String() + errb.String(), err
	}
	out, err := run("--gateway", g1.URL, "--gateway", g2.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"zone z1 (gateway gw-1, server link up): 1 healthy, 0 late, 1 silent, 1 showing the wrong thing",
		"zone z2 (gateway gw-2, server link DOWN)",
		"pole-1  device  healthy  20s ago",
		"pole-2  device  SILENT   10m0s ago",
		"clock (WRONG)",
		"DIFFERS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = run("--gateway", g1.URL, "--gateway", g2.URL, "--zone", "z2", "--json")
	var got []gateway.ZoneHealth
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != 1 || got[0].Zone != "z2" {
		t.Errorf("--zone z2 --json: %v %s", err, out)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := run("--gateway", dead.URL); err == nil || !strings.Contains(err.Error(), "no gateway answered") {
		t.Errorf("no gateway: %v", err)
	}
}
