package edge

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
	cfg, err := LoadConfig(filepath.Join("..", "docs", "edge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("docs/edge.yaml does not validate:\n%s", strings.Join(yamlconf.Lines(err), "\n"))
	}
	if cfg.PKI.Cert != "/etc/cityarray/pki/pole-0042.pem" || cfg.Languages.For("z1")[2] != "zh-Hans" || cfg.Languages.For("z9")[0] != "en" {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestConfigProblems(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "data_dir: /x\ndisplay:\n  brightnes: 3\n", []string{`:3: unknown field "brightnes"`}},
		{"nothing set", "data_dir: ''\n", []string{
			"data_dir: required", "pki.root_cert: required", "pki.cert: required", "pki.key: required",
			"uplink.gateways: the pole has no link at all"}},
		{"bad values", `pki: {dir: /p, device_id: pole-1}
uplink: {gateways: ["mqtt://gw:1883", "tls://:8883"]}
languages: {default: [english], zones: {z1: []}, dwell: 100ms}
display: {backend: lcd, scroll_speed: 1000, fps: 0}
audio: {player: pulse, volume: 101}
info: {time_zone: Mars/Olympus}
health_every: 1s
`, []string{
			`:2: uplink.gateways[0]: "mqtt://gw:1883": want tls://host:port`,
			`:2: uplink.gateways[1]: "tls://:8883": no host`,
			`:3: languages.default[0]: language "english" is not a BCP 47 tag`,
			`:3: languages.zones.z1: required: at least one language`,
			`:3: languages.dwell: 100ms: at least 1s`,
			`:4: display: backend "lcd" is not one of`,
			`:4: display.scroll_speed: 1000 px/s`,
			`:4: display.fps: 0: want 1 to 120`,
			`:5: audio.player: "pulse"`,
			`:5: audio.volume: 101`,
			`:6: info.time_zone: "Mars/Olympus"`,
			`:7: health_every: 1s: want 5s to 1h`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err == nil {
				err = cfg.Validate()
			}
			if !errors.Is(err, yamlconf.ErrConfig) {
				t.Fatalf("got %v, want a configuration error", err)
			}
			got := strings.Join(yamlconf.Lines(err), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("no problem %q in:\n%s", w, got)
				}
			}
			if n := len(yamlconf.Lines(err)); n != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", n, len(tc.want), got)
			}
		})
	}
}

// FuzzConfig: any file decodes and validates or fails with a configuration
// error, never a panic.
func FuzzConfig(f *testing.F) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "edge.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte("languages: {zones: {z1: [en, 'zh-Hans']}}\ndisplay: {fps: -1}\n"))
	f.Add([]byte("uplink: {gateways: ['tls://[::1]:1', 'tls://a:99999']}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg := DefaultConfig()
		var src yamlconf.Sources
		if err := yamlconf.Decode("f.yaml", doc, &cfg, &src); err != nil {
			if !errors.Is(err, yamlconf.ErrConfig) {
				t.Fatalf("Decode = %v", err)
			}
			return
		}
		cfg.sources = src
		if err := cfg.Validate(); err != nil && !errors.Is(err, yamlconf.ErrConfig) {
			t.Fatalf("Validate = %v", err)
		}
	})
}
