package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/record"
)

// The re-join loop and the peer snapshot: see the package doc, "Re-join".

const (
	// DefaultRejoinInterval is how often Run tries to re-join remembered
	// members that are not alive, when Config.RejoinInterval is 0.
	DefaultRejoinInterval = 10 * time.Second
	// PeerForget: a member not seen alive for this long is forgotten.
	PeerForget = 72 * time.Hour
	// maxRejoinTries is how many remembered addresses one re-join round
	// tries, one after the other, until one answers.
	maxRejoinTries = 8
	// rejoinPerRound is how many members of a cluster (or of one side of
	// a partition), on average, run a re-join round each RejoinInterval:
	// each runs it with probability rejoinPerRound / live members. One
	// member that gets through brings its whole side back, and a Join is
	// a full push/pull; if every member kept trying, a healed partition
	// of N members would see about N·(gossip time / TCPTimeout) Joins
	// before memberlist had gossiped the merge, each carrying the whole
	// member list.
	rejoinPerRound = 3
	// seenResolution: a member's last-seen time alone makes the snapshot
	// worth rewriting only when it has moved this much, so that a steady
	// cluster does not rewrite the file every round.
	seenResolution = time.Hour
	// snapshotMinGap rate-limits snapshot writes: while a large mesh
	// forms, each member learns of others for minutes, and a write (with
	// its fsyncs) every few seconds on every pole costs flash wear and,
	// with many nodes on one disk, everyone's latency. A node restarted
	// within the gap still has its configured peers and the older file.
	snapshotMinGap  = time.Minute
	snapshotVersion = 1
)

// peerInfo is a member this node has seen alive.
type peerInfo struct {
	addr  string    // "ip:port"
	seen  time.Time // last seen alive, on the node's clock
	saved time.Time // seen, as last written to the snapshot
}

// peerBook remembers every member seen alive, for the re-join loop, and
// keeps the snapshot.
type peerBook struct {
	mu       sync.Mutex
	peers    map[string]*peerInfo
	dirty    bool      // the snapshot is out of date
	lastSave time.Time // wall clock of the last write
	joining  bool      // a re-join round is running
	stop     chan struct{}
}

// snapshotFile is the snapshot's JSON form.
type snapshotFile struct {
	Version int              `json:"version"`
	Members []snapshotMember `json:"members"`
}

type snapshotMember struct {
	Name     string    `json:"name"`
	Addr     string    `json:"addr"`
	LastSeen time.Time `json:"last_seen"`
}

// ErrBadSnapshot wraps every snapshot decoding error.
var ErrBadSnapshot = errors.New("gossip: bad peer snapshot")

// parseSnapshot decodes a snapshot strictly and drops members not seen
// since now-PeerForget.
func parseSnapshot(b []byte, now time.Time) (map[string]*peerInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f snapshotFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the object", ErrBadSnapshot)
	}
	if f.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, f.Version, snapshotVersion)
	}
	out := make(map[string]*peerInfo, len(f.Members))
	for i, m := range f.Members {
		if err := record.ValidateNodeID(m.Name); err != nil || len(m.Name) > maxName {
			return nil, fmt.Errorf("%w: member %d: name %q", ErrBadSnapshot, i, m.Name)
		}
		if _, err := netip.ParseAddrPort(m.Addr); err != nil {
			return nil, fmt.Errorf("%w: member %s: address: %v", ErrBadSnapshot, m.Name, err)
		}
		if m.LastSeen.IsZero() {
			return nil, fmt.Errorf("%w: member %s: no last_seen", ErrBadSnapshot, m.Name)
		}
		if _, dup := out[m.Name]; dup {
			return nil, fmt.Errorf("%w: member %s listed twice", ErrBadSnapshot, m.Name)
		}
		if now.Sub(m.LastSeen) > PeerForget {
			continue
		}
		out[m.Name] = &peerInfo{addr: m.Addr, seen: m.LastSeen, saved: m.LastSeen}
	}
	return out, nil
}

