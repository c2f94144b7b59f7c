package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Link is one way a node reaches others: gossip, MQTT, LoRa. The node
// offers it every record it accepts; the link decides whom to send it to
// (skipping f.From.Peer on itself) and hands what it receives to
// Node.Deliver.
type Link interface {
	// Name identifies the link in sources, counters and logs.
	Name() string
	// Offer gives the link an accepted record. It must not block: a link
	// queues what it cannot send at once.
	Offer(f Forward)
}

// Clock tells the time. Tests and the simulator inject their own.
type Clock interface{ Now() time.Time }

// SystemClock is the machine's clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NodeConfig configures a Node.
type NodeConfig struct {
	// ID is this node's id.
	ID string
	// Store holds the node's records. Required; the node does not close it.
	Store *store.Store
	// Outbox, if set, names the records the node puts in the store's
	// outbox as it stores them, in the same transaction
	// (store.PutBatchQueued): a gateway's uplink records, which its bridge
	// to the server takes from the outbox, so that no crash can leave one
	// stored (and confirmed to the pole that sent it) but never sent on.
	Outbox func(*record.Record) (store.OutboxClass, bool)
	// Verifier applies the tier table. Required.
	Verifier *trust.Verifier
	// StatePath, if set, is where the verifier's state (time floor, replay
	// windows, revocations) is kept across restarts, as JSON written
	// atomically.
	StatePath string
	// Clock defaults to SystemClock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnEvent, if set, is called for every event, on the node's goroutine,
	// after the records have been stored and forwarded. It must not block
	// for long.
	OnEvent func(Event)
	// InboxSize bounds records waiting to be processed (default 8192);
	// Deliver drops and counts what does not fit.
	InboxSize int
	// MaxBatch is how many inbound records one store transaction takes
	// (default 256).
	MaxBatch int
	// TickEvery is how often expired ids are forgotten and the verifier
	// state saved (default 1 minute).
	TickEvery time.Duration
	// VerifyWorkers, if positive, is how many goroutines parse the records
	// links deliver and check their signatures
	// (trust.Verifier.CheckSignatures) before the node's goroutine takes
	// them, in the order Deliver queued them; the replica's own Verify
	// then finds the signatures checked and does only the cheap checks
	// against the shared state, so ed25519 runs on every core while the
	// replica stays one sequential state machine. A server taking
	// thousands of acks a second sets it to GOMAXPROCS. Zero (the
	// default) does everything on the node's goroutine, which suits a
	// pole, and a simulated city of hundreds of nodes in one process.
	VerifyWorkers int
}

// Node drives a Replica: it owns the goroutine that feeds it, does the I/O
// it asks for (one store transaction per batch, then the links), and keeps
// the verifier's state on disk.
type Node struct {
	cfg   NodeConfig
	log   *slog.Logger
	inbox chan inbound
	pre   chan inbound // Deliver's queue when VerifyWorkers > 0

	mu      sync.Mutex // guards replica and links
	replica *Replica
	links   []Link
	dropped atomic.Uint64 // inbound records refused because the inbox was full
	batches atomic.Uint64 // batches processed (one store transaction each, at most)
	batched atomic.Uint64 // records in them
}

type inbound struct {
	src    Source
	raw    []byte
	parsed *record.Record // parsed and signature-checked by a verify worker
	rec    *record.Record // for Publish
	done   chan error     // for Publish
}

// verifyBatch is delivered records on their way through a verify worker;
// ready closes when the worker is done with them.
type verifyBatch struct {
	ins   []inbound
	ready chan struct{}
}

// maxVerifyBatch is the most records one verify worker takes at once: few
// enough that every worker gets some when a burst arrives, many enough
// that the hand-offs cost little per record.
const maxVerifyBatch = 32

// NewNode returns a node over cfg.Store, knowing every record the store
// holds.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Store == nil || cfg.Verifier == nil {
		return nil, errors.New("mesh: node needs a store and a verifier")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.InboxSize <= 0 {
		cfg.InboxSize = 8192
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Minute
	}
	if err := loadState(cfg.StatePath, cfg.Verifier); err != nil {
		return nil, err
	}
	r, err := NewReplica(ReplicaConfig{Node: cfg.ID, Verifier: cfg.Verifier})
	if err != nil {
		return nil, err
	}
	keys, err := cfg.Store.Keys(store.MinBound, store.MaxBound, 0)
	if err != nil {
		return nil, fmt.Errorf("mesh: node %s: %w", cfg.ID, err)
	}
	for _, k := range keys {
		r.Know(k.ID, time.UnixMilli(k.Expires))
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "mesh", "node", cfg.ID),
		inbox:   make(chan inbound, cfg.InboxSize),
		replica: r,
	}
	if cfg.VerifyWorkers > 0 {
		n.pre = make(chan inbound, cfg.InboxSize)
	}
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Store returns the node's store, for links that read it (anti-entropy).
func (n *Node) Store() *store.Store { return n.cfg.Store }

