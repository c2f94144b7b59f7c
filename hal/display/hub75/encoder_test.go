package hub75

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Bonnet GPIO bits, spelled out so the expectations below are checked by
// hand rather than computed by the code under test.
const (
	bitR1  = 1 << 5
	bitG1  = 1 << 13
	bitB1  = 1 << 6
	bitR2  = 1 << 12
	bitG2  = 1 << 16
	bitB2  = 1 << 23
	bitOE  = 1 << 4
	bitLAT = 1 << 21
	rgbAll = bitR1 | bitG1 | bitB1 | bitR2 | bitG2 | bitB2
	// Row 15 = A|B|C|D = GPIO 22, 26, 27, 20.
	addr15 = 1<<22 | 1<<26 | 1<<27 | 1<<20
)

// idx is the index of pixel word x of row pair r, plane p, for the default
// 64-wide, 10-plane layout: 692 words a row, 69 a plane, 1 command word.
func idx(r, p, x int) int { return r*692 + p*69 + 1 + x }

func newTestEncoder(t *testing.T, mut func(*Config)) *Encoder {
	t.Helper()
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	return e
}

func encode(t *testing.T, e *Encoder, frame *image.RGBA) []uint32 {
	t.Helper()
	s, err := e.Encode(nil, frame)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return s
}

// lit returns the indices of the words in which any of bits is set.
func lit(s []uint32, bits uint32) []int {
	var out []int
	ParseStream(s, func(c Command) error {
		if !c.Data {
			return nil
		}
		for j, w := range c.Words {
			if w&bits != 0 {
				out = append(out, c.Index+1+j)
			}
		}
		return nil
	})
	return out
}

func TestStreamLenFormula(t *testing.T) {
	cfg := DefaultConfig()
	if got, want := cfg.StreamLen(), 11072; got != want {
		t.Errorf("StreamLen = %d, want %d (16 rows x (10 planes x 69 + 2))", got, want)
	}
	// 16 x (10 x (2x64+3) + 10x5 + 5x1023 + 25) = 16 x 6500.
	if got, want := cfg.FrameCycles(), int64(104000); got != want {
		t.Errorf("FrameCycles = %d, want %d", got, want)
	}
	if hz := cfg.RefreshHz(); hz < 240 || hz > 241 {
		t.Errorf("RefreshHz = %.1f, want 240.4", hz)
	}
}

func TestSingleRedPixel(t *testing.T) {
	frame := image.NewRGBA(image.Rect(0, 0, 64, 32))
	tests := []struct {
		name   string
		value  uint8
		gamma  float64
		code   uint16
		planes []int
	}{
		{"full", 255, 1, 1023, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"half gamma 1", 128, 1, 514, []int{1, 9}},           // 1023*128/255 = 513.5 -> 514 = 0b1000000010
		{"half gamma 2.2", 128, 2.2, 225, []int{0, 5, 6, 7}}, // 1023*(128/255)^2.2 = 224.6 -> 225 = 0b0011100001
		{"darkest gamma 2.2", 1, 2.2, 1, []int{0}},           // 0.005 rounds to 0, kept at 1
		{"off", 0, 2.2, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEncoder(t, nil)
			if err := e.SetLevels(100, tt.gamma); err != nil {
				t.Fatal(err)
			}
			if got := e.Code(tt.value); got != tt.code {
				t.Fatalf("Code(%d) = %d, want %d", tt.value, got, tt.code)
			}
			frame.SetRGBA(0, 0, color.RGBA{tt.value, 0, 0, 255})
			s := encode(t, e, frame)
			var want []int
			for _, p := range tt.planes {
				want = append(want, idx(0, p, 0))
			}
			if diff := cmp.Diff(want, lit(s, bitR1)); diff != "" {
				t.Errorf("words with R1 set (-want +got):\n%s", diff)
			}
			if got := lit(s, rgbAll&^bitR1); got != nil {
				t.Errorf("other colour bits set in words %v", got)
			}
			for _, p := range tt.planes {
				if w := s[idx(0, p, 0)]; w != bitOE|bitR1 {
					t.Errorf("plane %d word = %#08x, want %#08x (R1, OE off, row 0)", p, w, bitOE|bitR1)
				}
			}
		})
	}
}

