package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// newUpCmd is `cityarray up`: the whole city on this machine.
func newUpCmd(e *env) *cobra.Command {
	var cfg city.UpConfig
	cmd := &cobra.Command{
		Use:   "up [--poles N] [--zones Z] [--keep DIR] [--listen ADDR] [--no-gossip]",
		Short: "Run a whole demo city on this machine: control server, gateways, poles, a page showing every pole",
		Long: "up makes a throw-away city PKI and starts, in this process on loopback, a control server\n" +
			"(HTTPS API, MQTT broker, audit log), one gateway per zone and --poles simulated poles\n" +
			"(bbolt stores, real TLS, each on a simulated LED matrix with a WAV sink for a speaker).\n" +
			"It creates a demo admin and prints its one-time password and TOTP secret, and the\n" +
			"address of a page that shows every pole's matrix live, grouped by zone, with buttons\n" +
			"that have a gateway issue an advisory. The server, the gateways and the poles form one\n" +
			"gossip mesh on loopback UDP (--no-gossip leaves it out), so a pole whose gateway is\n" +
			"gone still gets alerts from its neighbours. --keep DIR keeps the city's files there (and\n" +
			"reuses nothing: it must be new or empty). Ctrl-C stops everything.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := loggerFrom(cmd)
			cfg.Progress = func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }
			// A city's worth of components logs a lot: warnings and
			// errors only, unless --log-level debug asks for everything.
			level := e.logLevel
			if level == "info" {
				level = "warn"
			}
			cfg.Logger = newLogger(e.stderr, e.logFormat, level).With("component", "city")
			c, err := city.Up(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("up: %w", err)
			}
			c.Describe(cmd.OutOrStdout())
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping the city…")
			if err := c.Close(); err != nil && !errors.Is(err, cmd.Context().Err()) {
				return fmt.Errorf("up: stopping: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Poles, "poles", 40, "simulated poles")
	f.IntVar(&cfg.Zones, "zones", 2, "zones, one gateway each")
	f.StringVar(&cfg.Dir, "keep", "", "keep the city's files in this directory (default: a temporary one, removed)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "the demo page's address (port 0 picks one)")
	f.BoolVar(&cfg.NoGossip, "no-gossip", false, "no gossip mesh: each pole hears only its zone's gateway")
	return cmd
}
