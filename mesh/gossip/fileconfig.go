package gossip

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// FileConfig is the gossip section of a role's configuration file (the
// server's, a gateway's, a pole's): where to listen, whom to join, the
// keyring and the label. A role turns it into a Config with Memberlist
// and ReadKeyring.
type FileConfig struct {
	Enabled bool `yaml:"enabled"`
	// Bind is the address to listen on (default "0.0.0.0:7946"); Advertise
	// the one to tell peers, if different (NAT).
	Bind      string `yaml:"bind"`
	Advertise string `yaml:"advertise"`
	// Peers are host:port addresses to join at start; the re-join loop
	// keeps trying them and every member seen since.
	Peers []string `yaml:"peers"`
	// KeyringFile holds the gossip keys, one per line, base64 (16, 24 or 32
	// bytes); the first encrypts. Required when enabled; mode 0600.
	KeyringFile string `yaml:"keyring_file"`
	// Label keeps cities apart; default the city name of the root
	// certificate.
	Label string `yaml:"label"`
}

// DefaultBind is FileConfig.Bind's default.
const DefaultBind = "0.0.0.0:7946"

// Problems returns what is wrong with c, whose fields are under prefix
// ("gossip") in the file src describes.
func (c *FileConfig) Problems(prefix string, src yamlconf.Sources) yamlconf.Errors {
	if !c.Enabled {
		return nil
	}
	var es yamlconf.Errors
	bad := func(field, format string, args ...any) {
		es = append(es, src.Problem(prefix+"."+field, format, args...))
	}
	if _, err := yamlconf.HostPort(c.Bind); err != nil {
		bad("bind", "%v", err)
	}
	if c.Advertise != "" {
		if h, err := yamlconf.HostPort(c.Advertise); err != nil {
			bad("advertise", "%v", err)
		} else if _, err := netip.ParseAddr(h); err != nil {
			bad("advertise", "%q: the host must be an IP address", c.Advertise)
		}
	}
	for i, p := range c.Peers {
		if _, err := yamlconf.HostPort(p); err != nil {
			bad(fmt.Sprintf("peers[%d]", i), "%v", err)
		}
	}
	if c.KeyringFile == "" {
		bad("keyring_file", "required: the gossip encryption keys (base64, one per line)")
	}
	return es
}

// Memberlist returns base (memberlist.DefaultLANConfig() if nil) with c's
// bind and advertise addresses.
func (c *FileConfig) Memberlist(base *memberlist.Config) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	if base != nil {
		b := *base
		mc = &b
	}
	bind := c.Bind
	if bind == "" {
		bind = DefaultBind
	}
	host, port, _ := net.SplitHostPort(bind)
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertiseAddr, mc.AdvertisePort = "", mc.BindPort
	if c.Advertise != "" {
		h, p, _ := net.SplitHostPort(c.Advertise)
		mc.AdvertiseAddr = h
		mc.AdvertisePort, _ = strconv.Atoi(p)
	}
	return mc
}

// NewLink makes the gossip link c describes. cfg carries what the role
// adds (Node, Verifier, Carry, Metas, Logger); NewLink fills in the rest
// from c and the node's certificate and key: the keyring read from
// KeyringFile, the label (default city, the root's city name), the
// memberlist addresses over base (nil: LAN defaults), and the peer
// snapshot path.
func (c *FileConfig) NewLink(cfg Config, cert *x509.Certificate, key ed25519.PrivateKey, city string, base *memberlist.Config, snapshotPath string) (*Link, error) {
	keys, err := ReadKeyring(c.KeyringFile)
	if err != nil {
		return nil, err
	}
	cfg.Label = c.Label
	if cfg.Label == "" {
		cfg.Label = city
	}
	cfg.Cert, cfg.Key, cfg.Keys, cfg.Memberlist, cfg.SnapshotPath = cert, key, keys, c.Memberlist(base), snapshotPath
	l, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", c.Bind, err)
	}
	return l, nil
}

// NewKeyringFile writes a keyring of one new random 32-byte key to path
// (mode 0600), refusing to replace a file that exists.
func NewKeyringFile(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("gossip keyring: %w", err)
	}
	data := "# CITYARRAY gossip keyring: base64 keys, one per line; the first encrypts.\n" + base64.StdEncoding.EncodeToString(k) + "\n"
	if err := atomicfile.WriteFile(path, []byte(data), 0o600, false); err != nil {
		return fmt.Errorf("gossip keyring: %w", err)
	}
	return nil
}

// ReadKeyring reads gossip keys: base64, one per line, blank lines and
// '#' comments ignored. The file must not be readable by group or others.
func ReadKeyring(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("gossip keyring: %s may be read by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			return nil, fmt.Errorf("gossip keyring: %s:%d: want the base64 of a 16, 24 or 32-byte key", path, i+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip keyring: %s holds no key", path)
	}
	return keys, nil
}
