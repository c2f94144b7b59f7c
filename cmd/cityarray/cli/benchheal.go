package cli

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

func newBenchHealCmd(e *env) *cobra.Command {
	var cfg city.HealBenchConfig
	var asJSON, skipBaseline bool
	var baselineWait time.Duration
	cmd := &cobra.Command{
		Use:   "heal --nodes N --partition DURATION --records R [--seed S] [--json]",
		Short: "Time and bytes for a partitioned mesh to converge again after the cut heals",
		Long: "bench heal starts N poles on a simulated network (mesh/netsim) with real\n" +
			"memberlist (LAN defaults), stores, signatures and verification; every pole\n" +
			"starts with --base records. It cuts the mesh into two halves for --partition\n" +
			"(real time; long enough and memberlist forgets the other half), has each\n" +
			"half publish --records server-signed warnings, heals the cut and measures\n" +
			"until every pole holds every record:\n\n" +
			"  heal_ms            from the heal until the last pole has the last record\n" +
			"  rounds             ⌈heal / period⌉, period = min(re-join interval,\n" +
			"                     anti-entropy interval) (10 s at the defaults): how\n" +
			"                     many periods had begun, a partial one counting as one\n" +
			"  bytes_transferred  every byte the network carried from the heal until\n" +
			"                     healed (packets and streams, membership included)\n" +
			"  full_state_bytes   what a full-state exchange would move: every pole\n" +
			"                     receiving a full copy of the other half's records,\n" +
			"                     |A|·size(B's state) + |B|·size(A's state), a half's\n" +
			"                     state being the base records and those it published\n" +
			"  diff_bytes         the floor: every pole receiving only what it lacks\n\n" +
			"for (a) the CITYARRAY gossip link (re-join loop, range-fingerprint\n" +
			"anti-entropy) and (b) the baseline, run at the same time on a network of\n" +
			"its own: memberlist push/pull carrying the full record set, no re-join\n" +
			"loop. The baseline waits --baseline-wait at most (default min(3 ×\n" +
			"partition, 5 min)) and reports healed=false if it does not heal.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Nodes < 4 || cfg.Records < 1 || cfg.Partition <= 0 || cfg.Base < 0 || cfg.Latency < 0 {
				return fmt.Errorf("bench heal: want --nodes ≥ 4, --records ≥ 1, --partition > 0, --base ≥ 0, --latency ≥ 0")
			}
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			// The baseline runs at the same time, on its own network: most
			// of either run is waiting out the partition, and the baseline
			// may wait minutes more for a heal that never comes.
			var (
				base    city.HealBenchResult
				baseErr error
				wg      sync.WaitGroup
			)
			if !skipBaseline {
				bc := cfg
				bc.Seed++ // its own network and choices
				bc.Wait = baselineWait
				if bc.Wait <= 0 {
					bc.Wait = min(3*cfg.Partition, 5*time.Minute)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					base, baseErr = city.RunHealBench(cmd.Context(), bc, true)
				}()
			}
			ours, err := city.RunHealBench(cmd.Context(), cfg, false)
			wg.Wait()
			if err != nil {
				return fmt.Errorf("bench heal: gossip: %w", err)
			}
			if baseErr != nil {
				return fmt.Errorf("bench heal: baseline: %w", baseErr)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{
					"nodes": cfg.Nodes, "partition_ms": ms(cfg.Partition), "records": cfg.Records, "base_records": cfg.Base,
					"seed": cfg.Seed, "latency_ms": ms(cfg.Latency), "record_bytes": ours.RecordSize,
					"heal_ms": ms(ours.Heal), "rounds": ours.Rounds, "round_ms": ms(ours.Period),
					"bytes_transferred": ours.BytesTransferred, "full_state_bytes": ours.FullStateBytes,
					"diff_bytes": ours.DiffBytes, "healed": ours.Healed,
					"rejoins": ours.Rejoins, "sessions": ours.Sessions, "records_fetched": ours.Fetched,
					"reconcile_bytes":  ours.ReconcileBytes,
					"baseline_heal_ms": ms(base.Heal), "baseline_healed": base.Healed,
					"baseline_bytes_transferred": base.BytesTransferred,
				})
			}
			fmt.Fprintf(out, "%d nodes, partition %v, %d records per half (%d B each on average), %d base records, latency %v, seed %d\n",
				cfg.Nodes, cfg.Partition, cfg.Records, ours.RecordSize, cfg.Base, cfg.Latency, cfg.Seed)
			fmt.Fprintf(out, "%-10s %7s %12s %7s %18s %18s\n", "link", "healed", "heal", "rounds", "bytes transferred", "full state bytes")
			fmt.Fprintf(out, "%-10s %7v %10.0fms %7d %18d %18d\n", "gossip", ours.Healed, ms(ours.Heal), ours.Rounds, ours.BytesTransferred, ours.FullStateBytes)
			if !skipBaseline {
				fmt.Fprintf(out, "%-10s %7v %10.0fms %7s %18d %18d\n", "baseline", base.Healed, ms(base.Heal), "-", base.BytesTransferred, base.FullStateBytes)
			}
			fmt.Fprintf(out, "rounds count periods of %v; the floor (every pole receiving only what it lacks) is %d bytes\n", ours.Period, ours.DiffBytes)
			fmt.Fprintf(out, "gossip heal: %d re-joins, %d sessions (%d reconcile bytes), %d records fetched\n",
				ours.Rejoins, ours.Sessions, ours.ReconcileBytes, ours.Fetched)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 50, "number of poles")
	f.DurationVar(&cfg.Partition, "partition", 2*time.Minute, "how long the halves stay apart (real time)")
	f.IntVar(&cfg.Records, "records", 20, "records each half publishes while apart")
	f.IntVar(&cfg.Base, "base", 200, "records every pole holds before the partition")
	f.DurationVar(&cfg.Latency, "latency", 5*time.Millisecond, "one-way link latency")
	f.Int64Var(&cfg.Seed, "seed", 1, "random seed of the network and the peer choices")
	f.DurationVar(&cfg.RejoinInterval, "rejoin-interval", 0, "gossip: re-join period (0: the link's default, 10s)")
	f.DurationVar(&cfg.AntiEntropyInterval, "anti-entropy-interval", 0, "gossip: anti-entropy period (0: the link's default, 30s)")
	f.DurationVar(&baselineWait, "baseline-wait", 0, "longest wait for the baseline to heal (0: min(3 × partition, 5m))")
	f.BoolVar(&skipBaseline, "no-baseline", false, "measure the gossip link only")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
