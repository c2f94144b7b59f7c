package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// webCert is a web certificate written by writeWebCert.
type webCert struct {
	cert          *x509.Certificate
	certPath, key string
}

// writeWebCert writes a self-signed certificate of key (a new ECDSA P-256
// key if nil) for hosts (IP addresses or DNS names), valid until
// notAfter, to dir/name.pem and its key to dir/name.key.
func writeWebCert(t testing.TB, dir, name string, key crypto.Signer, serial int64, notAfter time.Time, hosts ...string) webCert {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name + ".test", Organization: []string{"operators web CA"}},
		NotBefore:    notAfter.Add(-30 * 24 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	w := webCert{cert: cert, certPath: filepath.Join(dir, name+".pem"), key: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(w.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestOperatorCertificate: a ClientHello that offers Ed25519 gets the
// city certificate, whatever server name it asks for; one that does not
// (a browser's) gets the web certificate.
func TestOperatorCertificate(t *testing.T) {
	city, web := &tls.Certificate{}, &tls.Certificate{}
	browser := []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256, tls.PKCS1WithSHA256,
		tls.ECDSAWithP384AndSHA384, tls.PSSWithSHA384, tls.PKCS1WithSHA384, tls.PSSWithSHA512, tls.PKCS1WithSHA512}
	goClient := []tls.SignatureScheme{tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256, tls.Ed25519, tls.PSSWithSHA384,
		tls.PSSWithSHA512, tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512, tls.ECDSAWithP384AndSHA384}
	tests := []struct {
		name  string
		hello tls.ClientHelloInfo
		want  string
	}{
		{"browser", tls.ClientHelloInfo{SignatureSchemes: browser, ServerName: "gw.example"}, "web"},
		{"ECDSA only", tls.ClientHelloInfo{SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}}, "web"},
		{"RSA only", tls.ClientHelloInfo{SignatureSchemes: []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}}, "web"},
		{"no schemes", tls.ClientHelloInfo{}, "web"},
		{"Go client", tls.ClientHelloInfo{SignatureSchemes: goClient}, "city"},
		{"Go client with a server name", tls.ClientHelloInfo{SignatureSchemes: goClient, ServerName: "gw.example"}, "city"},
		{"Ed25519 only", tls.ClientHelloInfo{SignatureSchemes: []tls.SignatureScheme{tls.Ed25519}}, "city"},
	}
	pick := operatorCertificate(city, web)
	for _, tt := range tests {
		got, err := pick(&tt.hello)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		name := map[*tls.Certificate]string{city: "city", web: "web"}[got]
		if name != tt.want {
			t.Errorf("%s: got the %s certificate, want the %s one", tt.name, name, tt.want)
		}
	}
}

// TestWebCertificateProblems: operators.web_cert and web_key are
// refused, naming the key and its line, when one comes without the other
// or without operators.listen (Validate), or when a file is unreadable,
// the key is not the certificate's, or the certificate is Ed25519,
// expired or names no host (LoadWebCertificate, which New calls).
func TestWebCertificateProblems(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	good := writeWebCert(t, dir, "good", nil, 1, now.AddDate(0, 0, 30), "127.0.0.1", "localhost")
	other := writeWebCert(t, dir, "other", nil, 2, now.AddDate(0, 0, 30), "localhost")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	writeWebCert(t, dir, "ed", edKey, 3, now.AddDate(0, 0, 30), "localhost")
	writeWebCert(t, dir, "expired", nil, 4, now.Add(-time.Hour), "localhost")
	writeWebCert(t, dir, "nohost", nil, 5, now.AddDate(0, 0, 30))
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Lines: 4 operators, 5 listen, 6 web_cert, 7 web_key.
	const head = "data_dir: d\npki: {dir: pki, gateway_id: gw-1}\nserver: {brokers: ['tls://127.0.0.1:1']}\noperators:\n"
	tests := []struct {
		name, ops string
		want      []string // each line's start, after the directory; nil: the good certificate
	}{
		{"good, relative paths", "  listen: 127.0.0.1:0\n  web_cert: good.pem\n  web_key: good.key\n", nil},
		{"cert without key", "  listen: 127.0.0.1:0\n  web_cert: good.pem\n",
			[]string{"c.yaml:6: operators.web_cert: set without operators.web_key"}},
		{"key without cert", "  listen: 127.0.0.1:0\n  web_key: good.key\n",
			[]string{"c.yaml:6: operators.web_key: set without operators.web_cert"}},
		{"no listener", "  web_cert: good.pem\n  web_key: good.key\n",
			[]string{"c.yaml:5: operators.web_cert: set, but operators.listen is off"}},
		{"unreadable cert", "  listen: 127.0.0.1:0\n  web_cert: missing.pem\n  web_key: good.key\n",
			[]string{"c.yaml:6: operators.web_cert: open " + filepath.Join(dir, "missing.pem") + ": no such file"}},
		{"unreadable key", "  listen: 127.0.0.1:0\n  web_cert: good.pem\n  web_key: missing.key\n",
			[]string{"c.yaml:7: operators.web_key: open " + filepath.Join(dir, "missing.key") + ": no such file"}},
		{"not PEM", "  listen: 127.0.0.1:0\n  web_cert: junk.pem\n  web_key: good.key\n",
			[]string{"c.yaml:6: operators.web_cert: " + filepath.Join(dir, "junk.pem") + ": want PEM certificates"}},
		{"key of another certificate", "  listen: 127.0.0.1:0\n  web_cert: good.pem\n  web_key: " + other.key + "\n",
			[]string{"c.yaml:7: operators.web_key: " + other.key + " does not go with operators.web_cert " + good.certPath + ": tls: private key does not match public key"}},
		{"Ed25519", "  listen: 127.0.0.1:0\n  web_cert: ed.pem\n  web_key: ed.key\n",
			[]string{"c.yaml:6: operators.web_cert: " + filepath.Join(dir, "ed.pem") + " is an Ed25519 certificate: browsers cannot use one"}},
		{"expired", "  listen: 127.0.0.1:0\n  web_cert: expired.pem\n  web_key: expired.key\n",
			[]string{"c.yaml:6: operators.web_cert: " + filepath.Join(dir, "expired.pem") + " expired at "}},
		{"no host", "  listen: 127.0.0.1:0\n  web_cert: nohost.pem\n  web_key: nohost.key\n",
			[]string{"c.yaml:6: operators.web_cert: " + filepath.Join(dir, "nohost.pem") + " names no DNS name or IP address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(head+tt.ops), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			var web *tls.Certificate
			if err == nil {
				web, err = cfg.LoadWebCertificate(now)
			}
			if err != nil && !errors.Is(err, yamlconf.ErrConfig) {
				t.Errorf("error %v is not a configuration error", err)
			}
			got := yamlconf.Lines(err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], filepath.Join(dir, tt.want[i])) {
					t.Errorf("got %q, want it to start %q", got[i], tt.want[i])
				}
			}
			if tt.want == nil && (web == nil || web.Leaf.SerialNumber.Cmp(good.cert.SerialNumber) != 0) {
				t.Errorf("LoadWebCertificate = %v, want the good certificate", web)
			}
		})
	}

	// New refuses to start with a bad web certificate.
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "gw")
	cfg.PKI.Dir, cfg.PKI.GatewayID = cityFiles(t), "gw-1"
	cfg.MQTT.Listen, cfg.Operators.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Operators.WebCert, cfg.Operators.WebKey = good.certPath, other.key
	cfg.Server.Brokers = []string{"tls://127.0.0.1:1"}
	if g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, yamlconf.ErrConfig) ||
		!strings.Contains(err.Error(), "operators.web_key: "+other.key+" does not go with operators.web_cert") {
		if g != nil {
			g.Close()
		}
		t.Errorf("New with a mismatched web key: %v", err)
	}
}