// marshalSnapshot encodes peers, sorted by name.
func marshalSnapshot(peers map[string]*peerInfo) ([]byte, error) {
	f := snapshotFile{Version: snapshotVersion, Members: make([]snapshotMember, 0, len(peers))}
	for name, p := range peers {
		f.Members = append(f.Members, snapshotMember{Name: name, Addr: p.addr, LastSeen: p.seen.UTC()})
	}
	sort.Slice(f.Members, func(i, j int) bool { return f.Members[i].Name < f.Members[j].Name })
	return json.MarshalIndent(f, "", "\t")
}

// newPeerBook loads the snapshot at path, if any. A missing file is an
// empty book; a damaged one is logged and ignored (it is rewritten from
// what the node sees next): a peer list is a hint, and a pole that cannot
// start over a bad hint is worse off than one that waits for a Join.
func (l *Link) newPeerBook(path string) *peerBook {
	b := &peerBook{peers: map[string]*peerInfo{}, stop: make(chan struct{})}
	if path == "" {
		return b
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b
	}
	if err == nil {
		var peers map[string]*peerInfo
		if peers, err = parseSnapshot(data, l.node.Clock().Now()); err == nil {
			delete(peers, l.name)
			b.peers = peers
			l.log.Info("peer snapshot loaded", "path", path, "members", len(peers))
			return b
		}
	}
	l.log.Warn("peer snapshot ignored", "path", path, "err", err)
	b.dirty = true
	return b
}

// noteMember records that a member is alive at its address, and reports
// whether this node had seen it before (a re-join). memberlist calls the
// event delegates under its lock, so this takes only the book's.
func (l *Link) noteMember(n *memberlist.Node) (known bool) {
	if n.Name == l.name {
		return false
	}
	now := l.node.Clock().Now()
	addr := n.Address()
	b := l.peers
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[n.Name]
	if p == nil {
		b.peers[n.Name] = &peerInfo{addr: addr, seen: now}
		b.dirty = true
		return false
	}
	if p.addr != addr {
		p.addr = addr
		b.dirty = true
	}
	p.seen = now
	return true
}

// forgetMember drops a member that left the cluster on purpose.
func (l *Link) forgetMember(name string) {
	b := l.peers
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.peers[name]; ok {
		delete(b.peers, name)
		b.dirty = true
	}
}

// maintainPeers marks the live members as seen, forgets those unseen for
// PeerForget, and writes the snapshot if it changed (at most once per
// snapshotMinGap).
func (l *Link) maintainPeers() {
	now := l.node.Clock().Now()
	members := l.ml.Members()
	b := l.peers
	b.mu.Lock()
	for _, m := range members {
		if m.Name == l.name {
			continue
		}
		p := b.peers[m.Name]
		if p == nil {
			p = &peerInfo{}
			b.peers[m.Name] = p
			b.dirty = true
		}
		if addr := m.Address(); p.addr != addr {
			p.addr = addr
			b.dirty = true
		}
		p.seen = now
		if now.Sub(p.saved) >= seenResolution {
			b.dirty = true
		}
	}
	for name, p := range b.peers {
		if now.Sub(p.seen) > PeerForget {
			delete(b.peers, name)
			b.dirty = true
		}
	}
	due := b.dirty && time.Since(b.lastSave) >= snapshotMinGap
	b.mu.Unlock()
	if due {
		l.saveSnapshot()
	}
}

// saveSnapshot writes the book to SnapshotPath, atomically, if it
// changed.
func (l *Link) saveSnapshot() {
	b := l.peers
	b.mu.Lock()
	if !b.dirty {
		b.mu.Unlock()
		return
	}
	if l.cfg.SnapshotPath == "" {
		b.dirty = false
		b.mu.Unlock()
		return
	}
	data, err := marshalSnapshot(b.peers)
	saved := make(map[*peerInfo]time.Time, len(b.peers))
	for _, p := range b.peers {
		saved[p] = p.seen
	}
	b.dirty = false
	b.lastSave = time.Now()
	b.mu.Unlock()
	if err == nil {
		err = atomicfile.WriteFile(l.cfg.SnapshotPath, data, 0o600, true)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.dirty = true
		l.log.Error("peer snapshot not saved", "path", l.cfg.SnapshotPath, "err", err)
		return
	}
	for p, seen := range saved {
		p.saved = seen
	}
}

