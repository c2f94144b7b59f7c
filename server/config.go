package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
	"github.com/cityarray/cityarray/server/auth"
)

// Config is the control server's configuration: the YAML file that
// `cityarray server --config FILE` reads, documented field by field in the
// package doc (# The configuration file). Start from DefaultConfig, then
// LoadConfig overlays a file and the command line overlays its flags
// (defaults < file < flags); New validates the result.
type Config struct {
	// DataDir holds everything the server writes: the record store, the
	// server state, the keys, the audit log (see # The data directory).
	DataDir string `yaml:"data_dir"`
	// PKI names the city certificates and the server's own identity.
	PKI PKIConfig `yaml:"pki"`
	// HTTP is the operator API.
	HTTP HTTPConfig `yaml:"http"`
	// MQTT is the embedded broker poles and gateways connect to.
	MQTT MQTTConfig `yaml:"mqtt"`
	// Gossip makes the server a member of a gossip cluster too (off by
	// default).
	Gossip GossipConfig `yaml:"gossip"`
	// Auth configures people and access: sessions, lockout, allowlists,
	// rate limits.
	Auth AuthConfig `yaml:"auth"`
	// Audit configures the tamper-evident audit log.
	Audit AuditConfig `yaml:"audit"`
	// Runtime tunes the Go runtime of the server process.
	Runtime RuntimeConfig `yaml:"runtime"`

	// Hooks are set only by programs that embed the server (tests, the
	// city simulator); the YAML decoder never touches them.
	Hooks Hooks `yaml:"-"`

	// sources maps a field path ("http.listen") to where its value came
	// from: "FILE:LINE" or a flag name; fields absent have their default.
	sources yamlconf.Sources
}

// PKIConfig names the city PKI files (as `cityarray keys init` and `keys
// issue --role server` write them). Relative paths are taken from the
// directory of the configuration file.
type PKIConfig struct {
	// Dir, if set, fills the paths left empty: Dir/root.pem, Dir/city.pem,
	// Dir/<server_id>.pem and Dir/<server_id>.key.
	Dir string `yaml:"dir"`
	// ServerID names the server's certificate in Dir.
	ServerID string `yaml:"server_id"`
	// RootCert is the city root certificate every signer chains to.
	RootCert string `yaml:"root_cert"`
	// CityCert is the city CA certificate.
	CityCert string `yaml:"city_cert"`
	// ServerCert is the server's certificate file (leaf, then city CA);
	// ServerKey its Ed25519 key. The identity must be a server.
	ServerCert string `yaml:"server_cert"`
	ServerKey  string `yaml:"server_key"`
	// PassphraseEnv names an environment variable, and PassphraseFile a
	// file, that holds the passphrase of an encrypted ServerKey (at most
	// one of them). A passphrase is never a flag or a config value.
	PassphraseEnv  string `yaml:"passphrase_env"`
	PassphraseFile string `yaml:"passphrase_file"`
	// CityKey is the city CA's key (city.key, as `cityarray keys init`
	// writes it), optional. With it the server issues officer
	// certificates (POST /api/v1/officers/{id}/key) and signs device
	// revocations (POST /api/v1/devices/{id}/revoke); without it those
	// answer 503 and officers' keys and revocations are made offline.
	// With Dir it defaults to Dir/city.key when that file exists.
	// CityPassphraseEnv or CityPassphraseFile name where the passphrase
	// of an encrypted CityKey is read (at most one; never the passphrase
	// itself). A CityKey named here, or a passphrase source, makes the key
	// required: the server does not start without it. A key found only by
	// default that cannot be opened is skipped with a warning.
	CityKey            string `yaml:"city_key"`
	CityPassphraseEnv  string `yaml:"city_passphrase_env"`
	CityPassphraseFile string `yaml:"city_passphrase_file"`
	// TrustedClock says this machine's clock is right (NTP): records
	// issued in the future are refused. Default true.
	TrustedClock bool `yaml:"trusted_clock"`
}

