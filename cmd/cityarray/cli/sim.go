package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// newSimCmd is `cityarray sim`: run a city scenario on the simulated
// network.
func newSimCmd(e *env) *cobra.Command {
	var opts city.SimOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sim SCENARIO",
		Short: "Run a city scenario (partitions, loss, crashes, alerts) on a simulated network",
		Long: "sim runs a scenario file on an in-memory network (mesh/netsim) with real\n" +
			"memberlist, replicas, bbolt stores and signatures, and reports delivery,\n" +
			"latency and bytes. It exits 1 if an expectation fails. Scenario commands:\n\n" +
			"  city zones=5 poles=40 gateways=1\n" +
			"  link latency=20ms jitter=5ms loss=5%\n" +
			"  partition zone:z1 | rest          (selectors: NODE, zone:ID, poles, gateways, server, rest)\n" +
			"  heal\n" +
			"  crash pole-7 / restart pole-7\n" +
			"  publish tier=warning scope=zone:z1 [from=NODE] [name=A]\n" +
			"  wait 2h [real=5s]                 (waits past real= or --max-real-wait jump the simulated clock)\n" +
			"  expect delivered [record=A] [scope=zone:z1] 100% within=2s\n\n" +
			"Examples are in testdata/scenarios/.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			s, err := city.ParseScenario(strings.TrimSuffix(filepath.Base(args[0]), ".txt"), f)
			if err != nil {
				return err
			}
			log := loggerFrom(cmd)
			opts.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			rep, err := city.RunScenario(s, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(out).Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Text(out)
			}
			if !rep.OK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&opts.Seed, "seed", 1, "random seed of the network and the peer choices")
	f.DurationVar(&opts.MaxRealWait, "max-real-wait", 0, "longest real-time wait; the rest of a longer wait jumps the simulated clock (default 20s)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
