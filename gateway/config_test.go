package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// TestExampleConfig: the documented example decodes and validates.
func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "docs", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("docs/gateway.yaml does not validate:\n%s", strings.Join(yamlconf.Lines(err), "\n"))
	}
	if cfg.PKI.Cert != "/etc/cityarray/pki/gw-z1-a.pem" || cfg.Server.Brokers[0] != "tls://ops.city.lan:8883" {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestConfigProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	doc := "pki: {dir: /p, gateway_id: gw-1}\nmqtt: {listen: '8883', message_expiry: 1h}\nserver: {brokers: ['mqtt://x:1']}\nhealth_every: 1s\nextra: 1\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if !errors.Is(err, yamlconf.ErrConfig) || !strings.Contains(err.Error(), `bad.yaml:5: unknown field "extra"`) {
		t.Fatalf("LoadConfig = %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(doc, "extra: 1\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(yamlconf.Lines(cfg.Validate()), "\n")
	for _, want := range []string{
		`bad.yaml:2: mqtt.listen: "8883" is not host:port`,
		`bad.yaml:2: mqtt.message_expiry: 1h0m0s: at least 48h0m0s`,
		`bad.yaml:3: server.brokers[0]: "mqtt://x:1": want tls://host:port`,
		`bad.yaml:4: health_every: 1s`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}
