package cli

import (
	"encoding/json"
	"fmt"
	"github.com/cityarray/cityarray/hal/sensors"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// newBenchE2ECmd is `cityarray bench e2e`: an operator's alert to every
// pole's display, in the `cityarray up` city.
func newBenchE2ECmd(e *env) *cobra.Command {
	var cfg city.E2EBenchConfig
	var asJSON bool
	var cpuProfile, tracePath string
	cmd := &cobra.Command{
		Use:   "e2e [--poles N] [--json]",
		Short: "An operator's alert to every pole's display, end to end, in a city run in this process",
		Long: "bench e2e starts the city `cityarray up` runs (a control server, a gateway per zone,\n" +
			"--poles simulated poles; real MQTT over TLS, real gossip on loopback UDP, bbolt on disk)\n" +
			"and measures, per pole, from an operator's call until that pole's \"displayed\" ack is\n" +
			"back (p50, p99, max over --alerts alerts × poles):\n" +
			"  normal:       publishing an approved city-wide Warning (HTTPS) → ack at the server;\n" +
			"  failover_*:   the same with the first zone's gateway killed: its poles get the alert\n" +
			"                over the gossip mesh and ack that way;\n" +
			"  gateway_only_*: the control server killed; each gateway issues an Advisory for its\n" +
			"                zone → ack at the gateway.\n" +
			"The baseline is one broker fanning a record out to as many bare MQTT clients (TLS,\n" +
			"device certificates): the floor under the first hop. Aims (issue 7): 500 poles, all\n" +
			"delivered, p99 ≤ 200 ms; with a gateway killed, all delivered within 5 s.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			cfg.Logger = newLogger(e.stderr, e.logFormat, "error").With("component", "city")
			// One heap holds the whole city, and at the default GC target
			// the collector takes a third of the CPU during an alert;
			// GOGC=400 cuts the 500-pole p50 by about a third for a heap
			// of about 6 GB. Capped by a soft memory limit, half the
			// machine's memory, so that a smaller machine collects sooner
			// rather than swaps.
			if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
				limit := min(int64(8<<30), memTotal()/2)
				debug.SetGCPercent(400)
				debug.SetMemoryLimit(limit)
				log.Info("bench e2e: GOGC=400 and a soft memory limit (set GOGC or GOMEMLIMIT to override)", "limit_mib", limit>>20)
			}
			for path, w := range map[string]*io.Writer{cpuProfile: &cfg.CPUProfile, tracePath: &cfg.Trace} {
				if path == "" {
					continue
				}
				f, err := os.Create(path)
				if err != nil {
					return err
				}
				defer f.Close()
				*w = f
			}
			res, err := city.RunE2EBench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench e2e: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				m := map[string]any{"poles": res.Poles, "zones": res.Zones, "cores": res.Cores, "alerts": cfg.Alerts,
					"start_s": res.Start.Seconds(), "disk_floor_ms": ms(res.DiskFloor), "cpu_per_pole_ms": ms(res.CPUPerPole), "cpu_floor_ms": ms(res.CPUFloor()), "idle_cores": res.IdleCores, "baseline_fanout_p50_ms": ms(res.BaselineP50), "baseline_fanout_p99_ms": ms(res.BaselineP99)}
				for prefix, ph := range map[string]city.E2EPhase{"": res.Normal, "failover_": res.Failover, "gateway_only_": res.GatewayOnly} {
					m[prefix+"delivered_ratio"] = ph.Ratio()
					m[prefix+"delivered"] = ph.Delivered
					m[prefix+"expected"] = ph.Expected
					m[prefix+"p50_ms"], m[prefix+"p99_ms"], m[prefix+"max_ms"] = ms(ph.P50), ms(ph.P99), ms(ph.Max)
					m[prefix+"made_p50_ms"], m[prefix+"made_p99_ms"] = ms(ph.MadeP50), ms(ph.MadeP99)
				}
				return json.NewEncoder(out).Encode(m)
			}
			printE2E(out, cfg, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&cfg.Poles, "poles", 500, "simulated poles")
	f.IntVar(&cfg.Zones, "zones", 2, "zones, one gateway each")
	f.IntVar(&cfg.Alerts, "alerts", 3, "alerts per phase, sent one at a time")
	f.DurationVar(&cfg.Wait, "wait", 10*time.Second, "how long an alert may take to reach every pole")
	f.DurationVar(&cfg.Gap, "gap", 2*time.Second, "quiet time before each alert")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the normal phase to this file (labelled by role: go tool pprof -tags, -tagfocus role=pole)")
	f.StringVar(&tracePath, "trace", "", "write an execution trace of the normal phase to this file (go tool trace)")
	f.StringVar(&cfg.Dir, "dir", "", "where the city's files go (default: the temporary directory); e.g. /dev/shm to take the shared disk out")
	f.BoolVar(&cfg.NoBaseline, "no-baseline", false, "skip the broker fan-out baseline")
	return cmd
}

func printE2E(out io.Writer, cfg city.E2EBenchConfig, res city.E2EBenchResult) {
	fmt.Fprintf(out, "city: %d poles in %d zones on %d cores, up and settled in %v\n", res.Poles, res.Zones, res.Cores, res.Start.Round(time.Millisecond))
	fmt.Fprintf(out, "%-44s %10s %10s %10s %10s\n", "", "delivered", "p50", "p99", "max")
	row := func(name string, ph city.E2EPhase) {
		fmt.Fprintf(out, "%-44s %9.1f%% %8.1fms %8.1fms %8.1fms\n", name, 100*ph.Ratio(), ms(ph.P50), ms(ph.P99), ms(ph.Max))
		fmt.Fprintf(out, "%-44s %10s %8.1fms %8.1fms\n", "  of which until the pole made its ack", "", ms(ph.MadeP50), ms(ph.MadeP99))
	}
	row(fmt.Sprintf("warning → displayed (%d alerts)", cfg.Alerts), res.Normal)
	row("… one gateway killed (failover)", res.Failover)
	row("server killed, gateway advisory (gateway only)", res.GatewayOnly)
	if res.BaselineP99 > 0 {
		fmt.Fprintf(out, "%-44s %10s %8.1fms %8.1fms\n", fmt.Sprintf("baseline: broker fan-out to %d clients", res.Poles), "", ms(res.BaselineP50), ms(res.BaselineP99))
	}
	fmt.Fprintf(out, "%-44s %10s %10s %8.1fms\n", fmt.Sprintf("disk floor: %d stores × 2 commits, one disk", res.Poles), "", "", ms(res.DiskFloor))
	if res.CPUPerPole > 0 {
		fmt.Fprintf(out, "%-44s %10s %10s %8.1fms\n", fmt.Sprintf("cpu work: %d poles × %.2fms / %.2f cores", res.Poles, ms(res.CPUPerPole), float64(res.Cores)-res.IdleCores), "", "", ms(res.CPUFloor()))
		fmt.Fprintf(out, "  (an alert's CPU time per pole, deferred work included, over the %d cores less the %.2f the city at rest keeps busy)\n", res.Cores, res.IdleCores)
	}
	fmt.Fprintf(out, "aims: 100%% delivered, p99 ≤ 200 ms; failover 100%% within 5 s\n")
}

// memTotal returns the machine's memory in bytes from /proc/meminfo, or
// 16 GiB where that does not say.
func memTotal() int64 {
	const fallback = 16 << 30
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallback
	}
	m, err := sensors.ParseMeminfo(string(b))
	if err != nil || m.Total == 0 {
		return fallback
	}
	return int64(m.Total)
}
