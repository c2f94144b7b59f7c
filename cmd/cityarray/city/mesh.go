package city

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// MeshOptions describes a simulated mesh of poles.
type MeshOptions struct {
	// Context, if set, interrupts the mesh's long waits (convergence,
	// settling, the benchmarks' loops) when it ends.
	Context context.Context
	// Nodes is how many poles (pole-0001 …), all in zone z1.
	Nodes int
	// Link is the default link between any two poles.
	Link netsim.Link
	// Seed seeds the network and the gossip links.
	Seed int64
	// Dir holds the poles' bbolt files (a temporary directory is made and
	// removed when empty).
	Dir string
	// Baseline runs the Serf-style baseline link instead of gossip.
	Baseline bool
	// BaselineFullState makes the baseline also carry every stored record
	// in memberlist's push/pull (LocalState/MergeRemoteState): full-state
	// anti-entropy, the yardstick of `cityarray bench heal`.
	BaselineFullState bool
	// RunLinks runs each gossip link's Run (the re-join loop and the
	// periodic anti-entropy round) next to its node. Off by default, as
	// in `bench mesh`, which measures dissemination alone.
	RunLinks bool
	// Preload is how many server-signed city warnings every pole holds in
	// its store when it starts (Mesh.Preloaded, seq 1…Preload), as if the
	// stores had synced before: a state to reconcile against.
	Preload int
	// Memberlist returns the base memberlist configuration for a node
	// (default memberlist.DefaultLANConfig).
	Memberlist func() *memberlist.Config
	// Gossip tunes the gossip link (its Node, Verifier, Cert, Key,
	// Memberlist, Keys and Label are set by StartMesh).
	Gossip gossip.Config
	// InboxSize bounds each node's inbox (0: mesh.NodeConfig's default).
	// A thousand poles in one process hold a thousand inboxes.
	InboxSize int
	// OnEvent is called with every node's events.
	OnEvent func(node int, ev mesh.Event)
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
}

// Mesh is a running simulated mesh.
type Mesh struct {
	Net   *netsim.Network
	PKI   *PKI
	Nodes []*MeshNode
	// Server is the simulated control server's identity: every pole knows
	// its certificate, so its records travel with the kid only.
	Server *Member
	// Preloaded are the records every pole started with (MeshOptions.Preload).
	Preloaded []*record.Record

	ctx    context.Context
	dir    string
	ownDir bool
}

// MeshNode is one pole of a Mesh.
type MeshNode struct {
	Name   string
	Member *Member
	Node   *mesh.Node
	Store  *store.Store
	Gossip *gossip.Link // nil for the baseline
	ML     *memberlist.Memberlist

	join     func([]string) (int, error)
	cancel   context.CancelFunc
	done     chan error
	linkDone chan struct{} // closed when the gossip link's Run returns, if it runs
}

// StartMesh starts opts.Nodes poles and joins them into one cluster.
func StartMesh(opts MeshOptions) (_ *Mesh, err error) {
	if opts.Nodes < 2 {
		return nil, fmt.Errorf("city: a mesh needs at least 2 nodes, not %d", opts.Nodes)
	}
	if opts.Memberlist == nil {
		opts.Memberlist = memberlist.DefaultLANConfig
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := time.Now()
	pki, err := NewPKI(simLabel, now)
	if err != nil {
		return nil, err
	}
	server, err := pki.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, now)
	if err != nil {
		return nil, err
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	m := &Mesh{Net: netsim.New(netsim.Config{Seed: opts.Seed, Default: opts.Link}), PKI: pki, Server: server, ctx: opts.Context, dir: opts.Dir}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.dir == "" {
		if m.dir, err = os.MkdirTemp(tmpfsDir(), "cityarray-mesh-"); err != nil {
			return nil, err
		}
		m.ownDir = true
	}
	for k := range opts.Preload {
		rec, err := pki.alert(server, uint64(k+1), now, fmt.Sprintf("Standing advisory %d: know your evacuation route", k+1))
		if err != nil {
			return nil, err
		}
		m.Preloaded = append(m.Preloaded, rec)
	}
	for i := range opts.Nodes {
		name := fmt.Sprintf("pole-%04d", i+1)
		n, err := m.startNode(i, name, opts, now)
		if err != nil {
			return nil, err
		}
		m.Nodes = append(m.Nodes, n)
	}
	// Each pole joins through one pole that joined before it, picked at
	// random, so that no single seed answers a thousand joins; a failed
	// join tries two more.
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x701))
	for i, n := range m.Nodes[1:] {
		var err error
		for range 3 {
			contact, _ := m.Net.Addr(m.Nodes[rng.IntN(i+1)].Name)
			if _, err = n.join([]string{contact}); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("city: %s joining: %w", n.Name, err)
		}
	}
	return m, nil
}

