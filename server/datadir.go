package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// The files of the data directory (see # The data directory).
const (
	RecordsFile    = "records.db"         // mesh/store: signed records, outbox
	StateFile      = "server.db"          // server state: auth.* buckets and other packages'
	KeysFile       = "server.keys"        // DataKey and CSRFKey, JSON, mode 0600
	TrustStateFile = "trust-state.json"   // the verifier's floor, replay windows, revocations
	GossipPeers    = "gossip-peers.json"  // the gossip link's peer snapshot
	WebCertFile    = "web-selfsigned.pem" // the generated HTTPS certificate
	WebKeyFile     = "web-selfsigned.key" // its ECDSA key, mode 0600
	AuditDir       = "audit"              // the audit log, unless audit.dir says otherwise
)

// ensureDataDir creates dir (0700) if it is missing and refuses one that
// group or others may write to.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("data dir: %s is writable by group or others (mode %v); chmod 700 it", dir, fi.Mode().Perm())
	}
	return nil
}

// webCertificate returns the HTTPS certificate: the configured files, or a
// self-signed one for hosts in dataDir, generated when missing, expiring
// within 30 days, or made for other hosts.
func webCertificate(cfg TLSConfig, dataDir string, now time.Time, log *slog.Logger) (tls.Certificate, error) {
	if cfg.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return c, fmt.Errorf("web certificate: %w", err)
		}
		return c, nil
	}
	certPath, keyPath := filepath.Join(dataDir, WebCertFile), filepath.Join(dataDir, WebKeyFile)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf := c.Leaf
		if leaf != nil && now.Before(leaf.NotAfter.Add(-30*24*time.Hour)) && slices.Equal(certHosts(leaf), sortedHosts(cfg.SelfSignedHosts)) {
			return c, nil
		}
		log.Info("replacing the self-signed web certificate (expiring, or made for other hosts)", "file", certPath)
	}
	c, err := GenerateSelfSigned(cfg.SelfSignedHosts, "CITYARRAY control server (self-signed)", 397*24*time.Hour, now, certPath, keyPath)
	if err != nil {
		return c, fmt.Errorf("web certificate: %w", err)
	}
	sum := sha256.Sum256(c.Leaf.Raw)
	log.Warn("generated a self-signed web certificate: browsers will warn until you install one from a CA (http.tls.cert_file)",
		"file", certPath, "hosts", strings.Join(cfg.SelfSignedHosts, ","), "sha256", hex.EncodeToString(sum[:]),
		"expires", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return c, nil
}

func certHosts(c *x509.Certificate) []string {
	hosts := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	slices.Sort(hosts)
	return hosts
}

func sortedHosts(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		if ip := net.ParseIP(h); ip != nil {
			out[i] = ip.String()
		} else {
			out[i] = strings.ToLower(strings.TrimSuffix(h, "."))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// GenerateSelfSigned makes a self-signed ECDSA P-256 server certificate
// for hosts (DNS names or IP addresses; the first is also its common
// name) of organisation org, valid from 5 minutes before now for validity
// (browsers accept at most 397 days), and writes it (certPath, 0644) and
// its PKCS #8 key (keyPath, 0600) atomically, replacing what is there. It
// returns the pair.
func GenerateSelfSigned(hosts []string, org string, validity time.Duration, now time.Time, certPath, keyPath string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("self-signed certificate: no host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{org}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range sortedHosts(hosts) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600, true); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644, true); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