// HTTPConfig is the operator API's listener.
type HTTPConfig struct {
	// Listen is the HTTPS address, host:port (default ":8443").
	Listen string `yaml:"listen"`
	// InsecureHTTPLoopback serves plain HTTP, and a session cookie without
	// Secure, for development on a loopback address only: the server
	// refuses it on any other address.
	InsecureHTTPLoopback bool `yaml:"insecure_http_loopback"`
	// TLS is the web certificate.
	TLS TLSConfig `yaml:"tls"`
	// PublicURL is how operators reach the server ("https://ops.example.org"),
	// printed by `server init`; default https://<first self-signed host>:<port>.
	PublicURL string `yaml:"public_url"`
	// MaxBodyBytes caps a request body (default 64 KiB): larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Timeouts of net/http.Server, and how long a shutdown waits for
	// requests in flight.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
}

// TLSConfig is the web certificate. The server's city certificate is
// Ed25519 with no DNS names, which browsers do not accept, so HTTPS uses a
// certificate of its own: CertFile and KeyFile (PEM, e.g. from the city's
// web CA or ACME), or else a self-signed one for SelfSignedHosts that the
// server generates into the data directory on first run.
type TLSConfig struct {
	CertFile        string   `yaml:"cert_file"`
	KeyFile         string   `yaml:"key_file"`
	SelfSignedHosts []string `yaml:"self_signed_hosts"`
}

// MQTTConfig is the embedded broker (mutual TLS with city certificates).
type MQTTConfig struct {
	// Listen is the TLS address (default ":8883").
	Listen string `yaml:"listen"`
	// MessageExpiry is how long messages wait for a client that is away
	// (default 72h, at least 48h); SessionExpiry how long a session of a
	// client that left is kept (default 72h).
	MessageExpiry time.Duration `yaml:"message_expiry"`
	SessionExpiry time.Duration `yaml:"session_expiry"`
}

// GossipConfig makes the server a gossip member (memberlist over UDP/TCP;
// off by default).
type GossipConfig = gossip.FileConfig

// AuthConfig configures people and access (package server/auth).
type AuthConfig struct {
	// Issuer names the service in authenticator apps (default "CITYARRAY").
	Issuer string `yaml:"issuer"`
	// SessionIdle and SessionMax end a session after that long unused, or
	// that long after login (defaults 30m, 12h).
	SessionIdle time.Duration `yaml:"session_idle"`
	SessionMax  time.Duration `yaml:"session_max"`
	// SetupTTL is how long a setup code is valid (default 24h).
	SetupTTL time.Duration `yaml:"setup_ttl"`
	// MaxTokenLifetime caps API token expiry (default 366 days).
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime"`
	// Lockout is the backoff after failed logins.
	Lockout LockoutConfig `yaml:"lockout"`
	// TrustedOrigins may send state-changing cookie requests besides the
	// server's own origin ("https://ops.example.org").
	TrustedOrigins []string `yaml:"trusted_origins"`
	// IPAllow restricts roles to address ranges (CIDR or single
	// addresses); a role not listed may come from anywhere.
	IPAllow map[string][]string `yaml:"ip_allow"`
	// RateLimits are token buckets per address and per user.
	RateLimits RateLimitConfig `yaml:"rate_limits"`
}

// LockoutConfig: after Threshold consecutive failures an account is
// locked for Base, doubling up to Max.
type LockoutConfig struct {
	Threshold int           `yaml:"threshold"`
	Base      time.Duration `yaml:"base"`
	Max       time.Duration `yaml:"max"`
}

// Limit is a token bucket: one event per Every, bursts of Burst; zero
// values mean unlimited.
type Limit struct {
	Every time.Duration `yaml:"every"`
	Burst int           `yaml:"burst"`
}

