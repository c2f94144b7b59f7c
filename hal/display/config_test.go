package display_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/display/hub75"
	"github.com/cityarray/cityarray/hal/display/sim"
)

// decode reads a YAML file over DefaultConfig, rejecting unknown keys as
// the edge's loader does.
func decode(t *testing.T, path string) (display.Config, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := display.DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestGoodConfig(t *testing.T) {
	cfg, err := decode(t, filepath.Join("testdata", "pole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := display.DefaultConfig()
	want.Brightness = 40
	want.HUB75.Planes = 11
	want.HUB75.ColourOrder = hub75.RBG
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("pole.yaml (-want +got):\n%s", diff)
	}
	if err := display.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
	if err := display.SimConfig().Validate(); err != nil {
		t.Errorf("SimConfig: %v", err)
	}
}

// TestBadConfigs: every testdata/*.bad.yaml is refused with every problem
// named.
func TestBadConfigs(t *testing.T) {
	want := map[string][]string{
		"backend.bad.yaml": {
			`display: backend "lcd" is not one of [hub75 sim none]`,
			`display: fallback "lcd" is not one of [hub75 sim none]`,
		},
		"pins.bad.yaml": {
			"hub75: planes 20 is outside 1..12",
			"hub75: pin 17 used for both R1 and CLK",
			"hub75: pin 30 for LAT is outside GPIO 0..27",
		},
		"levels.bad.yaml": {
			"display: brightness 150 is above 100",
			"display: gamma 0.2 is outside 1.0..3.0",
		},
		"fallback.bad.yaml": {
			`display: fallback "sim" is the backend itself`,
			"sim: scale 0 is outside 1..32",
		},
		"typo.bad.yaml": {
			"yaml: unmarshal errors:",
			"  line 1: field brightnes not found in type display.Config",
		},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d bad configs in testdata, %d in the table", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := decode(t, f)
			if err == nil {
				t.Fatal("accepted")
			}
			if diff := cmp.Diff(want[name], strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLevelLimitsAgree: the backends check levels themselves (they do not
// import this package); their limits must be the same.
func TestLevelLimitsAgree(t *testing.T) {
	type limits struct {
		maxB       int
		minG, maxG float64
	}
	all := map[string]limits{
		"display": {display.MaxBrightness, display.MinGamma, display.MaxGamma},
		"hub75":   {hub75.MaxBrightness, hub75.MinGamma, hub75.MaxGamma},
		"sim":     {sim.MaxBrightness, sim.MinGamma, sim.MaxGamma},
	}
	for name, l := range all {
		if l != all["display"] {
			t.Errorf("%s level limits %+v differ from display's %+v", name, l, all["display"])
		}
	}
	if b := hub75.DefaultConfig(); b.Width != display.Width || b.Height() != display.Height {
		t.Errorf("hub75 default is %dx%d, the pole is %dx%d", b.Width, b.Height(), display.Width, display.Height)
	}
	if s := sim.DefaultConfig(); s.Width != display.Width || s.Height != display.Height {
		t.Errorf("sim default is %dx%d, the pole is %dx%d", s.Width, s.Height, display.Width, display.Height)
	}
}

// The backends satisfy Panel by shape, without importing this package.
var (
	_ display.Panel = (*hub75.Panel)(nil)
	_ display.Panel = (*sim.Panel)(nil)
	_ display.Panel = (*display.Display)(nil)
)
