package audio

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv names the environment variable that turns the test binary
// into a stand-in for an external program (espeak-ng, aplay), the
// os/exec test-helper pattern: tests point a Binary or Aplay field at
// os.Args[0] and set the variable to the behaviour they want.
const helperEnv = "CITYARRAY_AUDIO_HELPER"

// helperOut names a file the stand-in writes its arguments and input to.
const helperOut = "CITYARRAY_AUDIO_HELPER_OUT"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	// oto/v2 (built with cgo on Linux) starts a mixer goroutine that lives
	// as long as the process; it is not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hajimehoshi/oto/v2/internal/mux.(*Mux).loop"))
}

// runHelper is the stand-in program. Modes:
//
//	block    read stdin to EOF, then wait forever (until killed)
//	flood    write 1 MiB of zeros to stdout
//	fail     print "helper: device on fire" to stderr and exit 3
//	aplay    read stdin, check it parses as a WAV, record args and size
func runHelper(mode string) int {
	switch mode {
	case "block":
		io.Copy(io.Discard, os.Stdin)
		// Wait to be killed. Waiting on a signal keeps the runtime's
		// signal goroutine alive, so this is not reported as a deadlock.
		c := make(chan os.Signal, 1)
		signal.Notify(c, os.Interrupt)
		<-c
		return 1
	case "flood":
		os.Stdout.Write(make([]byte, 1<<20))
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "helper: device on fire")
		return 3
	case "aplay":
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		c, err := ParseWAV(bytes.NewReader(in))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		rec := fmt.Sprintf("args=%s\nrate=%d channels=%d samples=%d\n", strings.Join(os.Args[1:], " "), c.Rate, c.Channels, len(c.Samples))
		if err := os.WriteFile(os.Getenv(helperOut), []byte(rec), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
	return 2
}
