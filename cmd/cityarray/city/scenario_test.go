package city

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the scenarios' golden files")

// heavyScenarios run only with CITYARRAY_INTEG set (STYLE rule 21).
var heavyScenarios = map[string]bool{"citywide-500": true}

// TestScenarios runs every testdata/scenarios/*.txt on the simulated
// network and compares the timing-free part of its report with the
// .golden file next to it (-rewrite writes them).
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("../../../testdata/scenarios/*.txt")
	if err != nil || len(files) < 5 {
		t.Fatalf("scenarios: %v (%d files, want at least 5)", err, len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			if heavyScenarios[name] && os.Getenv("CITYARRAY_INTEG") == "" {
				t.Skip("INTEG: heavy scenario; set CITYARRAY_INTEG=1 (make test-integ)")
			}
			if testing.Short() && !heavyScenarios[name] {
				t.Skip("testing.Short: scenarios run real memberlist clusters for several seconds")
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseScenario(name, bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := RunScenario(s, SimOptions{Seed: 1, Progress: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			rep.Golden(&got)
			golden := strings.TrimSuffix(f, ".txt") + ".golden"
			if *rewrite {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("report differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "empty scenario"},
		{"link latency=1ms", "first command must be city"},
		{"city zones=2", "poles= is required"},
		{"city zones=2 poles=x", `poles="x"`},
		{"city zones=1 poles=2\ncity zones=1 poles=2", "city must be the first command"},
		{"city zones=1 poles=2\nfly away", `unknown command "fly"`},
		{"city zones=1 poles=2\nlink latency=fast", "latency"},
		{"city zones=1 poles=2\nlink loss=150%", "loss"},
		{"city zones=1 poles=2\nlink speed=1", `link takes no "speed"`},
		{"city zones=1 poles=2\npartition zone:z1 rest", "separated by |"},
		{"city zones=1 poles=2\npublish tier=urgent scope=city", "unknown tier"},
		{"city zones=1 poles=2\npublish tier=warning scope=street:1", "bad scope"},
		{"city zones=1 poles=2\nwait soon", "want a duration"},
		{"city zones=1 poles=2\nexpect delivered 100 within=1s", "percentage"},
		{"city zones=1 poles=2\nexpect delivered 100% within=1s within=2s", "within given twice"},
	}
	for _, tt := range tests {
		_, err := ParseScenario("t", strings.NewReader(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseScenario(%q) = %v, want an error containing %q", tt.src, err, tt.want)
		}
	}
}

// FuzzParseScenario: no scenario text panics the parser.
func FuzzParseScenario(f *testing.F) {
	for _, s := range []string{
		"city zones=2 poles=3 gateways=1\nlink latency=20ms loss=5%\npartition zone:z1 | rest\npublish tier=warning scope=city name=a\nwait 1s\nheal\nexpect delivered record=a 100% within=2s\n",
		"city zones=1 poles=1\ncrash pole-1\nrestart pole-1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseScenario("fuzz", strings.NewReader(s))
	})
}
