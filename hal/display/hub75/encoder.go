package hub75

import (
	"fmt"
	"image"
	"math"
	"slices"
)

// Command words. Bit 31 set: a data command, bits 30..0 = n-1, followed by n
// pin words clocked out one per CLK pulse. Bit 31 clear: a hold command,
// bits 30..0 = h-MinHoldCycles, followed by one pin word held for h cycles.
const (
	cmdData   = 1 << 31
	countMask = 1<<31 - 1
)

// DataCommand returns the command word for n clocked pin words.
func DataCommand(n int) uint32 { return cmdData | uint32(n-1)&countMask }

// HoldCommand returns the command word that keeps the next pin word on the
// pins for cycles PIO cycles (at least MinHoldCycles).
func HoldCommand(cycles int) uint32 { return uint32(cycles-holdOverhead) & countMask }

// Level limits shared with the display package.
const (
	MaxBrightness = 100
	MinGamma      = 1.0
	MaxGamma      = 3.0
)

// checkLevels validates brightness (percent) and gamma.
func checkLevels(brightness uint8, gamma float64) error {
	if brightness > MaxBrightness {
		return fmt.Errorf("hub75: brightness %d is above %d", brightness, MaxBrightness)
	}
	if math.IsNaN(gamma) || gamma < MinGamma || gamma > MaxGamma {
		return fmt.Errorf("hub75: gamma %v is outside %.1f..%.1f", gamma, MinGamma, MaxGamma)
	}
	return nil
}

// Encoder turns RGBA frames into the pin-word stream. It keeps its scratch
// space between calls, so Encode does not allocate once dst has room; an
// Encoder is not safe for concurrent use.
type Encoder struct {
	cfg   Config
	order [3]int // frame channel feeding the R, G, B inputs

	rgbShift [6]uint8 // GPIO of R1 G1 B1 R2 G2 B2
	addr     []uint32 // address bits per row pair
	oe, lat  uint32   // OE (inactive = high) and LAT bits

	lut        [256]uint16
	brightness uint8
	gamma      float64

	codes []uint16 // per row pair, per x: six plane codes (R1 G1 B1 R2 G2 B2)
}

// NewEncoder validates cfg and returns an encoder at full brightness and
// gamma 2.2.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	order, _ := cfg.ColourOrder.channels()
	e := &Encoder{
		cfg:   cfg,
		order: order,
		addr:  make([]uint32, cfg.RowsPerScan),
		oe:    1 << cfg.Pins.OE,
		lat:   1 << cfg.Pins.LAT,
		codes: make([]uint16, cfg.RowsPerScan*cfg.Width*6),
	}
	for i, p := range cfg.Pins.RGB {
		e.rgbShift[i] = uint8(p)
	}
	for r := range e.addr {
		for line := 0; line < cfg.AddrLines(); line++ {
			if r&(1<<line) != 0 {
				e.addr[r] |= 1 << cfg.Pins.Addr[line]
			}
		}
	}
	if err := e.SetLevels(MaxBrightness, 2.2); err != nil {
		return nil, err
	}
	return e, nil
}

// Config returns the configuration the encoder was built with.
func (e *Encoder) Config() Config { return e.cfg }

// Bounds is the frame size the encoder takes.
func (e *Encoder) Bounds() image.Rectangle {
	return image.Rect(0, 0, e.cfg.Width, e.cfg.Height())
}

// SetLevels sets brightness (0..100 percent) and gamma (1.0..3.0) by
// rebuilding the lookup table from 8-bit values to plane codes:
//
//	code(v) = round((2^Planes-1) * brightness/100 * (v/255)^gamma)
//
// with any v > 0 kept at code 1 or more while brightness > 0, so dark
// detail does not vanish. Brightness scales codes rather than OE time, so
// the refresh rate and the binary weights of the planes never change.
func (e *Encoder) SetLevels(brightness uint8, gamma float64) error {
	if err := checkLevels(brightness, gamma); err != nil {
		return err
	}
	top := float64(uint32(1)<<e.cfg.Planes - 1)
	b := float64(brightness) / MaxBrightness
	for v := range e.lut {
		c := math.Round(top * b * math.Pow(float64(v)/255, gamma))
		if c == 0 && v > 0 && brightness > 0 {
			c = 1
		}
		e.lut[v] = uint16(c)
	}
	e.brightness, e.gamma = brightness, gamma
	return nil
}

