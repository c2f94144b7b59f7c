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
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// serverKeys are the two secrets auth.Service needs, kept in KeysFile.
//
// Why a 0600 file and not encryption at rest: a key that encrypts these
// would have to be on the same machine to start unattended (in a file,
// an environment variable, or derived from the server's own key), so it
// would protect nothing from whoever can read the data directory, and
// deriving it from the server key would make every user re-enrol TOTP
// when the server certificate is renewed. What the split does protect:
// TOTP secrets in server.db are sealed under DataKey, so a copy of
// server.db alone (a backup, a support bundle) reveals none of them. Keep
// server.keys out of those copies and back it up separately.
type serverKeys struct {
	Version int    `json:"version"`
	DataKey []byte `json:"data_key"` // 32 bytes, seals TOTP secrets (XChaCha20-Poly1305)
	CSRFKey []byte `json:"csrf_key"` // 32 bytes, derives CSRF tokens and cursor MACs
}

// loadOrCreateKeys reads path, or on first run generates both keys from
// rnd and writes them (0600, atomically, never replacing a file). created
// reports the first run. A file that group or others may read is refused.
func loadOrCreateKeys(path string, rnd io.Reader) (k serverKeys, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k = serverKeys{Version: 1, DataKey: make([]byte, 32), CSRFKey: make([]byte, 32)}
		if _, err := io.ReadFull(rnd, k.DataKey); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		if _, err := io.ReadFull(rnd, k.CSRFKey); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		b, _ := json.Marshal(k)
		if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600, false); err != nil {
			return k, false, fmt.Errorf("keys: %w", err)
		}
		return k, true, nil
	case err != nil:
		return k, false, fmt.Errorf("keys: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return k, false, fmt.Errorf("keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return k, false, fmt.Errorf("keys: %s may be read by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return k, false, fmt.Errorf("keys: %s: %w", path, err)
	}
	if k.Version != 1 || len(k.DataKey) != 32 || len(k.CSRFKey) != 32 {
		return k, false, fmt.Errorf("keys: %s: want version 1 with two 32-byte keys", path)
	}
	return k, false, nil
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
	c, err := generateSelfSigned(cfg.SelfSignedHosts, now, certPath, keyPath)
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

// generateSelfSigned makes an ECDSA P-256 certificate for hosts, valid 397
// days (the most browsers accept), and writes it and its key atomically.
func generateSelfSigned(hosts []string, now time.Time, certPath, keyPath string) (tls.Certificate, error) {
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
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"CITYARRAY control server (self-signed)"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(397 * 24 * time.Hour),
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
