package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// Config is a pole's configuration: the YAML file `cityarray edge
// --config FILE` reads. Start from DefaultConfig; LoadConfig overlays a
// file (defaults < file); Validate checks the result. Relative paths are
// taken from the file's directory. docs/edge.yaml is a documented example.
type Config struct {
	// DataDir holds what the pole writes: the record store (the 48-hour
	// cache and the outbox), the verifier's state, the gossip peers.
	DataDir string `yaml:"data_dir"`
	// PKI names the pole's certificate and the city's.
	PKI PKIConfig `yaml:"pki"`
	// Uplink is the MQTT connection to the zone's gateways and, as a
	// backup, to the control server over cellular.
	Uplink UplinkConfig `yaml:"uplink"`
	// Gossip makes the pole a member of its neighbourhood's gossip mesh.
	Gossip gossip.FileConfig `yaml:"gossip"`
	// Languages are the languages poles show alerts in, per zone.
	Languages LanguagesConfig `yaml:"languages"`
	// Display is the LED matrix.
	Display DisplayConfig `yaml:"display"`
	// Audio is the speaker: speech and alert tones.
	Audio AudioConfig `yaml:"audio"`
	// Info is what the pole shows when no alert is active.
	Info InfoConfig `yaml:"info"`
	// HealthEvery is how often the pole sends a health report (default
	// 1m).
	HealthEvery time.Duration `yaml:"health_every"`
	// StatusListen, if set, serves the pole's status page there
	// (/status.json, and the live panel under /panel/ when the display
	// is simulated): for technicians on site and the demo. Keep it on
	// loopback or the maintenance network.
	StatusListen string `yaml:"status_listen"`

	sources yamlconf.Sources
}

// PKIConfig names the pole's certificate files (as `cityarray keys issue
// --role device` writes them).
type PKIConfig struct {
	// Dir, if set, fills the paths left empty: Dir/root.pem,
	// Dir/<device_id>.pem and Dir/<device_id>.key.
	Dir string `yaml:"dir"`
	// DeviceID names the pole's certificate in Dir; it must be the id in
	// the certificate.
	DeviceID string `yaml:"device_id"`
	// RootCert is the city root certificate every signer chains to.
	RootCert string `yaml:"root_cert"`
	// Cert is the pole's certificate file (leaf, then city CA); Key its
	// Ed25519 key, unencrypted (a pole starts unattended) and mode 0600.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// TrustedClock says the pole's clock is right (NTP or a battery RTC):
	// records issued in the future are refused. Without it the pole
	// checks times against the latest time the network has shown it.
	// Default true.
	TrustedClock bool `yaml:"trusted_clock"`
}

// UplinkConfig is the pole's MQTT uplink.
type UplinkConfig struct {
	// Gateways are broker URLs (tls://host:port), in order of preference;
	// the pole fails over between them. Usually the zone's two gateways.
	Gateways []string `yaml:"gateways"`
	// Cellular, if set, is the control server's broker over the cellular
	// interface: used for acks and health only while no gateway and no
	// neighbour carries them.
	Cellular []string `yaml:"cellular"`
	// CellularInterface, if set, is the interface the cellular link
	// leaves by ("wwan0"), whatever the routing table says (Linux; the
	// pole needs CAP_NET_RAW).
	CellularInterface string `yaml:"cellular_interface"`
}

// LanguagesConfig chooses the languages alerts are shown and spoken in.
type LanguagesConfig struct {
	// Default is the list for zones Zones does not name (default en, es).
	Default []string `yaml:"default"`
	// Zones maps a zone to its list, in order of preference.
	Zones map[string][]string `yaml:"zones"`
	// Dwell is the least time one language stays on the display (default
	// 6s); text that scrolls stays for one full pass at least.
	Dwell time.Duration `yaml:"dwell"`
}

// For returns the list for zone.
func (l LanguagesConfig) For(zone string) []string {
	if z, ok := l.Zones[zone]; ok {
		return z
	}
	return l.Default
}

// DisplayConfig is the panel and how text moves on it.
type DisplayConfig struct {
	display.Config `yaml:",inline"`
	// ScrollSpeed is how fast long text scrolls, in pixels per second
	// (default 24).
	ScrollSpeed float64 `yaml:"scroll_speed"`
	// FPS is the most frames a second the pole draws while text moves
	// (default 30); a still frame is drawn once.
	FPS int `yaml:"fps"`
}

