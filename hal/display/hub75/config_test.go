package hub75

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if got := DefaultConfig().AddrLines(); got != 4 {
		t.Errorf("AddrLines = %d, want 4", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want []string // every line of the joined error
	}{
		{"pin twice", func(c *Config) { c.Pins.CLK = 5 }, []string{
			"hub75: pin 5 used for both R1 and CLK",
		}},
		{"pin 17 twice", func(c *Config) { c.Pins.RGB[0] = 17 }, []string{
			"hub75: pin 17 used for both R1 and CLK",
		}},
		{"pin too high", func(c *Config) { c.Pins.LAT = 28 }, []string{
			"hub75: pin 28 for LAT is outside GPIO 0..27",
		}},
		{"negative pin", func(c *Config) { c.Pins.Addr[2] = -1 }, []string{
			"hub75: pin -1 for C is outside GPIO 0..27",
		}},
		{"unused E line is not checked", func(c *Config) { c.Pins.Addr[4] = 99 }, nil},
		{"E line checked at 1/32 scan", func(c *Config) { c.RowsPerScan = 32; c.Pins.Addr[4] = 99 }, []string{
			"hub75: pin 99 for E is outside GPIO 0..27",
		}},
		{"planes", func(c *Config) { c.Planes = 13 }, []string{
			"hub75: planes 13 is outside 1..12",
		}},
		{"no planes", func(c *Config) { c.Planes = 0 }, []string{
			"hub75: planes 0 is outside 1..12",
		}},
		{"rows", func(c *Config) { c.RowsPerScan = 12 }, []string{
			"hub75: rows per scan 12 is not one of 2, 4, 8, 16, 32",
		}},
		{"width", func(c *Config) { c.Width = 0 }, []string{
			"hub75: width 0 is outside 1..512",
		}},
		{"colour order", func(c *Config) { c.ColourOrder = "RRB" }, []string{
			`hub75: colour order "RRB" is not a permutation of RGB`,
		}},
		{"clock", func(c *Config) { c.PIOClockHz = 1000 }, []string{
			"hub75: PIO clock 1000 Hz needs a divider above 65535",
		}},
		{"short LSB", func(c *Config) { c.LSBCycles = 4 }, []string{
			"hub75: LSB time 4 cycles is outside 5..1073741824",
		}},
		{"LSB overflow", func(c *Config) { c.LSBCycles = 1 << 20; c.Planes = 12 }, []string{
			"hub75: LSB time 1048576 cycles << 11 planes overflows the hold counter",
		}},
		{"everything at once", func(c *Config) {
			c.Planes = 40
			c.Pins.OE = 13
			c.LatchCycles = 0
		}, []string{
			"hub75: planes 40 is outside 1..12",
			"hub75: latch time 0 cycles is outside 5..1073741824",
			"hub75: pin 13 used for both G1 and OE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mut(&cfg)
			err := cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if err != nil {
				if _, nerr := NewEncoder(cfg); nerr == nil {
					t.Error("NewEncoder accepted the config")
				}
			}
		})
	}
}

func TestOpenDeviceMissing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DevicePath = t.TempDir() + "/pio0"
	p, err := Open(cfg)
	if err == nil {
		p.Close()
		t.Fatal("Open succeeded without a device")
	}
	// Off the Pi this is ErrUnsupported; on linux/arm64 the file is missing.
	if !errors.Is(err, errors.ErrUnsupported) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Open = %v, want ErrUnsupported or a missing file", err)
	}
	if !strings.Contains(err.Error(), cfg.DevicePath) {
		t.Errorf("error %q does not name the device path", err)
	}
}
