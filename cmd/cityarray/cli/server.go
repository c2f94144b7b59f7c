package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cityarray/cityarray/server"
)

// serverFlags are the flags that override the configuration file
// (defaults < file < flags).
type serverFlags struct {
	config      string
	dataDir     string
	httpListen  string
	mqttListen  string
	checkConfig bool
}

func (f *serverFlags) register(fs *pflag.FlagSet, withCheck bool) {
	fs.StringVar(&f.config, "config", "", "configuration file (YAML; see `go doc github.com/cityarray/cityarray/server`)")
	fs.StringVar(&f.dataDir, "data-dir", "", "override data_dir")
	fs.StringVar(&f.httpListen, "http-listen", "", "override http.listen")
	fs.StringVar(&f.mqttListen, "mqtt-listen", "", "override mqtt.listen")
	if withCheck {
		fs.BoolVar(&f.checkConfig, "check-config", false, "check the configuration and exit: 0 if it is good, 1 with every problem")
	}
}

// load reads the file over the defaults and applies the flags the user set.
func (f *serverFlags) load(cmd *cobra.Command) (server.Config, error) {
	cfg := server.DefaultConfig()
	if f.config != "" {
		var err error
		if cfg, err = server.LoadConfig(f.config); err != nil {
			return cfg, err
		}
	}
	fs := cmd.Flags()
	set := func(flag, field string, dst *string, v string) {
		if fs.Changed(flag) {
			*dst = v
			cfg.SetSource(field, "--"+flag)
		}
	}
	set("data-dir", "data_dir", &cfg.DataDir, f.dataDir)
	set("http-listen", "http.listen", &cfg.HTTP.Listen, f.httpListen)
	set("mqtt-listen", "mqtt.listen", &cfg.MQTT.Listen, f.mqttListen)
	return cfg, nil
}

// configProblems turns a configuration error into an exit with every
// problem on its own line.
func configProblems(err error) error {
	if errors.Is(err, server.ErrConfig) {
		return exitError{code: 1, msg: "configuration problems:\n  " + strings.Join(server.Problems(err), "\n  ")}
	}
	return err
}

// newServerCmd is `cityarray server`: the control-server daemon.
func newServerCmd(e *env) *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server --config FILE",
		Short: "Run the control server: HTTP API, MQTT broker, mesh node, audit log",
		Long: "server runs the control-server daemon until SIGINT or SIGTERM: the operator API over\n" +
			"HTTPS, the embedded MQTT broker for gateways and poles (mutual TLS with city\n" +
			"certificates), the mesh node and the signed audit log. Start with\n" +
			"  cityarray keys init --dir PKI --city NAME\n" +
			"  cityarray keys issue --dir PKI --role server --id server-1\n" +
			"  cityarray server init --config FILE   # first admin and its setup code\n" +
			"  cityarray server --config FILE\n" +
			"Settings come from the defaults, then the file, then the flags. --check-config\n" +
			"checks them and exits 0, or 1 listing every problem with its file:line.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return configProblems(err)
			}
			if f.checkConfig {
				return checkConfig(cmd, cfg, f.config)
			}
			server.ApplyRuntime(cfg.Runtime)
			// The root logger, untagged: the server and each library it
			// runs tag their own lines with "component".
			srv, err := server.New(cfg, e.untaggedLogger())
			if err != nil {
				return configProblems(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "server %s: API %s, MQTT tls://%s; stop with Ctrl-C or SIGTERM\n",
				srv.Identity().ID, srv.HTTPURL(), srv.MQTTAddr())
			// main's context ends on SIGINT and SIGTERM; the library
			// installs no signal handler.
			return srv.Run(cmd.Context())
		},
	}
	f.register(cmd.Flags(), true)
	cmd.AddCommand(newServerInitCmd(e))
	return cmd
}

// checkConfig validates cfg and checks that the files it names can be read.
func checkConfig(cmd *cobra.Command, cfg server.Config, file string) error {
	if err := cfg.Validate(); err != nil {
		return configProblems(err)
	}
	if err := server.CheckFiles(cfg); err != nil {
		return configProblems(err)
	}
	name := file
	if name == "" {
		name = "defaults"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "configuration ok: %s\n", name)
	return nil
}

func newServerInitCmd(e *env) *cobra.Command {
	var f serverFlags
	var admin, name string
	cmd := &cobra.Command{
		Use:   "init --config FILE [--admin ID]",
		Short: "Create the data directory and the first admin; print its one-time setup code",
		Long: "init creates the data directory, the server's data and CSRF keys, and the first\n" +
			"admin account, and prints a one-time setup code with which that person sets a\n" +
			"password and enrols TOTP (there is never a default password). It refuses once any\n" +
			"user exists, and while a server runs on the same data directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return configProblems(err)
			}
			res, err := server.Init(cfg, admin, name, e.untaggedLogger())
			if err != nil {
				if errors.Is(err, server.ErrConfig) {
					return configProblems(err)
				}
				return exitError{code: 1, msg: err.Error()}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "data dir: %s\n", res.DataDir)
			fmt.Fprintf(out, "first admin: %s\n", res.AdminID)
			fmt.Fprintf(out, "setup code (shown once, valid until %s): %s\n", res.Expires.UTC().Format(time.RFC3339), res.SetupCode)
			base := strings.TrimSuffix(res.SetupURL, "/api/v1/setup/start")
			fmt.Fprintf(out, "finish setup with the server running (it asks for the code, a password and a TOTP code):\n")
			fmt.Fprintf(out, "  cityarray admin --server %s --ca %s setup --user %s\n", base, filepath.Join(res.DataDir, server.WebCertFile), res.AdminID)
			fmt.Fprintf(out, "(or POST %s/api/v1/setup/start and /api/v1/setup/finish)\n", base)
			return nil
		},
	}
	f.register(cmd.Flags(), false)
	cmd.Flags().StringVar(&admin, "admin", "admin", "user id of the first admin")
	cmd.Flags().StringVar(&name, "display-name", "", "display name of the first admin (default: the id)")
	return cmd
}

// untaggedLogger is the run's logger without a component tag, for the
// server, which tags each of its parts ("server", "mesh", "mqttbroker",
// "audit", …) itself.
func (e *env) untaggedLogger() *slog.Logger {
	if e.log == nil {
		e.log = newLogger(e.stderr, e.logFormat, e.logLevel)
	}
	return e.log
}
