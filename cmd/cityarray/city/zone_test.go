package city

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/edge"
	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/hal/display/displaytest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// zoneTest is a control server, two gateways for zone z1 and a pole that
// knows both gateways, all on loopback with real TLS.
type zoneTest struct {
	l      *LocalServer
	signer record.Signer // the server's
	gws    []*gateway.Gateway
	stops  []func()
	pole   *edge.Pole
}

func startZoneTest(t *testing.T) *zoneTest {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := StartLocalServer(ctx, LocalServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	now := time.Now()
	for _, id := range []trust.Identity{{Role: trust.RoleGateway, ID: "gw-a", Zone: "z1"}, {Role: trust.RoleGateway, ID: "gw-b", Zone: "z1"},
		{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}} {
		if _, err := l.PKI.Issue(id, now.Add(-time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	pkiDir := filepath.Join(dir, "pki")
	z := &zoneTest{l: l}
	if z.signer, err = l.Signer(); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, id := range []string{"gw-a", "gw-b"} {
		cfg := gateway.DefaultConfig()
		cfg.DataDir = filepath.Join(dir, id)
		cfg.PKI.Dir, cfg.PKI.GatewayID = pkiDir, id
		cfg.MQTT.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Server.Brokers = []string{"tls://" + l.MQTTAddr().String()}
		g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.Run(gctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("%s: %v", id, err)
				}
				g.Close()
			})
		}
		t.Cleanup(stop)
		z.gws, z.stops = append(z.gws, g), append(z.stops, stop)
		urls = append(urls, g.BrokerURL())
	}
	cfg := edge.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "pole-1")
	cfg.PKI.Dir, cfg.PKI.DeviceID = pkiDir, "pole-1"
	cfg.Uplink.Gateways = urls
	cfg.Audio.Player, cfg.Audio.Espeak = "none", ""
	p, err := edge.New(cfg, edge.Options{Logger: slog.New(slog.DiscardHandler), Panel: displaytest.New(), Notify: func(string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pole: %v", err)
		}
		p.Close()
	})
	z.pole = p
	return z
}

// publish signs a warning for zone z1 as the server and publishes it
// through the server's node.
func (z *zoneTest) publish(t *testing.T, seq uint64, text string) *record.Record {
	t.Helper()
	now := time.Now()
	r, err := signWarning(z.signer, "server-1", record.ZoneScope("z1"), uint64(now.UnixMilli())+seq, text, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.l.Node().Publish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestPoleFailsOverBetweenGateways: a pole configured with its zone's two
// gateways shows an alert the server publishes through the first and acks
// it to the server; when the first gateway dies it moves to the second,
// where the next alert and its ack go.
func TestPoleFailsOverBetweenGateways(t *testing.T) {
	z := startZoneTest(t)
	waitUntil(t, "both gateways bridged and the pole connected", func() bool {
		return z.gws[0].ServerConnected() && z.gws[1].ServerConnected() && z.pole.Status().Rung == "ethernet"
	})
	first := z.publish(t, 1, "Flood")
	waitUntil(t, "the first alert displayed, acked at the server", func() bool {
		return z.pole.Showing().Record == first.ID() && z.l.HasDisplayedAck(first.ID(), "pole-1")
	})
	z.stops[0]() // gw-a dies
	second := z.publish(t, 2, "Flood, updated")
	start := time.Now()
	waitUntil(t, "the second alert displayed through gw-b, acked at the server", func() bool {
		return z.pole.Showing().Record == second.ID() && z.l.HasDisplayedAck(second.ID(), "pole-1")
	})
	t.Logf("failover to gw-b and delivery took %v", time.Since(start).Round(time.Millisecond))
}
