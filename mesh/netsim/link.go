package netsim

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Link describes the one-way path from one node to another. The zero Link
// is a perfect wire: no delay, no loss, unlimited bandwidth.
type Link struct {
	// Latency is the one-way delay of every packet and of a stream's dial.
	Latency time.Duration
	// Jitter spreads each delay uniformly over Latency ± Jitter (never
	// below zero). Jitter alone already reorders packets sent close together.
	Jitter time.Duration
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Duplicate is the probability that a delivered packet is delivered
	// twice; the copy gets its own jitter.
	Duplicate float64
	// Reorder is the probability that a packet is held back by an extra
	// Latency + 2×Jitter + 1 ms, so that it arrives after every packet sent
	// at the same time or shortly after it.
	Reorder float64
	// Bandwidth, in bytes per second, limits the sender's uplink: packets
	// queue behind each other for len/Bandwidth each, and a packet that
	// would wait more than Config.MaxBacklog is dropped. 0 is unlimited and
	// such packets do not queue. The queue belongs to the sending node and
	// is shared by all its links; each packet occupies it at the rate of
	// the link it travels on.
	Bandwidth int
}

// Validate reports every field out of range, wrapped in ErrInvalidLink.
func (l Link) Validate() error {
	var errs []error
	if l.Latency < 0 {
		errs = append(errs, fmt.Errorf("%w: latency %v < 0", ErrInvalidLink, l.Latency))
	}
	if l.Jitter < 0 {
		errs = append(errs, fmt.Errorf("%w: jitter %v < 0", ErrInvalidLink, l.Jitter))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", l.Loss}, {"duplicate", l.Duplicate}, {"reorder", l.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			errs = append(errs, fmt.Errorf("%w: %s %v not in [0, 1]", ErrInvalidLink, p.name, p.v))
		}
	}
	if l.Bandwidth < 0 {
		errs = append(errs, fmt.Errorf("%w: bandwidth %d < 0", ErrInvalidLink, l.Bandwidth))
	}
	return errors.Join(errs...)
}

func mustValid(l Link) {
	if err := l.Validate(); err != nil {
		panic(err) // a programming error, like regexp.MustCompile; callers with user input run Validate first
	}
}

// reorderHold is how much longer a reordered packet takes: long enough to
// arrive after any packet sent at the same instant (at most Latency+Jitter).
func (l Link) reorderHold() time.Duration {
	return l.Latency + 2*l.Jitter + time.Millisecond
}

// delay maps a uniform u in [0,1) to a delay in Latency ± Jitter, ≥ 0.
func (l Link) delay(u float64) time.Duration {
	d := l.Latency + time.Duration((2*u-1)*float64(l.Jitter))
	return max(d, 0)
}

type pair struct{ from, to string }

// SetDefault sets the link used between every pair of nodes without a
// SetLink override. It panics if l is invalid (see Link.Validate).
func (n *Network) SetDefault(l Link) {
	mustValid(l)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.def = l
}

// SetLink sets the link between a and b in BOTH directions (undirected).
// Use SetDirectedLink for an asymmetric path. Names need not be attached
// yet. It panics if l is invalid.
func (n *Network) SetLink(a, b string, l Link) {
	mustValid(l)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[pair{a, b}] = l
	n.links[pair{b, a}] = l
}

// SetDirectedLink sets the link for packets and dials from `from` to `to`
// only. Loss 1 on one direction models a one-way failure (packets only; a
// stream is reliable and only partitions and crashes stop it). It panics if
// l is invalid.
func (n *Network) SetDirectedLink(from, to string, l Link) {
	mustValid(l)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[pair{from, to}] = l
}

// ClearLink removes the overrides between a and b in both directions, so
// they use the default link again.
func (n *Network) ClearLink(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, pair{a, b})
	delete(n.links, pair{b, a})
}

// Link returns the link in effect from one node to another.
func (n *Network) Link(from, to string) Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.linkLocked(from, to)
}

func (n *Network) linkLocked(from, to string) Link {
	if l, ok := n.links[pair{from, to}]; ok {
		return l
	}
	return n.def
}

// target names a packet's or a dial's destination: by name (Endpoint) or
// by address (memberlist).
type target struct {
	name string
	addr netip.AddrPort
}

func (n *Network) resolveLocked(t target) *node {
	if t.name != "" {
		return n.nodes[t.name]
	}
	return n.byAddr[t.addr]
}

// send runs the link model for one packet and schedules its delivery. It
// returns the send time on the network clock. Every decision and every
// random draw happens under n.mu, in the order of the sends, which is what
// makes a seed reproducible.
func (n *Network) send(src *port, to target, b []byte) (time.Time, error) {
	if len(b) > n.cfg.MaxPacket {
		return time.Time{}, fmt.Errorf("netsim: send %d bytes: %w", len(b), ErrTooLarge)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if n.closed {
		return time.Time{}, ErrClosed
	}
	if src.closed && !src.crashed {
		return time.Time{}, ErrClosed
	}
	from := src.node
	from.stats.packetsSent.Add(1)
	from.stats.bytesSent.Add(uint64(len(b)))
	at := n.epoch.Add(now)

	dst := n.resolveLocked(to)
	switch {
	case src.crashed:
		n.dropLocked(from, dropCrash)
		return at, nil
	case dst == nil:
		n.dropLocked(from, dropUnreachable)
		return at, nil
	case dst.crashed:
		n.dropLocked(from, dropCrash)
		return at, nil
	case !n.sameGroupLocked(from.name, dst.name):
		n.dropLocked(from, dropPartition)
		return at, nil
	case dst.port == nil || dst.port.closed:
		n.dropLocked(from, dropUnreachable)
		return at, nil
	}
	l := n.linkLocked(from.name, dst.name)

	depart := now
	if l.Bandwidth > 0 {
		start := max(now, from.uplinkFree)
		if start-now > n.cfg.MaxBacklog {
			n.dropLocked(from, dropBandwidth)
			return at, nil
		}
		depart = start + time.Duration(int64(len(b))*int64(time.Second)/int64(l.Bandwidth))
		from.uplinkFree = depart
	}

	// Always five draws per packet that reaches the wire, whatever the link
	// says, so changing one probability does not shift the others.
	rLoss, rDup, rReorder := n.rng.Float64(), n.rng.Float64(), n.rng.Float64()
	j1, j2 := n.rng.Float64(), n.rng.Float64()
	if rLoss < l.Loss {
		n.dropLocked(from, dropLoss)
		return at, nil
	}
	d := l.delay(j1)
	if rReorder < l.Reorder {
		d += l.reorderHold()
	}
	n.sched.push(delivery{at: depart + d, from: from, to: dst.port, data: clone(b)})
	if rDup < l.Duplicate {
		from.stats.duplicated.Add(1)
		n.sched.push(delivery{at: depart + l.delay(j2), from: from, to: dst.port, data: clone(b)})
	}
	return at, nil
}

func (n *Network) dropLocked(from *node, r dropReason) {
	from.stats.drops[r].Add(1)
}

func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