// Levels returns the brightness and gamma in use.
func (e *Encoder) Levels() (brightness uint8, gamma float64) { return e.brightness, e.gamma }

// Code returns the plane code that an 8-bit channel value v turns into.
func (e *Encoder) Code(v uint8) uint16 { return e.lut[v] }

// Encode appends the stream for frame to dst and returns the extended slice;
// pass buf[:0] to reuse a buffer. The frame must be exactly Bounds in size
// (its origin may be anywhere). Alpha is ignored: image.RGBA holds
// premultiplied colour, which is the colour over black.
//
// The layout, for each row pair r and plane p (see the package doc):
//
//	DATA(Width), Width pixel words   address r, OE off
//	HOLD(LatchCycles), word          address r, OE off, LAT high
//	HOLD(LSBCycles<<p), word         address r, OE on
//
// and after the last plane of each row, HOLD(BlankCycles) with OE off.
func (e *Encoder) Encode(dst []uint32, frame *image.RGBA) ([]uint32, error) {
	if frame == nil {
		return dst, fmt.Errorf("hub75: encode: nil frame")
	}
	if got, want := frame.Rect.Size(), e.Bounds().Size(); got != want {
		return dst, fmt.Errorf("hub75: encode: frame is %dx%d, panel is %dx%d", got.X, got.Y, want.X, want.Y)
	}
	cfg := &e.cfg
	w, rows, planes := cfg.Width, cfg.RowsPerScan, cfg.Planes

	// Pass 1: frame to plane codes, colour order applied.
	lut := &e.lut
	o0, o1, o2 := e.order[0], e.order[1], e.order[2]
	codes := e.codes
	for r := 0; r < rows; r++ {
		top := frame.Pix[r*frame.Stride : r*frame.Stride+4*w]
		bot := frame.Pix[(r+rows)*frame.Stride : (r+rows)*frame.Stride+4*w]
		c := codes[r*w*6 : (r+1)*w*6]
		for x := 0; x < w; x++ {
			t, b, k := top[4*x:4*x+3:4*x+3], bot[4*x:4*x+3:4*x+3], c[6*x:6*x+6:6*x+6]
			k[0], k[1], k[2] = lut[t[o0]], lut[t[o1]], lut[t[o2]]
			k[3], k[4], k[5] = lut[b[o0]], lut[b[o1]], lut[b[o2]]
		}
	}

	// Pass 2: bit planes to pin words.
	start := len(dst)
	dst = slices.Grow(dst, cfg.StreamLen())[:start+cfg.StreamLen()]
	out := dst[start:]
	s0, s1, s2, s3, s4, s5 := e.rgbShift[0], e.rgbShift[1], e.rgbShift[2], e.rgbShift[3], e.rgbShift[4], e.rgbShift[5]
	data := DataCommand(w)
	latch := HoldCommand(cfg.LatchCycles)
	blank := HoldCommand(cfg.BlankCycles)
	stride := w + 5 // words per plane: command, pixels, latch hold, show hold
	rowLen := planes*stride + 2
	for r := 0; r < rows; r++ {
		off := e.addr[r] | e.oe // OE high: LEDs off
		on := e.addr[r]         // OE low: LEDs on
		row := out[r*rowLen : (r+1)*rowLen]
		for p := 0; p < planes; p++ {
			seg := row[p*stride : (p+1)*stride]
			seg[0] = data
			seg[w+1], seg[w+2] = latch, off|e.lat
			seg[w+3], seg[w+4] = HoldCommand(cfg.LSBCycles<<p), on
		}
		row[rowLen-2], row[rowLen-1] = blank, off
		// Pixel words: each pixel's six codes are loaded once and spread
		// over the planes.
		rc := codes[r*w*6 : (r+1)*w*6]
		for x := 0; x < w; x++ {
			k := rc[6*x : 6*x+6 : 6*x+6]
			c0, c1, c2, c3, c4, c5 := uint32(k[0]), uint32(k[1]), uint32(k[2]), uint32(k[3]), uint32(k[4]), uint32(k[5])
			words := row[1+x:]
			for p := 0; p < planes; p++ {
				words[p*stride] = off |
					(c0>>p&1)<<s0 | (c1>>p&1)<<s1 | (c2>>p&1)<<s2 |
					(c3>>p&1)<<s3 | (c4>>p&1)<<s4 | (c5>>p&1)<<s5
			}
		}
	}
	return dst, nil
}
