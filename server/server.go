package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

// nodeInbox is the node's inbox: several seconds of acks at full rate;
// nodeBatch the most records one store transaction takes, so that a flood
// of acks costs few commits.
const (
	nodeInbox = 1 << 15
	nodeBatch = 2048
)

// Errors of the lifecycle.
var (
	// ErrNotReady: Ready's answer while the server is starting, stopping,
	// or a component is unhealthy (the wrapping error says which).
	ErrNotReady = errors.New("server: not ready")
	// ErrRunning: Run was called a second time, or after Close.
	ErrRunning = errors.New("server: already run")
)

// Server is the control-server daemon: the record store and server
// state, the mesh node with its embedded MQTT broker (and gossip, if
// configured), the audit log, people and access, and the HTTP API. New
// opens and binds everything; Run serves until its context ends, then
// closes everything. See the package doc (# Lifecycle).
type Server struct {
	cfg   Config
	log   *slog.Logger
	clock Clock
	rand  io.Reader

	ident trust.Identity
	city  string
	key   ed25519.PrivateKey

	store    *store.Store
	db       *bbolt.DB
	audit    *audit.Log
	auth     *auth.Service
	verifier *trust.Verifier
	node     *mesh.Node
	broker   *mqttbroker.Broker
	gossip   *gossip.Link
	desk     *desk.Desk
	fleet    *fleet.Fleet

	cityCAKey bool // the city CA's key is loaded: officer keys and revocations
	registration

	httpLn  net.Listener
	httpSrv *http.Server
	webCert *x509.Certificate // nil for plain HTTP; read-only after New
	mux     *http.ServeMux
	metrics *metrics
	anon    *ipLimiter
	cursors cursors

	routesMu sync.Mutex
	routes   []Route

	eventsMu sync.Mutex
	onEvent  atomic.Pointer[[]func(mesh.Event)]

	started     atomic.Bool // Run was called
	serving     atomic.Bool // Run's components are up
	brokerUp    atomic.Bool
	auditBroken atomic.Pointer[string] // why appends fail, once one has

	closeOnce sync.Once
	closeErr  error
	closers   []closer
}

type closer struct {
	name string
	f    func() error
}

// New opens and binds everything cfg names, in this order: the data
// directory, the PKI (the server's certificate must chain to the city root
// and name a server), the keys, the record store, the server state, the
// audit log, auth, the mesh node, the broker (listening from here on),
// gossip if enabled, and the HTTP listener. On any failure it closes what
// it opened. Nothing runs until Run. cfg is validated first: every problem
// is reported at once.
func New(cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: logger.With("component", "server"), clock: cfg.Hooks.Clock, rand: cfg.Hooks.Rand}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	now := s.clock.Now()

	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	pki, err := loadPKI(cfg.PKI, now)
	if err != nil {
		return nil, err
	}
	s.ident, s.city, s.key, s.verifier = pki.ident, pki.city, pki.key, pki.verifier

	keys, created, err := auth.LoadOrCreateKeys(filepath.Join(cfg.DataDir, KeysFile), s.rand)
	if err != nil {
		return nil, err
	}
	if created {
		s.log.Info("generated the data and CSRF keys (first run); back this file up apart from server.db", "file", filepath.Join(cfg.DataDir, KeysFile))
	}
	s.cursors = cursors{key: deriveKey(keys.CSRFKey, "cursor")}

	sopts := store.DefaultOptions()
	sopts.Logger = logger
	if s.store, err = store.Open(filepath.Join(cfg.DataDir, RecordsFile), sopts); err != nil {
		return nil, fmt.Errorf("server: record store: %w", err)
	}
	s.addCloser("record store", s.store.Close)

	if s.db, err = openStateDB(filepath.Join(cfg.DataDir, StateFile)); err != nil {
		return nil, err
	}
	s.addCloser("server state", s.db.Close)

	if s.audit, err = openAudit(cfg, s.ident, s.key, s.clock, logger); err != nil {
		return nil, err
	}
	s.addCloser("audit log", s.audit.Close)
	s.metrics = newMetrics(s)

	if s.auth, err = newAuth(cfg, s.db, keys, s.clock, s.rand, s.auditAuthEvent); err != nil {
		return nil, err
	}
	s.anon = newIPLimiter(cfg.Auth.RateLimits.HTTPPerIP, cfg.Auth.RateLimits.MaxKeys)

	var clock mesh.Clock = mesh.SystemClock{}
	if cfg.Hooks.Clock != nil {
		clock = cfg.Hooks.Clock
	}
	s.node, err = mesh.NewNode(mesh.NodeConfig{
		ID: s.ident.ID, Store: s.store, Verifier: s.verifier,
		StatePath: filepath.Join(cfg.DataDir, TrustStateFile),
		Clock:     clock, Logger: logger,
		OnEvent: s.dispatchEvent,
		// Acks arrive by the thousand per second: parse and check
		// signatures on every core, and queue enough that a burst from
		// the broker is not dropped (its senders would resend it).
		VerifyWorkers: runtime.GOMAXPROCS(0),
		InboxSize:     nodeInbox,
		MaxBatch:      nodeBatch,
	})
	if err != nil {
		return nil, fmt.Errorf("server: mesh node: %w", err)
	}
	if err := s.newDeskAndFleet(pki, keys, logger); err != nil {
		return nil, err
	}

	s.broker, err = mqttbroker.New(mqttbroker.Config{
		Node: s.node, Address: cfg.MQTT.Listen, Certificate: pki.tls, Verifier: s.verifier,
		MessageExpiry: cfg.MQTT.MessageExpiry, SessionExpiry: cfg.MQTT.SessionExpiry,
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("server: mqtt broker on %s: %w", cfg.MQTT.Listen, err)
	}
	s.brokerUp.Store(true)
	s.addCloser("mqtt broker", s.closeBroker)

	if cfg.Gossip.Enabled {
		if s.gossip, err = s.newGossip(pki, logger); err != nil {
			return nil, err
		}
		s.addCloser("gossip", s.gossip.Close)
	}

	if err := s.newHTTP(now); err != nil {
		return nil, err
	}
	s.registerRoutes()
	s.registerDeskRoutes()

	if n, err := s.userCount(); err == nil && n == 0 {
		s.log.Warn("no users yet: run `cityarray server init` to create the first admin")
	}
	return s, nil
}

