package netsim

import (
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

type portKind int

const (
	kindEndpoint portKind = iota
	kindTransport
)

// port is one attachment (an Endpoint or a Transport) to a node. A node has
// at most one open port; Crash or Close closes it and a new one may attach.
type port struct {
	node *node
	kind portKind

	dgrams  chan Datagram           // kindEndpoint
	packets chan *memberlist.Packet // kindTransport
	streams chan net.Conn           // kindTransport; unbuffered, like accept

	done      chan struct{} // closed when the port closes, for any reason
	crashedCh chan struct{} // closed when the port closes because of Crash

	closed  bool // guarded by Network.mu
	crashed bool // closed by Crash; guarded by Network.mu
}

func newPort(nd *node, kind portKind, buf int) *port {
	p := &port{
		node:      nd,
		kind:      kind,
		done:      make(chan struct{}),
		crashedCh: make(chan struct{}),
	}
	if kind == kindEndpoint {
		p.dgrams = make(chan Datagram, buf)
	} else {
		p.packets = make(chan *memberlist.Packet, buf)
		p.streams = make(chan net.Conn)
	}
	return p
}

// closeLocked closes the port; the caller holds Network.mu and checked
// that it is open. The receive channels are never closed: memberlist reads
// PacketCh without checking for a closed channel.
func (p *port) closeLocked(crashed bool) {
	p.closed = true
	p.crashed = crashed
	close(p.done)
	if crashed {
		close(p.crashedCh)
	}
}

// deliver hands a packet to the receiver without blocking; false means the
// channel was full.
func (p *port) deliver(from *node, data []byte, at time.Time) bool {
	if p.kind == kindEndpoint {
		select {
		case p.dgrams <- Datagram{From: from.name, Data: data, At: at}:
			return true
		default:
			return false
		}
	}
	select {
	case p.packets <- &memberlist.Packet{Buf: data, From: from.udp, Timestamp: at}:
		return true
	default:
		return false
	}
}

// Datagram is a packet received by an Endpoint.
type Datagram struct {
	From string    // sender's node name
	Data []byte    // owned by the receiver
	At   time.Time // arrival time on the network clock
}

// Endpoint is a generic datagram socket on the simulated network, for links
// that are not memberlist (MQTT, LoRa). It shares the Network's link model,
// partitions, crashes and counters. Endpoints and Transports can exchange
// packets with each other, but only Transports accept streams.
type Endpoint struct {
	n *Network
	p *port
}

// Endpoint attaches a datagram endpoint to the named node, creating the
// node (and its address) on first use. It fails with ErrInUse if the node
// already has an open Endpoint or Transport, ErrCrashed if it is crashed,
// and ErrClosed after Close.
func (n *Network) Endpoint(name string) (*Endpoint, error) {
	p, err := n.attach(name, kindEndpoint)
	if err != nil {
		return nil, err
	}
	return &Endpoint{n: n, p: p}, nil
}

// Name is the node's name.
func (e *Endpoint) Name() string { return e.p.node.name }

// Addr is the node's address, "10.x.y.z:7946".
func (e *Endpoint) Addr() string { return e.p.node.addr.String() }

// Send sends b (copied) to the named node, best effort: a packet to an
// unknown, crashed, partitioned or detached node is counted as dropped and
// Send still returns nil, as UDP would. Once the node has crashed, Send
// also returns nil and counts a Crash drop: a crashed process does not know
// it is dead. Send fails with ErrClosed after Close and ErrTooLarge for a
// packet over Config.MaxPacket. It never blocks on the receiver.
func (e *Endpoint) Send(to string, b []byte) error {
	if to == "" {
		return ErrEmptyName
	}
	_, err := e.n.send(e.p, target{name: to}, b)
	return err
}

// Recv is the channel of received packets (capacity Config.PacketBuffer).
// It is never closed; select on Done as well.
func (e *Endpoint) Recv() <-chan Datagram { return e.p.dgrams }

// Done is closed when the endpoint stops: Close, Crash or Network.Close.
func (e *Endpoint) Done() <-chan struct{} { return e.p.done }

// Crashed is closed when the node crashes while this endpoint is attached.
func (e *Endpoint) Crashed() <-chan struct{} { return e.p.crashedCh }

// Close detaches the endpoint; the node keeps its name, address and
// counters and a new Endpoint or Transport may attach. Idempotent.
func (e *Endpoint) Close() error {
	e.n.closePort(e.p)
	return nil
}