func (m *Mesh) startNode(i int, name string, opts MeshOptions, now time.Time) (*MeshNode, error) {
	member, err := m.PKI.Issue(trust.Identity{Role: trust.RoleDevice, ID: name, Zone: "z1"}, now)
	if err != nil {
		return nil, err
	}
	var onEvent func(mesh.Event)
	if opts.OnEvent != nil {
		onEvent = func(ev mesh.Event) { opts.OnEvent(i, ev) }
	}
	pc := poleConfig{
		Name: name, Member: member, PKI: m.PKI, Net: m.Net, Dir: m.dir, Known: []*Member{m.Server},
		Preload: m.Preloaded, InboxSize: opts.InboxSize, OnEvent: onEvent, Logger: opts.Logger, Memberlist: opts.Memberlist,
	}
	p, err := openPole(pc)
	if err != nil {
		return nil, err
	}
	mn := &MeshNode{Name: name, Member: member, Node: p.node, Store: p.store, done: make(chan error, 1)}
	if opts.Baseline {
		bl, err := newBaselineLink(p.node, p.ml, opts.BaselineFullState)
		if err != nil {
			p.store.Close()
			return nil, err
		}
		mn.ML, mn.join = bl.ml, bl.ml.Join
	} else {
		gl, err := p.gossipLink(pc, opts.Gossip, uint64(opts.Seed)<<20|uint64(i+1))
		if err != nil {
			p.store.Close()
			return nil, err
		}
		mn.Gossip, mn.ML, mn.join = gl, gl.Memberlist(), gl.Join
	}
	node := p.node
	ctx, cancel := context.WithCancel(context.Background())
	mn.cancel = cancel
	go func() { mn.done <- node.Run(ctx) }()
	if opts.RunLinks && mn.Gossip != nil {
		mn.linkDone = make(chan struct{})
		go func() {
			defer close(mn.linkDone)
			mn.Gossip.Run(ctx)
		}()
	}
	return mn, nil
}

// WaitConverged waits until every node sees every other as alive,
// reporting progress every 5 s to progress, if set.
func (m *Mesh) WaitConverged(timeout time.Duration, progress func(string, ...any)) error {
	names := make([]string, len(m.Nodes))
	mls := make([]*memberlist.Memberlist, len(m.Nodes))
	joins := make([]func([]string) (int, error), len(m.Nodes))
	for i, n := range m.Nodes {
		names[i], mls[i], joins[i] = n.Name, n.ML, n.join
	}
	return converge(m.ctx, m.Net, names, mls, joins, timeout, progress)
}

// converge waits until each memberlist sees all of them as members. A
// mass join through one seed can leave a node that missed the gossip
// waiting for the next push/pull, so every 5 s the laggards join again
// through a few others.
// joins[i] joins node i through the given addresses (a gossip link's Join,
// which trades certificates first, or the baseline's memberlist Join).
// Every 5 s it re-joins up to rejoinBatch lagging nodes at once and
// reports progress, if asked.
func converge(ctx context.Context, net *netsim.Network, names []string, mls []*memberlist.Memberlist, joins []func([]string) (int, error), timeout time.Duration, progress func(string, ...any)) error {
	const rejoinBatch = 32
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	nextJoin := time.Now().Add(5 * time.Second)
	for round := 0; ; round++ {
		var lagging []int
		least := len(mls)
		for i, ml := range mls {
			if n := ml.NumMembers(); n < len(mls) {
				lagging = append(lagging, i)
				least = min(least, n)
			}
		}
		if len(lagging) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("city: %d of %d nodes still see fewer than %d members after %v (the least sees %d)", len(lagging), len(mls), len(mls), timeout, least)
		}
		if time.Now().After(nextJoin) {
			if progress != nil {
				progress("membership: %d of %d nodes see every member (the least sees %d)", len(mls)-len(lagging), len(mls), least)
			}
			var wg sync.WaitGroup
			for k, i := range lagging[:min(len(lagging), rejoinBatch)] {
				var addrs []string
				for j := 1; j <= 3; j++ {
					a, _ := net.Addr(names[(i*7+j*31+round)%len(names)])
					addrs = append(addrs, a)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					joins[lagging[k]](addrs)
				}()
			}
			wg.Wait()
			nextJoin = time.Now().Add(5 * time.Second)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("city: waiting for membership: %w", ctx.Err())
		}
	}
}

// Close stops every node, closes the network and removes the directory
// if StartMesh made it.
func (m *Mesh) Close() error {
	var (
		errs []error
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for _, n := range m.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.Gossip != nil {
				n.Gossip.Close()
			} else if n.ML != nil {
				n.ML.Shutdown()
			}
			n.cancel()
			if n.linkDone != nil {
				<-n.linkDone
			}
			if err := <-n.done; err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			n.Store.Close()
		}()
	}
	wg.Wait()
	m.Net.Close()
	if m.ownDir {
		os.RemoveAll(m.dir)
	}
	return errors.Join(errs...)
}

// Alert signs a city-wide warning from the simulated control server.
func (p *PKI) alert(server *Member, seq uint64, now time.Time, text string) (*record.Record, error) {
	return record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.City,
		Issued: now, Expires: now.Add(time.Hour), Origin: server.Identity.ID, Seq: seq,
		Body: &record.Alert{
			Texts: map[string]record.AlertText{
				"en": {Short: text, Long: "Leave low areas near the river now and move to higher ground. Do not walk or drive through water.", Speak: text},
				"es": {Short: "Aviso de inundación: suba a terreno alto", Long: "Salga de las zonas bajas cerca del río y suba a terreno alto. No camine ni conduzca por el agua."},
			},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met", Icon: "flood",
		},
	}, server.KIDSigner)
}

// tmpfsDir returns a RAM-backed directory for simulation stores when the
// machine has one, so that hundreds of fsyncing stores measure the mesh,
// not the disk.
func tmpfsDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}