// RateLimitConfig are the rate limits. Login limits cover password, setup
// and re-authentication attempts; request limits every authenticated
// request; HTTPPerIP every HTTP request, before authentication.
type RateLimitConfig struct {
	LoginPerIP     Limit `yaml:"login_per_ip"`
	LoginPerUser   Limit `yaml:"login_per_user"`
	RequestPerIP   Limit `yaml:"request_per_ip"`
	RequestPerUser Limit `yaml:"request_per_user"`
	HTTPPerIP      Limit `yaml:"http_per_ip"`
	// MaxKeys bounds each limiter's table (least recently used forgotten).
	MaxKeys int `yaml:"max_keys"`
}

// AuditConfig is the audit log.
type AuditConfig struct {
	// Dir defaults to <data_dir>/audit.
	Dir string `yaml:"dir"`
	// KeyName is the checkpoint signer's name and the log's origin line
	// (default "cityarray-audit/<server id>").
	KeyName string `yaml:"key_name"`
}

// RuntimeConfig tunes the Go runtime of a process that runs the server
// (ApplyRuntime). The environment variables GOGC and GOMEMLIMIT, when set,
// win over it.
type RuntimeConfig struct {
	// GCPercent is the garbage collector's target (GOGC): the heap may grow
	// to this percentage over the live heap before a collection. The
	// default 400 spends about a tenth less CPU per ack than Go's 100 (bench
	// server) for a heap up to five times the live one; set MemoryLimitMiB
	// on a machine with little memory to spare. -1 turns the collector off
	// except at the memory limit.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is a soft limit on the process's memory (GOMEMLIMIT),
	// at which the collector works harder whatever GCPercent says; 0 for
	// none.
	MemoryLimitMiB int64 `yaml:"memory_limit_mib"`
}

