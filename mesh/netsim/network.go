package netsim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/clock"
)

// Port is the port of every node's fake address (memberlist's default).
const Port = 7946

// Config configures a Network. The zero value is usable.
type Config struct {
	// Seed seeds the random source of every loss, duplication, reordering
	// and jitter decision. 0 is a valid seed like any other.
	Seed int64
	// Default is the link between nodes without a SetLink override.
	Default Link
	// Clock is the time source; nil is the real clock. memberlist needs
	// the real clock.
	Clock Clock
	// PacketBuffer is the capacity of each receiver's packet channel; a
	// packet that finds it full is dropped as Overflow. 0 means 1024
	// (memberlist's HandoffQueueDepth).
	PacketBuffer int
	// StreamBuffer is how many bytes a stream buffers per direction before
	// Write blocks, like a TCP socket buffer. 0 means 4 MiB.
	StreamBuffer int
	// MaxBacklog is how long a packet may wait in its sender's bandwidth
	// queue before it is dropped. 0 means 1 s.
	MaxBacklog time.Duration
	// MaxPacket is the largest packet WriteTo and Send accept; larger ones
	// fail with ErrTooLarge, like EMSGSIZE. 0 means 65507 (UDP over IPv4).
	MaxPacket int
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.PacketBuffer <= 0 {
		c.PacketBuffer = 1024
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = 4 << 20
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = time.Second
	}
	if c.MaxPacket <= 0 {
		c.MaxPacket = 65507
	}
	return c
}

// Network is an in-memory network of named nodes. All methods are safe
// for concurrent use.
type Network struct {
	cfg   Config
	clock Clock
	epoch time.Time // time base of the scheduler; offsets are monotonic

	mu      sync.Mutex
	closed  bool
	rng     *rand.Rand
	def     Link
	links   map[pair]Link
	groups  map[string]int // partition group per name; absent = group 0
	nodes   map[string]*node
	byAddr  map[netip.AddrPort]*node
	streams map[*stream]struct{}
	sched   scheduler

	stop chan struct{} // closed by Close; wakes pending dials
}

// node is one host: a name, a fixed address and counters that outlive the
// Endpoints and Transports attached to it over time.
type node struct {
	name    string
	addr    netip.AddrPort
	udp     *net.UDPAddr // shared, read-only
	tcp     *net.TCPAddr // shared, read-only
	crashed bool
	port    *port // the current attachment; may be closed

	uplinkFree time.Duration // when the bandwidth queue empties
	stats      counters
}

// New starts a Network and its scheduler goroutine; Close stops it. It
// panics if cfg.Default is invalid (see Link.Validate).
func New(cfg Config) *Network {
	cfg = cfg.withDefaults()
	mustValid(cfg.Default)
	seed := uint64(cfg.Seed)
	n := &Network{
		cfg:     cfg,
		clock:   cfg.Clock,
		epoch:   cfg.Clock.Now(),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		def:     cfg.Default,
		links:   map[pair]Link{},
		nodes:   map[string]*node{},
		byAddr:  map[netip.AddrPort]*node{},
		streams: map[*stream]struct{}{},
		sched:   newScheduler(),
		stop:    make(chan struct{}),
	}
	go n.run()
	return n
}

// now is the network time, as an offset from epoch.
func (n *Network) now() time.Duration { return n.clock.Now().Sub(n.epoch) }

// Close stops the scheduler, closes every Endpoint and Transport, breaks
// every stream and fails pending dials. Packets in flight are discarded.
// It is idempotent and returns nil.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		<-n.sched.done
		return nil
	}
	n.closed = true
	close(n.stop)
	for _, nd := range n.nodes {
		if nd.port != nil && !nd.port.closed {
			nd.port.closeLocked(false)
		}
	}
	streams := n.takeStreamsLocked(func(*stream) bool { return true })
	n.sched.heap = nil
	n.mu.Unlock()
	close(n.sched.stop)
	<-n.sched.done
	resetAll(streams, ErrClosed)
	return nil
}

// nodeLocked returns the named node, creating it with the next address.
func (n *Network) nodeLocked(name string) (*node, error) {
	if nd := n.nodes[name]; nd != nil {
		return nd, nil
	}
	i := len(n.nodes) + 1
	if i >= 1<<24 {
		return nil, ErrAddressSpace
	}
	ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	nd := &node{
		name: name,
		addr: netip.AddrPortFrom(ip, Port),
		udp:  &net.UDPAddr{IP: ip.AsSlice(), Port: Port},
		tcp:  &net.TCPAddr{IP: ip.AsSlice(), Port: Port},
	}
	n.nodes[name] = nd
	n.byAddr[nd.addr] = nd
	return nd, nil
}

