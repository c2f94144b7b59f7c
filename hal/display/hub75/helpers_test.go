package hub75

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/cityarray/cityarray/hal/display/hub75/internal/emu"
)

// run executes stream through the stream program on a model state machine
// configured with cfg's registers, watched by a model panel. It returns the
// panel and the cycles run before the state machine stalled.
func run(t testing.TB, cfg Config, stream []uint32) (*emu.Panel, int64) {
	t.Helper()
	prog := StreamProgram()
	smc, err := cfg.SMConfig()
	if err != nil {
		t.Fatalf("SMConfig: %v", err)
	}
	oe := uint32(1) << cfg.Pins.OE
	sm := &emu.SM{
		ExecCtrl:  smc.ExecCtrl,
		ShiftCtrl: smc.ShiftCtrl,
		PinCtrl:   smc.PinCtrl,
		PC:        prog.Origin + prog.Entry,
		Pins:      oe, // New drives OE high before enabling
	}
	copy(sm.Instrs[prog.Origin:], prog.Instrs)
	p := &emu.Panel{
		Width: cfg.Width,
		Rows:  cfg.RowsPerScan,
		RGB:   cfg.Pins.RGB,
		Addr:  cfg.Pins.Addr[:cfg.AddrLines()],
		OE:    cfg.Pins.OE,
		CLK:   cfg.Pins.CLK,
		LAT:   cfg.Pins.LAT,
	}
	p.Start(sm.Pins)
	cycles, err := sm.Run(stream, 1<<40, p.Watch)
	if err != nil {
		t.Fatalf("emulating the stream: %v", err)
	}
	p.Finish(cycles)
	return p, cycles
}

// checkShown fails unless every LED of the model panel was lit for exactly
// LSBCycles times the code the encoder gives its frame channel (after the
// colour order), and the panel saw no protocol violation.
func checkShown(t testing.TB, e *Encoder, frame *image.RGBA, p *emu.Panel) {
	t.Helper()
	for _, v := range p.Violations {
		t.Errorf("panel model: %s", v)
	}
	cfg := e.Config()
	bad := 0
	for y := 0; y < cfg.Height(); y++ {
		for x := 0; x < cfg.Width; x++ {
			px := frame.RGBAAt(frame.Rect.Min.X+x, frame.Rect.Min.Y+y)
			ch := [3]uint8{px.R, px.G, px.B}
			for c := 0; c < 3; c++ {
				want := int64(cfg.LSBCycles) * int64(e.Code(ch[e.order[c]]))
				if got := p.At(x, y, c); got != want {
					if bad++; bad <= 5 {
						t.Errorf("LED (%d,%d) input %c lit %d cycles, want %d (code %d)", x, y, "RGB"[c], got, want, e.Code(ch[e.order[c]]))
					}
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d LED channels wrong in all", bad)
	}
}

// randomFrame fills a frame of size r with seeded noise, placed at a
// non-zero origin inside a larger image to exercise Stride and Rect.Min.
func randomFrame(r image.Rectangle, seed uint64) *image.RGBA {
	big := image.NewRGBA(image.Rect(-3, -2, r.Dx()+5, r.Dy()+1))
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range big.Pix {
		big.Pix[i] = uint8(rng.Uint32())
	}
	return big.SubImage(r.Add(image.Pt(1, 0))).(*image.RGBA)
}

// testFrame is the fixed frame of the golden stream: colour bars on the
// upper half, grey and colour ramps on the lower, and single pixels at the
// corners.
func testFrame(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bars := []color.RGBA{
		{255, 255, 255, 255}, {255, 255, 0, 255}, {0, 255, 255, 255}, {0, 255, 0, 255},
		{255, 0, 255, 255}, {255, 0, 0, 255}, {0, 0, 255, 255}, {0, 0, 0, 255},
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, bars[x*len(bars)/w])
		}
	}
	for y := h / 2; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(x * 255 / max(w-1, 1))
			c := color.RGBA{v, v, v, 255}
			switch (y - h/2) * 4 / max(h-h/2, 1) {
			case 1:
				c = color.RGBA{v, 0, 0, 255}
			case 2:
				c = color.RGBA{0, v, 0, 255}
			case 3:
				c = color.RGBA{0, 0, v, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	img.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	img.SetRGBA(w-1, 0, color.RGBA{0, 255, 0, 255})
	img.SetRGBA(0, h-1, color.RGBA{0, 0, 255, 255})
	img.SetRGBA(w-1, h-1, color.RGBA{255, 255, 255, 255})
	return img
}
