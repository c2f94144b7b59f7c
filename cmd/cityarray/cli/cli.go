// Package cli implements the cityarray command line.
//
// # Adding a subcommand
//
// Each subcommand lives in its own file and has a constructor
//
//	func newXxxCmd(e *env) *cobra.Command
//
// that newRootCmd registers (keep that list sorted). Inside RunE, write output
// to cmd.OutOrStdout(), log through e.logger("xxx") or loggerFrom(cmd), and
// return errors rather than printing them: main prints the error once and
// exits with its code. To exit with a chosen code and message, return an
// exitError, for example
//
//	return exitError{code: 1, msg: "rejected: " + reason}
//
// The root command builds the logger in its PersistentPreRunE, so a
// subcommand must not define its own PersistentPreRun(E) (cobra would run
// only the nearest one); use PreRunE.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Run runs the cityarray command line with args (without the program name),
// writing to os.Stdout and os.Stderr. The returned error has not been
// printed; it may carry an exit code through an ExitCode() int method.
func Run(ctx context.Context, args []string) error {
	return run(ctx, args, os.Stdout, os.Stderr)
}

// run is Run with the output streams injected, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := newEnv(stdout, stderr)
	return execute(ctx, newRootCmd(e), e, args)
}

// execute runs root with args, making e reachable from every command's
// context.
func execute(ctx context.Context, root *cobra.Command, e *env, args []string) error {
	root.SetArgs(args)
	return root.ExecuteContext(context.WithValue(ctx, envKey{}, e))
}

// newRootCmd returns the cityarray root command with every subcommand.
func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "cityarray",
		Short: "CITYARRAY public-alert network: edge poles, zone gateways, control server",
		Long: "cityarray runs a CITYARRAY node (edge pole, zone gateway or control server)\n" +
			"and holds the operator tools. All nodes share one signed-record gossip mesh.",
		Version: versionLine(currentVersion()),
		// main prints the error once; usage is shown only on flag errors
		// (see SetFlagErrorFunc), never on errors from a running command.
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			e.log = newLogger(e.stderr, e.logFormat, e.logLevel)
			loggerFrom(cmd).Debug("command starting", "args", cmd.Flags().Args())
			return nil
		},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})

	pf := root.PersistentFlags()
	pf.Var(&choiceValue{val: &e.logFormat, choices: logFormats}, "log-format",
		"log format: "+strings.Join(logFormats, "|"))
	pf.Var(&choiceValue{val: &e.logLevel, choices: logLevels}, "log-level",
		"minimum log level: "+strings.Join(logLevels, "|"))

	// Subcommands, one file each, constructor func newXxxCmd(e *env) *cobra.Command.
	// Keep this list sorted.
	root.AddCommand(
		newAdminCmd(e),
		newAlertCmd(e),
		newAuditCmd(e),
		newBenchCmd(e),
		newEdgeCmd(e),
		newGatewayCmd(e),
		newKeysCmd(e),
		newMeshCmd(e),
		newRecordCmd(e),
		newSelftestCmd(e),
		newServerCmd(e),
		newSimCmd(e),
		newUpCmd(e),
		newVersionCmd(e),
	)
	return root
}

// env is what every subcommand gets from the root: output streams and the
// logger chosen by the persistent flags. It is built per run; there is no
// package-level state.
type env struct {
	stdout, stderr io.Writer

	logFormat string       // --log-format, one of logFormats
	logLevel  string       // --log-level, one of logLevels
	log       *slog.Logger // set by the root's PersistentPreRunE

	// getenv reads the environment (os.Getenv; tests replace it).
	getenv func(string) string
	// prompt, if set, answers what a command would ask the person at the
	// terminal (tests); nil asks on the terminal.
	prompt func(label string, secret bool) (string, error)
}

// envKey is the context key under which execute stores the *env.
type envKey struct{}

func newEnv(stdout, stderr io.Writer) *env {
	return &env{stdout: stdout, stderr: stderr, logFormat: "text", logLevel: "info", getenv: os.Getenv}
}

// logger returns the run's logger tagged with component. Before the root's
// PersistentPreRunE has run it builds one from the flags as parsed so far.
func (e *env) logger(component string) *slog.Logger {
	if e.log == nil {
		e.log = newLogger(e.stderr, e.logFormat, e.logLevel)
	}
	return e.log.With("component", component)
}

// loggerFrom returns the logger of the run cmd belongs to, tagged with the
// command's path below the root ("record verify" → "record/verify"; the root
// itself is "cityarray").
func loggerFrom(cmd *cobra.Command) *slog.Logger {
	e, _ := cmd.Context().Value(envKey{}).(*env)
	if e == nil {
		// Only when a command runs outside execute, which is a bug.
		panic("cli: loggerFrom called on a command not run through execute")
	}
	component := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name())
	component = strings.ReplaceAll(strings.TrimSpace(component), " ", "/")
	if component == "" {
		component = cmd.Root().Name()
	}
	return e.logger(component)
}

var (
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

// newLogger returns a logger writing to w; format and level must be among
// logFormats and logLevels (choiceValue guarantees it).
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		panic(fmt.Sprintf("cli: unchecked log level %q", level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// choiceValue is a string flag restricted to a fixed set of values, so a bad
// value is refused while parsing, with an error naming the flag.
type choiceValue struct {
	val     *string
	choices []string
}

func (c *choiceValue) String() string {
	if c.val == nil {
		return ""
	}
	return *c.val
}

func (c *choiceValue) Set(s string) error {
	for _, ch := range c.choices {
		if s == ch {
			*c.val = s
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(c.choices, ", "))
}

func (c *choiceValue) Type() string { return "string" }

// exitError is an error that makes cityarray exit with code after main
// prints msg (nothing if msg is empty). Return it from a RunE, for example
// exitError{code: 1, msg: "rejected: expired"}.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// ExitCode returns the process exit code main should use.
func (e exitError) ExitCode() int { return e.code }