// rejoinCandidates returns up to maxRejoinTries remembered members that
// are not alive, in random order.
func (l *Link) rejoinCandidates() []peerTarget {
	alive := map[string]bool{}
	for _, m := range l.ml.Members() {
		alive[m.Name] = true
	}
	var cands []peerTarget
	b := l.peers
	b.mu.Lock()
	for name, p := range b.peers {
		if !alive[name] && name != l.name {
			cands = append(cands, peerTarget{name: name, addr: p.addr})
		}
	}
	b.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].name < cands[j].name }) // map order is not the seed's
	for i := 0; i < len(cands) && i < maxRejoinTries; i++ {
		j := i + l.randIntN(len(cands)-i)
		cands[i], cands[j] = cands[j], cands[i]
	}
	return cands[:min(len(cands), maxRejoinTries)]
}

type peerTarget struct{ name, addr string }

// startRejoin starts a re-join round unless one is running: it tries the
// candidates one at a time (a Join is a full push/pull, and one member
// that answers brings its whole side of a partition back) and stops at
// the first that answers. Unless always, it runs with probability
// rejoinPerRound / live members.
func (l *Link) startRejoin(ctx context.Context, always bool) {
	if n := l.ml.NumMembers(); !always && n > rejoinPerRound && l.randIntN(n) >= rejoinPerRound {
		return
	}
	b := l.peers
	b.mu.Lock()
	if b.joining {
		b.mu.Unlock()
		return
	}
	b.joining = true
	b.mu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer func() {
			b.mu.Lock()
			b.joining = false
			b.mu.Unlock()
		}()
		l.rejoinRound(ctx)
	}()
}

func (l *Link) rejoinRound(ctx context.Context) {
	for _, c := range l.rejoinCandidates() {
		select {
		case <-ctx.Done():
			return
		case <-l.peers.stop:
			return
		default:
		}
		if l.alive(c.name) {
			continue // back meanwhile, by someone else's join
		}
		l.countN(&l.stats.RejoinAttempts, 1)
		n, err := l.ml.Join([]string{c.addr})
		if n > 0 {
			l.countN(&l.stats.RejoinSuccesses, 1)
			l.log.Info("re-joined the cluster", "through", c.name, "addr", c.addr, "members", l.ml.NumMembers())
			return
		}
		l.log.Debug("re-join failed", "member", c.name, "addr", c.addr, "err", err)
	}
}

// spread returns d ± 25 %, so that members started together do not tick
// together.
func (l *Link) spread(d time.Duration) time.Duration {
	return d*3/4 + l.jitter(d/2)
}

// Run does the link's periodic work until ctx ends or the link is
// closed: on start, and every RejoinInterval (with probability
// rejoinPerRound / live members, so that a cluster makes a few attempts a
// round, not one per member), it tries to re-join remembered members that
// are not alive (from the peer snapshot on a restart); every
// RejoinInterval it also refreshes and saves the
// snapshot and drops idle sessions; every AntiEntropyInterval it
// reconciles with one random member. Both intervals are spread by ±25 %.
func (l *Link) Run(ctx context.Context) error {
	l.startRejoin(ctx, true)
	rt := time.NewTimer(l.spread(l.cfg.RejoinInterval))
	defer rt.Stop()
	at := time.NewTimer(l.spread(l.cfg.AntiEntropyInterval))
	defer at.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.peers.stop:
			return nil
		case <-rt.C:
			l.gc()
			l.maintainPeers()
			l.startRejoin(ctx, false)
			rt.Reset(l.spread(l.cfg.RejoinInterval))
		case <-at.C:
			l.antiEntropyRound()
			at.Reset(l.spread(l.cfg.AntiEntropyInterval))
		}
	}
}

// JoinAndRun joins the cluster through peers (the configured ones; the
// re-join loop keeps trying them and every member seen since if none
// answers now) and then runs the link until ctx ends.
func (l *Link) JoinAndRun(ctx context.Context, peers []string) error {
	if len(peers) > 0 {
		if n, err := l.Join(peers); err != nil {
			l.log.Warn("no gossip peer reached yet; the re-join loop keeps trying", "peers", strings.Join(peers, ","), "err", err)
		} else {
			l.log.Info("joined the gossip cluster", "reached", n)
		}
	}
	return l.Run(ctx)
}
