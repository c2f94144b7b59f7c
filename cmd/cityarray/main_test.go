package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// beMain makes the test binary act as cityarray when set, so that tests can
// check what main prints and how it exits.
const beMain = "CITYARRAY_TEST_BE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(beMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type codedError struct{ code int }

func (e codedError) Error() string { return fmt.Sprintf("code %d", e.code) }
func (e codedError) ExitCode() int { return e.code }

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"plain", errors.New("boom"), 1},
		{"coded", codedError{3}, 3},
		{"wrapped", fmt.Errorf("op: %w", codedError{4}), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestMainOutput(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string // prefix
		wantStderr string
	}{
		{[]string{"--version"}, 0, "cityarray ", ""},
		{[]string{"frobnicate"}, 1, "", "unknown command \"frobnicate\" for \"cityarray\"\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), beMain+"=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("running %v: %v", tt.args, err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want prefix %q", stdout.String(), tt.wantStdout)
			}
			if diff := cmp.Diff(tt.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBenchEdge runs `cityarray bench edge` for real: it starts `cityarray
// edge` processes (this test binary, acting as main) on a cache of signed
// records with no link up, and each must put the cached alert on its panel.
func TestBenchEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pole processes; skipped with testing.Short")
	}
	cmd := exec.Command(os.Args[0], "bench", "edge", "--runs", "2", "--records", "200", "--json")
	cmd.Env = append(os.Environ(), beMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench edge: %v\n%s", err, stderr.String())
	}
	var got struct {
		ColdStart float64   `json:"cold_start_ms"`
		Runs      []float64 `json:"cold_start_runs_ms"`
		Frame     float64   `json:"render_frame_us"`
		Reshape   float64   `json:"render_reshape_us"`
		RSS       float64   `json:"rss_mb"`
		Records   int       `json:"records"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(got.Runs) != 2 || got.ColdStart <= 0 || got.Frame <= 0 || got.Reshape <= got.Frame || got.RSS <= 0 || got.Records != 200 {
		t.Errorf("bench edge reported %+v", got)
	}
}

// TestBenchE2E runs `cityarray bench e2e --json` on a small city: the
// fields the issue names are there, every phase delivered everything.
func TestBenchE2E(t *testing.T) {
	cmd := exec.Command(os.Args[0], "bench", "e2e", "--poles", "4", "--alerts", "1", "--json")
	cmd.Env = append(os.Environ(), beMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench e2e: %v\n%s", err, stderr.String())
	}
	var got map[string]float64
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for _, prefix := range []string{"", "gateway_only_", "failover_"} {
		for _, k := range []string{"delivered_ratio", "p50_ms", "p99_ms", "max_ms"} {
			if _, ok := got[prefix+k]; !ok {
				t.Errorf("no %s%s in %s", prefix, k, stdout.String())
			}
		}
		if got[prefix+"delivered_ratio"] != 1 || got[prefix+"p99_ms"] <= 0 {
			t.Errorf("%s: delivered %v, p99 %v ms", prefix, got[prefix+"delivered_ratio"], got[prefix+"p99_ms"])
		}
	}
	if got["poles"] != 4 || got["baseline_fanout_p99_ms"] <= 0 {
		t.Errorf("poles %v, baseline p99 %v", got["poles"], got["baseline_fanout_p99_ms"])
	}
}

// TestBenchServer runs a small `cityarray bench server --json`: every
// warning reached the subscriber and every ack was counted.
func TestBenchServer(t *testing.T) {
	cmd := exec.Command(os.Args[0], "bench", "server", "--samples", "3", "--acks", "400", "--devices", "20", "--verify-for", "100ms", "--json")
	cmd.Env = append(os.Environ(), beMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench server: %v\n%s", err, stderr.String())
	}
	var got map[string]float64
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if got["samples"] != 3 || got["acks"] != 400 || got["publish_p99_ms"] <= 0 || got["acks_per_s"] <= 0 || got["raw_verify_per_s"] <= 0 || got["rejected"] != 0 {
		t.Errorf("bench server reported %v", got)
	}
}
