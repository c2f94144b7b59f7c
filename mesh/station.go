package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Files a station keeps in its data directory.
const (
	RecordsFile    = "records.db"       // the record store: cache and outbox
	TrustStateFile = "trust-state.json" // the verifier's floor, replay windows, revocations
)

// StationConfig is what a role (a pole, a gateway) stands its node up
// from: its PKI files and its data directory.
type StationConfig struct {
	// Role and ID are what the certificate must say (ID "" takes the
	// certificate's).
	Role trust.Role
	ID   string
	// PKI names the files; TrustedClock says the machine's clock is right.
	PKI          trust.NodeFiles
	TrustedClock bool
	// DataDir holds RecordsFile and TrustStateFile; it is made (0700) if
	// missing.
	DataDir string
	Clock   Clock
	Logger  *slog.Logger
	OnEvent func(Event)
	// Chains, if set, is a chain cache shared with the other nodes of this
	// process (simulations, `cityarray up`; see trust.ChainCache).
	Chains *trust.ChainCache
	// Outbox is NodeConfig.Outbox.
	Outbox func(*record.Record) (store.OutboxClass, bool)
}

// Station is a node stood up from its files: its identity, verifier,
// store and mesh node, and signers for its own records (with the chain,
// and by kid only, which fits one packet).
type Station struct {
	Files       *trust.Node
	Identity    trust.Identity
	Verifier    *trust.Verifier
	Store       *store.Store
	Node        *Node
	ChainSigner record.Signer
	KIDSigner   record.Signer
}

// OpenStation loads and checks the PKI files, opens the store in the data
// directory and builds the node. Close the station's store when done.
func OpenStation(c StationConfig) (*Station, error) {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	now := c.Clock.Now()
	n, err := trust.LoadNode(c.PKI, c.Role, c.ID, now)
	if err != nil {
		return nil, err
	}
	s := &Station{Files: n, Identity: n.Identity}
	if s.Verifier, err = n.SharedVerifier(c.TrustedClock, now, c.Chains); err != nil {
		return nil, err
	}
	if s.ChainSigner, err = record.NewSigner(n.Key, n.Leaf.Raw, true, n.CityCA.Raw); err != nil {
		return nil, err
	}
	if s.KIDSigner, err = record.NewSigner(n.Key, n.Leaf.Raw, false); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if s.Store, err = store.Open(filepath.Join(c.DataDir, RecordsFile), store.DefaultOptions()); err != nil {
		return nil, err
	}
	if s.Node, err = NewNode(NodeConfig{ID: s.Identity.ID, Store: s.Store, Verifier: s.Verifier,
		StatePath: filepath.Join(c.DataDir, TrustStateFile), Clock: c.Clock, Logger: c.Logger, OnEvent: c.OnEvent, Outbox: c.Outbox}); err != nil {
		return nil, errors.Join(err, s.Store.Close())
	}
	return s, nil
}

// Group runs a role's long-lived parts: the first that fails stops the
// others, and Wait says why.
type Group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	log    *slog.Logger
	wg     sync.WaitGroup
}

// NewGroup returns a group whose parts run until ctx ends or one fails,
// and the context they run with.
func NewGroup(ctx context.Context, log *slog.Logger) (*Group, context.Context) {
	gctx, cancel := context.WithCancelCause(ctx)
	return &Group{ctx: gctx, cancel: cancel, log: log}, gctx
}

// Go runs f as the part name. An error from f while the group runs stops
// the group.
func (g *Group) Go(name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(g.ctx); err != nil && g.ctx.Err() == nil {
			g.log.Error("stopped", "part", name, "err", err)
			g.cancel(fmt.Errorf("%s: %w", name, err))
		}
	}()
}

// Stop stops the group with cause (nil: a plain stop).
func (g *Group) Stop(cause error) { g.cancel(cause) }

// Wait stops the group, waits for every part, and returns what stopped
// it: nil when its context ended or Stop(nil) was called.
func (g *Group) Wait() error {
	g.cancel(nil)
	g.wg.Wait()
	if c := context.Cause(g.ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return nil
}

// ServeHTTP serves h on ln until ctx ends, then shuts the server down
// (requests in flight get two seconds).
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