// attach creates the node if needed and attaches a new port to it.
func (n *Network) attach(name string, kind portKind) (*port, error) {
	if name == "" {
		return nil, ErrEmptyName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	nd, err := n.nodeLocked(name)
	if err != nil {
		return nil, err
	}
	if nd.crashed {
		return nil, fmt.Errorf("netsim: attach %q: %w", name, ErrCrashed)
	}
	if nd.port != nil && !nd.port.closed {
		return nil, fmt.Errorf("netsim: attach %q: %w", name, ErrInUse)
	}
	p := newPort(nd, kind, n.cfg.PacketBuffer)
	nd.port = p
	return p, nil
}

// closePort detaches p (Endpoint.Close, Transport.Shutdown) and breaks its
// streams, like a process that exits.
func (n *Network) closePort(p *port) {
	n.mu.Lock()
	if p.closed {
		n.mu.Unlock()
		return
	}
	p.closeLocked(false)
	streams := n.takeStreamsLocked(func(s *stream) bool { return s.dialer == p || s.listener == p })
	n.mu.Unlock()
	resetAll(streams, ErrConnReset)
}

// Crash crashes the named node: its Endpoint or Transport stops (Done and
// Crashed close), packets from and to it are dropped as Crash, its
// streams break, and it cannot be attached to or dialled until Restart.
// Whatever runs on it (memberlist) keeps running until its owner, told by
// Crashed(), shuts it down; its sends are counted and dropped meanwhile.
// Packets it sent before the crash are still delivered. Crashing a crashed
// node does nothing.
func (n *Network) Crash(name string) error {
	n.mu.Lock()
	nd := n.nodes[name]
	if nd == nil {
		n.mu.Unlock()
		return fmt.Errorf("netsim: crash %q: %w", name, ErrUnknownNode)
	}
	if nd.crashed {
		n.mu.Unlock()
		return nil
	}
	nd.crashed = true
	nd.uplinkFree = 0
	if nd.port != nil && !nd.port.closed {
		nd.port.closeLocked(true)
	}
	streams := n.takeStreamsLocked(func(s *stream) bool { return s.dialer.node == nd || s.listener.node == nd })
	n.mu.Unlock()
	resetAll(streams, ErrConnReset)
	return nil
}

// Restart makes a crashed node reachable again under the same name and
// address; attach a new Transport or Endpoint to it. Restarting a node that
// is not crashed does nothing.
func (n *Network) Restart(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodes[name]
	if nd == nil {
		return fmt.Errorf("netsim: restart %q: %w", name, ErrUnknownNode)
	}
	nd.crashed = false
	return nil
}

// Crashed reports whether the named node is crashed.
func (n *Network) Crashed(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodes[name]
	return nd != nil && nd.crashed
}

// Partition splits the network: nodes in different groups can exchange
// neither packets nor streams, and open streams between them break. Nodes
// not listed in any group (including nodes attached later) form one more
// group of their own, so Partition([]string{"a"}) isolates a from everyone.
// A name listed twice ends up in the last group that lists it. Each call
// replaces the previous partition; packets already in flight across the new
// boundary are dropped on arrival.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	g := map[string]int{}
	for i, names := range groups {
		for _, name := range names {
			g[name] = i + 1
		}
	}
	n.groups = g
	streams := n.takeStreamsLocked(func(s *stream) bool {
		return !n.sameGroupLocked(s.dialer.node.name, s.listener.node.name)
	})
	n.mu.Unlock()
	resetAll(streams, ErrConnReset)
}

// Heal removes the partition. Broken streams stay broken; memberlist has to
// re-join across the healed boundary by itself (or be told to Join).
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
}

func (n *Network) sameGroupLocked(a, b string) bool {
	return n.groups[a] == n.groups[b]
}

// Addr returns the named node's address ("10.x.y.z:7946"), if it exists.
// A node gets its address when first attached and keeps it for good.
func (n *Network) Addr(name string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodes[name]
	if nd == nil {
		return "", false
	}
	return nd.addr.String(), true
}

// Name returns the name of the node at addr ("ip:port"), if any.
func (n *Network) Name(addr string) (string, bool) {
	ap, err := parseAddr(addr)
	if err != nil {
		return "", false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.byAddr[ap]
	if nd == nil {
		return "", false
	}
	return nd.name, true
}

// Nodes returns the names of all nodes ever attached, sorted.
func (n *Network) Nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := make([]string, 0, len(n.nodes))
	for name := range n.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func parseAddr(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w %q: %v", ErrBadAddress, s, err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
