package server

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// badConfigs are the expected problems of each testdata/*.bad.yaml, in
// the order validate reports them.
var badConfigs = map[string][]string{
	"bad-values.bad.yaml": {
		`testdata/bad-values.bad.yaml:4: pki.server_id: id "server 1": character ' ' at 6 is not allowed`,
		`testdata/bad-values.bad.yaml:5: pki.passphrase_env: set passphrase_env or passphrase_file, not both`,
		`testdata/bad-values.bad.yaml:5: pki.passphrase_env: "my passphrase" is not an environment variable name (the passphrase itself never goes in the file)`,
		`testdata/bad-values.bad.yaml:8: http.listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`,
		`testdata/bad-values.bad.yaml:12: http.tls: set both cert_file and key_file, or neither (to use a self-signed certificate)`,
		`testdata/bad-values.bad.yaml:13: http.tls.self_signed_hosts[1]: "bad_host!" is neither a DNS name nor an IP address`,
		`testdata/bad-values.bad.yaml:9: http.public_url: "ops.example.org" is not an origin like https://ops.example.org`,
		`testdata/bad-values.bad.yaml:10: http.max_body_bytes: 10: want 1 KiB to 16 MiB`,
		`testdata/bad-values.bad.yaml:15: mqtt.listen: "8883" is not host:port`,
		`testdata/bad-values.bad.yaml:16: mqtt.message_expiry: 24h0m0s: at least 48h, the time an edge caches alerts`,
		`testdata/bad-values.bad.yaml:19: gossip.peers[0]: "10.0.0.2" is not host:port`,
		`testdata/bad-values.bad.yaml:18: gossip.keyring_file: required: the gossip encryption keys (base64, one per line)`,
		`testdata/bad-values.bad.yaml:34: runtime.gc_percent: -1 turns the collector off: set runtime.memory_limit_mib too, or the heap grows without bound`,
		`testdata/bad-values.bad.yaml:22: auth.session_max: 1h0m0s is shorter than session_idle 2h0m0s`,
		`testdata/bad-values.bad.yaml:23: auth.lockout.threshold: 0: want at least 1`,
		`testdata/bad-values.bad.yaml:23: auth.lockout.max: 30s is shorter than base 1m0s`,
		`testdata/bad-values.bad.yaml:24: auth.trusted_origins[0]: "ops.example.org" is not an origin like https://ops.example.org`,
		`testdata/bad-values.bad.yaml:27: auth.ip_allow.admin[0]: "10.0.0.0/33" is not a CIDR prefix such as 10.0.0.0/8`,
		`testdata/bad-values.bad.yaml:27: auth.ip_allow.admin[2]: "not-an-ip" is neither an address nor a CIDR prefix`,
		`testdata/bad-values.bad.yaml:26: auth.ip_allow.root: unknown role "root" (roles: admin, supervisor, officer, zone_operator, technician, auditor, viewer, integration)`,
		`testdata/bad-values.bad.yaml:29: auth.rate_limits.login_per_ip: every 1s, burst 0: set both positive, or both zero for no limit`,
		`testdata/bad-values.bad.yaml:30: auth.rate_limits.max_keys: 0: want at least 1`,
		`testdata/bad-values.bad.yaml:32: audit.key_name: "audit key": no spaces or '+'`,
	},
	"insecure-any.bad.yaml": {
		`testdata/insecure-any.bad.yaml:5: http.insecure_http_loopback: plain HTTP is allowed only on a loopback address (127.0.0.1, ::1, localhost), not ":8080": on any other address passwords and session cookies would cross the network in clear; use TLS`,
	},
	"insecure-public.bad.yaml": {
		`testdata/insecure-public.bad.yaml:6: http.insecure_http_loopback: plain HTTP is allowed only on a loopback address (127.0.0.1, ::1, localhost), not "0.0.0.0:8080": on any other address passwords and session cookies would cross the network in clear; use TLS`,
		`testdata/insecure-public.bad.yaml:8: http.tls: cert_file and key_file make no sense with insecure_http_loopback`,
	},
	"missing-pki.bad.yaml": {
		`pki.root_cert: required: the city root certificate (or pki.dir)`,
		`pki.city_cert: required: the city CA certificate (or pki.dir)`,
		`pki.server_cert: required: the server's certificate (or pki.dir and pki.server_id)`,
		`pki.server_key: required: the server's key (or pki.dir and pki.server_id)`,
	},
	"city-key.bad.yaml": {
		`testdata/city-key.bad.yaml:7: pki.city_passphrase_env: set city_passphrase_env or city_passphrase_file, not both`,
		`testdata/city-key.bad.yaml:7: pki.city_passphrase_env: "the city passphrase" is not an environment variable name (the passphrase itself never goes in the file)`,
		`testdata/city-key.bad.yaml:3: pki.city_key: a city passphrase is set but no city_key (or pki.dir) names the key`,
	},
	"syntax.bad.yaml":   {`testdata/syntax.bad.yaml:3: did not find expected key`},
	"two-docs.bad.yaml": {`testdata/two-docs.bad.yaml:3: a second YAML document; the file must hold one`},
	"unknown-field.bad.yaml": {
		`testdata/unknown-field.bad.yaml:5: unknown field "listn"`,
		`testdata/unknown-field.bad.yaml:7: unknown field "self_signed"`,
	},
	"wrong-type.bad.yaml": {
		`testdata/wrong-type.bad.yaml:4: http.max_body_bytes: want an integer, not "lots"`,
		`testdata/wrong-type.bad.yaml:6: auth.session_idle: want a duration such as 30s or 12h, not "forever"`,
		`testdata/wrong-type.bad.yaml:8: auth.lockout.threshold: want an integer, not a list`,
	},
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range badConfigs {
		if !slices.Contains(names, name) {
			t.Errorf("badConfigs has %s, testdata has no such file", name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, ok := badConfigs[name]
			if !ok {
				t.Fatalf("testdata/%s has no entry in badConfigs", name)
			}
			cfg, err := LoadConfig(filepath.Join("testdata", name))
			if err == nil {
				err = cfg.Validate()
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want a configuration error", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("no *ConfigError in %v", err)
			}
			if diff := cmp.Diff(want, Problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigPrecedence: defaults < file < flags, and a problem names where
// its value came from.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(file, []byte("data_dir: state\npki: {dir: /etc/pki, server_id: server-1}\nhttp:\n  listen: 127.0.0.1:9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if cfg.MQTT.Listen != def.MQTT.Listen || cfg.HTTP.Listen != "127.0.0.1:9443" {
		t.Errorf("mqtt %q (want the default), http %q (want the file's)", cfg.MQTT.Listen, cfg.HTTP.Listen)
	}
	// Relative paths are from the file's directory; pki.dir fills the rest.
	if cfg.DataDir != filepath.Join(dir, "state") || cfg.PKI.ServerKey != "/etc/pki/server-1.key" ||
		cfg.Audit.Dir != filepath.Join(dir, "state", "audit") {
		t.Errorf("paths: data %q, key %q, audit %q", cfg.DataDir, cfg.PKI.ServerKey, cfg.Audit.Dir)
	}
	// A flag overrides the file and is named in its problems.
	cfg.HTTP.Listen = "nonsense"
	cfg.SetSource("http.listen", "--http-listen")
	cfg.MQTT.MessageExpiry = time.Hour
	want := []string{
		`--http-listen: http.listen: "nonsense" is not host:port`,
		`mqtt.message_expiry: 1h0m0s: at least 48h, the time an edge caches alerts`,
	}
	if diff := cmp.Diff(want, Problems(cfg.Validate())); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDefaultConfigNeedsOnlyPKI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PKI.Dir, cfg.PKI.ServerID = "/etc/cityarray/pki", "server-1"
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults with a PKI: %v", err)
	}
	for _, listen := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080"} {
		cfg.HTTP.Listen, cfg.HTTP.InsecureHTTPLoopback = listen, true
		if err := cfg.Validate(); err != nil {
			t.Errorf("insecure HTTP on %s: %v", listen, err)
		}
	}
	if !strings.HasPrefix(PublicURL(cfg), "http://") {
		t.Errorf("PublicURL %q", PublicURL(cfg))
	}
}

func TestCheckFiles(t *testing.T) {
	pki := newTestPKI(t)
	cfg := testConfig(t, pki, &fakeClock{now: time.Now()})
	if err := CheckFiles(cfg); err != nil {
		t.Errorf("CheckFiles: %v", err)
	}
	cfg.PKI.ServerCert = filepath.Join(pki.dir, "root.pem") // a CA, not a server
	cfg.Gossip.Enabled, cfg.Gossip.KeyringFile = true, filepath.Join(t.TempDir(), "missing")
	got := Problems(CheckFiles(cfg))
	if len(got) != 2 || !strings.Contains(got[0], "pki: ") || !strings.Contains(got[1], "gossip.keyring_file") {
		t.Errorf("problems %q", got)
	}
}