// TestOperatorWebCertificate: with operators.web_cert, a browser-like
// client (openssl s_client offering ECDSA signatures only) gets the web
// certificate on the operator listener, while an Ed25519 client (openssl
// offering Ed25519, the CLI's Go client, with or without a server name)
// gets the city certificate and the CLI's check accepts it.
func TestOperatorWebCertificate(t *testing.T) {
	web := writeWebCert(t, t.TempDir(), "operators", nil, 0x5eb5e7, time.Now().AddDate(0, 0, 30), "127.0.0.1", "localhost")
	z := startZoneWith(t, func(c *Config) {
		c.Operators.Listen = "127.0.0.1:0"
		c.Operators.WebCert, c.Operators.WebKey = web.certPath, web.key
	})
	addr := strings.TrimPrefix(z.g.OperatorURL(), "https://")
	leaf, err := trust.ReadCertFile(filepath.Join(z.pki, "gw-1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	city := leaf[0]

	// The CLI's client, by address and by a host name (which it sends as
	// the server name): the city certificate, checked as the CLI does.
	client := operatorClient(t, z)
	tr := client.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	for _, base := range []string{z.g.OperatorURL(), "https://gw.example:8443"} {
		resp, err := client.Get(base + "/")
		if err != nil {
			t.Fatalf("the CLI's client at %s: %v", base, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/: %s", base, resp.Status)
		}
		if got := resp.TLS.PeerCertificates[0]; !got.Equal(city) {
			t.Errorf("the CLI's client at %s got %s, want the city certificate", base, got.Subject)
		}
	}

	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("no openssl binary: the set-up installs it (README, .ci/run); the browser-like client needs it")
	}
	// sClient returns the certificate s_client got (it prints it, PEM)
	// and the subject line it printed, without spaces.
	sClient := func(sigalgs string) (*x509.Certificate, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-servername", "localhost", "-sigalgs", sigalgs)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl s_client -sigalgs %s: %v\n%s%s", sigalgs, err, out, stderr.String())
		}
		i := strings.Index(string(out), "-----BEGIN CERTIFICATE-----")
		if i < 0 {
			t.Fatalf("openssl s_client -sigalgs %s: no certificate in:\n%s%s", sigalgs, out, stderr.String())
		}
		block, _ := pem.Decode(out[i:])
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if subject, ok := strings.CutPrefix(line, "subject="); ok {
				// "O = operators web CA, CN = operators.test" (OpenSSL
				// 3.0; other versions space it otherwise).
				return c, strings.ReplaceAll(subject, " ", "")
			}
		}
		t.Fatalf("openssl s_client -sigalgs %s: no subject= line in:\n%s", sigalgs, out)
		return nil, ""
	}
	got, subject := sClient("ECDSA+SHA256")
	if got.SerialNumber.Cmp(web.cert.SerialNumber) != 0 || !strings.Contains(subject, "CN=operators.test") {
		t.Errorf("openssl offering ECDSA got serial %x, subject %q; want the web certificate, serial %x, CN operators.test",
			got.SerialNumber, subject, web.cert.SerialNumber)
	}
	if got, subject := sClient("ed25519"); !got.Equal(city) || !strings.Contains(subject, "CN=gw-1") {
		t.Errorf("openssl offering Ed25519 got subject %q, want the city certificate (CN gw-1)", subject)
	}
}
