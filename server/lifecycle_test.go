package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
)

// TestLifecycle: Run serves until its context ends, then stops every
// component within a few seconds, frees its ports and leaks no goroutine;
// the data survives a restart.
func TestLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := &fakeClock{now: time.Now().Truncate(time.Second)}
	cfg := testConfig(t, newTestPKI(t), clk)
	srv, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready before Run = %v, want ErrNotReady", err)
	}
	ts := runServer(t, srv, clk)
	if err := ts.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	_, admin := ts.bootstrapAdmin(t)
	ts.do(t, admin, "GET", "/api/v1/me", nil).want(t, 200)
	pole, err := trust.IssueInDir(cfg.PKI.Dir, trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, clk.Now(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Fleet().Register(pole.Cert); err != nil {
		t.Fatal(err)
	}
	httpAddr, mqttAddr := ts.HTTPAddr().String(), ts.MQTTAddr().String()

	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if err := ts.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready after Run = %v, want ErrNotReady", err)
	}
	for _, a := range []string{httpAddr, mqttAddr} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still bound: %v", a, err)
			continue
		}
		ln.Close()
	}

	// Restart on the same data directory: the admin is still there, and
	// the audit log carries on.
	size := ts.Audit().Size()
	srv2, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts2 := runServer(t, srv2, clk)
	if got := ts2.Audit().Size(); got != size {
		t.Errorf("audit log has %d entries after restart, had %d", got, size)
	}
	if _, err := ts2.Auth().Bootstrap("again", "Again", loopback); !errors.Is(err, auth.ErrAlreadyInitialised) {
		t.Errorf("Bootstrap after restart = %v", err)
	}
	// The verifier knows the registered pole's certificate again, so its
	// records that name it by kid alone verify before it resends its chain.
	if c, ok := ts2.verifier.Certificate(record.Fingerprint(pole.Cert.Raw)); !ok || !c.Equal(pole.Cert) {
		t.Errorf("after restart the verifier does not know registered pole-1's certificate")
	}
	if err := ts2.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestNewFailsCleanly: a port in use fails New, which closes what it had
// opened, so the next New on the same data directory works.
func TestNewFailsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	clk := &fakeClock{now: time.Now()}
	cfg := testConfig(t, newTestPKI(t), clk)
	cfg.HTTP.Listen = busy.Addr().String()
	if _, err := New(cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "http listen") {
		t.Fatalf("New on a busy port = %v", err)
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	srv, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
	// Close without Run releases everything too.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("Run after Close = %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	pki := newTestPKI(t)
	clk := &fakeClock{now: time.Now()}

	// A device certificate is not a server's.
	dev, err := trust.IssueInDir(pki.dir, trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, time.Now(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, pki, clk)
	cfg.PKI.ServerCert, cfg.PKI.ServerKey = dev.CertPath, dev.KeyPath
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "device certificate") {
		t.Errorf("New with a device certificate = %v", err)
	}

	// A certificate of another city does not chain to this root.
	other := newTestPKI(t)
	cfg = testConfig(t, pki, clk)
	cfg.PKI.ServerCert, cfg.PKI.ServerKey = filepath.Join(other.dir, "server-1.pem"), filepath.Join(other.dir, "server-1.key")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "chain") {
		t.Errorf("New with another city's certificate = %v", err)
	}

	// Keys readable by others are refused.
	cfg = testConfig(t, pki, clk)
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	keys := filepath.Join(cfg.DataDir, KeysFile)
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("New with a 0644 keys file = %v", err)
	}
}

// TestInit: the first admin and its code; refused once initialised, and
// while a server runs on the data directory.
func TestInit(t *testing.T) {
	clk := &fakeClock{now: time.Now().Truncate(time.Second)}
	cfg := testConfig(t, newTestPKI(t), clk)
	res, err := Init(cfg, "chief", "Chief Admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminID != "chief" || len(res.SetupCode) < 16 || !strings.HasSuffix(res.SetupURL, "/api/v1/setup/start") {
		t.Errorf("Init = %+v", res)
	}
	if _, err := Init(cfg, "chief2", "", nil); !errors.Is(err, auth.ErrAlreadyInitialised) {
		t.Errorf("second Init = %v", err)
	}
	for _, f := range []string{KeysFile, StateFile} {
		fi, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v", f, err, fi.Mode())
		}
	}
	srv, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := runServer(t, srv, clk)
	if _, err := Init(cfg, "x", "", nil); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Init while running = %v", err)
	}
	// The code works through the API.
	p := ts.setUp(t, "chief", res.SetupCode, auth.RoleAdmin)
	ts.login(t, p)
	// The bootstrap is audited.
	es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 10, ts.Audit().Size())
	if err != nil || len(es) == 0 || es[0].Action != auth.ActionBootstrap {
		t.Errorf("first audit entry %+v, %v", es, err)
	}
}

