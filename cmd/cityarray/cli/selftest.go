package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// newSelftestCmd is `cityarray selftest`: checks a city runs before go-live.
func newSelftestCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run the deployment checklist's tests against a local demo city",
	}
	cmd.AddCommand(newSelftestFailoverCmd(e))
	return cmd
}

// newSelftestFailoverCmd is `cityarray selftest failover`.
func newSelftestFailoverCmd(e *env) *cobra.Command {
	var cfg city.SelftestConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "failover [--poles N] [--json]",
		Short: "Failover tests (pole, gateway, gateway power cut, server) on a demo city; a pass/fail table",
		Long: "selftest failover starts the demo city `cityarray up` runs (in this process, on loopback,\n" +
			"with the gossip mesh) and runs the deployment checklist's failover tests, printing one\n" +
			"line per check:\n" +
			"  pole offline, then back:      it catches up on what it missed and acks it;\n" +
			"  gateway offline:              its poles keep showing, the mesh carries new alerts\n" +
			"                                and their acks;\n" +
			"  gateway power cut, restart:   nothing lost, every pole back on its gateway;\n" +
			"  server offline:               a gateway issues an Advisory and its poles show it\n" +
			"                                (a restarted one from the gateway's cache), a\n" +
			"                                gateway's Warning is refused, the desk is gone.\n" +
			"It exits 1 if any check fails. The stores' crash safety under kill -9 is tested\n" +
			"separately (mesh/store TestCrash, edge TestCrash): here a power cut is a stop\n" +
			"without warning of a gateway running in this process.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			cfg.Logger = newLogger(e.stderr, e.logFormat, "error").With("component", "city")
			checks, err := city.RunFailoverSelftest(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("selftest failover: %w", err)
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, c := range checks {
				if !c.Pass {
					failed++
				}
			}
			if asJSON {
				if err := json.NewEncoder(out).Encode(map[string]any{"checks": checks, "failed": failed}); err != nil {
					return err
				}
			} else {
				printChecks(out, checks)
			}
			if failed > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("selftest failover: %d of %d checks failed", failed, len(checks))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Poles, "poles", 8, "simulated poles, in two zones")
	f.DurationVar(&cfg.Within, "within", 20*time.Second, "how long each expectation may take")
	f.BoolVar(&cfg.NoGossip, "no-gossip", false, "run the city without its gossip mesh (to see what it buys: the mesh checks fail)")
	f.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}

func printChecks(out io.Writer, checks []city.Check) {
	fmt.Fprintf(out, "%-30s %-56s %-4s %8s\n", "scenario", "check", "", "took")
	for _, c := range checks {
		result := "PASS"
		if !c.Pass {
			result = "FAIL"
		}
		took := ""
		if c.Took > 0 {
			took = c.Took.Round(time.Millisecond).String()
		}
		fmt.Fprintf(out, "%-30s %-56s %-4s %8s\n", c.Scenario, c.Expect, result, took)
		if c.Detail != "" {
			fmt.Fprintf(out, "%-30s   %s\n", "", c.Detail)
		}
	}
}
