package sim

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newPanel(t testing.TB, mut func(*Config)) *Panel {
	t.Helper()
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestShowCopiesAndVersions(t *testing.T) {
	p := newPanel(t, nil)
	if p.Bounds() != image.Rect(0, 0, 64, 32) {
		t.Fatalf("Bounds = %v", p.Bounds())
	}
	if v := p.Version(); v != 0 {
		t.Errorf("new panel version %d, want 0", v)
	}
	frame := solid(64, 32, color.RGBA{10, 20, 30, 255})
	if err := p.Show(frame); err != nil {
		t.Fatal(err)
	}
	frame.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255}) // caller reuses its buffer
	if got := p.Snapshot().RGBAAt(0, 0); got != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("snapshot (0,0) = %v, want the frame as shown", got)
	}
	if p.Version() != 1 || p.Frames() != 1 {
		t.Errorf("version %d frames %d, want 1 1", p.Version(), p.Frames())
	}
	// The same picture again counts a frame but keeps the version.
	frame.SetRGBA(0, 0, color.RGBA{10, 20, 30, 255})
	p.Show(frame)
	if p.Version() != 1 || p.Frames() != 2 {
		t.Errorf("same frame: version %d frames %d, want 1 2", p.Version(), p.Frames())
	}
	// A sub-image with another origin and stride is fine.
	big := solid(70, 40, color.RGBA{1, 2, 3, 255})
	if err := p.Show(big.SubImage(image.Rect(3, 4, 67, 36)).(*image.RGBA)); err != nil {
		t.Fatal(err)
	}
	if p.Version() != 2 {
		t.Errorf("new frame: version %d, want 2", p.Version())
	}
	if err := p.Show(image.NewRGBA(image.Rect(0, 0, 8, 8))); err == nil || err.Error() != "sim: show: frame is 8x8, panel is 64x32" {
		t.Errorf("Show(8x8) = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Show(frame); err != ErrClosed {
		t.Errorf("Show after Close = %v", err)
	}
	if p.Snapshot().RGBAAt(0, 0) != (color.RGBA{1, 2, 3, 255}) {
		t.Error("the last picture is not readable after Close")
	}
}

func TestLevels(t *testing.T) {
	p := newPanel(t, nil)
	frame := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for x := 0; x < 64; x++ {
		v := uint8(x * 4)
		frame.SetRGBA(x, 0, color.RGBA{v, v, v, 255})
	}
	frame.SetRGBA(0, 1, color.RGBA{255, 128, 1, 255})
	p.Show(frame)
	// Gamma 2.2 at full brightness is what a gamma-2.2 screen shows as is.
	snap := p.Snapshot()
	for x := 0; x < 64; x++ {
		if got, want := snap.RGBAAt(x, 0), frame.RGBAAt(x, 0); got != want {
			t.Fatalf("default levels changed (%d,0): %v, want %v", x, got, want)
		}
	}
	v := p.Version()
	tests := []struct {
		b    uint8
		g    float64
		want color.RGBA
	}{
		// 255 * (0.5 * (v/255)^g)^(1/2.2):
		{50, 2.2, color.RGBA{186, 93, 1, 255}},  // 0.5^(1/2.2) = 0.7297
		{100, 1, color.RGBA{255, 186, 21, 255}}, // (128/255)^(1/2.2) = 0.7311; (1/255)^(1/2.2) = 0.0805
		{0, 2.2, color.RGBA{0, 0, 0, 255}},
	}
	for _, tt := range tests {
		if err := p.SetLevels(tt.b, tt.g); err != nil {
			t.Fatal(err)
		}
		if got := p.Snapshot().RGBAAt(0, 1); got != tt.want {
			t.Errorf("brightness %d gamma %v: (255,128,1) shows as %v, want %v", tt.b, tt.g, got, tt.want)
		}
		if p.Version() == v {
			t.Errorf("brightness %d gamma %v: version did not move", tt.b, tt.g)
		}
		v = p.Version()
		if b, g := p.Levels(); b != tt.b || g != tt.g {
			t.Errorf("Levels = %d, %v", b, g)
		}
	}
	for _, bad := range []struct {
		b   uint8
		g   float64
		msg string
	}{
		{101, 2, "sim: brightness 101 is above 100"},
		{10, 0.9, "sim: gamma 0.9 is outside 1.0..3.0"},
	} {
		if err := p.SetLevels(bad.b, bad.g); err == nil || err.Error() != bad.msg {
			t.Errorf("SetLevels(%d, %v) = %v, want %q", bad.b, bad.g, err, bad.msg)
		}
	}
}

