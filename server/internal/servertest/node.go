package servertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Node is a running mesh node, the server's, on a store in a test
// directory. It remembers the records it accepted and the ones it
// rejected, and its Publish returns only once the node has reported the
// record accepted, so that tests see it.
type Node struct {
	*mesh.Node
	mu       sync.Mutex
	accepted []*record.Record
	rejected []mesh.Event
	seen     map[record.ID]chan struct{}
}

// StartNode runs node ServerID with a store in dir, verifying with v on
// clk, until the test ends. onAccept, if not nil, is called with each
// record the node accepts, before Publish returns.
func StartNode(tb testing.TB, dir string, v *trust.Verifier, clk mesh.Clock, onAccept func(*record.Record)) *Node {
	tb.Helper()
	st, err := store.Open(filepath.Join(dir, "mesh.db"), store.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{}
	n.Node, err = mesh.NewNode(mesh.NodeConfig{
		ID: ServerID, Store: st, Verifier: v, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev mesh.Event) {
			switch ev.Kind {
			case mesh.EventAccepted:
				if onAccept != nil {
					onAccept(ev.Record)
				}
				n.mu.Lock()
				defer n.mu.Unlock()
				n.accepted = append(n.accepted, ev.Record)
				close(n.waiterLocked(ev.ID))
			case mesh.EventRejected:
				n.mu.Lock()
				defer n.mu.Unlock()
				n.rejected = append(n.rejected, ev)
			}
		},
	})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("node: %v", err)
		}
		st.Close()
	})
	return n
}

// Publish publishes rec and, unless the node already held it, returns
// once the node has reported it accepted (the node answers Publish before
// it calls OnEvent).
func (n *Node) Publish(ctx context.Context, rec *record.Record) error {
	known := n.Known(rec.ID())
	if err := n.Node.Publish(ctx, rec); err != nil || known {
		return err
	}
	select {
	case <-n.Seen(rec.ID()):
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("test: the node never reported %s", rec)
	}
}

// Seen returns a channel closed once the node has accepted id.
func (n *Node) Seen(id record.ID) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waiterLocked(id)
}

func (n *Node) waiterLocked(id record.ID) chan struct{} {
	if n.seen == nil {
		n.seen = map[record.ID]chan struct{}{}
	}
	c, ok := n.seen[id]
	if !ok {
		c = make(chan struct{})
		n.seen[id] = c
	}
	return c
}

// Records returns the records the node accepted so far.
func (n *Node) Records() []*record.Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*record.Record(nil), n.accepted...)
}

// Rejections returns the node's rejection events so far.
func (n *Node) Rejections() []mesh.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]mesh.Event(nil), n.rejected...)
}
