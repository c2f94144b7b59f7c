package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// TestGatewayPowerCut: a `cityarray gateway` process is killed with
// SIGKILL four times while a pole floods it with acks, and started again
// each time on the same files; every ack the pole made reaches the
// control server in the end, and the gateway always starts again (its
// store never corrupt). The pole keeps each ack until the gateway has
// stored it, the gateway each until the server has: a power cut at any
// instant loses nothing.
func TestGatewayPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills gateway processes; skipped with testing.Short")
	}
	dir := t.TempDir()
	ctx := context.Background()
	l, err := city.StartLocalServer(ctx, city.LocalServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().Add(-time.Minute)
	for _, id := range []trust.Identity{{Role: trust.RoleGateway, ID: "gw-z1", Zone: "z1"}, {Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}} {
		if _, err := l.PKI.Issue(id, now, nil); err != nil {
			t.Fatal(err)
		}
	}
	pki := filepath.Join(dir, "pki")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gwAddr := ln.Addr().String()
	ln.Close()
	config := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`data_dir: gw-data
pki: {dir: %s, gateway_id: gw-z1}
mqtt: {listen: "%s"}
server: {brokers: ["tls://%s"]}
http: {listen: ""}
`, pki, gwAddr, l.MQTTAddr())), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(os.Args[0], "gateway", "--config", config, "--log-level", "warn")
		cmd.Env = append(os.Environ(), beMain+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.Contains(line, "poles connect to") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the gateway did not start: %q, %v", line, err)
		}
		return cmd
	}

	// The pole: a mesh node whose MQTT link goes to the gateway.
	st, err := mesh.OpenStation(mesh.StationConfig{Role: trust.RoleDevice, ID: "pole-1", DataDir: filepath.Join(dir, "pole"),
		PKI: trust.NodeFiles{RootCert: filepath.Join(pki, trust.RootCertFile), Cert: filepath.Join(pki, "pole-1.pem"), Key: filepath.Join(pki, "pole-1.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Store.Close()
	link, err := mqttlink.New(mqttlink.Config{Node: st.Node, Brokers: []string{"tls://" + gwAddr}, Certificate: st.Files.TLS, Verifier: st.Verifier,
		BrokerRoles: []trust.Role{trust.RoleGateway}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, ReceiptTimeout: 2 * time.Second,
		ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	st.Node.AddLink(link)
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go st.Node.Run(nctx)

	rng := rand.New(rand.NewPCG(7, 11)) // when each cut comes: the same every run
	var acks []record.ID
	seq := uint64(time.Now().UnixMilli())
	for round := range 4 {
		gw := start()
		waitUntil(t, 30*time.Second, "the pole on the gateway", link.Connected)
		// The power cut comes after a seeded number of the round's acks,
		// while the rest are on their way: at a different instant of the
		// gateway's work each round, the same each run.
		cutAfter := rng.IntN(25)
		for i := range 25 {
			if i == cutAfter {
				if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			seq++
			r, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"),
				Issued: time.Now().UTC().Truncate(time.Millisecond), Expires: time.Now().Add(time.Hour), Origin: "pole-1", Seq: seq,
				Body: &record.Ack{Record: record.IDOf([]byte(fmt.Sprint(seq))), Device: "pole-1", State: record.AckDisplayed, At: record.MillisOf(time.Now())}},
				st.ChainSigner)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Node.Publish(ctx, r); err != nil {
				t.Fatal(err)
			}
			acks = append(acks, r.ID())
		}
		gw.Wait()
		t.Logf("round %d: killed the gateway with %d acks made", round+1, len(acks))
	}
	gw := start()
	defer func() {
		gw.Process.Signal(syscall.SIGTERM)
		gw.Wait()
	}()
	waitUntil(t, 60*time.Second, fmt.Sprintf("all %d acks at the server", len(acks)), func() bool {
		for _, id := range acks {
			if ok, err := l.Store().Has(id); err != nil || !ok {
				return false
			}
		}
		return true
	})
}

// waitUntil looks at cond every 20 ms until it holds, failing the test
// after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