// TestANSI checks the terminal preview of a 3x3 panel character by
// character: rows 0 and 1 share the first line, row 2 has black below it.
func TestANSI(t *testing.T) {
	p := newPanel(t, func(c *Config) { c.Width, c.Height = 3, 3 })
	f := image.NewRGBA(image.Rect(0, 0, 3, 3))
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
	f.SetRGBA(0, 0, red)
	f.SetRGBA(1, 0, red)
	f.SetRGBA(1, 1, blue)
	f.SetRGBA(2, 2, blue)
	p.Show(f)
	var b bytes.Buffer
	if err := p.WriteANSI(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"\x1b[38;2;255;0;0m\x1b[48;2;0;0;0m▀" + // red over black
		"\x1b[48;2;0;0;255m▀" + // red over blue: only the background changes
		"\x1b[38;2;0;0;0m\x1b[48;2;0;0;0m▀" + // black over black
		"\x1b[0m\n" +
		"\x1b[38;2;0;0;0m\x1b[48;2;0;0;0m▀▀" + // row 2, nothing below
		"\x1b[38;2;0;0;255m▀" +
		"\x1b[0m\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("ANSI (-want +got):\n%q", diff)
	}
	// A 64x32 panel is 16 lines of 64 cells.
	big := newPanel(t, nil)
	b.Reset()
	big.WriteANSI(&b)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 16 || strings.Count(lines[0], "▀") != 64 {
		t.Errorf("64x32 preview: %d lines, %d cells in the first", len(lines), strings.Count(lines[0], "▀"))
	}
}

