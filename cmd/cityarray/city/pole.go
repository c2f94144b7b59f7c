package city

import (
	"io"
	"log"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// poleConfig is what starting one simulated pole takes; the bench harness
// (mesh.go) and the simulator (sim.go) both start poles with it.
type poleConfig struct {
	Name   string
	Member *Member
	PKI    *PKI
	Net    *netsim.Network
	Dir    string // the pole's bbolt file (and verifier state) live here
	// Known are members whose certificates the pole's verifier starts with.
	Known []*Member
	// Clock is the pole's clock (default mesh.SystemClock).
	Clock mesh.Clock
	// KeepState keeps the verifier's state in Dir across restarts.
	KeepState bool
	// Preload are records put in the store before the node starts.
	Preload   []*record.Record
	InboxSize int
	OnEvent   func(mesh.Event)
	Logger    *slog.Logger
	// Memberlist is the base memberlist configuration (default LAN).
	Memberlist func() *memberlist.Config
}

// pole is a started replica with its store and verifier, and the
// memberlist configuration (on the pole's simulated transport) for its
// link. The caller runs the node.
type pole struct {
	store    *store.Store
	verifier *trust.Verifier
	node     *mesh.Node
	ml       *memberlist.Config
}

// openPole opens (or reopens) a pole's store and builds its replica.
func openPole(c poleConfig) (*pole, error) {
	if c.Clock == nil {
		c.Clock = mesh.SystemClock{}
	}
	if c.Memberlist == nil {
		c.Memberlist = memberlist.DefaultLANConfig
	}
	now := c.Clock.Now()
	st, err := store.Open(filepath.Join(c.Dir, c.Name+".db"), store.DefaultOptions())
	if err != nil {
		return nil, err
	}
	p, err := c.build(st, now)
	if err != nil {
		st.Close()
		return nil, err
	}
	return p, nil
}

func (c poleConfig) build(st *store.Store, now time.Time) (*pole, error) {
	if len(c.Preload) > 0 {
		if _, err := st.PutBatch(c.Preload, now); err != nil {
			return nil, err
		}
	}
	v, err := c.PKI.Verifier(now, c.Known...)
	if err != nil {
		return nil, err
	}
	nc := mesh.NodeConfig{ID: c.Name, Store: st, Verifier: v, Clock: c.Clock, Logger: c.Logger, OnEvent: c.OnEvent, InboxSize: c.InboxSize}
	if c.KeepState {
		nc.StatePath = filepath.Join(c.Dir, c.Name+".trust.json")
	}
	node, err := mesh.NewNode(nc)
	if err != nil {
		return nil, err
	}
	tr, err := c.Net.Transport(c.Name)
	if err != nil {
		return nil, err
	}
	mc := c.Memberlist()
	mc.Transport = tr
	mc.Logger = log.New(io.Discard, "", 0)
	return &pole{store: st, verifier: v, node: node, ml: mc}, nil
}

// simKey is the simulated city's gossip key; simLabel its label.
var simKey = []byte("simcity gossip key, 32 bytes!!!!")

const simLabel = "simcity"

// gossipLink starts the pole's gossip link; base carries the tuning (its
// identity, keyring, label and caches are set here).
func (p *pole) gossipLink(c poleConfig, base gossip.Config, seed uint64) (*gossip.Link, error) {
	base.Node, base.Verifier, base.Cert, base.Key = p.node, p.verifier, c.Member.Cert, c.Member.Key
	base.Memberlist, base.Keys, base.Label = p.ml, [][]byte{simKey}, simLabel
	base.Seed, base.Metas, base.Logger = seed, c.PKI.Metas, c.Logger
	return gossip.New(base)
}
