package gateway

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// Config is a zone gateway's configuration: the YAML file `cityarray
// gateway --config FILE` reads. Start from DefaultConfig; LoadConfig
// overlays a file; Validate checks the result. Relative paths are taken
// from the file's directory. docs/gateway.yaml is a documented example.
type Config struct {
	// DataDir holds what the gateway writes: the record store (the zone
	// cache and the outbox to the server), the verifier's state, the gossip
	// peers.
	DataDir string `yaml:"data_dir"`
	// PKI names the gateway's certificate and the city's.
	PKI PKIConfig `yaml:"pki"`
	// MQTT is the broker the zone's poles connect to.
	MQTT MQTTConfig `yaml:"mqtt"`
	// Server is the bridge to the control server.
	Server ServerConfig `yaml:"server"`
	// Gossip makes the gateway a member of its zone's mesh.
	Gossip gossip.FileConfig `yaml:"gossip"`
	// HealthEvery is how often the gateway reports its own health (default
	// 1m).
	HealthEvery time.Duration `yaml:"health_every"`
	// Poles is what the gateway expects of its zone's poles.
	Poles PolesConfig `yaml:"poles"`
	// HTTP serves the zone's health: a page, JSON and Prometheus metrics.
	HTTP HTTPConfig `yaml:"http"`
	// Alerts is where operator alerts go besides the log, the page, the
	// metrics and the server.
	Alerts AlertsConfig `yaml:"alerts"`
	// Operators is the local operators' API: Advisory alerts for the zone
	// from people with a gateway account (password and TOTP).
	Operators OperatorsConfig `yaml:"operators"`

	sources yamlconf.Sources
}

// PKIConfig names the gateway's certificate files (as `cityarray keys
// issue --role gateway` writes them).
type PKIConfig struct {
	// Dir, if set, fills the paths left empty: Dir/root.pem,
	// Dir/<gateway_id>.pem and Dir/<gateway_id>.key.
	Dir       string `yaml:"dir"`
	GatewayID string `yaml:"gateway_id"`
	RootCert  string `yaml:"root_cert"`
	// Cert is the gateway's certificate (leaf, then city CA); Key its
	// Ed25519 key, unencrypted (a gateway starts unattended), mode 0600.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// TrustedClock says the gateway's clock is right (NTP). Default true.
	TrustedClock bool `yaml:"trusted_clock"`
}

// MQTTConfig is the zone broker.
type MQTTConfig struct {
	// Listen is the TLS address poles connect to (default ":8883").
	Listen string `yaml:"listen"`
	// MessageExpiry is how long messages wait for a pole that is away
	// (default 72h, at least 48h: the poles' cache lifetime).
	MessageExpiry time.Duration `yaml:"message_expiry"`
}

// ServerConfig is the bridge to the control server.
type ServerConfig struct {
	// Brokers are the control server's MQTT URLs (tls://host:port), in
	// order of preference. Required.
	Brokers []string `yaml:"brokers"`
	// Cellular are the same over the cellular interface: used only while
	// the primary uplink is down.
	Cellular []string `yaml:"cellular"`
	// CellularInterface, if set, is the interface the cellular bridge
	// leaves by ("wwan0"), whatever the routing table says (Linux; the
	// gateway needs CAP_NET_RAW).
	CellularInterface string `yaml:"cellular_interface"`
}

// PolesConfig is what the gateway expects of its zone's poles.
type PolesConfig struct {
	// HealthEvery is the heartbeat poles keep (their health_every;
	// default 1m): a pole is late after two missed, silent after five.
	HealthEvery time.Duration `yaml:"health_every"`
}

// HTTPConfig is the zone health endpoint.
type HTTPConfig struct {
	// Listen is the address of the zone health page, /api/zone/health and
	// /metrics (default "127.0.0.1:8081"; "" turns it off). It serves no
	// secret but names every pole: keep it on the maintenance network.
	Listen string `yaml:"listen"`
}

// OperatorsConfig is the local operators' API.
type OperatorsConfig struct {
	// Listen is the HTTPS address (the gateway's own certificate, which
	// clients check against the city root) of the API through which local
	// operators issue and cancel Advisory alerts (`cityarray alert send
	// --gateway`); "" (the default) turns it off. Accounts are made with
	// `cityarray gateway operator init|add`.
	Listen string `yaml:"listen"`
	// WebCert and WebKey, if set (both, and only with Listen), are a
	// certificate for browsers on the same listener: PEM, the leaf first
	// then its intermediates, ECDSA or RSA, from a CA the city's browsers
	// trust, naming the gateway by DNS name or IP address. Browsers take
	// neither the gateway's Ed25519 city certificate nor a cityarray://
	// name; a client that offers Ed25519 (the CLI) still gets the city
	// certificate.
	WebCert string `yaml:"web_cert"`
	WebKey  string `yaml:"web_key"`
}

// AlertsConfig is where operator alerts (a pole gone silent, a pole
// showing the wrong thing) are sent.
type AlertsConfig struct {
	// Webhook, if set, receives each alert as a JSON POST (an
	// OperatorAlert: at, zone, node, kind, detail), once, with a 5 s
	// timeout: a pager's or a chat's incoming-webhook URL, http or https.
	Webhook string `yaml:"webhook"`
}

