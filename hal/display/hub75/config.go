package hub75

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// MaxGPIO is the highest GPIO that the RP1 PIO block can drive (GPIO 0..27
// on the Raspberry Pi 5 header).
const MaxGPIO = 27

// DefaultDevicePath is the character device of the RP1 PIO driver.
const DefaultDevicePath = "/dev/pio0"

// SysClockHz is the RP1 clk_sys that feeds the PIO clock divider
// (raspberrypi/utils piolib pio_rp1.c, rp1_clock_get_hz).
const SysClockHz = 200_000_000

// MinHoldCycles is the shortest time, in PIO cycles, that a hold command can
// keep a pin word on the pins: the five instructions it costs (see [Program]).
const MinHoldCycles = holdOverhead

// PinMap says which GPIO drives each HUB75 signal.
type PinMap struct {
	// RGB holds R1, G1, B1 (upper half) and R2, G2, B2 (lower half).
	RGB [6]int `yaml:"rgb"`
	// Addr holds the row address lines A, B, C, D, E. Only the first
	// log2(RowsPerScan) are driven; the rest are left alone.
	Addr [5]int `yaml:"addr"`
	// OE is the output enable, active low.
	OE int `yaml:"oe"`
	// CLK is the shift clock; the PIO drives it by side-set.
	CLK int `yaml:"clk"`
	// LAT is the latch strobe.
	LAT int `yaml:"lat"`
}

// BonnetPins is the pin map of the Adafruit RGB Matrix Bonnet
// (Adafruit_Blinka_Raspberry_Pi5_Piomatter pins.h).
func BonnetPins() PinMap {
	return PinMap{
		RGB:  [6]int{5, 13, 6, 12, 16, 23},
		Addr: [5]int{22, 26, 27, 20, 24},
		OE:   4,
		CLK:  17,
		LAT:  21,
	}
}

// pinNames are the signal names used in errors and disassembly, in the order
// that PinMap.each visits them.
var pinNames = [...]string{"R1", "G1", "B1", "R2", "G2", "B2", "A", "B", "C", "D", "E", "OE", "CLK", "LAT"}

// each calls fn for every pin the panel drives, with its signal name.
func (m PinMap) each(addrLines int, fn func(name string, pin int)) {
	for i, p := range m.RGB {
		fn(pinNames[i], p)
	}
	for i := 0; i < addrLines && i < len(m.Addr); i++ {
		fn(pinNames[6+i], m.Addr[i])
	}
	fn("OE", m.OE)
	fn("CLK", m.CLK)
	fn("LAT", m.LAT)
}

// mask returns the GPIO bit mask of every pin the panel drives.
func (m PinMap) mask(addrLines int) uint32 {
	var v uint32
	m.each(addrLines, func(_ string, p int) {
		if p >= 0 && p <= MaxGPIO {
			v |= 1 << p
		}
	})
	return v
}

// ColourOrder names, for the panel's R, G and B inputs in that order, the
// frame channel that drives each. "RGB" is the identity; "RBG" sends the
// frame's blue to the G input and its green to the B input, for panels whose
// green and blue LEDs are swapped.
type ColourOrder string

// The six colour orders.
const (
	RGB ColourOrder = "RGB"
	RBG ColourOrder = "RBG"
	GRB ColourOrder = "GRB"
	GBR ColourOrder = "GBR"
	BRG ColourOrder = "BRG"
	BGR ColourOrder = "BGR"
)

// channels returns, for the R, G and B inputs, the index of the frame channel
// (0 red, 1 green, 2 blue) that feeds it.
func (o ColourOrder) channels() ([3]int, error) {
	var ch [3]int
	s := strings.ToUpper(string(o))
	if s == "" {
		s = string(RGB)
	}
	if len(s) != 3 {
		return ch, fmt.Errorf("hub75: colour order %q is not a permutation of RGB", string(o))
	}
	seen := 0
	for i := 0; i < 3; i++ {
		k := strings.IndexByte("RGB", s[i])
		if k < 0 || seen&(1<<k) != 0 {
			return ch, fmt.Errorf("hub75: colour order %q is not a permutation of RGB", string(o))
		}
		seen |= 1 << k
		ch[i] = k
	}
	return ch, nil
}

// Config describes one HUB75 chain and how the PIO drives it.
//
// Times are in PIO cycles; at the default 25 MHz PIO clock a cycle is 40 ns.
type Config struct {
	// DevicePath is the RP1 PIO device (default /dev/pio0).
	DevicePath string `yaml:"device"`
	// Width is the number of pixels shifted per row: 64 per panel in the chain.
	Width int `yaml:"width"`
	// RowsPerScan is the number of row pairs (1/16 scan: 16). The panel is
	// 2*RowsPerScan pixels high and uses log2(RowsPerScan) address lines.
	RowsPerScan int `yaml:"rows_per_scan"`
	// Planes is the number of bit planes of binary-coded modulation (1..12).
	Planes int `yaml:"planes"`
	// Pins maps HUB75 signals to GPIOs.
	Pins PinMap `yaml:"pins"`
	// ColourOrder fixes panels whose colours are wired in another order.
	ColourOrder ColourOrder `yaml:"colour_order"`
	// PIOClockHz is the PIO state machine clock; a pixel takes two cycles.
	PIOClockHz int `yaml:"pio_clock_hz"`
	// LSBCycles is how long OE stays on for bit plane 0; plane p stays on
	// LSBCycles<<p. At least MinHoldCycles.
	LSBCycles int `yaml:"lsb_cycles"`
	// LatchCycles is how long LAT stays high. At least MinHoldCycles.
	LatchCycles int `yaml:"latch_cycles"`
	// BlankCycles is how long OE stays off at the end of each row before the
	// next row's address goes out. At least MinHoldCycles.
	BlankCycles int `yaml:"blank_cycles"`
}