// pkiFiles is what loadPKI read.
type pkiFiles struct {
	ident    trust.Identity
	city     string
	key      ed25519.PrivateKey
	leaf     *x509.Certificate
	cityCert *x509.Certificate
	tls      tls.Certificate
	verifier *trust.Verifier
}

// loadPKI reads the certificates and the key, and checks that the server
// certificate chains to the root through the city CA, names a server, and
// matches the key.
// pkiFields names, for trust.LoadNode's errors, the configuration fields
// of its files.
var pkiFields = map[string]string{"root_cert": "pki.root_cert", "city_cert": "pki.city_cert", "cert": "pki.server_cert", "key": "pki.server_key"}

func loadPKI(c PKIConfig, now time.Time) (*pkiFiles, error) {
	n, err := trust.LoadNode(trust.NodeFiles{
		RootCert: c.RootCert, CityCert: c.CityCert, Cert: c.ServerCert, Key: c.ServerKey,
		Passphrase: passphraseFunc(c),
		Field:      func(f string) string { return pkiFields[f] },
	}, trust.RoleServer, c.ServerID, now)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	v, err := n.Verifier(c.TrustedClock, now)
	if err != nil {
		return nil, fmt.Errorf("server: pki: %w", err)
	}
	return &pkiFiles{ident: n.Identity, city: n.City, key: n.Key, leaf: n.Leaf, cityCert: n.CityCA, verifier: v, tls: n.TLS}, nil
}

// passphraseFunc returns the source of the server key's passphrase named
// by the configuration, or nil if it names none.
func passphraseFunc(c PKIConfig) func() ([]byte, error) {
	return passphraseFrom(c.PassphraseEnv, c.PassphraseFile)
}

// passphraseFrom reads a passphrase from the environment variable env or
// the file, whichever is set; nil if neither is.
func passphraseFrom(env, file string) func() ([]byte, error) {
	switch {
	case env != "":
		return func() ([]byte, error) {
			v, ok := os.LookupEnv(env)
			if !ok || v == "" {
				return nil, fmt.Errorf("the key is encrypted and $%s is empty", env)
			}
			return []byte(v), nil
		}
	case file != "":
		return func() ([]byte, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			b = bytes.TrimRight(b, "\r\n")
			if len(b) == 0 {
				return nil, fmt.Errorf("%s is empty", file)
			}
			return b, nil
		}
	}
	return nil
}

