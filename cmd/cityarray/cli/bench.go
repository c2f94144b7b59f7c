package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// newBenchCmd is `cityarray bench`: the figures the issues set, measured
// next to their baselines in the same run.
func newBenchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the mesh against its baseline, the control server, a pole and the whole city end to end",
	}
	cmd.AddCommand(newBenchMeshCmd(e))
	cmd.AddCommand(newBenchHealCmd(e))
	cmd.AddCommand(newBenchServerCmd(e))
	cmd.AddCommand(newBenchEdgeCmd(e))
	cmd.AddCommand(newBenchE2ECmd(e))
	return cmd
}

// startCPUProfile profiles the CPU into path until stop is called; ""
// profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeHeapProfile writes the live heap, after a collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newBenchMeshCmd(e *env) *cobra.Command {
	var cfg city.MeshBenchConfig
	var asJSON, skipBaseline bool
	var cpuProfile, memProfile string
	cmd := &cobra.Command{
		Use:   "mesh --nodes N --loss P --latency D [--seed S] [--json]",
		Short: "Time from publishing an alert at one pole until every pole has accepted it",
		Long: "bench mesh starts N poles on a simulated network (mesh/netsim) with real\n" +
			"memberlist, stores, signatures and verification, publishes alerts one at a\n" +
			"time from random poles, and measures delivery, latency and bytes for\n" +
			"(a) the CITYARRAY gossip link and (b) the baseline: Serf-style memberlist\n" +
			"broadcasts at LAN defaults, every receiver re-broadcasting once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Nodes < 2 || cfg.Loss < 0 || cfg.Loss >= 1 || cfg.Latency < 0 {
				return fmt.Errorf("bench mesh: want --nodes ≥ 2, 0 ≤ --loss < 1, --latency ≥ 0")
			}
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			if cfg.Nodes > 500 && os.Getenv("GOGC") == "" {
				// A thousand simulated poles keep gigabytes of membership
				// state live; at the default GOGC the collector takes half
				// the CPU their failure detectors need.
				debug.SetGCPercent(400)
				log.Info("large mesh: GOGC=400 (set GOGC to override)")
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			if memProfile != "" {
				cfg.AfterConverge = func() {
					if err := writeHeapProfile(memProfile); err != nil {
						log.Warn("heap profile", "err", err)
					}
				}
			}
			ours, err := city.RunMeshBench(cmd.Context(), cfg, false)
			if err != nil {
				return fmt.Errorf("bench mesh: gossip: %w", err)
			}
			var base city.MeshBenchResult
			cfg.AfterConverge = nil // the profile is of the gossip link's mesh
			if !skipBaseline {
				if base, err = city.RunMeshBench(cmd.Context(), cfg, true); err != nil {
					return fmt.Errorf("bench mesh: baseline: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				res := map[string]any{
					"nodes": cfg.Nodes, "loss": cfg.Loss, "latency_ms": ms(cfg.Latency), "seed": cfg.Seed, "alerts": cfg.Alerts,
					"delivered_ratio": ours.Delivered, "p50_ms": ms(ours.P50), "p99_ms": ms(ours.P99), "max_ms": ms(ours.Max),
					"bytes_per_node": ours.BytesPerNode, "idle_bytes_per_s_per_node": ours.IdlePerNode,
				}
				if !skipBaseline {
					res["baseline_delivered_ratio"], res["baseline_p50_ms"], res["baseline_p99_ms"] = base.Delivered, ms(base.P50), ms(base.P99)
					res["baseline_max_ms"], res["baseline_bytes_per_node"] = ms(base.Max), base.BytesPerNode
					res["baseline_idle_bytes_per_s_per_node"] = base.IdlePerNode
				}
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "%d nodes, latency %v, loss %.1f%%, %d alerts, seed %d\n", cfg.Nodes, cfg.Latency, cfg.Loss*100, cfg.Alerts, cfg.Seed)
			fmt.Fprintf(out, "%-10s %10s %9s %9s %9s %14s %14s\n", "link", "delivered", "p50", "p99", "max", "bytes/node", "idle B/s/node")
			row := func(name string, r city.MeshBenchResult) {
				fmt.Fprintf(out, "%-10s %9.2f%% %7.0fms %7.0fms %7.0fms %14.0f %14.0f\n", name, r.Delivered*100, ms(r.P50), ms(r.P99), ms(r.Max), r.BytesPerNode, r.IdlePerNode)
			}
			row("gossip", ours)
			if skipBaseline {
				return nil
			}
			row("baseline", base)
			if ours.P99 > 0 && base.BytesPerNode > 0 {
				fmt.Fprintf(out, "p99 %.1fx lower than the baseline, at %.2fx its bytes per node\n", ms(base.P99)/ms(ours.P99), ours.BytesPerNode/base.BytesPerNode)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 200, "number of poles")
	f.Float64Var(&cfg.Loss, "loss", 0.05, "packet loss, a fraction (0.05 = 5%)")
	f.DurationVar(&cfg.Latency, "latency", 20*time.Millisecond, "one-way link latency")
	f.DurationVar(&cfg.Jitter, "jitter", 0, "latency jitter (±)")
	f.Int64Var(&cfg.Seed, "seed", 1, "random seed of the network and the peer choices")
	f.IntVar(&cfg.Alerts, "alerts", 5, "alerts to publish, one at a time")
	f.DurationVar(&cfg.Window, "window", 5*time.Second, "how long each alert is watched")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&cfg.Gossip.Fanout, "fanout", 0, "gossip: members each new record is pushed to (0: the link's default)")
	f.IntVar(&cfg.Gossip.LazyFanout, "lazy-fanout", 0, "gossip: members told \"I have\" (0: the link's default)")
	f.DurationVar(&cfg.Gossip.GraftTimeout, "graft-timeout", 0, "gossip: wait before pulling an announced record (0: the link's default)")
	f.BoolVar(&cfg.WAN, "wan", false, "run memberlist with WAN timing (a fifth of the CPU; for N ≥ 750 in one process)")
	f.BoolVar(&skipBaseline, "no-baseline", false, "measure the gossip link only")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile to this file once the mesh has settled")
	return cmd
}
