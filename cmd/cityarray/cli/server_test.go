package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// serverSetup makes a city PKI and a server certificate with `keys`, and
// a configuration file on loopback ports, and returns the file's path.
func serverSetup(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	for _, args := range [][]string{
		{"keys", "init", "--dir", pki, "--city", "testville"},
		{"keys", "issue", "--dir", pki, "--role", "server", "--id", "server-1"},
	} {
		if r := runArgs(t, args...); r.err != nil {
			t.Fatalf("%v: %v", args, r.err)
		}
	}
	conf := filepath.Join(dir, "server.yaml")
	body := "data_dir: data\npki:\n  dir: pki\n  server_id: server-1\nhttp:\n  listen: 127.0.0.1:0\n" +
		"  tls:\n    self_signed_hosts: [localhost, 127.0.0.1]\nmqtt:\n  listen: 127.0.0.1:0\n" + extra
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

func exitCodeOf(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

func TestServerCheckConfig(t *testing.T) {
	conf := serverSetup(t, "")
	r := runArgs(t, "server", "--config", conf, "--check-config")
	if r.err != nil || !strings.Contains(r.stdout, "configuration ok: "+conf) {
		t.Fatalf("good config: %v, %q", r.err, r.stdout)
	}
	// A flag overrides the file, and a problem names it.
	r = runArgs(t, "server", "--config", conf, "--http-listen", "nowhere", "--check-config")
	if exitCodeOf(r.err) != 1 || !strings.Contains(r.err.Error(), `--http-listen: http.listen: "nowhere" is not host:port`) {
		t.Errorf("bad flag: %v", r.err)
	}
	bad := filepath.Join(filepath.Dir(conf), "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_dir: d\nhttp:\n  listen: 0.0.0.0:80\n  insecure_http_loopback: true\n  bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runArgs(t, "server", "--config", bad, "--check-config")
	if exitCodeOf(r.err) != 1 || !strings.Contains(r.err.Error(), bad+`:5: unknown field "bogus"`) {
		t.Errorf("bad file: %v", r.err)
	}
	if err := os.WriteFile(bad, []byte("data_dir: d\nhttp:\n  listen: 0.0.0.0:80\n  insecure_http_loopback: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runArgs(t, "server", "--config", bad, "--check-config")
	msg := ""
	if r.err != nil {
		msg = r.err.Error()
	}
	for _, want := range []string{bad + ":4: http.insecure_http_loopback: plain HTTP is allowed only on a loopback address", "pki.root_cert: required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems %q lack %q", msg, want)
		}
	}
	// The files are checked too: a missing PKI is a problem.
	if err := os.RemoveAll(filepath.Join(filepath.Dir(conf), "pki")); err != nil {
		t.Fatal(err)
	}
	r = runArgs(t, "server", "--config", conf, "--check-config")
	if exitCodeOf(r.err) != 1 || !strings.Contains(r.err.Error(), "pki.root_cert") {
		t.Errorf("missing PKI: %v", r.err)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServerInitAndRun: init prints the one-time setup code and refuses a
// second time; the daemon serves until its context ends (main cancels it
// on SIGINT and SIGTERM) and leaves no goroutine behind.
func TestServerInitAndRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	conf := serverSetup(t, "")
	r := runArgs(t, "server", "init", "--config", conf, "--admin", "chief")
	if r.err != nil {
		t.Fatalf("init: %v", r.err)
	}
	if !regexp.MustCompile(`setup code \(shown once, valid until [^)]+\): [A-Z2-7]{4}(-[A-Z2-7]{4})+\n`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "first admin: chief") || !strings.Contains(r.stdout, "/api/v1/setup/start") {
		t.Errorf("init output:\n%s", r.stdout)
	}
	r = runArgs(t, "server", "init", "--config", conf)
	if exitCodeOf(r.err) != 1 || !strings.Contains(r.err.Error(), "initialised already") {
		t.Errorf("second init: %v", r.err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--log-level", "warn", "server", "--config", conf}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`API (https://127\.0\.0\.1:\d+)`)
	var base string
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for base == "" {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, stderr.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	certPEM, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "data", "web-selfsigned.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var status int
	for range 500 {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if status = resp.StatusCode; status == 200 {
				break
			}
		}
		<-tick.C
	}
	if status != 200 {
		t.Fatalf("readyz %d", status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10 s of cancel")
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", stderr.String())
	}
}