// DefaultConfig is a gateway with its defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:     "/var/lib/cityarray/gateway",
		PKI:         PKIConfig{TrustedClock: true},
		MQTT:        MQTTConfig{Listen: mqttbroker.DefaultAddress, MessageExpiry: mqttbroker.DefaultMessageExpiry},
		Gossip:      gossip.FileConfig{Bind: gossip.DefaultBind},
		HealthEvery: time.Minute,
		Poles:       PolesConfig{HealthEvery: time.Minute},
		HTTP:        HTTPConfig{Listen: "127.0.0.1:8081"},
	}
}

// LoadConfig reads the YAML file at path over DefaultConfig, strictly
// (unknown keys, wrong types and a second document are errors carrying
// FILE:LINE). It does not validate: call Validate.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", yamlconf.ErrConfig, err)
	}
	if err := yamlconf.Decode(path, data, &cfg, &cfg.sources); err != nil {
		return cfg, err
	}
	yamlconf.ResolvePaths(filepath.Dir(path), &cfg.DataDir, &cfg.PKI.Dir, &cfg.PKI.RootCert, &cfg.PKI.Cert, &cfg.PKI.Key, &cfg.Gossip.KeyringFile,
		&cfg.Operators.WebCert, &cfg.Operators.WebKey)
	return cfg, nil
}

// NodeFiles are the gateway's PKI files as trust.LoadNode and
// mesh.OpenStation take them, their problems naming each file by its key
// in the configuration (pki.cert). Call Validate first: it fills the
// paths pki.dir implies.
func (c Config) NodeFiles() trust.NodeFiles {
	return trust.NodeFiles{RootCert: c.PKI.RootCert, Cert: c.PKI.Cert, Key: c.PKI.Key,
		Field: func(f string) string { return "pki." + f }}
}

// SetSource records that field was set by source (a flag).
func (c *Config) SetSource(field, source string) { c.sources.Set(field, source) }

// Validate fills the paths that default from pki.dir and reports every
// problem with its FILE:LINE (or flag); errors.Is(err, yamlconf.ErrConfig)
// holds.
func (c *Config) Validate() error {
	yamlconf.Default(&c.PKI.RootCert, c.PKI.Dir, trust.RootCertFile)
	if c.PKI.GatewayID != "" {
		yamlconf.Default(&c.PKI.Cert, c.PKI.Dir, c.PKI.GatewayID+".pem")
		yamlconf.Default(&c.PKI.Key, c.PKI.Dir, c.PKI.GatewayID+".key")
	}
	var es yamlconf.Errors
	bad := func(field, format string, args ...any) { es = append(es, c.sources.Problem(field, format, args...)) }
	if c.DataDir == "" {
		bad("data_dir", "required: the directory for the gateway's files")
	}
	for _, f := range []struct{ field, v, what string }{
		{"pki.root_cert", c.PKI.RootCert, "the city root certificate (or pki.dir)"},
		{"pki.cert", c.PKI.Cert, "the gateway's certificate (or pki.dir and pki.gateway_id)"},
		{"pki.key", c.PKI.Key, "the gateway's key (or pki.dir and pki.gateway_id)"},
	} {
		if f.v == "" {
			bad(f.field, "required: %s", f.what)
		}
	}
	if _, err := yamlconf.HostPort(c.MQTT.Listen); err != nil {
		bad("mqtt.listen", "%v", err)
	}
	if c.MQTT.MessageExpiry < mqttbroker.MinMessageExpiry {
		bad("mqtt.message_expiry", "%v: at least %v, the time a pole caches alerts", c.MQTT.MessageExpiry, mqttbroker.MinMessageExpiry)
	}
	if len(c.Server.Brokers) == 0 {
		bad("server.brokers", "required: the control server's MQTT address, tls://host:port")
	}
	yamlconf.Uplinks{PrimaryField: "server.brokers", CellularField: "server.cellular", InterfaceField: "server.cellular_interface",
		Primary: c.Server.Brokers, Cellular: c.Server.Cellular, Interface: c.Server.CellularInterface}.Problems(bad)
	es = append(es, c.Gossip.Problems("gossip", c.sources)...)
	if c.HealthEvery < 5*time.Second || c.HealthEvery > time.Hour {
		bad("health_every", "%v: want 5s to 1h", c.HealthEvery)
	}
	if c.Poles.HealthEvery < 5*time.Second || c.Poles.HealthEvery > time.Hour {
		bad("poles.health_every", "%v: want 5s to 1h", c.Poles.HealthEvery)
	}
	if c.HTTP.Listen != "" {
		if _, err := yamlconf.HostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "%v", err)
		}
	}
	if c.Operators.Listen != "" {
		if _, err := yamlconf.HostPort(c.Operators.Listen); err != nil {
			bad("operators.listen", "%v", err)
		}
	}
	switch o := c.Operators; {
	case (o.WebCert != "" || o.WebKey != "") && o.Listen == "":
		field := "operators.web_cert"
		if o.WebCert == "" {
			field = "operators.web_key"
		}
		bad(field, "set, but operators.listen is off: the web certificate is for the operators' page")
	case o.WebCert != "" && o.WebKey == "":
		bad("operators.web_cert", "set without operators.web_key: name the certificate's key too")
	case o.WebKey != "" && o.WebCert == "":
		bad("operators.web_key", "set without operators.web_cert: name the certificate too")
	}
	if w := c.Alerts.Webhook; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("alerts.webhook", "%q: want an http or https URL", w)
		}
	}
	return es.Err()
}
