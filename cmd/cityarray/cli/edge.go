package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/edge"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// newEdgeCmd is `cityarray edge`: the pole runtime.
func newEdgeCmd(e *env) *cobra.Command {
	var config string
	var check bool
	cmd := &cobra.Command{
		Use:   "edge --config FILE",
		Short: "Run a pole: the alert display, speaker, acks and health, on every link it has",
		Long: "edge runs the pole runtime until SIGINT or SIGTERM: a mesh node with its 48-hour\n" +
			"signed cache, MQTT to the zone's gateways (and the server over cellular), gossip with\n" +
			"neighbouring poles, the LED matrix and the speaker. It shows the highest-tier alert in\n" +
			"its scope in the zone's languages, says it aloud, acks it, reports health, and keeps\n" +
			"showing cached alerts with every link down. Under systemd (Type=notify) it reports\n" +
			"READY and pings the watchdog; see docs/cityarray-edge.service.\n" +
			"\n" +
			"The configuration is YAML; docs/edge.yaml documents every key. --check-config checks\n" +
			"it and the files it names (the PKI, the gossip keyring) and exits 0, or 1 listing every problem with its file:line. A restart asked by the\n" +
			"server (a new configuration, a reboot) exits with status 75 for the service manager\n" +
			"to start the pole again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return exitError{code: 2, msg: "--config FILE is required (docs/edge.yaml is a documented example)"}
			}
			cfg, err := edge.LoadConfig(config)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				return yamlConfigProblems(err)
			}
			if check {
				if err := edge.CheckFiles(cfg); err != nil {
					return yamlConfigProblems(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "configuration ok: %s\n", config)
				return nil
			}
			p, err := edge.New(cfg, edge.Options{Logger: e.untaggedLogger(), Version: currentVersion().Version})
			if err != nil {
				return yamlConfigProblems(err)
			}
			id := p.Identity()
			fmt.Fprintf(cmd.OutOrStdout(), "pole %s in zone %s; stop with Ctrl-C or SIGTERM\n", id.ID, id.Zone)
			runErr := p.Run(cmd.Context())
			closeErr := p.Close()
			if errors.Is(runErr, edge.ErrRestart) {
				return exitError{code: 75, msg: "restart requested by the control server"}
			}
			return errors.Join(runErr, closeErr)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "configuration file (YAML; docs/edge.yaml)")
	cmd.Flags().BoolVar(&check, "check-config", false, "check the configuration and exit: 0 if it is good, 1 with every problem")
	return cmd
}

// yamlConfigProblems turns a configuration error (of a pole or a gateway)
// into an exit with every problem on its own line.
func yamlConfigProblems(err error) error {
	if errors.Is(err, yamlconf.ErrConfig) {
		return exitError{code: 1, msg: "configuration problems:\n  " + strings.Join(yamlconf.Lines(err), "\n  ")}
	}
	return err
}