// ApplyRuntime sets the garbage collector's target and memory limit from
// rc for the whole process, unless GOGC or GOMEMLIMIT is set in the
// environment. `cityarray server` calls it before New; a program that
// embeds the server decides for itself.
func ApplyRuntime(rc RuntimeConfig) {
	if os.Getenv("GOGC") == "" && rc.GCPercent != 0 {
		debug.SetGCPercent(rc.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && rc.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(rc.MemoryLimitMiB << 20)
	}
}

// Hooks replace what a program embedding the server may need to: the
// clock, the source of secrets, the password hash cost (tests), the gossip
// timing. The YAML file cannot set them.
type Hooks struct {
	// Clock defaults to the system clock.
	Clock Clock
	// Rand defaults to crypto/rand.Reader.
	Rand io.Reader
	// Argon2, if set, replaces the password hashing cost (tests only: the
	// default is OWASP's 64 MiB).
	Argon2 *auth.Argon2Params
	// Memberlist, if set, is the base gossip configuration (timing); Bind
	// and Advertise still apply.
	Memberlist *memberlist.Config
}

// Clock tells the time. The server never reads the time any other way
// for what it decides (request latencies in metrics use the monotonic
// clock).
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DefaultConfig returns the production defaults. PKI paths have no
// default: a server must be told which city it belongs to.
func DefaultConfig() Config {
	ao := auth.DefaultOptions()
	return Config{
		DataDir: "/var/lib/cityarray/server",
		PKI:     PKIConfig{TrustedClock: true},
		HTTP: HTTPConfig{
			Listen:            ":8443",
			TLS:               TLSConfig{SelfSignedHosts: []string{"localhost"}},
			MaxBodyBytes:      64 << 10,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   5 * time.Second,
		},
		MQTT: MQTTConfig{
			Listen:        ":8883",
			MessageExpiry: 72 * time.Hour,
			SessionExpiry: 72 * time.Hour,
		},
		Gossip:  GossipConfig{Bind: gossip.DefaultBind},
		Runtime: RuntimeConfig{GCPercent: 400},
		Auth: AuthConfig{
			Issuer:           ao.Issuer,
			SessionIdle:      ao.SessionIdle,
			SessionMax:       ao.SessionMax,
			SetupTTL:         ao.SetupTTL,
			MaxTokenLifetime: ao.MaxTokenLifetime,
			Lockout:          LockoutConfig{Threshold: ao.Lockout.Threshold, Base: ao.Lockout.Base, Max: ao.Lockout.Max},
			RateLimits: RateLimitConfig{
				LoginPerIP:     limitOf(ao.Rate.LoginPerIP),
				LoginPerUser:   limitOf(ao.Rate.LoginPerUser),
				RequestPerIP:   limitOf(ao.Rate.RequestPerIP),
				RequestPerUser: limitOf(ao.Rate.RequestPerUser),
				HTTPPerIP:      Limit{Every: 20 * time.Millisecond, Burst: 100},
				MaxKeys:        ao.Rate.MaxKeys,
			},
		},
	}
}

func limitOf(l auth.Limit) Limit { return Limit{Every: l.Every, Burst: l.Burst} }

// ConfigError is one problem with a configuration value (see
// yamlconf.Error).
type ConfigError = yamlconf.Error

// ErrConfig is wrapped by every error LoadConfig and Validate return.
var ErrConfig = yamlconf.ErrConfig

// configErrors joins problems so that errors.Is(err, ErrConfig) holds and
// each is reachable with errors.As.
type configErrors = yamlconf.Errors

// Problems returns each problem of an error from LoadConfig or Validate
// as a line, or the error's text if it is not a configuration error.
func Problems(err error) []string { return yamlconf.Lines(err) }

// LoadConfig reads the YAML file at path over DefaultConfig. Decoding is
// strict: unknown keys, wrong types and a second document are errors
// carrying FILE:LINE. Relative paths in the file are resolved from the
// file's directory. It does not validate: call Validate (New does).
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := cfg.decode(path, data); err != nil {
		return cfg, err
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

func (c *Config) decode(path string, data []byte) error {
	return yamlconf.Decode(path, data, c, &c.sources)
}

// SetSource records that field ("http.listen") was set by source (a flag
// such as "--http-listen"), so that problems with it name the flag.
func (c *Config) SetSource(field, source string) { c.sources.Set(field, source) }

// where returns the source of field, or of its closest parent that has one.
func (c *Config) where(field string) string { return c.sources.Where(field) }

// resolvePaths makes relative paths in the file relative to dir.
func (c *Config) resolvePaths(dir string) { yamlconf.ResolvePaths(dir, c.paths()...) }

func (c *Config) paths() []*string {
	return []*string{&c.DataDir, &c.PKI.Dir, &c.PKI.RootCert, &c.PKI.CityCert, &c.PKI.ServerCert,
		&c.PKI.ServerKey, &c.PKI.PassphraseFile, &c.PKI.CityKey, &c.PKI.CityPassphraseFile, &c.HTTP.TLS.CertFile, &c.HTTP.TLS.KeyFile,
		&c.Gossip.KeyringFile, &c.Audit.Dir}
}

// fill derives the paths that default from others (pki.dir, data_dir).
func (c *Config) fill() {
	yamlconf.Default(&c.PKI.RootCert, c.PKI.Dir, trust.RootCertFile)
	yamlconf.Default(&c.PKI.CityCert, c.PKI.Dir, trust.CityCertFile)
	if c.PKI.ServerID != "" {
		yamlconf.Default(&c.PKI.ServerCert, c.PKI.Dir, c.PKI.ServerID+".pem")
		yamlconf.Default(&c.PKI.ServerKey, c.PKI.Dir, c.PKI.ServerID+".key")
	}
	if c.Audit.Dir == "" && c.DataDir != "" {
		c.Audit.Dir = filepath.Join(c.DataDir, "audit")
	}
}

// Validate checks the configuration and returns every problem at once,
// each naming its field and where its value came from (wrapping ErrConfig).
// It checks values only; New then reads the files.
func (c *Config) Validate() error {
	c.fill()
	return c.validate()
}

func (c *Config) validate() error {
	var es configErrors
	bad := func(field, format string, args ...any) {
		es = append(es, &ConfigError{Where: c.where(field), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	required := func(field, v, what string) {
		if v == "" {
			bad(field, "required: %s", what)
		}
	}

	required("data_dir", c.DataDir, "the directory for the server's files")

	// PKI.
	if c.PKI.ServerID != "" {
		if err := record.ValidateNodeID(c.PKI.ServerID); err != nil {
			bad("pki.server_id", "%v", err)
		}
	}
	if c.PKI.ServerID != "" && c.PKI.Dir == "" {
		bad("pki.server_id", "set pki.dir too, or name server_cert and server_key")
	}
	required("pki.root_cert", c.PKI.RootCert, "the city root certificate (or pki.dir)")
	required("pki.city_cert", c.PKI.CityCert, "the city CA certificate (or pki.dir)")
	required("pki.server_cert", c.PKI.ServerCert, "the server's certificate (or pki.dir and pki.server_id)")
	required("pki.server_key", c.PKI.ServerKey, "the server's key (or pki.dir and pki.server_id)")
	if c.PKI.PassphraseEnv != "" && c.PKI.PassphraseFile != "" {
		bad("pki.passphrase_env", "set passphrase_env or passphrase_file, not both")
	}
	if c.PKI.PassphraseEnv != "" && !envNameRE.MatchString(c.PKI.PassphraseEnv) {
		bad("pki.passphrase_env", "%q is not an environment variable name (the passphrase itself never goes in the file)", c.PKI.PassphraseEnv)
	}
	if c.PKI.CityPassphraseEnv != "" && c.PKI.CityPassphraseFile != "" {
		bad("pki.city_passphrase_env", "set city_passphrase_env or city_passphrase_file, not both")
	}
	if c.PKI.CityPassphraseEnv != "" && !envNameRE.MatchString(c.PKI.CityPassphraseEnv) {
		bad("pki.city_passphrase_env", "%q is not an environment variable name (the passphrase itself never goes in the file)", c.PKI.CityPassphraseEnv)
	}
	if (c.PKI.CityPassphraseEnv != "" || c.PKI.CityPassphraseFile != "") && c.PKI.CityKey == "" && c.PKI.Dir == "" {
		bad("pki.city_key", "a city passphrase is set but no city_key (or pki.dir) names the key")
	}

	// HTTP.
	host, err := yamlconf.HostPort(c.HTTP.Listen)
	if err != nil {
		bad("http.listen", "%v", err)
	}
	if c.HTTP.InsecureHTTPLoopback {
		if err == nil && !yamlconf.Loopback(host) {
			bad("http.insecure_http_loopback", "plain HTTP is allowed only on a loopback address (127.0.0.1, ::1, localhost), not %q: "+
				"on any other address passwords and session cookies would cross the network in clear; use TLS", c.HTTP.Listen)
		}
		if c.HTTP.TLS.CertFile != "" || c.HTTP.TLS.KeyFile != "" {
			bad("http.tls", "cert_file and key_file make no sense with insecure_http_loopback")
		}
	} else {
		if (c.HTTP.TLS.CertFile == "") != (c.HTTP.TLS.KeyFile == "") {
			bad("http.tls", "set both cert_file and key_file, or neither (to use a self-signed certificate)")
		}
		if c.HTTP.TLS.CertFile == "" && len(c.HTTP.TLS.SelfSignedHosts) == 0 {
			bad("http.tls", "no certificate: set cert_file and key_file, or self_signed_hosts")
		}
	}
	for i, h := range c.HTTP.TLS.SelfSignedHosts {
		if !yamlconf.HostName(h) {
			bad(fmt.Sprintf("http.tls.self_signed_hosts[%d]", i), "%q is neither a DNS name nor an IP address", h)
		}
	}
	if c.HTTP.PublicURL != "" {
		u, err := url.Parse(c.HTTP.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("http.public_url", "%q is not an origin like https://ops.example.org", c.HTTP.PublicURL)
		}
	}
	if c.HTTP.MaxBodyBytes < 1<<10 || c.HTTP.MaxBodyBytes > 16<<20 {
		bad("http.max_body_bytes", "%d: want 1 KiB to 16 MiB", c.HTTP.MaxBodyBytes)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout}} {
		if d.v <= 0 {
			bad(d.field, "%v: want a positive duration such as 10s", d.v)
		}
	}

	// MQTT.
	if _, err := yamlconf.HostPort(c.MQTT.Listen); err != nil {
		bad("mqtt.listen", "%v", err)
	}
	if c.MQTT.MessageExpiry < 48*time.Hour {
		bad("mqtt.message_expiry", "%v: at least 48h, the time an edge caches alerts", c.MQTT.MessageExpiry)
	}
	if c.MQTT.SessionExpiry <= 0 {
		bad("mqtt.session_expiry", "%v: want a positive duration", c.MQTT.SessionExpiry)
	}

	// Gossip.
	es = append(es, c.Gossip.Problems("gossip", c.sources)...)

	// Runtime.
	if c.Runtime.GCPercent < -1 || c.Runtime.GCPercent > 10000 {
		bad("runtime.gc_percent", "%d: want -1 (off) or 1 to 10000 (0 for Go's default)", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimitMiB < 0 {
		bad("runtime.memory_limit_mib", "%d: want 0 (none) or a positive size in MiB", c.Runtime.MemoryLimitMiB)
	}
	if c.Runtime.GCPercent == -1 && c.Runtime.MemoryLimitMiB == 0 {
		bad("runtime.gc_percent", "-1 turns the collector off: set runtime.memory_limit_mib too, or the heap grows without bound")
	}

	// Auth.
	a := c.Auth
	if a.Issuer == "" {
		bad("auth.issuer", "required")
	}
	if a.SessionIdle <= 0 {
		bad("auth.session_idle", "%v: want a positive duration", a.SessionIdle)
	}
	if a.SessionMax < a.SessionIdle {
		bad("auth.session_max", "%v is shorter than session_idle %v", a.SessionMax, a.SessionIdle)
	}
	if a.SetupTTL <= 0 {
		bad("auth.setup_ttl", "%v: want a positive duration", a.SetupTTL)
	}
	if a.MaxTokenLifetime <= 0 {
		bad("auth.max_token_lifetime", "%v: want a positive duration", a.MaxTokenLifetime)
	}
	if a.Lockout.Threshold < 1 {
		bad("auth.lockout.threshold", "%d: want at least 1", a.Lockout.Threshold)
	}
	if a.Lockout.Base <= 0 {
		bad("auth.lockout.base", "%v: want a positive duration", a.Lockout.Base)
	}
	if a.Lockout.Max < a.Lockout.Base {
		bad("auth.lockout.max", "%v is shorter than base %v", a.Lockout.Max, a.Lockout.Base)
	}
	for i, o := range a.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			bad(fmt.Sprintf("auth.trusted_origins[%d]", i), "%q is not an origin like https://ops.example.org", o)
		}
	}
	for _, role := range slices.Sorted(maps.Keys(a.IPAllow)) {
		field := "auth.ip_allow." + role
		if !auth.Role(role).Valid() {
			bad(field, "unknown role %q (roles: %s)", role, roleList())
			continue
		}
		for i, s := range a.IPAllow[role] {
			if _, err := parsePrefix(s); err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			}
		}
	}
	rl := a.RateLimits
	for _, l := range []struct {
		field string
		Limit
	}{{"login_per_ip", rl.LoginPerIP}, {"login_per_user", rl.LoginPerUser}, {"request_per_ip", rl.RequestPerIP},
		{"request_per_user", rl.RequestPerUser}, {"http_per_ip", rl.HTTPPerIP}} {
		if l.Every < 0 || l.Burst < 0 || (l.Every > 0) != (l.Burst > 0) {
			bad("auth.rate_limits."+l.field, "every %v, burst %d: set both positive, or both zero for no limit", l.Every, l.Burst)
		}
	}
	if rl.MaxKeys < 1 {
		bad("auth.rate_limits.max_keys", "%d: want at least 1", rl.MaxKeys)
	}

	// Audit.
	if c.Audit.KeyName != "" && (strings.ContainsAny(c.Audit.KeyName, " +\t\n") || !utf8.ValidString(c.Audit.KeyName)) {
		bad("audit.key_name", "%q: no spaces or '+'", c.Audit.KeyName)
	}

	if len(es) == 0 {
		return nil
	}
	return es
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func roleList() string {
	var rs []string
	for _, r := range auth.Roles() {
		rs = append(rs, string(r))
	}
	return strings.Join(rs, ", ")
}

// parsePrefix reads a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// authOptions turns the auth section into auth.Options (without the keys,
// clock, randomness and audit hook, which New supplies).
func (c *Config) authOptions() auth.Options {
	o := auth.DefaultOptions()
	a := c.Auth
	o.Issuer = a.Issuer
	o.SessionIdle, o.SessionMax = a.SessionIdle, a.SessionMax
	o.SetupTTL, o.MaxTokenLifetime = a.SetupTTL, a.MaxTokenLifetime
	o.Lockout = auth.Lockout{Threshold: a.Lockout.Threshold, Base: a.Lockout.Base, Max: a.Lockout.Max}
	o.TrustedOrigins = slices.Clone(a.TrustedOrigins)
	o.IPAllow = map[auth.Role][]netip.Prefix{}
	for role, list := range a.IPAllow {
		for _, s := range list {
			if p, err := parsePrefix(s); err == nil {
				o.IPAllow[auth.Role(role)] = append(o.IPAllow[auth.Role(role)], p)
			}
		}
	}
	al := func(l Limit) auth.Limit { return auth.Limit{Every: l.Every, Burst: l.Burst} }
	rl := a.RateLimits
	o.Rate = auth.RateLimits{LoginPerIP: al(rl.LoginPerIP), LoginPerUser: al(rl.LoginPerUser),
		RequestPerIP: al(rl.RequestPerIP), RequestPerUser: al(rl.RequestPerUser), MaxKeys: rl.MaxKeys}
	o.InsecureCookie = c.HTTP.InsecureHTTPLoopback
	if c.Hooks.Argon2 != nil {
		o.Argon2 = *c.Hooks.Argon2
	}
	return o
}

// CheckFiles checks what Validate cannot: that the files cfg names exist
// and hold what they should (the PKI chain and key, the web certificate,
// the gossip keyring) and that an existing data directory is private. It
// reads the key passphrase from where the configuration says. Like
// Validate it reports every problem, as configuration errors.
func CheckFiles(cfg Config) error {
	cfg.fill()
	var es configErrors
	bad := func(field string, err error) {
		es = append(es, &ConfigError{Where: cfg.where(field), Field: field, Msg: err.Error()})
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil {
		if !fi.IsDir() {
			bad("data_dir", fmt.Errorf("%s is not a directory", cfg.DataDir))
		} else if fi.Mode().Perm()&0o022 != 0 {
			bad("data_dir", fmt.Errorf("%s is writable by group or others; chmod 700 it", cfg.DataDir))
		}
	}
	if pki, err := loadPKI(cfg.PKI, time.Now()); err != nil {
		bad("pki", err)
	} else if _, _, err := loadCityCA(cfg.PKI, pki.cityCert); err != nil {
		bad("pki.city_key", err)
	}
	if cfg.HTTP.TLS.CertFile != "" && !cfg.HTTP.InsecureHTTPLoopback {
		if _, err := tls.LoadX509KeyPair(cfg.HTTP.TLS.CertFile, cfg.HTTP.TLS.KeyFile); err != nil {
			bad("http.tls.cert_file", err)
		}
	}
	if cfg.Gossip.Enabled {
		if _, err := gossip.ReadKeyring(cfg.Gossip.KeyringFile); err != nil {
			bad("gossip.keyring_file", err)
		}
	}
	if len(es) == 0 {
		return nil
	}
	return es
}
