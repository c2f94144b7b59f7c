package city

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	pki, err := NewPKI("simcity", now)
	if err != nil {
		return nil, err
	}
	server, err := pki.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, now)
	if err != nil {
		return nil, err
	}
	m := &Mesh{Net: netsim.New(netsim.Config{Seed: opts.Seed, Default: opts.Link}), PKI: pki, Server: server, dir: opts.Dir}
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
	key := []byte("simcity gossip key, 32 bytes!!!!")
	for i := range opts.Nodes {
		name := fmt.Sprintf("pole-%04d", i+1)
		n, err := m.startNode(i, name, opts, key, now)
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

func (m *Mesh) startNode(i int, name string, opts MeshOptions, key []byte, now time.Time) (*MeshNode, error) {
	member, err := m.PKI.Issue(trust.Identity{Role: trust.RoleDevice, ID: name, Zone: "z1"}, now)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(m.dir, name+".db"), store.DefaultOptions())
	if err != nil {
		return nil, err
	}
	if len(m.Preloaded) > 0 {
		if _, err := st.PutBatch(m.Preloaded, now); err != nil {
			st.Close()
			return nil, err
		}
	}
	v, err := m.PKI.Verifier(now, m.Server)
	if err != nil {
		st.Close()
		return nil, err
	}
	var onEvent func(mesh.Event)
	if opts.OnEvent != nil {
		onEvent = func(ev mesh.Event) { opts.OnEvent(i, ev) }
	}
	node, err := mesh.NewNode(mesh.NodeConfig{ID: name, Store: st, Verifier: v, Logger: opts.Logger, OnEvent: onEvent, InboxSize: opts.InboxSize})
	if err != nil {
		st.Close()
		return nil, err
	}
	tr, err := m.Net.Transport(name)
	if err != nil {
		st.Close()
		return nil, err
	}
	mc := opts.Memberlist()
	mc.Transport = tr
	mc.Logger = log.New(io.Discard, "", 0)
	mn := &MeshNode{Name: name, Member: member, Node: node, Store: st, done: make(chan error, 1)}
	if opts.Baseline {
		bl, err := newBaselineLink(node, mc, opts.BaselineFullState)
		if err != nil {
			st.Close()
			return nil, err
		}
		mn.ML, mn.join = bl.ml, bl.ml.Join
	} else {
		gc := opts.Gossip
		gc.Node, gc.Verifier, gc.Cert, gc.Key = node, v, member.Cert, member.Key
		gc.Memberlist, gc.Keys, gc.Label = mc, [][]byte{key}, "simcity"
		gc.Seed = uint64(opts.Seed)<<20 | uint64(i+1)
		gc.Metas = m.PKI.Metas
		gc.Logger = opts.Logger
		gl, err := gossip.New(gc)
		if err != nil {
			st.Close()
			return nil, err
		}
		mn.Gossip, mn.ML, mn.join = gl, gl.Memberlist(), gl.Join
	}
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

// WaitConverged waits until every node sees every other as alive.
func (m *Mesh) WaitConverged(timeout time.Duration) error {
	names := make([]string, len(m.Nodes))
	mls := make([]*memberlist.Memberlist, len(m.Nodes))
	joins := make([]func([]string) (int, error), len(m.Nodes))
	for i, n := range m.Nodes {
		names[i], mls[i], joins[i] = n.Name, n.ML, n.join
	}
	return converge(m.Net, names, mls, joins, timeout)
}

// converge waits until each memberlist sees all of them as members. A
// mass join through one seed can leave a node that missed the gossip
// waiting for the next push/pull, so every 5 s the laggards join again
// through a few others.
// joins[i] joins node i through the given addresses (a gossip link's Join,
// which trades certificates first, or the baseline's memberlist Join).
func converge(net *netsim.Network, names []string, mls []*memberlist.Memberlist, joins []func([]string) (int, error), timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	nextJoin := time.Now().Add(5 * time.Second)
	for {
		var lagging []int
		for i, ml := range mls {
			if ml.NumMembers() < len(mls) {
				lagging = append(lagging, i)
			}
		}
		if len(lagging) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("city: %d of %d nodes still see fewer than %d members after %v", len(lagging), len(mls), len(mls), timeout)
		}
		if time.Now().After(nextJoin) {
			for _, i := range lagging {
				var addrs []string
				for k := 1; k <= 3; k++ {
					a, _ := net.Addr(names[(i*7+k*31)%len(names)])
					addrs = append(addrs, a)
				}
				joins[i](addrs)
			}
			nextJoin = time.Now().Add(5 * time.Second)
		}
		<-tick.C
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