// DefaultConfig is a single 64x32 1/16-scan panel on the Adafruit bonnet:
// 10 bit planes, 25 MHz PIO clock (12.5 MHz pixel clock), 200 ns LSB.
func DefaultConfig() Config {
	return Config{
		DevicePath:  DefaultDevicePath,
		Width:       64,
		RowsPerScan: 16,
		Planes:      10,
		Pins:        BonnetPins(),
		ColourOrder: RGB,
		PIOClockHz:  25_000_000,
		LSBCycles:   5,
		LatchCycles: 5,
		BlankCycles: 25,
	}
}

// Limits checked by Validate.
const (
	MaxWidth  = 512 // eight 64-pixel panels in a chain
	MaxPlanes = 12
	// maxHold keeps every hold count inside the 31-bit command field.
	maxHold = 1 << 30
)

// AddrLines is the number of row address lines the configuration drives.
func (c Config) AddrLines() int {
	if c.RowsPerScan <= 0 {
		return 0
	}
	return bits.Len(uint(c.RowsPerScan)) - 1
}

// Height is the panel height in pixels.
func (c Config) Height() int { return 2 * c.RowsPerScan }

// Validate reports every problem with the configuration, joined.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("hub75: "+format, args...))
	}
	if c.Width < 1 || c.Width > MaxWidth {
		add("width %d is outside 1..%d", c.Width, MaxWidth)
	}
	switch c.RowsPerScan {
	case 2, 4, 8, 16, 32:
	default:
		add("rows per scan %d is not one of 2, 4, 8, 16, 32", c.RowsPerScan)
	}
	if c.Planes < 1 || c.Planes > MaxPlanes {
		add("planes %d is outside 1..%d", c.Planes, MaxPlanes)
	}
	if _, err := c.ColourOrder.channels(); err != nil {
		errs = append(errs, err)
	}
	if c.PIOClockHz <= 0 || c.PIOClockHz > SysClockHz {
		add("PIO clock %d Hz is outside 1..%d", c.PIOClockHz, SysClockHz)
	} else if SysClockHz/c.PIOClockHz >= 1<<16 {
		add("PIO clock %d Hz needs a divider above 65535", c.PIOClockHz)
	}
	hold := func(name string, v int) {
		if v < MinHoldCycles || v > maxHold {
			add("%s %d cycles is outside %d..%d", name, v, MinHoldCycles, maxHold)
		}
	}
	hold("LSB time", c.LSBCycles)
	hold("latch time", c.LatchCycles)
	hold("blank time", c.BlankCycles)
	if c.Planes >= 1 && c.Planes <= MaxPlanes && c.LSBCycles >= MinHoldCycles && c.LSBCycles <= maxHold {
		if int64(c.LSBCycles)<<(c.Planes-1) > maxHold {
			add("LSB time %d cycles << %d planes overflows the hold counter", c.LSBCycles, c.Planes-1)
		}
	}
	// Pins: range first, then duplicates, naming both signals.
	used := map[int]string{}
	c.Pins.each(c.AddrLines(), func(name string, p int) {
		if p < 0 || p > MaxGPIO {
			add("pin %d for %s is outside GPIO 0..%d", p, name, MaxGPIO)
			return
		}
		if other, ok := used[p]; ok {
			add("pin %d used for both %s and %s", p, other, name)
			return
		}
		used[p] = name
	})
	return errors.Join(errs...)
}

// StreamLen is the number of 32-bit words in one encoded frame:
//
//	RowsPerScan * (Planes*(Width+5) + 2)
//
// Per row and plane: one data command, Width pixel words, and two hold
// commands of two words (latch, then OE on). Per row: one blank hold.
func (c Config) StreamLen() int {
	return c.RowsPerScan * (c.Planes*(c.Width+5) + 2)
}

// FrameCycles is the number of PIO cycles one frame takes when DMA keeps the
// FIFO full. A data command of n words takes 2n+3 cycles; a hold of h
// cycles takes h.
func (c Config) FrameCycles() int64 {
	w, p := int64(c.Width), int64(c.Planes)
	perRow := p*(2*w+3) + p*int64(c.LatchCycles) + int64(c.LSBCycles)*(int64(1)<<p-1) + int64(c.BlankCycles)
	return int64(c.RowsPerScan) * perRow
}

// RefreshHz is the panel refresh rate when DMA keeps up: an upper bound,
// since a DMA stall lengthens only the data phases (OE is off while
// shifting, so a stall never changes brightness).
func (c Config) RefreshHz() float64 {
	fc := c.FrameCycles()
	if fc <= 0 {
		return 0
	}
	return c.clockHz() / float64(fc)
}

// clockDivider returns the RP1 clock divider fields for PIOClockHz.
func (c Config) clockDivider() (integer uint32, frac uint32) {
	div := float64(SysClockHz) / float64(c.PIOClockHz)
	integer = uint32(div)
	frac = uint32(math.Round((div - float64(integer)) * 256))
	if frac == 256 {
		integer, frac = integer+1, 0
	}
	return integer, frac
}

// clockHz is the PIO clock that the divider actually gives.
func (c Config) clockHz() float64 {
	if c.PIOClockHz <= 0 {
		return 0
	}
	i, f := c.clockDivider()
	return float64(SysClockHz) / (float64(i) + float64(f)/256)
}