// AudioConfig is the speaker.
type AudioConfig struct {
	// Player is "auto" (oto, then aplay), "oto", "aplay" or "none".
	Player string `yaml:"player"`
	// Device is the ALSA device for aplay ("" for the default).
	Device string `yaml:"device"`
	// Espeak is the espeak-ng executable ("" to speak no text, tones
	// only).
	Espeak string `yaml:"espeak"`
	// Volume is 0..100 (default 80); a command can change it.
	Volume int `yaml:"volume"`
	// Speak says alerts aloud in the zone's languages after the tone
	// (default true).
	Speak bool `yaml:"speak"`
}

// InfoConfig is informational content the pole makes itself.
type InfoConfig struct {
	// Clock shows the time and date (default true).
	Clock bool `yaml:"clock"`
	// TimeZone is an IANA zone for the clock (default the machine's).
	TimeZone string `yaml:"time_zone"`
	// Message is a line from the city shown between clock screens.
	Message string `yaml:"message"`
}

// DefaultConfig is a pole on the real hardware.
func DefaultConfig() Config {
	return Config{
		DataDir:     "/var/lib/cityarray",
		PKI:         PKIConfig{TrustedClock: true},
		Gossip:      gossip.FileConfig{Bind: gossip.DefaultBind},
		Languages:   LanguagesConfig{Default: []string{"en", "es"}, Dwell: 6 * time.Second},
		Display:     DisplayConfig{Config: display.DefaultConfig(), ScrollSpeed: 24, FPS: 30},
		Audio:       AudioConfig{Player: "auto", Espeak: "espeak-ng", Volume: 80, Speak: true},
		Info:        InfoConfig{Clock: true},
		HealthEvery: time.Minute,
	}
}

// LoadConfig reads the YAML file at path over DefaultConfig, then the
// data directory's OverrideFile (what a config command sent) over that if
// there is one. Decoding is strict: unknown keys, wrong types and a second
// document are errors carrying FILE:LINE. It does not validate: call
// Validate.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", yamlconf.ErrConfig, err)
	}
	if err := yamlconf.Decode(path, data, &cfg, &cfg.sources); err != nil {
		return cfg, err
	}
	cfg.resolvePaths(filepath.Dir(path))
	// A configuration the control server sent (a config command) applies
	// over the file.
	over := filepath.Join(cfg.DataDir, OverrideFile)
	if data, err := os.ReadFile(over); err == nil {
		if err := yamlconf.Decode(over, data, &cfg, &cfg.sources); err != nil {
			return cfg, err
		}
		cfg.resolvePaths(cfg.DataDir)
	}
	return cfg, nil
}

// SetSource records that field was set by source (a flag).
func (c *Config) SetSource(field, source string) { c.sources.Set(field, source) }

func (c *Config) resolvePaths(dir string) {
	yamlconf.ResolvePaths(dir, &c.DataDir, &c.PKI.Dir, &c.PKI.RootCert, &c.PKI.Cert, &c.PKI.Key, &c.Gossip.KeyringFile, &c.Display.Sim.DumpDir)
}

// fill derives the paths that default from pki.dir.
func (c *Config) fill() {
	yamlconf.Default(&c.PKI.RootCert, c.PKI.Dir, trust.RootCertFile)
	if c.PKI.DeviceID != "" {
		yamlconf.Default(&c.PKI.Cert, c.PKI.Dir, c.PKI.DeviceID+".pem")
		yamlconf.Default(&c.PKI.Key, c.PKI.Dir, c.PKI.DeviceID+".key")
	}
}

