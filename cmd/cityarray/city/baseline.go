package city

import (
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
)

// baselineLink is what a user would otherwise pick: Serf-style user
// broadcasts, memberlist's TransmitLimitedQueue piggybacked on its gossip
// at its configured defaults, and every node re-broadcasting a record once
// when it first accepts it (the mesh.Node offers each accepted record
// once). It is the yardstick of `cityarray bench mesh`.
type baselineLink struct {
	node  *mesh.Node
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue
}

func newBaselineLink(node *mesh.Node, base *memberlist.Config) (*baselineLink, error) {
	l := &baselineLink{node: node}
	c := *base
	c.Name = node.ID()
	c.Delegate = (*baselineDelegate)(l)
	c.Logger = log.New(io.Discard, "", 0)
	l.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return l.ml.NumMembers() },
		RetransmitMult: c.RetransmitMult,
	}
	ml, err := memberlist.Create(&c)
	if err != nil {
		return nil, fmt.Errorf("city: baseline memberlist: %w", err)
	}
	l.ml = ml
	node.AddLink(l)
	return l, nil
}

func (l *baselineLink) Name() string { return "baseline" }

// Offer queues the record for piggybacked broadcast.
func (l *baselineLink) Offer(f mesh.Forward) {
	l.queue.QueueBroadcast(broadcast(f.Record.Raw()))
}

type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}

type baselineDelegate baselineLink

func (d *baselineDelegate) NodeMeta(int) []byte { return nil }
func (d *baselineDelegate) NotifyMsg(b []byte) {
	d.node.Deliver(mesh.Source{Link: "baseline"}, append([]byte(nil), b...))
}
func (d *baselineDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}
func (d *baselineDelegate) LocalState(bool) []byte                 { return nil }
func (d *baselineDelegate) MergeRemoteState(buf []byte, join bool) {}