// loadCityCA reads the city CA's key (see PKIConfig.CityKey) and checks
// it against the city CA certificate. It returns a nil key and no error
// when no key is configured or found. skipped, if not empty, says why a
// key found only by default was not used.
func loadCityCA(c PKIConfig, cityCert *x509.Certificate) (key ed25519.PrivateKey, skipped string, err error) {
	path, required := c.CityKey, c.CityKey != "" || c.CityPassphraseEnv != "" || c.CityPassphraseFile != ""
	if path == "" {
		if c.Dir == "" {
			return nil, "", nil
		}
		path = filepath.Join(c.Dir, trust.CityKeyFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !required {
			return nil, "", nil
		}
	}
	pass := passphraseFrom(c.CityPassphraseEnv, c.CityPassphraseFile)
	if pass == nil {
		pass = func() ([]byte, error) {
			return nil, errors.New("the key is encrypted: set pki.city_passphrase_env or pki.city_passphrase_file")
		}
	}
	key, err = trust.ReadKeyFile(path, pass)
	if err == nil {
		pub, ok := cityCert.PublicKey.(ed25519.PublicKey)
		if !ok || !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
			err = fmt.Errorf("%s is not the key of the city CA certificate", path)
		}
	}
	if err != nil {
		if !required {
			return nil, fmt.Sprintf("%s: %v", path, err), nil
		}
		return nil, "", fmt.Errorf("server: pki.city_key: %w", err)
	}
	return key, "", nil
}

func openStateDB(path string) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("server: %s is locked: is another server running on this data dir?", path)
		}
		return nil, fmt.Errorf("server: server state: %w", err)
	}
	return db, nil
}

