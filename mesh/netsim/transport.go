package netsim

import (
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is a memberlist.NodeAwareTransport on the simulated network.
// Set it as memberlist.Config.Transport; memberlist then advertises the
// node's fake address, sends its UDP traffic through the link model and
// its TCP traffic through streams.
//
// It does not implement memberlist.IngestionAwareTransport, which
// memberlist v0.7.0 declares deprecated and never calls.
type Transport struct {
	n *Network
	p *port
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Transport attaches a memberlist transport to the named node, creating the
// node and its address on first use. It fails with ErrInUse while the node
// has another open Endpoint or Transport, ErrCrashed while it is crashed,
// and ErrClosed after Close. After memberlist's Shutdown (which shuts the
// transport down) or a Crash and Restart, a new Transport may attach under
// the same name and gets the same address.
func (n *Network) Transport(name string) (*Transport, error) {
	p, err := n.attach(name, kindTransport)
	if err != nil {
		return nil, err
	}
	return &Transport{n: n, p: p}, nil
}

// Name is the node's name.
func (t *Transport) Name() string { return t.p.node.name }

// Addr is the node's address, "10.x.y.z:7946", to pass to Join.
func (t *Transport) Addr() string { return t.p.node.addr.String() }

// Done is closed when the transport stops: Shutdown, Crash or
// Network.Close.
func (t *Transport) Done() <-chan struct{} { return t.p.done }

// Crashed is closed when the node crashes. The memberlist running on this
// transport keeps running (its packets dropped) until its owner calls
// Shutdown, which is how a test or the simulator should react:
//
//	go func() { <-t.Crashed(); ml.Shutdown() }()
func (t *Transport) Crashed() <-chan struct{} { return t.p.crashedCh }

// FinalAdvertiseAddr returns the node's fake address; the ip and port
// memberlist passes in (its BindAddr/AdvertiseAddr) are ignored.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.p.node.addr.Addr().AsSlice(), int(t.p.node.addr.Port()), nil
}

// WriteTo sends a packet to addr ("ip:port"); see WriteToAddress.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet. It routes by a.Addr, as IP would, and by
// a.Name only when a.Addr is empty. It never blocks and never delivers
// synchronously: the scheduler delivers the packet later into the
// receiver's PacketCh. Delivery failures are counted, not returned.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	to, err := toTarget(a)
	if err != nil {
		return time.Time{}, err
	}
	return t.n.send(t.p, to, b)
}

// PacketCh is the channel of received packets. It is never closed.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.p.packets }

// DialTimeout opens a stream to addr; see DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream: it waits the link's one-way latency
// and hands the other end to the target's StreamCh. If the target is
// partitioned away, crashed, unknown or not listening it waits the whole
// timeout and returns a *DialError (a net.Error whose Timeout is true).
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	to, err := toTarget(a)
	if err != nil {
		return nil, err
	}
	desc := a.Addr
	if desc == "" {
		desc = a.Name
	}
	return t.n.dial(t.p, to, desc, timeout)
}

// StreamCh is the channel of accepted streams. It is never closed.
func (t *Transport) StreamCh() <-chan net.Conn { return t.p.streams }

// Shutdown detaches the transport and breaks its streams. memberlist
// calls it from Shutdown. Idempotent; it returns nil.
func (t *Transport) Shutdown() error {
	t.n.closePort(t.p)
	return nil
}

func toTarget(a memberlist.Address) (target, error) {
	if a.Addr == "" {
		if a.Name == "" {
			return target{}, ErrEmptyName
		}
		return target{name: a.Name}, nil
	}
	ap, err := parseAddr(a.Addr)
	if err != nil {
		return target{}, err
	}
	return target{addr: ap}, nil
}
