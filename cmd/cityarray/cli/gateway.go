package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// newGatewayCmd is `cityarray gateway`: a zone gateway.
func newGatewayCmd(e *env) *cobra.Command {
	var config string
	var check bool
	cmd := &cobra.Command{
		Use:   "gateway --config FILE",
		Short: "Run a zone gateway: the zone's MQTT broker and cache, bridged to the control server",
		Long: "gateway runs a zone gateway until SIGINT or SIGTERM: a mesh node whose store is the zone\n" +
			"cache, the MQTT broker the zone's poles connect to (mutual TLS with city certificates),\n" +
			"the bridge to the control server (a durable outbox while the server is away, a cellular\n" +
			"standby if configured) and the zone's gossip mesh.\n" +
			"\n" +
			"The configuration is YAML; docs/gateway.yaml documents every key. --check-config checks\n" +
			"it and the PKI and exits 0, or 1 listing every problem with its file:line.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return exitError{code: 2, msg: "--config FILE is required (docs/gateway.yaml is a documented example)"}
			}
			cfg, err := loadGatewayConfig(config)
			if err != nil {
				return err
			}
			if check {
				_, err := loadGatewayNode(cfg)
				if _, werr := cfg.LoadWebCertificate(time.Now()); werr != nil {
					err = errors.Join(err, werr)
				}
				if err != nil {
					return exitError{code: 1, msg: "configuration problems:\n  " + err.Error()}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "configuration ok: %s\n", config)
				return nil
			}
			g, err := gateway.New(cfg, gateway.Options{Logger: e.untaggedLogger(), Version: currentVersion().Version})
			if err != nil {
				if errors.Is(err, yamlconf.ErrConfig) {
					return yamlConfigProblems(err)
				}
				return err
			}
			id := g.Identity()
			fmt.Fprintf(cmd.OutOrStdout(), "gateway %s for zone %s: poles connect to %s; stop with Ctrl-C or SIGTERM\n", id.ID, id.Zone, g.BrokerURL())
			return errors.Join(g.Run(cmd.Context()), g.Close())
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "configuration file (YAML; docs/gateway.yaml)")
	cmd.AddCommand(newGatewayOperatorCmd(e))
	cmd.Flags().BoolVar(&check, "check-config", false, "check the configuration and the PKI and exit: 0 if good, 1 with every problem")
	return cmd
}

// loadGatewayConfig reads the gateway's configuration file at path and
// validates it; its problems come back as one error (exit status 1)
// listing each with its FILE:LINE.
func loadGatewayConfig(path string) (gateway.Config, error) {
	cfg, err := gateway.LoadConfig(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return cfg, yamlConfigProblems(err)
	}
	return cfg, nil
}

// loadGatewayNode loads and checks the gateway's certificate and key
// (cfg from loadGatewayConfig).
func loadGatewayNode(cfg gateway.Config) (*trust.Node, error) {
	return trust.LoadNode(cfg.NodeFiles(), trust.RoleGateway, cfg.PKI.GatewayID, time.Now())
}