func openAudit(cfg Config, ident trust.Identity, key ed25519.PrivateKey, clock Clock, logger *slog.Logger) (*audit.Log, error) {
	name := cfg.Audit.KeyName
	if name == "" {
		name = audit.DefaultKeyName + "/" + ident.ID
	}
	l, err := audit.Open(cfg.Audit.Dir, audit.Options{Key: key, KeyName: name, Clock: clock, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("server: audit log: %w", err)
	}
	return l, nil
}

func newAuth(cfg Config, db *bbolt.DB, keys auth.Keys, clock Clock, rnd io.Reader, hook func(auth.Event)) (*auth.Service, error) {
	o := cfg.authOptions()
	o.Clock, o.Rand, o.DataKey, o.CSRFKey, o.Audit = clock, rnd, keys.DataKey, keys.CSRFKey, hook
	svc, err := auth.New(db, o)
	if err != nil {
		return nil, fmt.Errorf("server: auth: %w", err)
	}
	return svc, nil
}

func (s *Server) newGossip(pki *pkiFiles, logger *slog.Logger) (*gossip.Link, error) {
	g := s.cfg.Gossip
	// Carry: acks reach the server; it does not spread them.
	l, err := g.NewLink(gossip.Config{Node: s.node, Verifier: s.verifier, Carry: gossip.DownOnly, Logger: logger},
		pki.leaf, pki.key, s.city, s.cfg.Hooks.Memberlist, filepath.Join(s.cfg.DataDir, GossipPeers))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return l, nil
}

// newHTTP binds the API listener and prepares the http.Server.
func (s *Server) newHTTP(now time.Time) error {
	h := s.cfg.HTTP
	ln, err := net.Listen("tcp", h.Listen)
	if err != nil {
		return fmt.Errorf("server: http listen on %s: %w", h.Listen, err)
	}
	s.httpLn = ln
	s.addCloser("http listener", func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	s.mux = http.NewServeMux()
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if h.InsecureHTTPLoopback {
		s.log.Warn("serving plain HTTP on a loopback address (insecure_http_loopback): development only", "addr", ln.Addr().String())
		return nil
	}
	cert, err := webCertificate(h.TLS, s.cfg.DataDir, now, s.log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.httpSrv.TLSConfig = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	s.webCert = cert.Leaf
	return nil
}

func (s *Server) addCloser(name string, f func() error) {
	s.closers = append(s.closers, closer{name, f})
}

func (s *Server) closeBroker() error {
	if s.brokerUp.Swap(false) {
		return s.broker.Close()
	}
	return nil
}

// closeAll closes what New opened, newest first, once.
func (s *Server) closeAll() error {
	s.closeOnce.Do(func() {
		s.serving.Store(false)
		var errs []error
		for i := len(s.closers) - 1; i >= 0; i-- {
			c := s.closers[i]
			if err := c.f(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Close releases everything New opened, for a server whose Run was never
// called (Run closes everything itself when it returns). Calling it after
// Run is harmless.
func (s *Server) Close() error {
	s.started.Store(true)
	return s.closeAll()
}

// Run serves until ctx ends or a component fails, then stops every
// component and closes the files, within http.shutdown_timeout plus a
// moment. Each component runs as an execute/interrupt pair (as in
// prometheus's run.Group): when one returns, all are interrupted. It
// returns nil after a clean stop on ctx, or the first component's error.
// Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if s.started.Swap(true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Interrupts run in this order: the API stops taking requests and
	// finishes those in flight first, then the links, then the node, so
	// that nothing in flight loses the parts it needs.
	var g runGroup
	g.add("context", func() error { <-ctx.Done(); return nil }, func(error) { cancel() })

	g.add("http", func() error {
		var err error
		if s.webCert != nil {
			err = s.httpSrv.ServeTLS(s.httpLn, "", "")
		} else {
			err = s.httpSrv.Serve(s.httpLn)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http: %w", err)
	}, func(error) {
		sctx, scancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
		defer scancel()
		if err := s.httpSrv.Shutdown(sctx); err != nil {
			s.httpSrv.Close()
		}
	})

	if s.gossip != nil {
		gctx, gcancel := context.WithCancel(context.Background())
		g.add("gossip", func() error {
			if peers := s.cfg.Gossip.Peers; len(peers) > 0 {
				if n, err := s.gossip.Join(peers); err != nil {
					s.log.Warn("gossip: no peer reached yet; the re-join loop keeps trying", "peers", strings.Join(peers, ","), "err", err)
				} else {
					s.log.Info("gossip: joined", "reached", n)
				}
			}
			return s.gossip.Run(gctx)
		}, func(error) { gcancel(); s.gossip.Close() })
	}

	brokerStop := make(chan struct{})
	g.add("mqtt broker", func() error { <-brokerStop; return s.closeBroker() }, func(error) { close(brokerStop) })

	maintCtx, maintCancel := context.WithCancel(context.Background())
	g.add("maintenance", func() error { s.maintain(maintCtx); return nil }, func(error) { maintCancel() })

	auditCtx, auditCancel := context.WithCancel(context.Background())
	g.add("audit checkpoints", func() error {
		t := time.NewTicker(audit.CheckpointInterval)
		defer t.Stop()
		return s.audit.Run(auditCtx, t.C)
	}, func(error) { auditCancel() })

	deskCtx, deskCancel := context.WithCancel(context.Background())
	g.add("desk renewal", func() error { s.renewAlerts(deskCtx); return nil }, func(error) { deskCancel() })
	regCtx, regCancel := context.WithCancel(context.Background())
	g.add("device registration", func() error { s.registerDevices(regCtx); return nil }, func(error) { regCancel() })
	flushCtx, flushCancel := context.WithCancel(context.Background())
	g.add("fleet flush", func() error { s.flushFleet(flushCtx); return nil }, func(error) { flushCancel() })

	nodeCtx, nodeCancel := context.WithCancel(context.Background())
	g.add("mesh node", func() error { return s.node.Run(nodeCtx) }, func(error) { nodeCancel() })

	s.serving.Store(true)
	s.log.Info("serving", "server", s.ident.ID, "city", s.city, "http", s.HTTPURL(), "mqtt", s.broker.URL(),
		"gossip", s.GossipAddr(), "data_dir", s.cfg.DataDir)
	err := g.run(func(name string, err error) {
		s.serving.Store(false)
		if err != nil {
			s.log.Error("component failed; stopping", "component", name, "err", err)
		} else {
			s.log.Info("stopping", "first", name)
		}
	})
	cerr := s.closeAll()
	if cerr != nil {
		s.log.Error("closing", "err", cerr)
	}
	s.log.Info("stopped")
	return errors.Join(err, cerr)
}

// maintain sweeps expired records, sessions and tokens every minute.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.Sweep(s.clock.Now()); err != nil {
				s.log.Error("record sweep", "err", err)
			} else if n > 0 {
				s.log.Debug("record sweep", "removed", n)
			}
			if _, _, err := s.auth.Sweep(); err != nil {
				s.log.Error("session sweep", "err", err)
			}
		}
	}
}

// Ready reports whether the server can do its job: Run is serving, the
// record store and the server state answer, the broker is up, and the
// audit log takes appends. It returns nil, or an error wrapping
// ErrNotReady that names every component that is not.
func (s *Server) Ready() error {
	var bad []string
	if !s.serving.Load() {
		bad = append(bad, "not serving")
	}
	if _, err := s.store.Len(); err != nil {
		bad = append(bad, "record store: "+err.Error())
	}
	if err := s.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		bad = append(bad, "server state: "+err.Error())
	}
	if !s.brokerUp.Load() {
		bad = append(bad, "mqtt broker: stopped")
	}
	if why := s.auditBroken.Load(); why != nil {
		bad = append(bad, "audit log: "+*why)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(bad, "; "))
	}
	return nil
}

// readiness is Ready by component, for /readyz.
func (s *Server) readiness() map[string]string {
	out := map[string]string{"serving": "ok", "store": "ok", "state": "ok", "broker": "ok", "audit": "ok"}
	if !s.serving.Load() {
		out["serving"] = "not serving"
	}
	if _, err := s.store.Len(); err != nil {
		out["store"] = "unavailable"
	}
	if err := s.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		out["state"] = "unavailable"
	}
	if !s.brokerUp.Load() {
		out["broker"] = "stopped"
	}
	if s.auditBroken.Load() != nil {
		out["audit"] = "not writable"
	}
	return out
}

// Node returns the mesh node (to publish records and read counters).
func (s *Server) Node() *mesh.Node { return s.node }

// Store returns the record store.
func (s *Server) Store() *store.Store { return s.store }

// DB returns the server-state database. Packages keep their own buckets
// in it, named "<package>.<bucket>" (auth uses "auth.*").
func (s *Server) DB() *bbolt.DB { return s.db }

// Audit returns the audit log. Prefer AuditEntry, which sanitises and
// counts failures.
func (s *Server) Audit() *audit.Log { return s.audit }

// Auth returns people and access.
func (s *Server) Auth() *auth.Service { return s.auth }

// Identity returns the server's identity from its certificate.
func (s *Server) Identity() trust.Identity { return s.ident }

// Signer key: SigningKey returns the server's Ed25519 key (the alert layer
// signs records with it).
func (s *Server) SigningKey() ed25519.PrivateKey { return s.key }

// Verifier returns the node's verifier (the city PKI).
func (s *Server) Verifier() *trust.Verifier { return s.verifier }

// Clock returns the server's clock.
func (s *Server) Clock() Clock { return s.clock }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Config returns the configuration the server runs with (paths filled in).
func (s *Server) Config() Config { return s.cfg }

// HTTPAddr returns the address the API listens on.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// HTTPURL returns the API's base URL on its listening address.
func (s *Server) HTTPURL() string {
	scheme := "https"
	if s.cfg.HTTP.InsecureHTTPLoopback {
		scheme = "http"
	}
	return scheme + "://" + s.httpLn.Addr().String()
}

// WebCertificate returns the HTTPS certificate (nil for plain HTTP), so
// that clients of a self-signed server can pin it.
func (s *Server) WebCertificate() *x509.Certificate { return s.webCert }

// Broker returns the embedded MQTT broker (for its counters).
func (s *Server) Broker() *mqttbroker.Broker { return s.broker }

// MQTTAddr returns the address the broker listens on.
func (s *Server) MQTTAddr() net.Addr { return s.broker.Addr() }

// Gossip returns the gossip link, or nil if gossip is off.
func (s *Server) Gossip() *gossip.Link { return s.gossip }

// GossipAddr returns the gossip address ("" if off).
func (s *Server) GossipAddr() string {
	if s.gossip == nil {
		return ""
	}
	n := s.gossip.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// OnMeshEvent adds f to the functions called with every event of the mesh
// node (accepted, rejected, not stored), on the node's goroutine: f must
// not block.
func (s *Server) OnMeshEvent(f func(mesh.Event)) {
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	var fs []func(mesh.Event)
	if cur := s.onEvent.Load(); cur != nil {
		fs = append(fs, *cur...)
	}
	fs = append(fs, f)
	s.onEvent.Store(&fs)
}

func (s *Server) dispatchEvent(ev mesh.Event) {
	if fs := s.onEvent.Load(); fs != nil {
		for _, f := range *fs {
			f(ev)
		}
	}
}

func (s *Server) userCount() (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("auth.users")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// remoteAddr returns the client address of r, unmapped; the zero Addr if
// RemoteAddr is not an address (never for net/http's own server).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
			return a.Unmap()
		}
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}
