package city

import (
	"context"
	"fmt"
	"github.com/hashicorp/memberlist"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
)

// MeshBenchConfig is one `cityarray bench mesh` run.
type MeshBenchConfig struct {
	Nodes   int
	Loss    float64
	Latency time.Duration
	Jitter  time.Duration
	Seed    int64
	// Alerts is how many alerts are published, one at a time (default 5).
	Alerts int
	// Window is how long each alert is watched, for delivery and for the
	// bytes it costs (default 5 s; the same for both links).
	Window time.Duration
	// Gossip tunes the gossip link (fan-outs, graft timeout).
	Gossip gossip.Config
	// WAN runs memberlist with its WAN timing (probes every 5 s, gossip
	// every 500 ms) instead of LAN defaults: membership costs about a
	// fifth of the CPU, which is what lets one 2-core process hold a
	// thousand poles. The gossip link's dissemination does not use
	// memberlist's timers; the baseline's does.
	WAN bool
	// Progress, if set, is told what the run is doing.
	Progress func(format string, args ...any)
	// AfterConverge, if set, is called once membership has converged and
	// settled, before the first alert (for a heap profile, say).
	AfterConverge func()
}

// MeshBenchResult is one link's figures.
type MeshBenchResult struct {
	Delivered    float64       // share of (alert, node) pairs delivered within the window
	P50, P99     time.Duration // over delivered pairs
	Max          time.Duration
	BytesPerNode float64 // bytes sent per node per alert window (packets and streams)
	IdlePerNode  float64 // bytes per second per node with no alert
}

// RunMeshBench measures one link (gossip or the baseline) under cfg.
// It stops early, with ctx's error, when ctx ends.
func RunMeshBench(ctx context.Context, cfg MeshBenchConfig, baseline bool) (MeshBenchResult, error) {
	if cfg.Alerts <= 0 {
		cfg.Alerts = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 5 * time.Second
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	var (
		mu       sync.Mutex
		accepted = map[record.ID]map[int]time.Time{}
		notify   = make(chan struct{}, 1)
	)
	m, err := StartMesh(MeshOptions{
		Context: ctx,
		Nodes:   cfg.Nodes, Seed: cfg.Seed, Baseline: baseline, Gossip: cfg.Gossip,
		InboxSize:  1024, // one alert at a time
		Memberlist: memberlistPreset(cfg.WAN),
		// The poles form the mesh on a clean network; the loss starts once
		// membership has converged (a storm hits a formed mesh).
		Link: netsim.Link{Latency: cfg.Latency, Jitter: cfg.Jitter},
		OnEvent: func(node int, ev mesh.Event) {
			if ev.Kind != mesh.EventAccepted {
				return
			}
			at := time.Now()
			mu.Lock()
			if got := accepted[ev.ID]; got != nil {
				got[node] = at
			}
			mu.Unlock()
			select {
			case notify <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return MeshBenchResult{}, err
	}
	defer m.Close()
	name := "gossip"
	if baseline {
		name = "baseline"
	}
	progress("%s: %d nodes started, joining", name, cfg.Nodes)
	if err := m.WaitConverged(time.Duration(cfg.Nodes)*400*time.Millisecond+time.Minute, progress); err != nil {
		return MeshBenchResult{}, err
	}
	m.Net.SetDefault(netsim.Link{Latency: cfg.Latency, Jitter: cfg.Jitter, Loss: cfg.Loss})
	server := m.Server
	// After a mass join, memberlist keeps gossiping the join for a while
	// (every alive message is retransmitted about 4·log10(N) times per
	// node): wait until the byte rate stops falling, so that both links are
	// measured in their steady state, and report that rate as the idle cost.
	idle, err := m.steadyRate(2*time.Second, steadyPerNode, 4*time.Minute, func(rate float64) {
		progress("%s: settling, %.0f bytes/s per node", name, rate)
	})
	if err != nil {
		return MeshBenchResult{}, err
	}
	if cfg.AfterConverge != nil {
		cfg.AfterConverge()
	}

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 77))
	var lat []time.Duration
	pairs, delivered := 0, 0
	var bytes float64
	for k := range cfg.Alerts {
		rec, err := m.PKI.alert(server, uint64(k+1), time.Now(), fmt.Sprintf("Flash flood warning %d: move to higher ground now", k+1))
		if err != nil {
			return MeshBenchResult{}, err
		}
		origin := rng.IntN(cfg.Nodes)
		mu.Lock()
		accepted[rec.ID()] = map[int]time.Time{}
		mu.Unlock()
		m.Net.ResetStats()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, cfg.Window)
		err = m.Nodes[origin].Node.Publish(pctx, rec)
		cancel()
		if err != nil {
			return MeshBenchResult{}, fmt.Errorf("publish: %w", err)
		}
		deadline := time.NewTimer(cfg.Window)
		for done := false; !done; {
			select {
			case <-notify:
			case <-deadline.C:
				done = true
			case <-ctx.Done():
				deadline.Stop()
				return MeshBenchResult{}, ctx.Err()
			}
		}
		st := m.Net.TotalStats()
		bytes += float64(st.BytesSent+st.StreamBytesSent) / float64(cfg.Nodes)
		mu.Lock()
		got := accepted[rec.ID()]
		for i := range cfg.Nodes {
			if i == origin {
				continue
			}
			pairs++
			if at, ok := got[i]; ok {
				delivered++
				lat = append(lat, at.Sub(start))
			}
		}
		mu.Unlock()
		progress("%s: alert %d/%d reached %d of %d nodes", name, k+1, cfg.Alerts, len(got)-1, cfg.Nodes-1)
	}
	slices.Sort(lat)
	r := MeshBenchResult{
		Delivered:    float64(delivered) / float64(pairs),
		BytesPerNode: bytes / float64(cfg.Alerts),
		IdlePerNode:  idle,
	}
	if len(lat) > 0 {
		r.P50 = lat[len(lat)*50/100]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.Max = lat[len(lat)-1]
	}
	return r, nil
}

func memberlistPreset(wan bool) func() *memberlist.Config {
	if wan {
		return memberlist.DefaultWANConfig
	}
	return memberlist.DefaultLANConfig
}

// steadyPerNode is the per-node byte rate below which a flat rate counts
// as membership's steady state: probes, acks and the odd push/pull, a few
// hundred bytes a second at LAN defaults.
const steadyPerNode = 2000

// steadyRate measures the network's byte rate per node (packets and
// streams) over consecutive windows until two windows agree within 10 %
// and the rate is below limit, or max has passed, and returns the last
// window's rate in bytes per second per node.
func (m *Mesh) steadyRate(window time.Duration, limit float64, max time.Duration, report func(float64)) (float64, error) {
	deadline := time.Now().Add(max)
	prev := -1.0
	for {
		m.Net.ResetStats()
		start := time.Now()
		timer := time.NewTimer(window)
		select {
		case <-timer.C:
		case <-m.ctx.Done():
			timer.Stop()
			return 0, fmt.Errorf("city: settling: %w", m.ctx.Err())
		}
		st := m.Net.TotalStats()
		rate := float64(st.BytesSent+st.StreamBytesSent) / time.Since(start).Seconds() / float64(len(m.Nodes))
		report(rate)
		flat := prev >= 0 && rate <= 1.1*prev && rate >= 0.9*prev
		if (flat && rate < limit) || time.Now().After(deadline) {
			return rate, nil
		}
		prev = rate
	}
}
