package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// runResult is what one run of the command line produced.
type runResult struct {
	stdout, stderr string
	err            error
}

func runArgs(t *testing.T, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func TestVersion(t *testing.T) {
	v := currentVersion()
	want := versionLine(v) + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}, {"--log-level", "error", "version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runArgs(t, args...)
			if r.err != nil {
				t.Fatalf("run: %v", r.err)
			}
			if diff := cmp.Diff(want, r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			for _, part := range []string{"cityarray " + v.Version, "commit " + v.Commit, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
				if !strings.Contains(r.stdout, part) {
					t.Errorf("stdout %q lacks %q", r.stdout, part)
				}
			}
		})
	}
}

func TestVersionLine(t *testing.T) {
	got := versionLine(versionInfo{Version: "v1.2.3", Commit: "0123abcd", GoVersion: "go1.26.0", OS: "linux", Arch: "arm64"})
	want := "cityarray v1.2.3 (commit 0123abcd, go1.26.0, linux/arm64)"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versionLine (-want +got):\n%s", diff)
	}
}

func TestBadArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"log level", []string{"--log-level", "verbose", "version"}, []string{"--log-level", `"verbose"`, "debug, info, warn, error"}},
		{"log level empty", []string{"--log-level=", "version"}, []string{"--log-level"}},
		{"log level case", []string{"--log-level=INFO", "version"}, []string{"--log-level"}},
		{"log format", []string{"--log-format=xml", "version"}, []string{"--log-format", `"xml"`, "text, json"}},
		{"unknown flag", []string{"--frobnicate"}, []string{"--frobnicate"}},
		{"unknown subcommand", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"version takes no args", []string{"version", "extra"}, []string{`"extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runArgs(t, tt.args...)
			if r.err == nil {
				t.Fatalf("run(%q) = nil error, stdout %q", tt.args, r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.err.Error(), w) {
					t.Errorf("error %q lacks %q", r.err, w)
				}
			}
			// The error is printed by main, once; cobra must stay silent.
			if r.stderr != "" {
				t.Errorf("stderr = %q, want empty", r.stderr)
			}
		})
	}
}

func TestJSONLogs(t *testing.T) {
	r := runArgs(t, "--log-format=json", "--log-level=debug", "version")
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if lines[0] == "" {
		t.Fatal("no log lines on stderr")
	}
	want := map[string]any{"level": "DEBUG", "msg": "command starting", "component": "version"}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		got := map[string]any{}
		for k := range want {
			got[k] = rec[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("log line %q (-want +got):\n%s", line, diff)
		}
	}
}

func TestLogLevelFilters(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, ""}, // info by default: the debug line is dropped
		{[]string{"--log-level=debug", "version"}, "level=DEBUG msg=\"command starting\" component=version"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runArgs(t, tt.args...)
			if r.err != nil {
				t.Fatalf("run: %v", r.err)
			}
			if tt.want == "" && r.stderr != "" {
				t.Errorf("stderr = %q, want empty", r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestLoggerFromComponent(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	root := newRootCmd(e)
	parent := &cobra.Command{Use: "probe"}
	parent.AddCommand(&cobra.Command{
		Use: "check",
		RunE: func(cmd *cobra.Command, _ []string) error {
			loggerFrom(cmd).Info("checked")
			return nil
		},
	})
	root.AddCommand(parent)
	if err := execute(context.Background(), root, e, []string{"--log-format=json", "probe", "check"}); err != nil {
		t.Fatalf("execute: %v", err)
	}
	var rec struct{ Msg, Component string }
	if err := json.Unmarshal(stderr.Bytes(), &rec); err != nil {
		t.Fatalf("stderr %q: %v", stderr.String(), err)
	}
	if diff := cmp.Diff(struct{ Msg, Component string }{"checked", "probe/check"}, rec); diff != "" {
		t.Errorf("log record (-want +got):\n%s", diff)
	}
}

func TestExitError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	root := newRootCmd(e)
	root.AddCommand(&cobra.Command{
		Use: "reject",
		RunE: func(*cobra.Command, []string) error {
			return exitError{code: 1, msg: "rejected: expired"}
		},
	})
	err := execute(context.Background(), root, e, []string{"reject"})
	var ee interface{ ExitCode() int }
	if !errors.As(err, &ee) {
		t.Fatalf("execute = %v, want an error with ExitCode", err)
	}
	got := []any{err.Error(), ee.ExitCode(), stdout.String(), stderr.String()}
	want := []any{"rejected: expired", 1, "", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(message, code, stdout, stderr) (-want +got):\n%s", diff)
	}
}

func TestVCSRevision(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"none", nil, ""},
		{"clean", map[string]string{"vcs.revision": "0123456789abcdef0123", "vcs.modified": "false"}, "0123456789ab"},
		{"dirty", map[string]string{"vcs.revision": "0123abc", "vcs.modified": "true"}, "0123abc-dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vcsRevision(buildSettings(tt.settings)); got != tt.want {
				t.Errorf("vcsRevision = %q, want %q", got, tt.want)
			}
		})
	}
}

func buildSettings(m map[string]string) []debug.BuildSetting {
	var s []debug.BuildSetting
	for k, v := range m {
		s = append(s, debug.BuildSetting{Key: k, Value: v})
	}
	return s
}