// Clock returns the node's clock.
func (n *Node) Clock() Clock { return n.cfg.Clock }

// AddLink adds a link; records accepted from then on are offered to it.
func (n *Node) AddLink(l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links = append(n.links, l)
}

// Known reports whether the node holds id: a cheap check links use before
// asking a peer for a record.
func (n *Node) Known(id record.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.replica.Known(id)
}

// Deliver queues a record's bytes from a link. It never blocks: when the
// inbox is full the record is dropped and counted (a peer or anti-entropy
// will offer it again). It reports whether the record was queued.
func (n *Node) Deliver(src Source, raw []byte) bool {
	if n.pre != nil {
		select {
		case n.pre <- inbound{src: src, raw: raw}:
			return true
		default:
			n.dropped.Add(1)
			return false
		}
	}
	select {
	case n.inbox <- inbound{src: src, raw: raw}:
		return true
	default:
		n.dropped.Add(1)
		return false
	}
}

// Publish hands the node a record it signed, and waits until it has been
// verified, stored and offered to the links (or refused).
func (n *Node) Publish(ctx context.Context, rec *record.Record) error {
	return n.PublishAll(ctx, []*record.Record{rec})
}

// PublishAll is Publish of several records: handed over together, they
// are taken in one batch when the node is free (one store transaction).
// It returns the refusals, joined.
func (n *Node) PublishAll(ctx context.Context, recs []*record.Record) error {
	dones := make([]chan error, len(recs))
	for i, rec := range recs {
		dones[i] = make(chan error, 1)
		select {
		case n.inbox <- inbound{src: Source{}, rec: rec, done: dones[i]}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var errs []error
	for _, done := range dones {
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// Counters returns the replica's totals.
func (n *Node) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.replica.Counters()
}

// Batches returns how many batches the node has processed (each at most
// one store transaction) and how many inbound records they held: their
// ratio is the mean batch, which tells how well writes are grouped.
func (n *Node) Batches() (batches, records uint64) { return n.batches.Load(), n.batched.Load() }

// Dropped returns how many inbound records were dropped on a full inbox.
func (n *Node) Dropped() uint64 { return n.dropped.Load() }

// Run processes inbound records until ctx ends, then saves the verifier
// state.
func (n *Node) Run(ctx context.Context) error {
	if n.pre != nil {
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		n.startVerifiers(pctx, &wg)
		defer wg.Wait()
		defer cancel()
	}
	tick := time.NewTicker(n.cfg.TickEvery)
	defer tick.Stop()
	batch := make([]inbound, 0, n.cfg.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return n.saveState()
		case <-tick.C:
			n.mu.Lock()
			n.replica.Tick(n.cfg.Clock.Now())
			n.mu.Unlock()
			if err := n.saveState(); err != nil {
				n.log.Error("saving verifier state", "err", err)
			}
		case in := <-n.inbox:
			batch = append(batch[:0], in)
		drain:
			for len(batch) < cap(batch) {
				select {
				case in := <-n.inbox:
					batch = append(batch, in)
				default:
					break drain
				}
			}
			n.process(batch)
		}
	}
}

// startVerifiers starts the verify pipeline: a dispatcher that takes
// delivered records in batches of up to maxVerifyBatch and hands each
// batch to one of VerifyWorkers workers and, in the same order, to a
// collector that passes the records to the inbox once their worker is
// done. So the replica sees records in the order Deliver took them (a
// record naming its signer by kid still comes after the one that carried
// the chain), and a full inbox holds the pipeline back until Deliver
// drops.
func (n *Node) startVerifiers(ctx context.Context, wg *sync.WaitGroup) {
	w := n.cfg.VerifyWorkers
	work := make(chan *verifyBatch, 2*w)
	order := make(chan *verifyBatch, 4*w)
	wg.Add(w + 2)
	go func() { // dispatcher
		defer wg.Done()
		for {
			var in inbound
			select {
			case <-ctx.Done():
				return
			case in = <-n.pre:
			}
			b := &verifyBatch{ins: make([]inbound, 1, min(len(n.pre)+1, maxVerifyBatch)), ready: make(chan struct{})}
			b.ins[0] = in
		drain:
			for len(b.ins) < maxVerifyBatch {
				select {
				case in := <-n.pre:
					b.ins = append(b.ins, in)
				default:
					break drain
				}
			}
			select {
			case order <- b:
			case <-ctx.Done():
				return
			}
			select {
			case work <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range w {
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case b := <-work:
					now := n.cfg.Clock.Now()
					for i := range b.ins {
						// A record that does not parse, or whose
						// signatures fail, goes on as it is: the
						// replica rejects it with its reason and
						// counts it.
						if rec, err := record.Parse(b.ins[i].raw); err == nil {
							_ = n.cfg.Verifier.CheckSignatures(rec, now)
							b.ins[i].parsed = rec
						}
					}
					close(b.ready)
				}
			}
		}()
	}
	go func() { // collector
		defer wg.Done()
		for {
			var b *verifyBatch
			select {
			case <-ctx.Done():
				return
			case b = <-order:
			}
			select {
			case <-b.ready:
			case <-ctx.Done():
				return
			}
			for _, in := range b.ins {
				select {
				case n.inbox <- in:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

// process runs one batch through the replica and does what it asks:
// store, then forward, then report.
func (n *Node) process(batch []inbound) {
	n.batches.Add(1)
	n.batched.Add(uint64(len(batch)))
	now := n.cfg.Clock.Now()
	var out Output
	n.mu.Lock()
	published := map[record.ID]chan error{}
	for _, in := range batch {
		if in.rec != nil {
			before := len(out.Events)
			n.replica.Publish(in.rec, now, &out)
			if len(out.Events) == before { // already known: nothing to do
				in.done <- nil
			} else {
				published[in.rec.ID()] = in.done
			}
			continue
		}
		if in.parsed != nil {
			n.replica.ReceiveRecord(in.src, in.parsed, now, &out)
			continue
		}
		n.replica.Receive(in.src, in.raw, now, &out)
	}
	n.persist(now, &out)
	if n.cfg.Outbox != nil {
		for i := range out.Forward {
			_, out.Forward[i].Queued = n.cfg.Outbox(out.Forward[i].Record)
		}
	}
	links := append([]Link(nil), n.links...)
	n.mu.Unlock()

	for _, f := range out.Forward {
		for _, l := range links {
			l.Offer(f)
		}
	}
	for _, ev := range out.Events {
		n.logEvent(ev)
		if done, ok := published[ev.ID]; ok {
			done <- ev.Err // one event per published record
			delete(published, ev.ID)
		}
		if n.cfg.OnEvent != nil {
			n.cfg.OnEvent(ev)
		}
	}
}

// persist stores out.Persist in one transaction; if that fails, record by
// record, so that one bad record does not cost the others.
func (n *Node) persist(now time.Time, out *Output) {
	if len(out.Persist) == 0 {
		return
	}
	if _, err := n.cfg.Store.PutBatchQueued(out.Persist, now, n.cfg.Outbox); err == nil {
		return
	}
	for _, rec := range out.Persist {
		if _, err := n.cfg.Store.PutBatchQueued([]*record.Record{rec}, now, n.cfg.Outbox); err != nil {
			n.replica.StoreFailed(rec, err, out)
		}
	}
}

func (n *Node) logEvent(ev Event) {
	switch ev.Kind {
	case EventAccepted:
		n.log.Debug("record accepted", "id", ev.ID.Short(), "from", ev.Source.String())
	case EventRejected:
		n.log.Warn("record rejected", "id", ev.ID.Short(), "from", ev.Source.String(), "reason", ev.Reason, "err", ev.Err)
	case EventStoreFailed:
		n.log.Error("record not stored", "id", ev.ID.Short(), "err", ev.Err)
	}
}

// saveState writes the verifier's state to StatePath, atomically.
func (n *Node) saveState() error {
	if n.cfg.StatePath == "" {
		return nil
	}
	b, err := json.Marshal(n.cfg.Verifier.State())
	if err != nil {
		return fmt.Errorf("mesh: save state: %w", err)
	}
	if err := atomicfile.WriteFile(n.cfg.StatePath, b, 0o600, true); err != nil {
		return fmt.Errorf("mesh: save state: %w", err)
	}
	return nil
}

// loadState restores a verifier's state saved by saveState. A missing file
// is a fresh node.
func loadState(path string, v *trust.Verifier) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mesh: load state: %w", err)
	}
	var s trust.State
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mesh: load state %s: %w (refusing to start with a damaged trust state; move the file away to reset it)", path, err)
	}
	if err := v.Restore(s); err != nil {
		return fmt.Errorf("mesh: load state %s: %w", path, err)
	}
	return nil
}
