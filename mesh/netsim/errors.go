package netsim

import (
	"errors"
	"strings"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrClosed: the Network, Endpoint or Transport was closed.
	ErrClosed = errors.New("netsim: closed")
	// ErrCrashed: the node is crashed (see Network.Crash). Attaching to a
	// crashed node and dialling a crashed node fail with it.
	ErrCrashed = errors.New("netsim: node crashed")
	// ErrInUse: the node already has a live Endpoint or Transport.
	ErrInUse = errors.New("netsim: node already attached")
	// ErrEmptyName: a node name must not be empty.
	ErrEmptyName = errors.New("netsim: empty node name")
	// ErrUnknownNode: no node of that name or address was ever attached.
	ErrUnknownNode = errors.New("netsim: unknown node")
	// ErrBadAddress: an address is not "ip:port".
	ErrBadAddress = errors.New("netsim: bad address")
	// ErrPartitioned: the two nodes are in different partition groups.
	ErrPartitioned = errors.New("netsim: partitioned")
	// ErrUnreachable: nothing listens for streams at the address.
	ErrUnreachable = errors.New("netsim: host unreachable")
	// ErrTooLarge: a packet is larger than Config.MaxPacket.
	ErrTooLarge = errors.New("netsim: packet too large")
	// ErrConnReset: a stream was broken by a partition, a crash or the
	// shutdown of either end's transport.
	ErrConnReset = errors.New("netsim: connection reset")
	// ErrInvalidLink: a Link field is out of range.
	ErrInvalidLink = errors.New("netsim: invalid link")
	// ErrAddressSpace: more than 2^24-1 nodes.
	ErrAddressSpace = errors.New("netsim: address space exhausted")
)

// DialError is returned by Transport.DialTimeout when the network does not
// let a stream through. It waited for the whole timeout, as a TCP SYN into
// a partition or a dead host does, so Timeout reports true. Err is
// ErrPartitioned, ErrCrashed, ErrUnreachable or ErrUnknownNode.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string {
	return "netsim: dial " + e.Addr + ": " + strings.TrimPrefix(e.Err.Error(), "netsim: ")
}

func (e *DialError) Unwrap() error { return e.Err }

// Timeout reports true: the dial gave up at its deadline (net.Error).
func (e *DialError) Timeout() bool { return true }

// Temporary reports false (net.Error; deprecated upstream).
func (e *DialError) Temporary() bool { return false }