func TestRowAddressing(t *testing.T) {
	e := newTestEncoder(t, func(c *Config) { c.Planes = 1 })
	// With one plane a row is 1x(64+5)+2 = 71 words.
	at := func(r, x int) int { return r*71 + 1 + x }
	tests := []struct {
		y    int
		word int
		want uint32
	}{
		{0, at(0, 5), bitOE | bitG1},
		{15, at(15, 5), addr15 | bitOE | bitG1},
		{16, at(0, 5), bitOE | bitG2},
		{31, at(15, 5), addr15 | bitOE | bitG2},
	}
	for _, tt := range tests {
		frame := image.NewRGBA(image.Rect(0, 0, 64, 32))
		frame.SetRGBA(5, tt.y, color.RGBA{0, 255, 0, 255})
		s := encode(t, e, frame)
		if got := s[tt.word]; got != tt.want {
			t.Errorf("y=%d: word %d = %#08x, want %#08x", tt.y, tt.word, got, tt.want)
		}
		if got := lit(s, rgbAll); len(got) != 1 || got[0] != tt.word {
			t.Errorf("y=%d: colour bits in words %v, want only %d", tt.y, got, tt.word)
		}
	}
	// Every word of row pair 15 carries its address; hold commands too.
	s := encode(t, e, image.NewRGBA(image.Rect(0, 0, 64, 32)))
	wantRow := []uint32{
		0x8000003f, // DATA 64
	}
	for range 64 {
		wantRow = append(wantRow, addr15|bitOE)
	}
	wantRow = append(wantRow,
		0, addr15|bitOE|bitLAT, // HOLD 5: latch
		0, addr15, // HOLD 5: OE on for 5 cycles (plane 0)
		20, addr15|bitOE, // HOLD 25: blank
	)
	if diff := cmp.Diff(wantRow, s[15*71:16*71]); diff != "" {
		t.Errorf("row pair 15 (-want +got):\n%s", diff)
	}
}

func TestColourOrder(t *testing.T) {
	frame := image.NewRGBA(image.Rect(0, 0, 64, 32))
	frame.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})  // red, upper half
	frame.SetRGBA(0, 16, color.RGBA{0, 0, 255, 255}) // blue, lower half
	tests := []struct {
		order     ColourOrder
		top, bott uint32
	}{
		{RGB, bitR1, bitB2},
		{"rgb", bitR1, bitB2},
		{GRB, bitG1, bitB2}, // the G input takes red
		{BGR, bitB1, bitR2}, // the B input takes red, the R input blue
		{RBG, bitR1, bitG2}, // the G input takes blue
		{GBR, bitB1, bitG2},
		{BRG, bitG1, bitR2},
	}
	for _, tt := range tests {
		e := newTestEncoder(t, func(c *Config) { c.ColourOrder = tt.order })
		s := encode(t, e, frame)
		if got, want := s[idx(0, 9, 0)]&rgbAll, tt.top|tt.bott; got != want {
			t.Errorf("%s: colour bits %#x, want %#x", tt.order, got, want)
		}
	}
}

func TestBrightnessScalesCodes(t *testing.T) {
	e := newTestEncoder(t, nil)
	tests := []struct {
		b     uint8
		gamma float64
		v     uint8
		want  uint16
	}{
		{100, 1, 255, 1023},
		{50, 1, 255, 512}, // 511.5 rounds up
		{10, 2.2, 255, 102},
		{1, 2.2, 1, 1}, // kept visible
		{0, 2.2, 255, 0},
	}
	for _, tt := range tests {
		if err := e.SetLevels(tt.b, tt.gamma); err != nil {
			t.Fatal(err)
		}
		if got := e.Code(tt.v); got != tt.want {
			t.Errorf("brightness %d gamma %v: Code(%d) = %d, want %d", tt.b, tt.gamma, tt.v, got, tt.want)
		}
	}
	for _, bad := range []struct {
		b   uint8
		g   float64
		msg string
	}{
		{101, 2.2, "hub75: brightness 101 is above 100"},
		{50, 0.5, "hub75: gamma 0.5 is outside 1.0..3.0"},
		{50, 3.5, "hub75: gamma 3.5 is outside 1.0..3.0"},
	} {
		if err := e.SetLevels(bad.b, bad.g); err == nil || err.Error() != bad.msg {
			t.Errorf("SetLevels(%d, %v) = %v, want %q", bad.b, bad.g, err, bad.msg)
		}
	}
}

