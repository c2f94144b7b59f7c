package render

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/golden")

// newTestRenderer returns a renderer with the default options and the
// embedded fonts, failing the test on any fault.
func newTestRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Faults(); len(f) > 0 {
		t.Fatalf("faults with the embedded fonts: %v", f)
	}
	return r
}

// sheet is what a golden image holds: the first frame (64x32) on top, then
// every line's whole strip in the text colour, one under the other, so a
// reviewer sees all of the text and the test checks all of it.
func sheet(s *Scene) *image.RGBA {
	w := Width
	for _, l := range s.lines {
		w = max(w, l.width)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, Height+lineHeight*len(s.lines)))
	for i := range img.Pix {
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	s.Frame(img, 0)
	for i, l := range s.lines {
		for y := range lineHeight {
			for x := range l.width {
				if a := l.strip[y*l.width+x]; a != 0 {
					p := s.pal[a]
					img.SetRGBA(x, Height+i*lineHeight+y, color.RGBA{p[0], p[1], p[2], p[3]})
				}
			}
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkGolden compares img with testdata/golden/name.png pixel by pixel,
// or rewrites the file with -update.
func checkGolden(t *testing.T, name string, img *image.RGBA) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".png")
	if *update {
		if err := os.WriteFile(path, encodePNG(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./edge/render -update to create it)", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if want.Bounds() != img.Bounds() {
		t.Fatalf("%s: rendered %v, golden %v", name, img.Bounds(), want.Bounds())
	}
	diff, first := 0, image.Point{-1, -1}
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if color.RGBAModel.Convert(want.At(x, y)) != img.RGBAAt(x, y) {
				if diff == 0 {
					first = image.Pt(x, y)
				}
				diff++
			}
		}
	}
	if diff > 0 {
		got := filepath.Join(t.TempDir(), name+".png")
		_ = os.WriteFile(got, encodePNG(t, img), 0o644)
		t.Errorf("%s: %d pixels differ from %s, first at %v; rendered image in %s (go test -update accepts it)", name, diff, path, first, got)
	}
}

// TestGolden renders each language's sample at warning tier and compares
// the sheet with its golden PNG.
func TestGolden(t *testing.T) {
	r := newTestRenderer(t)
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			sc, err := r.Prepare(sampleContent(s))
			if err != nil {
				t.Fatal(err)
			}
			img := sheet(sc)
			dumpScaled(t, s.name, img)
			checkGolden(t, s.name, img)
		})
	}
}

// TestGoldenLayouts covers the other layouts: two still lines, a headline
// with a scrolling detail line, a clock, TEST mode and each tier's band.
func TestGoldenLayouts(t *testing.T) {
	r := newTestRenderer(t)
	cases := []struct {
		name string
		c    Content
	}{
		{"layout-two-lines", Content{Tier: 2, Lang: "en", Text: "Road closed"}},
		{"layout-one-line", Content{Tier: 1, Lang: "en", Text: "Open"}},
		{"layout-detail", Content{Tier: 3, Lang: "en", Text: "FLOOD", Detail: "Move to higher ground now"}},
		{"layout-test", Content{Tier: 4, Lang: "en", Text: "Siren test at noon", Test: true}},
		{"layout-clock", Clock(testTime(14, 5), "")},
		{"tier-informational", Content{Tier: 1, Text: "Tier"}},
		{"tier-advisory", Content{Tier: 2, Text: "Tier"}},
		{"tier-warning", Content{Tier: 3, Text: "Tier"}},
		{"tier-emergency", Content{Tier: 4, Text: "Tier"}},
		{"tier-ipaws", Content{Tier: 5, Text: "Tier"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := r.Prepare(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			img := sheet(sc)
			dumpScaled(t, tc.name, img)
			checkGolden(t, tc.name, img)
		})
	}
}

// dumpScaled writes img magnified, for a person to look at; used only
// when CITYARRAY_RENDER_DUMP names a directory.
func dumpScaled(t *testing.T, name string, img *image.RGBA) {
	dir := os.Getenv("CITYARRAY_RENDER_DUMP")
	if dir == "" {
		return
	}
	const k = 8
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := img.RGBAAt(b.Min.X+x, b.Min.Y+y)
			for yy := 1; yy < k; yy++ {
				for xx := 1; xx < k; xx++ {
					out.SetRGBA(x*k+xx, y*k+yy, c)
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.png", name)), encodePNG(t, out), 0o644); err != nil {
		t.Fatal(err)
	}
}
