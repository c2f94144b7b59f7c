package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// answers is a scripted terminal: each label asked is answered by the
// function for it, given what the command printed so far.
type answers map[string]func(stdout string) string

func runWith(t *testing.T, a answers, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	e.prompt = func(label string, _ bool) (string, error) {
		f, ok := a[label]
		if !ok {
			return "", fmt.Errorf("unexpected question %q", label)
		}
		return f(stdout.String()), nil
	}
	e.getenv = func(string) string { return "" }
	err := execute(context.Background(), newRootCmd(e), e, args)
	return runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func codeAt(t *testing.T, out string, at time.Time) string {
	t.Helper()
	m := secretRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("no TOTP secret in %q", out)
	}
	c, err := totp.GenerateCodeCustom(m[len(m)-1][1], at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var recoveryRE = regexp.MustCompile(`(?m)^  ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})$`)

const (
	adaGwPW  = "slate river under the old mill"
	ollyGwPW = "seven lanterns along the harbour"
)

// TestGatewayOperators: at a stopped gateway, the technician makes its
// administrator and the administrator an operator, each setting a
// password and TOTP at the console; with the gateway running, the
// operator sends an Advisory and cancels it with `alert --gateway`, and a
// Warning's flags are refused there.
func TestGatewayOperators(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	now := time.Now()
	if _, err := trust.InitDir(pki, "testville", now.Add(-time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.IssueInDir(pki, trust.Identity{Role: trust.RoleGateway, ID: "gw-z1", Zone: "z1"}, now.Add(-time.Hour), nil, nil); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(config, []byte(`data_dir: data
pki: {dir: pki, gateway_id: gw-z1}
mqtt: {listen: "127.0.0.1:0"}
server: {brokers: ["tls://127.0.0.1:1"]}
http: {listen: ""}
operators: {listen: "127.0.0.1:0"}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	pw := func(p string) func(string) string { return func(string) string { return p } }
	r := runWith(t, answers{"new password for ada": pw(adaGwPW), "new password again": pw(adaGwPW),
		"TOTP code": func(out string) string { return codeAt(t, out, time.Now()) }},
		"gateway", "operator", "init", "--config", config, "--id", "ada", "--name", "Ada").ok(t)
	adaRecovery := recoveryRE.FindAllStringSubmatch(r.stdout, -1)
	if len(adaRecovery) < 2 || !strings.Contains(r.stdout, "otpauth://totp/") {
		t.Fatalf("init said %q", r.stdout)
	}
	runWith(t, nil, "gateway", "operator", "init", "--config", config, "--id", "eve").fails(t, "has accounts already")

	// ada logs in with a recovery code (her TOTP code of this step is
	// spent), then olly sets up at the console.
	asked := 0
	r = runWith(t, answers{"password for ada": pw(adaGwPW), "new password for olly": pw(ollyGwPW), "new password again": pw(ollyGwPW),
		"TOTP code": func(out string) string {
			asked++
			if asked == 1 {
				return adaRecovery[0][1]
			}
			return codeAt(t, out, time.Now())
		}}, "gateway", "operator", "add", "--config", config, "--as", "ada", "--id", "olly").ok(t)
	if !strings.Contains(r.stdout, "olly is an operator of this gateway's zone") || !strings.Contains(r.stdout, "setup of olly finished") {
		t.Errorf("add said %q", r.stdout)
	}
	ollyRecovery := recoveryRE.FindAllStringSubmatch(r.stdout, -1)
	ollySecretOut := r.stdout
	r = runWith(t, answers{"password for ada": pw(adaGwPW), "TOTP code": func(string) string { return adaRecovery[1][1] }},
		"gateway", "operator", "list", "--config", config, "--as", "ada").ok(t)
	if !regexp.MustCompile(`(?m)^olly\s+olly\s+zone_operator\s+active$`).MatchString(r.stdout) {
		t.Errorf("list said %q", r.stdout)
	}

	// The gateway running: olly's Advisory and its cancel.
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		g.Close()
	}()
	runWith(t, nil, "gateway", "operator", "list", "--config", config, "--as", "ada").fails(t, "is the gateway running")
	root := filepath.Join(pki, trust.RootCertFile)
	gw := []string{"alert", "--gateway", g.OperatorURL(), "--ca", root, "--user", "olly"}
	r = runWith(t, answers{"password for olly": pw(ollyGwPW), "TOTP code": func(string) string { return codeAt(t, ollySecretOut, time.Now().Add(30*time.Second)) }},
		append(gw, "send", "--text", "en=Road closed: Main St", "--expires", "2h", "--severity", "Moderate", "--category", "Transport")...).ok(t)
	m := regexp.MustCompile(`advisory ([0-9a-f]{64}) issued by the gateway for its zone`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("send said %q", r.stdout)
	}
	id, _ := record.ParseID(m[1])
	if ok, err := g.Store().Has(id); err != nil || !ok {
		t.Errorf("the advisory is not in the gateway's store: %v", err)
	}
	runWith(t, answers{"password for olly": pw(ollyGwPW), "TOTP code": func(string) string { return ollyRecovery[0][1] }},
		append(gw, "cancel", m[1], "--reason", "road open")...).ok(t)
	if sup, _ := g.Store().Superseded(id); !sup {
		t.Error("the advisory was not cancelled")
	}
	// Wrong credentials, and flags for the desk.
	runWith(t, answers{"password for olly": pw("not it at all, sorry"), "TOTP code": func(string) string { return ollyRecovery[1][1] }},
		append(gw, "send", "--text", "en=Nope")...).fails(t, "refused (401)")
	runWith(t, nil, append(gw, "send", "--scope", "city", "--text", "en=Nope")...).fails(t, "a gateway's Advisory is for its own zone")
	runWith(t, nil, "alert", "--gateway", g.OperatorURL(), "--user", "olly", "send", "--text", "en=Nope").fails(t, "--ca FILE is required")
}

// TestGatewayCheckConfigWebCert: --check-config passes a gateway with its
// PKI, and names a web certificate whose file is missing.
func TestGatewayCheckConfigWebCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, err := trust.InitDir(filepath.Join(dir, "pki"), "testville", now.Add(-time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.IssueInDir(filepath.Join(dir, "pki"), trust.Identity{Role: trust.RoleGateway, ID: "gw-z1", Zone: "z1"}, now.Add(-time.Hour), nil, nil); err != nil {
		t.Fatal(err)
	}
	base := `data_dir: data
pki: {dir: pki, gateway_id: gw-z1}
mqtt: {listen: "127.0.0.1:0"}
server: {brokers: ["tls://127.0.0.1:1"]}
http: {listen: ""}
`
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(base+"operators: {listen: \"127.0.0.1:0\", web_cert: web.pem, web_key: web.key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runWith(t, nil, "gateway", "--check-config", "--config", good).ok(t)
	runWith(t, nil, "gateway", "--check-config", "--config", bad).fails(t, "web_cert")
}
