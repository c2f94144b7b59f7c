package city

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/store"
)

// baselineLink is what a user would otherwise pick: Serf-style user
// broadcasts, memberlist's TransmitLimitedQueue piggybacked on its gossip
// at its configured defaults, and every node re-broadcasting a record once
// when it first accepts it (the mesh.Node offers each accepted record
// once). It is the yardstick of `cityarray bench mesh`. With fullState it
// also sends every stored record in each memberlist push/pull, the
// plain-memberlist anti-entropy that `cityarray bench heal` measures.
type baselineLink struct {
	node      *mesh.Node
	ml        *memberlist.Memberlist
	queue     *memberlist.TransmitLimitedQueue
	fullState bool
}

func newBaselineLink(node *mesh.Node, base *memberlist.Config, fullState bool) (*baselineLink, error) {
	l := &baselineLink{node: node, fullState: fullState}
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

// LocalState, with fullState, is every live record in the store, each
// as a uvarint length and the signed bytes.
func (d *baselineDelegate) LocalState(bool) []byte {
	if !d.fullState {
		return nil
	}
	st := d.node.Store()
	keys, err := st.Keys(store.Bound{Expires: d.node.Clock().Now().UnixMilli() + 1}, store.MaxBound, 0)
	if err != nil {
		return nil
	}
	var buf []byte
	for _, k := range keys {
		rec, err := st.Get(k.ID)
		if err != nil {
			continue
		}
		buf = binary.AppendUvarint(buf, uint64(len(rec.Raw())))
		buf = append(buf, rec.Raw()...)
	}
	return buf
}

// MergeRemoteState delivers every record of a peer's full state; the node
// drops what it has.
func (d *baselineDelegate) MergeRemoteState(buf []byte, join bool) {
	for len(buf) > 0 {
		n, k := binary.Uvarint(buf)
		if k <= 0 || n > uint64(len(buf)-k) {
			return
		}
		d.node.Deliver(mesh.Source{Link: "baseline"}, append([]byte(nil), buf[k:k+int(n)]...))
		buf = buf[k+int(n):]
	}
}