// Validate fills derived paths and reports every problem, each with the
// FILE:LINE (or flag) it came from; errors.Is(err, yamlconf.ErrConfig)
// holds.
func (c *Config) Validate() error {
	c.fill()
	var es yamlconf.Errors
	bad := func(field, format string, args ...any) {
		es = append(es, c.sources.Problem(field, format, args...))
	}
	if c.DataDir == "" {
		bad("data_dir", "required: the directory for the pole's files")
	}
	if c.PKI.DeviceID != "" {
		if err := record.ValidateNodeID(c.PKI.DeviceID); err != nil {
			bad("pki.device_id", "%v", err)
		}
	}
	for _, f := range []struct{ field, v, what string }{
		{"pki.root_cert", c.PKI.RootCert, "the city root certificate (or pki.dir)"},
		{"pki.cert", c.PKI.Cert, "the pole's certificate (or pki.dir and pki.device_id)"},
		{"pki.key", c.PKI.Key, "the pole's key (or pki.dir and pki.device_id)"},
	} {
		if f.v == "" {
			bad(f.field, "required: %s", f.what)
		}
	}
	yamlconf.Uplinks{PrimaryField: "uplink.gateways", CellularField: "uplink.cellular", InterfaceField: "uplink.cellular_interface",
		Primary: c.Uplink.Gateways, Cellular: c.Uplink.Cellular, Interface: c.Uplink.CellularInterface}.Problems(bad)
	es = append(es, c.Gossip.Problems("gossip", c.sources)...)
	if len(c.Uplink.Gateways) == 0 && len(c.Uplink.Cellular) == 0 && !c.Gossip.Enabled {
		bad("uplink.gateways", "the pole has no link at all: name a gateway, a cellular broker or enable gossip")
	}
	checkLangs := func(field string, langs []string) {
		if len(langs) == 0 {
			bad(field, "required: at least one language")
		}
		for i, l := range langs {
			if err := record.ValidateLanguage(l); err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			}
		}
	}
	checkLangs("languages.default", c.Languages.Default)
	zones := make([]string, 0, len(c.Languages.Zones))
	for z := range c.Languages.Zones {
		zones = append(zones, z)
	}
	slices.Sort(zones)
	for _, z := range zones {
		if err := record.ValidateNodeID(z); err != nil {
			bad("languages.zones."+z, "zone: %v", err)
		}
		checkLangs("languages.zones."+z, c.Languages.Zones[z])
	}
	if c.Languages.Dwell < time.Second {
		bad("languages.dwell", "%v: at least 1s, or nobody can read it", c.Languages.Dwell)
	}
	if err := c.Display.Config.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			bad("display", "%s", strings.TrimPrefix(line, "display: "))
		}
	}
	if c.Display.ScrollSpeed < 4 || c.Display.ScrollSpeed > 200 {
		bad("display.scroll_speed", "%v px/s: want 4 to 200", c.Display.ScrollSpeed)
	}
	if c.Display.FPS < 1 || c.Display.FPS > 120 {
		bad("display.fps", "%d: want 1 to 120", c.Display.FPS)
	}
	if !slices.Contains([]string{"auto", "oto", "aplay", "none"}, c.Audio.Player) {
		bad("audio.player", "%q: want auto, oto, aplay or none", c.Audio.Player)
	}
	if c.Audio.Volume < 0 || c.Audio.Volume > 100 {
		bad("audio.volume", "%d: want 0 to 100", c.Audio.Volume)
	}
	if c.Info.TimeZone != "" {
		if _, err := time.LoadLocation(c.Info.TimeZone); err != nil {
			bad("info.time_zone", "%q: %v", c.Info.TimeZone, err)
		}
	}
	if utf := []rune(c.Info.Message); len(utf) > record.MaxShortText {
		bad("info.message", "%d characters, at most %d", len(utf), record.MaxShortText)
	}
	if c.StatusListen != "" {
		if _, err := yamlconf.HostPort(c.StatusListen); err != nil {
			bad("status_listen", "%v", err)
		}
	}
	if c.HealthEvery < 5*time.Second || c.HealthEvery > time.Hour {
		bad("health_every", "%v: want 5s to 1h", c.HealthEvery)
	}
	return es.Err()
}

// CheckFiles checks that the files cfg names can be used: the PKI loads
// and chains (the certificate is a device's, the key matches it), and the
// gossip keyring reads. Validate first.
func CheckFiles(cfg Config) error {
	var es yamlconf.Errors
	_, err := trust.LoadNode(trust.NodeFiles{RootCert: cfg.PKI.RootCert, Cert: cfg.PKI.Cert, Key: cfg.PKI.Key,
		Field: func(f string) string { return "pki." + f }}, trust.RoleDevice, cfg.PKI.DeviceID, time.Now())
	if err != nil {
		es = append(es, cfg.sources.Problem("pki", "%v", err))
	}
	if cfg.Gossip.Enabled {
		if _, err := gossip.ReadKeyring(cfg.Gossip.KeyringFile); err != nil {
			es = append(es, cfg.sources.Problem("gossip.keyring_file", "%v", err))
		}
	}
	return es.Err()
}
