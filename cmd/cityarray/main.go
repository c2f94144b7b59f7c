// Command cityarray is the one binary of CITYARRAY: it runs an edge pole, a
// zone gateway or the control server, and holds the operator tools (keys,
// records, images). Run "cityarray help" for the subcommands.
//
// main only wires signals and exit codes; the command line lives in package
// cli.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cityarray/cityarray/cmd/cityarray/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode returns the exit code err asks for through an ExitCode method,
// or 1.
func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
