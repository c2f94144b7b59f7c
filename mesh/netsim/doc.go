// Package netsim is an in-memory network for running many mesh nodes in one
// process: hundreds of memberlist instances, and datagram links such as MQTT
// or LoRa, with latency, jitter, loss, duplication, reordering, bandwidth
// limits, partitions and crashes. Tests, the city simulator (cityarray sim)
// and cityarray bench mesh share it (STYLE rule 18). It needs no root and
// opens no socket.
//
// # Nodes and addresses
//
// A Network holds named nodes. Network.Transport (memberlist) or
// Network.Endpoint (datagrams) attaches to a node, creating it on first
// use; a node has at most one open attachment. Each node gets a fixed fake
// address, 10.x.y.z:7946 from its creation index, which it keeps across
// Close, Crash and Restart. Network.Addr and Network.Name map between the
// two. One Network models one medium; use one Network per medium (the LAN
// that carries gossip, a LoRa channel) so that each has its own links and
// partitions.
//
// # Links
//
// Every packet from one node to another follows the Link for that directed
// pair: SetLink sets both directions, SetDirectedLink one, SetDefault the
// rest. A packet is dropped with probability Loss, duplicated with
// probability Duplicate (the copy gets its own jitter), delayed by Latency ±
// Jitter (uniform, never negative), and with probability Reorder held back a
// further Latency + 2·Jitter + 1 ms so that it arrives after packets sent
// after it. Bandwidth caps the sender's uplink: packets queue behind each
// other for len/Bandwidth seconds each, and a packet that would wait longer
// than Config.MaxBacklog (1 s) is dropped. The queue is per sending node and
// shared by all its links; header overhead is not modelled.
//
// Delivery is asynchronous: one scheduler goroutine keeps a min-heap of
// (arrival time, send sequence) and hands due packets to the receivers'
// buffered channels. Sends never block and never deliver from the caller's
// goroutine (synchronous delivery stalls memberlist). A receiver whose
// channel is full loses the packet, counted as Overflow.
//
// # Streams
//
// Transport.DialTimeout opens a simulated TCP connection. The dial waits the
// link's one-way latency once; after that a stream is reliable and ordered,
// and each direction buffers Config.StreamBuffer bytes (4 MiB) so both sides
// may write before reading. If the target is partitioned away, crashed,
// unknown or not a Transport, the dial waits out its whole timeout, like a
// SYN into the void, and returns a *DialError whose Timeout is true.
// Deadlines are wall-clock, as net.Conn defines them.
//
// # Partitions
//
// Partition(groups...) cuts the network into groups: nodes in different
// groups exchange neither packets nor streams, open streams across the cut
// break (ErrConnReset), and packets in flight across it are dropped on
// arrival. Nodes not listed, including nodes attached later, form one more
// group together, so Partition([]string{"a"}) isolates a. Heal removes the
// cut; memberlist still has to re-join across it (a Join, or the re-join
// loop of mesh/gossip). For a one-way failure, set Loss 1 on one direction
// with SetDirectedLink.
//
// # Crash and restart
//
// Crash(name) kills a node: its Endpoint or Transport closes (Done and
// Crashed close), its streams break, packets to it are dropped, and it
// cannot be attached to or dialled. netsim cannot stop the memberlist on
// it; the owner must, when Crashed fires:
//
//	go func() {
//		select {
//		case <-t.Crashed():
//			ml.Shutdown()
//		case <-t.Done():
//		}
//	}()
//
// Until then that memberlist's sends are counted and dropped, and sends
// return nil: a dead process does not learn that it is dead. Restart(name)
// makes the node reachable again; attach a new Transport (same name, same
// address) and Join.
//
// # Counters
//
// Stats(name) returns a node's NodeStats: packets and bytes sent and
// received, duplicates, drops by reason (Loss, Partition, Crash, Bandwidth,
// Overflow, Unreachable), streams opened, dials failed and stream bytes.
// Drops are charged to the sender, so for the whole network, once nothing
// is in flight, PacketsSent + Duplicated = PacketsReceived + Dropped.Total().
// TotalStats sums every node; ResetStats zeroes them.
//
// # Determinism
//
// Every random decision (loss, duplication, reordering, jitter, dial
// jitter) is drawn from one math/rand/v2 PCG source seeded by Config.Seed,
// under the network's lock, five draws per packet that reaches the link
// model. The same seed and the same sequence of sends and dials therefore
// give the same decisions and, on a fake Clock, the same arrival times.
// memberlist itself runs on real timers and goroutines, so the order of
// its sends, and with it a whole memberlist run, is not reproducible; the
// seed reproduces the network, not the cluster.
//
// # Time
//
// By default netsim runs on the real clock: memberlist measures RTTs and
// times out probes on it, so a 5 ms Latency is 5 real milliseconds.
// Config.Clock exists for netsim's own tests, which step a fake clock.
//
// # Plugging into memberlist
//
// Give each memberlist its own Transport and nothing else changes:
//
//	t, err := n.Transport("pole-17")
//	cfg := memberlist.DefaultLANConfig()
//	cfg.Name = "pole-17"
//	cfg.Transport = t // BindAddr, BindPort and AdvertiseAddr are ignored
//	ml, err := memberlist.Create(cfg)
//	_, err = ml.Join([]string{gatewayAddr}) // "10.0.0.1:7946", from Transport.Addr or Network.Addr
//
// Transport implements memberlist.NodeAwareTransport. PacketCh holds
// Config.PacketBuffer packets (1024, memberlist's HandoffQueueDepth); raise
// it if Overflow shows up. memberlist's Shutdown shuts the transport down,
// after which the name can be attached again.
package netsim
