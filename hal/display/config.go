package display

import (
	"errors"
	"fmt"

	"github.com/cityarray/cityarray/hal/display/hub75"
	"github.com/cityarray/cityarray/hal/display/sim"
)

// Backend names.
const (
	BackendHUB75 = "hub75" // the LED matrix through the Pi 5's RP1 PIO
	BackendSim   = "sim"   // in memory: PNG, terminal preview, HTTP
	BackendNone  = "none"  // accepts frames and shows nothing
)

// Backends lists the backend names Open knows.
func Backends() []string { return []string{BackendHUB75, BackendSim, BackendNone} }

// Config chooses and sets up the panel backend.
type Config struct {
	// Backend is "hub75", "sim" or "none".
	Backend string `yaml:"backend"`
	// Fallback is the backend to use when Backend fails to open, so that
	// the pole runs on, reporting the fault in Status. Empty: Open fails.
	Fallback string `yaml:"fallback"`
	// Brightness is 0..100 percent.
	Brightness uint8 `yaml:"brightness"`
	// Gamma is 1.0..3.0; 2.2 suits most panels.
	Gamma float64 `yaml:"gamma"`
	// HUB75 configures the hub75 backend.
	HUB75 hub75.Config `yaml:"hub75"`
	// Sim configures the sim backend.
	Sim sim.Config `yaml:"sim"`
}

// DefaultConfig is a pole: the HUB75 panel on the Adafruit bonnet, falling
// back to "none" when the panel cannot be driven.
func DefaultConfig() Config {
	return Config{
		Backend:    BackendHUB75,
		Fallback:   BackendNone,
		Brightness: DefaultBrightness,
		Gamma:      DefaultGamma,
		HUB75:      hub75.DefaultConfig(),
		Sim:        sim.DefaultConfig(),
	}
}

// SimConfig is a simulated pole for the demo, tests and CI.
func SimConfig() Config {
	c := DefaultConfig()
	c.Backend, c.Fallback = BackendSim, ""
	return c
}

func knownBackend(name string) bool {
	for _, b := range Backends() {
		if name == b {
			return true
		}
	}
	return false
}

// Validate reports every problem with the configuration, joined; the
// backends' own settings are checked only for the backends in use.
func (c Config) Validate() error {
	var errs []error
	if !knownBackend(c.Backend) {
		errs = append(errs, fmt.Errorf("display: backend %q is not one of %v", c.Backend, Backends()))
	}
	if c.Fallback != "" {
		switch {
		case !knownBackend(c.Fallback):
			errs = append(errs, fmt.Errorf("display: fallback %q is not one of %v", c.Fallback, Backends()))
		case c.Fallback == c.Backend:
			errs = append(errs, fmt.Errorf("display: fallback %q is the backend itself", c.Fallback))
		}
	}
	if err := CheckLevels(c.Brightness, c.Gamma); err != nil {
		errs = append(errs, err)
	}
	uses := func(name string) bool { return c.Backend == name || c.Fallback == name }
	if uses(BackendHUB75) {
		if err := c.HUB75.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if uses(BackendSim) {
		if err := c.Sim.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
