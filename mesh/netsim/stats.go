package netsim

import "sync/atomic"

// Drops counts packets that were sent but never delivered, by reason.
type Drops struct {
	Loss        uint64 // the link's Loss probability
	Partition   uint64 // sender and receiver in different groups, at send or at delivery
	Crash       uint64 // sender or receiver crashed
	Bandwidth   uint64 // the sender's uplink backlog exceeded Config.MaxBacklog
	Overflow    uint64 // the receiver's channel was full
	Unreachable uint64 // unknown address, or nothing attached at it
}

// Total is the sum of all reasons.
func (d Drops) Total() uint64 {
	return d.Loss + d.Partition + d.Crash + d.Bandwidth + d.Overflow + d.Unreachable
}

// NodeStats are one node's counters. They survive Crash and Restart and are
// zeroed only by ResetStats.
//
// Packet drops are charged to the sending node, whatever the reason
// (including Overflow at the receiver), so over a quiet network
//
//	PacketsSent + Duplicated == PacketsReceived + Dropped.Total()
//
// holds for TotalStats. Byte counts are payload bytes; no IP/UDP/TCP header
// overhead is modelled.
type NodeStats struct {
	PacketsSent     uint64
	BytesSent       uint64
	PacketsReceived uint64
	BytesReceived   uint64
	Duplicated      uint64 // extra copies made by the link's Duplicate probability
	Dropped         Drops

	StreamsOpened       uint64 // dials that succeeded, charged to the dialler
	DialsFailed         uint64 // dials refused by the network, charged to the dialler
	StreamBytesSent     uint64
	StreamBytesReceived uint64
}

func (s NodeStats) add(o NodeStats) NodeStats {
	s.PacketsSent += o.PacketsSent
	s.BytesSent += o.BytesSent
	s.PacketsReceived += o.PacketsReceived
	s.BytesReceived += o.BytesReceived
	s.Duplicated += o.Duplicated
	s.Dropped.Loss += o.Dropped.Loss
	s.Dropped.Partition += o.Dropped.Partition
	s.Dropped.Crash += o.Dropped.Crash
	s.Dropped.Bandwidth += o.Dropped.Bandwidth
	s.Dropped.Overflow += o.Dropped.Overflow
	s.Dropped.Unreachable += o.Dropped.Unreachable
	s.StreamsOpened += o.StreamsOpened
	s.DialsFailed += o.DialsFailed
	s.StreamBytesSent += o.StreamBytesSent
	s.StreamBytesReceived += o.StreamBytesReceived
	return s
}

type dropReason int

const (
	dropLoss dropReason = iota
	dropPartition
	dropCrash
	dropBandwidth
	dropOverflow
	dropUnreachable
	numDropReasons
)

// counters are updated without the network lock (streams count bytes from
// their own goroutines), hence atomics.
type counters struct {
	packetsSent, bytesSent atomic.Uint64
	packetsRecv, bytesRecv atomic.Uint64
	duplicated             atomic.Uint64
	drops                  [numDropReasons]atomic.Uint64
	streamsOpened          atomic.Uint64
	dialsFailed            atomic.Uint64
	streamSent, streamRecv atomic.Uint64
}

func (c *counters) snapshot() NodeStats {
	return NodeStats{
		PacketsSent:     c.packetsSent.Load(),
		BytesSent:       c.bytesSent.Load(),
		PacketsReceived: c.packetsRecv.Load(),
		BytesReceived:   c.bytesRecv.Load(),
		Duplicated:      c.duplicated.Load(),
		Dropped: Drops{
			Loss:        c.drops[dropLoss].Load(),
			Partition:   c.drops[dropPartition].Load(),
			Crash:       c.drops[dropCrash].Load(),
			Bandwidth:   c.drops[dropBandwidth].Load(),
			Overflow:    c.drops[dropOverflow].Load(),
			Unreachable: c.drops[dropUnreachable].Load(),
		},
		StreamsOpened:       c.streamsOpened.Load(),
		DialsFailed:         c.dialsFailed.Load(),
		StreamBytesSent:     c.streamSent.Load(),
		StreamBytesReceived: c.streamRecv.Load(),
	}
}

func (c *counters) reset() {
	for _, a := range []*atomic.Uint64{
		&c.packetsSent, &c.bytesSent, &c.packetsRecv, &c.bytesRecv, &c.duplicated,
		&c.streamsOpened, &c.dialsFailed, &c.streamSent, &c.streamRecv,
	} {
		a.Store(0)
	}
	for i := range c.drops {
		c.drops[i].Store(0)
	}
}

// Stats returns the counters of the named node, or zero for an unknown one.
func (n *Network) Stats(name string) NodeStats {
	n.mu.Lock()
	nd := n.nodes[name]
	n.mu.Unlock()
	if nd == nil {
		return NodeStats{}
	}
	return nd.stats.snapshot()
}

// TotalStats sums the counters of every node.
func (n *Network) TotalStats() NodeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var t NodeStats
	for _, nd := range n.nodes {
		t = t.add(nd.stats.snapshot())
	}
	return t
}

// ResetStats zeroes every node's counters. Counters of traffic in flight at
// the time may then not add up (a packet sent before and received after).
func (n *Network) ResetStats() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nd := range n.nodes {
		nd.stats.reset()
	}
}
