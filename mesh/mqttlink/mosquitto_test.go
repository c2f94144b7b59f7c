package mqttlink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/record"
)

// mosquittoBin finds the broker; Debian puts it in /usr/sbin, which a
// user's PATH may lack.
func mosquittoBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	t.Skip("mosquitto not installed (INTEG: .ci/run installs it)")
	return ""
}

func writePEM(t *testing.T, path string, blocks ...*pem.Block) {
	t.Helper()
	var b bytes.Buffer
	for _, blk := range blocks {
		if err := pem.Encode(&b, blk); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyBlock(t *testing.T, k ed25519.PrivateKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMosquitto runs the links against a real Mosquitto on TLS with the
// city's Ed25519 certificates: the broker's certificate is a server leaf
// issued by the city CA, clients must present city certificates. The
// server publishes through its client link, a pole receives the record
// into its store, the pole's ack comes back with a receipt from the
// server's link, and mosquitto_sub with the pole's certificate reads the
// topic tree.
func TestMosquitto(t *testing.T) {
	bin := mosquittoBin(t)
	for _, v := range []string{"tlsv1.3", "tlsv1.2"} {
		t.Run(v, func(t *testing.T) { testMosquitto(t, bin, v) })
	}
}

func testMosquitto(t *testing.T, bin, tlsVersion string) {
	pki := mqtttest.NewPKI(t, "testville")
	dir := t.TempDir()
	brokerLeaf := pki.Server(t, "broker-1")
	writePEM(t, filepath.Join(dir, "ca.pem"), certBlock(pki.Root.Cert), certBlock(pki.CA.Cert))
	writePEM(t, filepath.Join(dir, "broker.pem"), certBlock(brokerLeaf.Cert), certBlock(pki.CA.Cert))
	writePEM(t, filepath.Join(dir, "broker.key"), keyBlock(t, brokerLeaf.Key))

	// A free port: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// Run as root, mosquitto drops to the user "mosquitto", who cannot
	// read the test's files: keep it as whoever runs the test.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`per_listener_settings false
user %[3]s
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
listener %[1]d 127.0.0.1
cafile %[2]s/ca.pem
certfile %[2]s/broker.pem
keyfile %[2]s/broker.key
require_certificate true
use_identity_as_username true
# Without it Nagle's algorithm and delayed ACKs add ~40 ms per record.
set_tcp_nodelay true
tls_version %[4]s
`, port, dir, me.Username, tlsVersion)
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", out.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	mqtttest.Eventually(t, wait, "mosquitto to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %v\n%s", exitErr, out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	url := "tls://" + addr

	server := mqtttest.StartNode(t, pki, dir, pki.Server(t, "server-1"))
	pole := mqtttest.StartNode(t, pki, dir, pki.Device(t, "pole-1", "z1"))
	sl := startLink(t, server, url)
	pl := startLink(t, pole, url)
	mqtttest.Eventually(t, wait, "both links on mosquitto", func() bool { return sl.Connected() && pl.Connected() })
	if id, _ := pl.Broker(); id.ID != "broker-1" {
		t.Errorf("the pole sees broker %v, want broker-1", id)
	}

	w := mqtttest.Warning(t, server.Leaf, 1, record.ZoneScope("z1"), "Through Mosquitto")
	start := time.Now()
	server.MustPublish(t, w)
	mqtttest.Eventually(t, wait, "the warning at the pole", func() bool { return pole.Has(w.ID()) })
	t.Logf("server → mosquitto → pole store: %v", time.Since(start))

	ack := mqtttest.Ack(t, pole.Leaf, 1, w.ID())
	pole.MustPublish(t, ack)
	mqtttest.Eventually(t, wait, "the ack at the server and its receipt at the pole", func() bool {
		return server.Has(ack.ID()) && pole.OutboxLen() == 0
	})

	// mosquitto_sub with the pole's certificate. The certificates carry no
	// DNS names, so its host name check is turned off (--insecure); the
	// chain is still checked against ca.pem.
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("mosquitto_sub not installed (INTEG: .ci/run installs mosquitto-clients)")
	}
	writePEM(t, filepath.Join(dir, "pole.pem"), certBlock(pole.Leaf.Cert), certBlock(pki.CA.Cert))
	writePEM(t, filepath.Join(dir, "pole.key"), keyBlock(t, pole.Leaf.Key))
	sctx, scancel := context.WithTimeout(context.Background(), wait)
	defer scancel()
	sc := exec.CommandContext(sctx, sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-V", "mqttv311",
		"--cafile", filepath.Join(dir, "ca.pem"), "--cert", filepath.Join(dir, "pole.pem"), "--key", filepath.Join(dir, "pole.key"),
		"--insecure", "-t", "cityarray/#", "-C", "1", "-F", "TOPIC %t %l")
	var sout, serr lockedBuffer
	sc.Stdout, sc.Stderr = &sout, &serr
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sc.Wait() }()
	// Its output is buffered until it exits, so there is no telling when
	// it has subscribed: publish a fresh broadcast until it has one.
	var subErr error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for seq := uint64(2); ; seq++ {
		server.MustPublish(t, mqtttest.Warning(t, server.Leaf, seq, record.City, "Read by mosquitto_sub"))
		select {
		case subErr = <-subDone:
		case <-tick.C:
			continue
		}
		break
	}
	if subErr != nil {
		t.Fatalf("mosquitto_sub: %v\n%s", subErr, serr.String())
	}
	got := strings.TrimSpace(sout.String())
	if !strings.HasPrefix(got, "TOPIC "+mqttlink.TopicBroadcast+" ") {
		t.Errorf("mosquitto_sub printed %q, want the broadcast record", got)
	}
	t.Logf("mosquitto_sub: %s", got)
}
