package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/cityarray/cityarray/server/auth"
)

// InitResult is what Init made: the first admin and its one-time setup
// code.
type InitResult struct {
	AdminID   string
	SetupCode string    // shown once; stored only hashed
	Expires   time.Time // when the setup code stops working
	// SetupURL is where setup is finished: POST the code there (see the
	// package doc, # First run).
	SetupURL string
	DataDir  string
}

// Init prepares a new server: it creates the data directory and keys,
// and the first admin through auth.Service.Bootstrap, whose one-time
// setup code it returns (there is never a default password). It refuses
// with an error wrapping auth.ErrAlreadyInitialised once any user exists,
// and fails while a server runs on the same data directory. The bootstrap
// is audited. It needs the PKI, since the audit log is signed with the
// server key, but opens no listener.
func Init(cfg Config, adminID, displayName string, logger *slog.Logger) (_ *InitResult, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clock := cfg.Hooks.Clock
	if clock == nil {
		clock = systemClock{}
	}
	rnd := cfg.Hooks.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := clock.Now()
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	pki, err := loadPKI(cfg.PKI, now)
	if err != nil {
		return nil, err
	}
	keys, _, err := auth.LoadOrCreateKeys(filepath.Join(cfg.DataDir, KeysFile), rnd)
	if err != nil {
		return nil, err
	}
	db, err := openStateDB(filepath.Join(cfg.DataDir, StateFile))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	log, err := openAudit(cfg, pki.ident, pki.key, clock, logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, log.Close()) }()
	// A Server value just enough for the audit hook.
	s := &Server{cfg: cfg, log: logger.With("component", "server"), audit: log, clock: clock}
	s.metrics = newMetrics(s)
	svc, err := newAuth(cfg, db, keys, clock, rnd, s.auditAuthEvent)
	if err != nil {
		return nil, err
	}
	if displayName == "" {
		displayName = adminID
	}
	code, err := svc.Bootstrap(adminID, displayName, netip.IPv6Loopback())
	if err != nil {
		if errors.Is(err, auth.ErrAlreadyInitialised) {
			return nil, fmt.Errorf("server: %s is initialised already (users exist); manage users through the API: %w", cfg.DataDir, err)
		}
		return nil, fmt.Errorf("server: init: %w", err)
	}
	return &InitResult{AdminID: adminID, SetupCode: code, Expires: now.Add(cfg.Auth.SetupTTL),
		SetupURL: PublicURL(cfg) + "/api/v1/setup/start", DataDir: cfg.DataDir}, nil
}

// PublicURL is the origin operators use: http.public_url, or else the
// listen port on the first self-signed host (or 127.0.0.1 for plain HTTP).
func PublicURL(cfg Config) string {
	h := cfg.HTTP
	if h.PublicURL != "" {
		u := h.PublicURL
		for len(u) > 0 && u[len(u)-1] == '/' {
			u = u[:len(u)-1]
		}
		return u
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return ""
	}
	scheme := "https"
	switch {
	case h.InsecureHTTPLoopback:
		scheme = "http"
		if host == "" {
			host = "127.0.0.1"
		}
	case len(h.TLS.SelfSignedHosts) > 0 && h.TLS.CertFile == "":
		host = h.TLS.SelfSignedHosts[0]
	case host == "" || host == "0.0.0.0" || host == "::":
		host = "localhost"
	}
	if port == "443" && scheme == "https" {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