// TestMQTTDevice: a pole connects to the embedded broker with its city
// certificate and publishes a health record, which the server's node
// verifies and stores.
func TestMQTTDevice(t *testing.T) {
	pki := newTestPKI(t)
	clk := &fakeClock{now: time.Now().Truncate(time.Second)}
	srv, err := New(testConfig(t, pki, clk), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := runServer(t, srv, clk)

	d, err := trust.LoadDir(pki.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := trust.IssueInDir(pki.dir, trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, time.Now(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := record.NewSigner(dev.Key, dev.Cert.Raw, true, d.City.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &mqtttest.Leaf{ID: dev.Identity, Cert: dev.Cert, Key: dev.Key, Signer: signer,
		TLS: tls.Certificate{Certificate: [][]byte{dev.Cert.Raw, d.City.Cert.Raw}, PrivateKey: dev.Key, Leaf: dev.Cert}}
	rec := mqtttest.Health(t, leaf, 1)
	topic, err := mqttlink.TopicFor(rec)
	if err != nil {
		t.Fatal(err)
	}

	conf := mqttlink.ClientTLS(leaf.TLS, ts.Verifier(), nil, []trust.Role{trust.RoleServer}, nil)
	opts := paho.NewClientOptions().AddBroker("tls://" + ts.MQTTAddr().String()).SetClientID("pole-1").
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetTLSConfig(conf).
		SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	eventually(t, 5*time.Second, "the broker to count the client", func() bool {
		return ts.broker.Server().Info.Clone().ClientsConnected == 1
	})
	if tok := c.Publish(topic, 1, false, rec.Raw()); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	eventually(t, 10*time.Second, "the node to store the health record", func() bool {
		ok, err := ts.Store().Has(rec.ID())
		return err == nil && ok
	})
	r := ts.do(t, cred{}, "GET", "/metrics", nil).want(t, 200)
	for _, m := range []string{"cityarray_mesh_records_accepted_total 1", "cityarray_mqtt_clients_connected 1"} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// TestGossip: two servers of one city gossip; a record one publishes
// reaches the other.
func TestGossip(t *testing.T) {
	pki := newTestPKI(t)
	if _, err := trust.IssueInDir(pki.dir, trust.Identity{Role: trust.RoleServer, ID: "server-2"}, time.Now(), nil, nil); err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(keyring, []byte("# test key\n"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(id string, peers ...string) *testServer {
		clk := &fakeClock{now: time.Now().Truncate(time.Second)}
		p := pki
		p.server = id
		cfg := testConfig(t, p, clk)
		cfg.Gossip = GossipConfig{Enabled: true, Bind: "127.0.0.1:0", Peers: peers, KeyringFile: keyring}
		ml := memberlist.DefaultLocalConfig()
		cfg.Hooks.Memberlist = ml
		srv, err := New(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return runServer(t, srv, clk)
	}
	a := start("server-1")
	if a.GossipAddr() == "" {
		t.Fatal("no gossip address")
	}
	b := start("server-2", a.GossipAddr())
	eventually(t, 10*time.Second, "two members", func() bool {
		return a.Gossip().Memberlist().NumMembers() == 2 && b.Gossip().Memberlist().NumMembers() == 2
	})
	signer, _, err := trust.LoadSigner(filepath.Join(pki.dir, "server-1.pem"), filepath.Join(pki.dir, "server-1.key"), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	rec, err := record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.City,
		Seq: 1, Issued: now, Expires: now.Add(time.Hour), Origin: "server-1",
		Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "test"}}, Severity: "Minor",
			Urgency: "Future", Certainty: "Possible", Category: "Safety"}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Node().Publish(ctx, rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the record at server-2", func() bool { return b.Node().Known(rec.ID()) })
}
