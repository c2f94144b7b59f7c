package gateway

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"time"

	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// LoadWebCertificate reads and checks the operators' web certificate
// (operators.web_cert and web_key) at now, or returns nil when there is
// none. It refuses a file it cannot read, a key that is not the
// certificate's, an Ed25519 certificate (browsers cannot use one; Ed25519
// clients get the city certificate already), one that has expired, and
// one that names no DNS name or IP address (browsers check one). Its
// errors are configuration errors: errors.Is(err, yamlconf.ErrConfig)
// holds and each carries the key's FILE:LINE. New calls it; so may a
// configuration check. Call Validate first.
func (c *Config) LoadWebCertificate(now time.Time) (*tls.Certificate, error) {
	o := c.Operators
	if o.WebCert == "" && o.WebKey == "" {
		return nil, nil
	}
	problem := func(field, format string, args ...any) error {
		return yamlconf.Errors{c.sources.Problem(field, format, args...)}
	}
	certPEM, err := os.ReadFile(o.WebCert)
	if err != nil {
		return nil, problem("operators.web_cert", "%v", err)
	}
	keyPEM, err := os.ReadFile(o.WebKey)
	if err != nil {
		return nil, problem("operators.web_key", "%v", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, problem("operators.web_cert", "%s: want PEM certificates (the leaf first)", o.WebCert)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, problem("operators.web_cert", "%s: %v", o.WebCert, err)
	}
	if _, ok := leaf.PublicKey.(ed25519.PublicKey); ok {
		return nil, problem("operators.web_cert", "%s is an Ed25519 certificate: browsers cannot use one, and Ed25519 clients get the gateway's city certificate already; use ECDSA P-256 or RSA", o.WebCert)
	}
	if !now.Before(leaf.NotAfter) {
		return nil, problem("operators.web_cert", "%s expired at %s", o.WebCert, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		return nil, problem("operators.web_cert", "%s names no DNS name or IP address (subject alternative name): browsers refuse it", o.WebCert)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, problem("operators.web_key", "%s does not go with operators.web_cert %s: %v", o.WebKey, o.WebCert, err)
	}
	cert.Leaf = leaf // X509KeyPair sets it too, unless GODEBUG x509keypairleaf=0
	return &cert, nil
}

// operatorCertificate is the operator listener's GetCertificate when it
// has a web certificate: city (the gateway's Ed25519 city certificate)
// for a client whose ClientHello offers Ed25519 signatures (the CLI, any
// Go client), web for the others (browsers, which support neither
// Ed25519 certificates nor Ed25519 signatures on a chain).
//
// It looks at the signature schemes only. ClientHelloInfo.SupportsCertificate
// would also check the server name a client sends against the
// certificate's DNS names, which the city certificate has none of: the
// CLI, given https://gw.example:8443, would get the web certificate and
// refuse it.
func operatorCertificate(city, web *tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if slices.Contains(hello.SignatureSchemes, tls.Ed25519) {
			return city, nil
		}
		return web, nil
	}
}

// operatorTLS is the operator listener's TLS configuration: city alone,
// or city and web chosen per client by operatorCertificate.
func operatorTLS(city tls.Certificate, web *tls.Certificate) *tls.Config {
	if web == nil {
		return &tls.Config{Certificates: []tls.Certificate{city}, MinVersion: tls.VersionTLS13}
	}
	return &tls.Config{GetCertificate: operatorCertificate(&city, web), MinVersion: tls.VersionTLS13}
}
