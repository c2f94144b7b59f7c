package hub75

import (
	"bytes"
	"image"
	"io"
	"testing"
)

// fuzzConfig derives a configuration from b: mostly valid ones (a shuffled
// pin map, any geometry, order and timing), and now and then a broken one.
func fuzzConfig(b []byte) (Config, []byte) {
	next := func() int {
		if len(b) == 0 {
			return 0
		}
		v := int(b[0])
		b = b[1:]
		return v
	}
	cfg := DefaultConfig()
	cfg.Width = 1 + next()%80
	cfg.RowsPerScan = 2 << (next() % 5)
	cfg.Planes = 1 + next()%MaxPlanes
	cfg.ColourOrder = [...]ColourOrder{RGB, RBG, GRB, GBR, BRG, BGR}[next()%6]
	cfg.LSBCycles = MinHoldCycles + next()%20
	cfg.LatchCycles = MinHoldCycles + next()%8
	cfg.BlankCycles = MinHoldCycles + next()%30
	cfg.PIOClockHz = 1_000_000 + next()*500_000
	// Shuffle GPIO 0..27 and deal the 14 signals from it.
	var gpio [MaxGPIO + 1]int
	for i := range gpio {
		gpio[i] = i
	}
	for i := len(gpio) - 1; i > 0; i-- {
		j := next() % (i + 1)
		gpio[i], gpio[j] = gpio[j], gpio[i]
	}
	k := 0
	deal := func() int { k++; return gpio[k-1] }
	for i := range cfg.Pins.RGB {
		cfg.Pins.RGB[i] = deal()
	}
	for i := range cfg.Pins.Addr {
		cfg.Pins.Addr[i] = deal()
	}
	cfg.Pins.OE, cfg.Pins.CLK, cfg.Pins.LAT = deal(), deal(), deal()
	switch next() % 32 { // occasionally break it
	case 0:
		cfg.Pins.LAT = cfg.Pins.OE
	case 1:
		cfg.Planes = 0
	case 2:
		cfg.Pins.RGB[3] = 28 + next()
	}
	return cfg, b
}

// FuzzEncode encodes random frames with random configurations and levels.
// It must never panic; the stream must have StreamLen words and pass Check
// (command sequence, address bits valid for every row, OE/LAT/CLK rules);
// and, run through the PIO and panel models, it must light every LED for
// exactly LSBCycles times its code and take FrameCycles.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{63, 3, 9, 0, 0, 0, 20, 49, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 7, 100, 22, 0xff, 0x80, 0x01})
	f.Add([]byte{3, 0, 0, 5, 1, 2, 3})
	f.Add([]byte{79, 4, 11, 2, 19, 7, 29, 255})
	f.Add(bytes.Repeat([]byte{0xa5}, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, rest := fuzzConfig(data)
		e, err := NewEncoder(cfg)
		if err != nil {
			if cfg.Validate() == nil {
				t.Fatalf("NewEncoder failed on a valid config: %v", err)
			}
			return
		}
		var b uint8
		var g float64 = 2.2
		if len(rest) >= 2 {
			b, g = rest[0]%101, 1+float64(rest[1])/128
			rest = rest[2:]
		}
		if err := e.SetLevels(b, g); err != nil {
			t.Fatalf("SetLevels(%d, %v): %v", b, g, err)
		}
		frame := image.NewRGBA(e.Bounds())
		if len(rest) > 0 {
			for i := range frame.Pix {
				frame.Pix[i] = rest[i%len(rest)] ^ uint8(i/len(rest))
			}
		}
		s, err := e.Encode(nil, frame)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if len(s) != cfg.StreamLen() {
			t.Fatalf("stream has %d words, want %d", len(s), cfg.StreamLen())
		}
		if err := e.Check(s); err != nil {
			t.Fatalf("Check: %v", err)
		}
		p, cycles := run(t, cfg, s)
		checkShown(t, e, frame, p)
		// From the first command's decode to the stall on the next frame's
		// first command is one frame period.
		if want := cfg.FrameCycles(); cycles != want {
			t.Errorf("stream ran %d cycles, want FrameCycles = %d", cycles, want)
		}
	})
}

// FuzzParseStream feeds arbitrary words to the stream parser and the
// disassembler: they must not panic, and every command they report must lie
// inside the stream.
func FuzzParseStream(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0x80, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 0, 0, 0x10, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		words := make([]uint32, len(data)/4)
		for i := range words {
			words[i] = uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24
		}
		ParseStream(words, func(c Command) error {
			if c.Index < 0 || c.Index+1+len(c.Words) > len(words) {
				t.Fatalf("command at %d with %d words runs past %d", c.Index, len(c.Words), len(words))
			}
			if !c.Data && (len(c.Words) != 1 || c.Cycles < MinHoldCycles) {
				t.Fatalf("hold at %d: %d words, %d cycles", c.Index, len(c.Words), c.Cycles)
			}
			return nil
		})
		e, err := NewEncoder(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		e.Disassemble(io.Discard, words)
		e.Check(words)
	})
}
