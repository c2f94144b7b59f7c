package city

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
)

// HealBenchConfig is one `cityarray bench heal` run.
type HealBenchConfig struct {
	Nodes int
	// Partition is how long the two halves stay apart (real time).
	Partition time.Duration
	// Records is how many records each half publishes while apart.
	Records int
	// Base is how many records every pole holds before the partition
	// (the state both halves share; default 200).
	Base    int
	Latency time.Duration
	Seed    int64
	// RejoinInterval and AntiEntropyInterval tune the gossip link (0: its
	// defaults, 10 s and 30 s).
	RejoinInterval, AntiEntropyInterval time.Duration
	// Wait caps the wait for a heal (default 5 minutes).
	Wait time.Duration
	// Memberlist is the memberlist preset (default DefaultLANConfig).
	Memberlist func() *memberlist.Config
	// Progress, if set, is told what the run is doing.
	Progress func(format string, args ...any)
}

// HealBenchResult is one link's figures.
type HealBenchResult struct {
	// Healed reports whether every pole held every record within the
	// wait; Heal is the time from Heal until then, or the time waited.
	Healed bool
	Heal   time.Duration
	// Period is the re-join/anti-entropy period the rounds count:
	// min(RejoinInterval, AntiEntropyInterval) for gossip; memberlist's
	// scaled push/pull interval for the baseline.
	Period time.Duration
	// Rounds is ⌈Heal / Period⌉: how many periods had begun when the
	// last pole got the last record.
	Rounds int
	// BytesTransferred is every byte the network carried (packets and
	// streams, membership included) from Heal until healed.
	BytesTransferred uint64
	// FullStateBytes is what a full-state exchange would move: every pole
	// receiving a full copy of the other half's records,
	// |A|·size(state of B) + |B|·size(state of A), where a half's state is
	// the Base records and the Records it published.
	FullStateBytes uint64
	// DiffBytes is the least any exchange must move: every pole receiving
	// only the records it lacks, |A|·size(B's new) + |B|·size(A's new).
	DiffBytes uint64
	// RecordSize is the mean size of the records published while apart.
	RecordSize int
	// Rejoins, Sessions, Fetched and ReconcileBytes sum the gossip links'
	// counters over the heal: re-join successes, sessions started, records
	// fetched, reconcile message bytes sent.
	Rejoins, Sessions, Fetched, ReconcileBytes uint64
}