func TestPNG(t *testing.T) {
	p := newPanel(t, nil)
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	f.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	f.SetRGBA(63, 31, color.RGBA{0, 255, 0, 255})
	p.Show(f)
	b, v, err := p.PNG()
	if err != nil {
		t.Fatal(err)
	}
	if v != p.Version() {
		t.Errorf("PNG version %d, panel %d", v, p.Version())
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 512, 256) {
		t.Fatalf("PNG is %v, want 512x256 (8 px per LED)", img.Bounds())
	}
	rgba := func(x, y int) color.RGBA {
		r, g, b, a := img.At(x, y).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	checks := []struct {
		x, y int
		want color.RGBA
		what string
	}{
		{3, 3, color.RGBA{255, 0, 0, 255}, "centre of LED (0,0)"},
		{0, 0, color.RGBA{8, 8, 8, 255}, "panel between LEDs"},
		{507, 251, color.RGBA{0, 255, 0, 255}, "centre of LED (63,31)"},
		{12, 4, color.RGBA{28, 28, 28, 255}, "an LED that is off"},
	}
	for _, c := range checks {
		if got := rgba(c.x, c.y); got != c.want {
			t.Errorf("%s at (%d,%d) = %v, want %v", c.what, c.x, c.y, got, c.want)
		}
	}
	// Cached: the same bytes until the picture changes.
	b2, _, _ := p.PNG()
	if !bytes.Equal(b, b2) {
		t.Error("PNG changed without a new picture")
	}
	led := p.LEDImage()
	if led.RGBAAt(3, 3) != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("LEDImage (3,3) = %v", led.RGBAAt(3, 3))
	}

	// A thumbnail: one pixel per LED, cached beside the full picture.
	tb, tv, err := p.ScaledPNG(1)
	if err != nil || tv != v {
		t.Fatalf("ScaledPNG(1): %v, version %d", err, tv)
	}
	thumb, err := png.Decode(bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	if thumb.Bounds() != image.Rect(0, 0, 64, 32) {
		t.Fatalf("thumbnail is %v", thumb.Bounds())
	}
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{{0, 0, color.RGBA{255, 0, 0, 255}}, {63, 31, color.RGBA{0, 255, 0, 255}}, {5, 5, color.RGBA{28, 28, 28, 255}}} {
		r, g, b, _ := thumb.At(c.x, c.y).RGBA()
		if got := (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}); got != c.want {
			t.Errorf("thumbnail (%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	if b3, _, _ := p.PNG(); !bytes.Equal(b3, b) {
		t.Error("asking for a thumbnail dropped the cached full picture")
	}
	if _, _, err := p.ScaledPNG(0); err == nil {
		t.Error("ScaledPNG(0) succeeded")
	}
}

// TestPNGTrueColour covers pictures of more than 256 colours, which cannot
// be paletted: every LED centre must still carry its colour.
func TestPNGTrueColour(t *testing.T) {
	p := newPanel(t, func(c *Config) { c.Scale = 4 })
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			f.SetRGBA(x, y, color.RGBA{uint8(x * 4), uint8(y * 8), uint8(x + y), 255})
		}
	}
	p.Show(f)
	b, _, err := p.PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, paletted := img.(*image.Paletted); paletted {
		t.Fatal("a 2048-colour picture came out paletted")
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			want := f.RGBAAt(x, y)
			if want == (color.RGBA{A: 255}) {
				want = color.RGBA{28, 28, 28, 255}
			}
			r, g, bl, _ := img.At(4*x+2, 4*y+2).RGBA()
			if got := (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}); got != want {
				t.Fatalf("LED (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	// The paletted path gives the same picture as LEDImage.
	q := newPanel(t, nil)
	q.Show(solid(64, 32, color.RGBA{200, 100, 0, 255}))
	b, _, _ = q.PNG()
	img, _ = png.Decode(bytes.NewReader(b))
	led := q.LEDImage()
	for _, pt := range []image.Point{{3, 3}, {0, 0}, {100, 50}, {511, 255}} {
		r, g, bl, _ := img.At(pt.X, pt.Y).RGBA()
		if got := (color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}); got != led.RGBAAt(pt.X, pt.Y) {
			t.Errorf("paletted PNG at %v = %v, LEDImage %v", pt, got, led.RGBAAt(pt.X, pt.Y))
		}
	}
}

func TestDump(t *testing.T) {
	a := solid(64, 32, color.RGBA{255, 0, 0, 255})
	b := solid(64, 32, color.RGBA{0, 0, 255, 255})
	tests := []struct {
		every int
		want  []string
	}{
		{0, []string{"frame-000001.png", "frame-000003.png", "frame-000004.png"}}, // changes only
		{2, []string{"frame-000001.png", "frame-000003.png"}},
		{1, []string{"frame-000001.png", "frame-000002.png", "frame-000003.png", "frame-000004.png"}},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "frames")
		p := newPanel(t, func(c *Config) { c.DumpDir, c.DumpEvery = dir, tt.every })
		for _, f := range []*image.RGBA{a, a, b, a} {
			if err := p.Show(f); err != nil {
				t.Fatal(err)
			}
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("every %d: files (-want +got):\n%s", tt.every, diff)
		}
		img, err := os.ReadFile(filepath.Join(dir, "frame-000001.png"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(img)); err != nil {
			t.Errorf("every %d: frame-000001.png: %v", tt.every, err)
		}
	}
}

func TestHTTP(t *testing.T) {
	p := newPanel(t, func(c *Config) { c.Title = "Pole <7>" })
	p.Show(solid(64, 32, color.RGBA{0, 128, 0, 255}))
	mux := http.NewServeMux()
	mux.Handle("/poles/7/", http.StripPrefix("/poles/7", p))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	body := func(res *http.Response) string {
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return b.String()
	}

	res := get("/poles/7/", nil)
	page := body(res)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`src="frame.png"`, "state.json", "Pole &lt;7&gt;", `width="512"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "//cdn", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("page is not self-contained: has %q", bad)
		}
	}

	res = get("/poles/7/frame.png", nil)
	pngBody := body(res)
	h := res.Header
	if res.StatusCode != 200 || h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "no-store" ||
		h.Get("ETag") != `"v1"` || h.Get("X-Frame-Count") != "1" {
		t.Errorf("frame.png: %d %v", res.StatusCode, h)
	}
	if _, err := png.Decode(strings.NewReader(pngBody)); err != nil {
		t.Errorf("frame.png: %v", err)
	}
	res = get("/poles/7/frame.png?scale=1", nil)
	if img, err := png.Decode(res.Body); err != nil || img.Bounds() != image.Rect(0, 0, 64, 32) {
		t.Errorf("frame.png?scale=1: %v", err)
	}
	for _, bad := range []string{"0", "33", "big"} {
		if res := get("/poles/7/frame.png?scale="+bad, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("scale=%s: %d, want 400", bad, res.StatusCode)
		}
	}
	if res := get("/poles/7/frame.png", map[string]string{"If-None-Match": `"v1"`}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match current: %d, want 304", res.StatusCode)
	}
	p.SetLevels(50, 2.2)
	if res := get("/poles/7/frame.png?v=1", map[string]string{"If-None-Match": `"v1"`}); res.StatusCode != 200 || res.Header.Get("ETag") != `"v2"` {
		t.Errorf("after SetLevels: %d %s, want 200 \"v2\"", res.StatusCode, res.Header.Get("ETag"))
	}

	var st State
	if err := json.Unmarshal([]byte(body(get("/poles/7/state.json", nil))), &st); err != nil {
		t.Fatal(err)
	}
	if want := (State{Frames: 1, Version: 2, Brightness: 50, Gamma: 2.2, Width: 64, Height: 32}); st != want {
		t.Errorf("state.json = %+v, want %+v", st, want)
	}
	if a := body(get("/poles/7/frame.ansi", nil)); strings.Count(a, "\n") != 16 {
		t.Errorf("frame.ansi has %d lines", strings.Count(a, "\n"))
	}
	if res := get("/poles/7/nope", nil); res.StatusCode != 404 {
		t.Errorf("unknown path: %d", res.StatusCode)
	}
	res2, err := srv.Client().Post(srv.URL+"/poles/7/frame.png", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res2.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/poles/7/frame.png", nil)
	res3, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res3.Body.Close()
	if res3.StatusCode != 200 || res3.ContentLength <= 0 {
		t.Errorf("HEAD: %d length %d", res3.StatusCode, res3.ContentLength)
	}
}

// TestConcurrent runs Show, SetLevels and every reader at once, for -race.
func TestConcurrent(t *testing.T) {
	p := newPanel(t, func(c *Config) { c.Scale = 2 })
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := image.NewRGBA(image.Rect(0, 0, 64, 32))
			for i := 0; i < 50; i++ {
				f.Pix[(g*50+i)*4] = uint8(i)
				switch g {
				case 0:
					p.Show(f)
				case 1:
					p.SetLevels(uint8(i), 2)
				case 2:
					p.PNG()
				case 3:
					var b bytes.Buffer
					p.WriteANSI(&b)
					rec := httptest.NewRecorder()
					p.ServeHTTP(rec, httptest.NewRequest("GET", "/state.json", nil))
				}
			}
		}()
	}
	wg.Wait()
	if p.Frames() != 50 {
		t.Errorf("Frames = %d, want 50", p.Frames())
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Width, c.Scale, c.DumpEvery = 0, 40, -1
	err := c.Validate()
	want := []string{
		"sim: size 0x32 is outside 1..1024",
		"sim: scale 40 is outside 1..32",
		"sim: dump_every -1 is negative",
	}
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	if _, err := New(c); err == nil {
		t.Error("New accepted a bad config")
	}
}

func BenchmarkShow(b *testing.B) {
	p := newPanel(b, nil)
	frames := []*image.RGBA{solid(64, 32, color.RGBA{255, 0, 0, 255}), solid(64, 32, color.RGBA{0, 0, 255, 255})}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Show(frames[i&1])
		i++
	}
}

// BenchmarkPNG encodes a changed picture of a few colours each time (text
// on a pole): the cost of serving a live pole.
func BenchmarkPNG(b *testing.B) {
	p := newPanel(b, nil)
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 8; y < 24; y++ { // a band of "text" in three colours
		for x := 0; x < 64; x++ {
			f.SetRGBA(x, y, []color.RGBA{{255, 160, 0, 255}, {255, 255, 255, 255}, {0, 0, 0, 255}}[(x*y)%3])
		}
	}
	b.ReportAllocs()
	i := 0
	var size int
	for b.Loop() {
		f.Pix[0] = uint8(i)
		i++
		p.Show(f)
		buf, _, err := p.PNG()
		if err != nil {
			b.Fatal(err)
		}
		size = len(buf)
	}
	b.ReportMetric(float64(size), "png-bytes")
}

// BenchmarkThumbnail encodes a changed picture at one pixel per LED, for
// an overview page of many poles.
func BenchmarkThumbnail(b *testing.B) {
	p := newPanel(b, nil)
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 8; y < 24; y++ {
		for x := 0; x < 64; x++ {
			f.SetRGBA(x, y, []color.RGBA{{255, 160, 0, 255}, {255, 255, 255, 255}, {0, 0, 0, 255}}[(x*y)%3])
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Pix[0] = uint8(i)
		i++
		p.Show(f)
		if _, _, err := p.ScaledPNG(1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPNGTrueColour is the worst case: every LED a different colour.
func BenchmarkPNGTrueColour(b *testing.B) {
	p := newPanel(b, nil)
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			f.SetRGBA(x, y, color.RGBA{uint8(x * 4), uint8(y * 8), uint8(x + y), 255})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.Pix[0] = uint8(i)
		i++
		p.Show(f)
		if _, _, err := p.PNG(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkManyPanels shows a frame on 500 panels and encodes each PNG once,
// as the city demo does, and reports the memory each panel holds.
func BenchmarkManyPanels(b *testing.B) {
	f := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for i := range f.Pix {
		f.Pix[i] = uint8(i * 13)
	}
	for b.Loop() {
		panels := make([]*Panel, 500)
		for i := range panels {
			panels[i] = newPanel(b, nil)
			panels[i].Show(f)
			if _, _, err := panels[i].PNG(); err != nil {
				b.Fatal(err)
			}
		}
		var held int
		for _, p := range panels {
			held += len(p.frame.Pix) + len(p.shown.Pix) + p.pngs[0].buf.Cap() + p.pngs[1].buf.Cap()
		}
		b.ReportMetric(float64(held)/500, "bytes/panel")
	}
}
