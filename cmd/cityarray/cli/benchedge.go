package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

func newBenchEdgeCmd(e *env) *cobra.Command {
	var cfg city.EdgeBenchConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "edge [--json]",
		Short: "A pole's cold start to a cached alert, its memory with a full cache, and a frame's cost",
		Long: "bench edge makes a city PKI and a pole whose cache holds --records signed records (a\n" +
			"city-wide alert in 15 languages, protocols, other zones' alerts), then starts\n" +
			"`cityarray edge` --runs times with no link up and times each start until the pole logs\n" +
			"the cached alert on its (simulated) panel; the baseline is starting the same binary\n" +
			"for `cityarray version`. It reads the pole's RSS a second after the alert went up,\n" +
			"and times one frame of a scrolling 15-language alert on one core against the baseline\n" +
			"of shaping and rasterising every frame. Aims: cold start ≤ 200 ms, frame ≤ 1 ms,\n" +
			"RSS ≤ 40 MB.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench edge: finding this binary: %w", err)
			}
			cfg.Binary = bin
			res, err := city.RunEdgeBench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench edge: %w", err)
			}
			out := cmd.OutOrStdout()
			cold, base := city.Median(res.ColdStart), city.Median(res.ProcessStart)
			mb := float64(res.RSS) / (1 << 20)
			if asJSON {
				runs := make([]float64, len(res.ColdStart))
				for i, d := range res.ColdStart {
					runs[i] = ms(d)
				}
				return json.NewEncoder(out).Encode(map[string]any{
					"cold_start_ms": ms(cold), "cold_start_runs_ms": runs, "process_start_ms": ms(base),
					"render_frame_us": us(res.Frame), "render_frame_allocs": res.FrameAllocs, "render_reshape_us": us(res.FrameReshape),
					"rss_mb": mb, "records": res.Records,
				})
			}
			fmt.Fprintf(out, "pole with %d cached records\n", res.Records)
			fmt.Fprintf(out, "%-40s %10.1f ms  (max %.1f; aim ≤ 200)\n", "cold start to the cached alert, median", ms(cold), ms(slicesMax(res.ColdStart)))
			fmt.Fprintf(out, "%-40s %10.1f ms  (the floor: start and exit)\n", "`cityarray version`, median", ms(base))
			fmt.Fprintf(out, "%-40s %10.1f µs  (%d allocs; aim ≤ 1000)\n", "frame, scrolling 15-language alert", us(res.Frame), res.FrameAllocs)
			fmt.Fprintf(out, "%-40s %10.1f µs  (baseline: shape every frame)\n", "frame, shaped every time", us(res.FrameReshape))
			fmt.Fprintf(out, "%-40s %10.1f MB  (aim ≤ 40)\n", "RSS, a second after the alert", mb)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.IntVar(&cfg.Records, "records", 1000, "signed records in the pole's cache")
	f.IntVar(&cfg.Runs, "runs", 5, "cold starts to time")
	return cmd
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