// RunHealBench partitions a mesh into halves for cfg.Partition, has each
// half publish cfg.Records records, heals the cut and measures how long
// and how many bytes it takes until every pole holds every record: with
// the gossip link (re-join loop and range-fingerprint anti-entropy), or
// with the baseline (memberlist push/pull carrying the full record set,
// no re-join loop).
func RunHealBench(ctx context.Context, cfg HealBenchConfig, baseline bool) (HealBenchResult, error) {
	if cfg.Nodes < 4 || cfg.Records < 1 || cfg.Partition <= 0 {
		return HealBenchResult{}, fmt.Errorf("city: bench heal: want at least 4 nodes, 1 record and a partition")
	}
	if cfg.Base < 0 {
		cfg.Base = 0
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Minute
	}
	if cfg.Memberlist == nil {
		cfg.Memberlist = memberlist.DefaultLANConfig
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	name := "gossip"
	if baseline {
		name = "baseline"
	}
	say := func(format string, args ...any) { progress(name+": "+format, args...) }

	// have[node] counts the tracked records a node holds; tracked maps the
	// records published during the partition to their index.
	var (
		mu      sync.Mutex
		tracked = map[record.ID]bool{}
		have    = make([]map[record.ID]bool, cfg.Nodes)
		notify  = make(chan struct{}, 1)
	)
	for i := range have {
		have[i] = map[record.ID]bool{}
	}
	m, err := StartMesh(MeshOptions{
		Context: ctx,
		Nodes:   cfg.Nodes, Seed: cfg.Seed, Link: netsim.Link{Latency: cfg.Latency},
		Baseline: baseline, BaselineFullState: baseline, RunLinks: !baseline,
		Preload: cfg.Base, Memberlist: cfg.Memberlist,
		Gossip: gossip.Config{RejoinInterval: cfg.RejoinInterval, AntiEntropyInterval: cfg.AntiEntropyInterval},
		OnEvent: func(node int, ev mesh.Event) {
			if ev.Kind != mesh.EventAccepted {
				return
			}
			mu.Lock()
			if tracked[ev.ID] {
				have[node][ev.ID] = true
			}
			mu.Unlock()
			select {
			case notify <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return HealBenchResult{}, err
	}
	defer m.Close()
	say("%d nodes started (each holding %d records), joining", cfg.Nodes, cfg.Base)
	if err := m.WaitConverged(time.Duration(cfg.Nodes)*400*time.Millisecond+time.Minute, progress); err != nil {
		return HealBenchResult{}, err
	}

	half := cfg.Nodes / 2
	sides := [2][]*MeshNode{m.Nodes[:half], m.Nodes[half:]}
	var groups [2][]string
	for s, nodes := range sides {
		for _, n := range nodes {
			groups[s] = append(groups[s], n.Name)
		}
	}
	m.Net.Partition(groups[0], groups[1])
	start := time.Now()
	say("partitioned into %d and %d nodes for %v", len(sides[0]), len(sides[1]), cfg.Partition)
	tick := time.NewTicker(min(10*time.Second, cfg.Partition))
	for time.Since(start) < cfg.Partition {
		select {
		case <-tick.C:
		case <-time.After(cfg.Partition - time.Since(start)):
		case <-ctx.Done():
			return HealBenchResult{}, ctx.Err()
		}
		seen := [2]int{}
		for s, nodes := range sides {
			for _, n := range nodes {
				seen[s] += n.ML.NumMembers()
			}
			seen[s] /= len(nodes)
		}
		say("apart %v of %v: members seen, on average, %d and %d", time.Since(start).Round(time.Second), cfg.Partition, seen[0], seen[1])
	}
	tick.Stop()

	// Each half publishes its records, with distinct seq numbers, from
	// random poles of its own.
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x4ea1))
	var published [2][]*record.Record
	seq := uint64(cfg.Base)
	for k := range cfg.Records {
		for s := range sides {
			seq++
			rec, err := m.PKI.alert(m.Server, seq, time.Now(), fmt.Sprintf("Flood warning %d for side %c: move to higher ground", k+1, 'A'+s))
			if err != nil {
				return HealBenchResult{}, err
			}
			mu.Lock()
			tracked[rec.ID()] = true
			mu.Unlock()
			origin := sides[s][rng.IntN(len(sides[s]))]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = origin.Node.Publish(ctx, rec)
			cancel()
			if err != nil {
				return HealBenchResult{}, fmt.Errorf("publish: %w", err)
			}
			published[s] = append(published[s], rec)
		}
	}
	offset := [2]int{0, half}
	holds := func(s int, recs []*record.Record) bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range sides[s] {
			for _, r := range recs {
				if !have[offset[s]+i][r.ID()] {
					return false
				}
			}
		}
		return true
	}
	if err := waitNotified(ctx, notify, time.Minute, func() bool { return holds(0, published[0]) && holds(1, published[1]) }); err != nil {
		return HealBenchResult{}, fmt.Errorf("city: bench heal: a half did not get its own records: %w", err)
	}
	say("each half holds its own %d records; healing", cfg.Records)

	r := HealBenchResult{Period: healPeriod(cfg, baseline)}
	var size [2]uint64 // bytes of each half's new records
	for s := range sides {
		for _, rec := range published[s] {
			size[s] += uint64(len(rec.Raw()))
		}
	}
	var base uint64
	for _, rec := range m.Preloaded {
		base += uint64(len(rec.Raw()))
	}
	nA, nB := uint64(len(sides[0])), uint64(len(sides[1]))
	r.FullStateBytes = nA*(base+size[1]) + nB*(base+size[0])
	r.DiffBytes = nA*size[1] + nB*size[0]
	r.RecordSize = int((size[0] + size[1]) / uint64(2*cfg.Records))
	before := m.linkTotals()

	m.Net.ResetStats()
	m.Net.Heal()
	healAt := time.Now()
	all := append(append([]*record.Record(nil), published[0]...), published[1]...)
	err = waitNotified(ctx, notify, cfg.Wait, func() bool { return holds(0, all) && holds(1, all) })
	r.Heal = time.Since(healAt)
	st := m.Net.TotalStats()
	r.BytesTransferred = st.BytesSent + st.StreamBytesSent
	r.Healed = err == nil
	r.Rounds = int((r.Heal + r.Period - 1) / r.Period)
	after := m.linkTotals()
	r.Rejoins, r.Sessions, r.Fetched, r.ReconcileBytes = after[0]-before[0], after[1]-before[1], after[2]-before[2], after[3]-before[3]
	if r.Healed {
		say("healed in %v (%d rounds of %v): %d bytes, full state %d, difference %d", r.Heal.Round(time.Millisecond), r.Rounds, r.Period, r.BytesTransferred, r.FullStateBytes, r.DiffBytes)
	} else {
		say("not healed after %v: %d bytes", r.Heal.Round(time.Second), r.BytesTransferred)
	}
	return r, nil
}

// healPeriod is the period that rounds count.
func healPeriod(cfg HealBenchConfig, baseline bool) time.Duration {
	if baseline {
		c := cfg.Memberlist()
		// memberlist scales push/pull above 32 nodes (util.go pushPullScale).
		mult := 1
		for n := 32; n < cfg.Nodes; n *= 2 {
			mult++
		}
		return c.PushPullInterval * time.Duration(mult)
	}
	rj, ae := cfg.RejoinInterval, cfg.AntiEntropyInterval
	if rj <= 0 {
		rj = gossip.DefaultRejoinInterval
	}
	if ae <= 0 {
		ae = gossip.DefaultAntiEntropyInterval
	}
	return min(rj, ae)
}

// linkTotals sums the gossip links' re-join successes, sessions started,
// records fetched and reconcile bytes sent.
func (m *Mesh) linkTotals() [4]uint64 {
	var t [4]uint64
	for _, n := range m.Nodes {
		if n.Gossip == nil {
			continue
		}
		s := n.Gossip.Stats()
		t[0] += s.RejoinSuccesses
		t[1] += s.SessionsStarted
		t[2] += s.AntiEntropyFetched
		t[3] += s.ReconcileBytesSent
	}
	return t
}

// waitNotified re-checks cond each time notify fires (and at least every
// 100 ms) until it holds or timeout passes.
func waitNotified(ctx context.Context, notify <-chan struct{}, timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-notify:
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("not within %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