func TestEncodeRejectsWrongSize(t *testing.T) {
	e := newTestEncoder(t, nil)
	_, err := e.Encode(nil, image.NewRGBA(image.Rect(0, 0, 32, 16)))
	if err == nil || err.Error() != "hub75: encode: frame is 32x16, panel is 64x32" {
		t.Errorf("Encode(32x16) = %v", err)
	}
	if _, err := e.Encode(nil, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

func TestEncodeAppends(t *testing.T) {
	e := newTestEncoder(t, nil)
	frame := testFrame(64, 32)
	s := encode(t, e, frame)
	prefix := []uint32{1, 2, 3}
	got, err := e.Encode(prefix, frame)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append([]uint32{1, 2, 3}, s...), got); diff != "" {
		t.Errorf("Encode(prefix) (-want +got):\n%s", diff)
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	e := newTestEncoder(t, nil)
	frame := testFrame(64, 32)
	buf := make([]uint32, 0, e.Config().StreamLen())
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := e.Encode(buf[:0], frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Encode allocates %v times per frame, want 0", allocs)
	}
}

func TestEncodedStreamShowsFrame(t *testing.T) {
	for _, mut := range []func(*Config){
		nil,
		func(c *Config) { c.ColourOrder = BGR; c.Planes = 11; c.LSBCycles = 7 },
		func(c *Config) { c.Width = 128; c.RowsPerScan = 32; c.Planes = 4 },
		func(c *Config) { c.Width = 3; c.RowsPerScan = 2; c.Planes = 1 },
	} {
		e := newTestEncoder(t, mut)
		cfg := e.Config()
		frame := randomFrame(e.Bounds(), uint64(cfg.Width))
		s := encode(t, e, frame)
		if err := e.Check(s); err != nil {
			t.Errorf("%dx%d: Check: %v", cfg.Width, cfg.Height(), err)
		}
		p, cycles := run(t, cfg, s)
		checkShown(t, e, frame, p)
		if p.Latches != cfg.RowsPerScan*cfg.Planes {
			t.Errorf("%d latches, want %d", p.Latches, cfg.RowsPerScan*cfg.Planes)
		}
		// The frame period is the cycles between the first pixel of one
		// frame and the next: run two frames and subtract one.
		_, two := run(t, cfg, append(append([]uint32(nil), s...), s...))
		if got := two - cycles; got != cfg.FrameCycles() {
			t.Errorf("%dx%d: frame takes %d cycles, FrameCycles says %d", cfg.Width, cfg.Height(), got, cfg.FrameCycles())
		}
	}
}

func TestCheckCatchesCorruption(t *testing.T) {
	e := newTestEncoder(t, nil)
	s := encode(t, e, testFrame(64, 32))
	tests := []struct {
		name string
		mut  func(s []uint32)
		want string
	}{
		{"CLK in a pixel word", func(s []uint32) { s[idx(3, 2, 1)] |= 1 << 17 }, "sets CLK"},
		{"OE on while shifting", func(s []uint32) { s[idx(3, 2, 1)] &^= bitOE }, "OE/LAT"},
		{"wrong address", func(s []uint32) { s[idx(3, 2, 1)] ^= 1 << 22 }, "addresses"},
		{"long latch", func(s []uint32) { s[idx(3, 2, 64)]++ }, "hold of"},
		{"stray bit", func(s []uint32) { s[idx(0, 0, 0)] |= 1 << 2 }, "outside the panel pins"},
		{"truncated", func(s []uint32) { s[len(s)-2] = DataCommand(5) }, "needs 5 words"},
	}
	for _, tt := range tests {
		c := append([]uint32(nil), s...)
		tt.mut(c)
		if err := e.Check(c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Check = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if err := e.Check(s[:100]); err == nil {
		t.Error("Check accepted a short stream")
	}
}

func BenchmarkEncode(b *testing.B) {
	e, err := NewEncoder(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	frame := testFrame(64, 32)
	buf := make([]uint32, 0, e.Config().StreamLen())
	b.ReportAllocs()
	b.SetBytes(int64(4 * e.Config().StreamLen()))
	for b.Loop() {
		if _, err := e.Encode(buf[:0], frame); err != nil {
			b.Fatal(err)
		}
	}
}
