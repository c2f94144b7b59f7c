package render

import (
	"errors"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

// testTime is a fixed instant on 2 March 2026 at hh:mm UTC.
func testTime(hh, mm int) time.Time { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }

func newFrame() *image.RGBA { return image.NewRGBA(image.Rect(0, 0, Width, Height)) }

func mustPrepare(t testing.TB, r *Renderer, c Content) *Scene {
	t.Helper()
	s, err := r.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func frameAt(s *Scene, elapsed time.Duration) *image.RGBA {
	img := newFrame()
	s.Frame(img, elapsed)
	return img
}

// isUnifontBox reports Unifont's picture of a character it has no real
// glyph for: a dashed box (top row 0xAA…, bottom row 0x55…) with the hex
// code inside.
func isUnifontBox(g bitmapGlyph) bool {
	n := g.width / 8
	top, bottom := g.rows[:n], g.rows[len(g.rows)-n:]
	return top == strings.Repeat("\xAA", n) && bottom == strings.Repeat("\x55", n)
}

// TestNoMissingGlyphs checks, for every language, that the scene reports
// no missing character and that no glyph on the line is a missing-glyph
// box: no Noto .notdef (glyph 0) and no Unifont dashed box.
func TestNoMissingGlyphs(t *testing.T) {
	r := newTestRenderer(t)
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			sc := mustPrepare(t, r, sampleContent(s))
			if m := sc.Missing(); len(m) > 0 {
				t.Errorf("missing glyphs %q", string(m))
			}
			text, _ := sanitize(s.text, 400, 4)
			sh := r.shapeLine(text, newLineContext(s.lang, text))
			if len(sh.missing) > 0 {
				t.Errorf("shaping reports missing %q", string(sh.missing))
			}
			outlines := 0
			for _, g := range sh.glyphs {
				switch {
				case g.face != nil && g.gid == 0:
					t.Errorf("glyph at x=%.1f is .notdef", g.x)
				case g.face != nil:
					outlines++
				case isUnifontBox(g.bm):
					t.Errorf("glyph at x=%.0f is a Unifont box", g.x)
				}
			}
			// The scripts that need shaping must go through Noto.
			if needsShaping := s.lang == "ar" || s.lang == "hi" || s.lang == "bn"; needsShaping != (outlines > 0) {
				t.Errorf("%d shaped Noto glyphs; want them exactly for Arabic, Hindi and Bengali", outlines)
			}
		})
	}
}

// TestShaping checks what makes the complex scripts right: Hindi forms
// the conjunct क्ष (three runes, fewer glyphs) and reorders the i-matra;
// Arabic letters join (no isolated forms inside a word).
func TestShaping(t *testing.T) {
	r := newTestRenderer(t)
	glyphs := func(lang, text string) int {
		runes := []rune(text)
		return len(r.shapeLine(runes, newLineContext(lang, runes)).glyphs)
	}
	if n := glyphs("hi", "क्ष"); n >= 3 {
		t.Errorf("क्ष shaped to %d glyphs; want a conjunct (fewer than 3)", n)
	}
	if n := glyphs("bn", "ক্ষ"); n >= 3 {
		t.Errorf("ক্ষ shaped to %d glyphs; want a conjunct (fewer than 3)", n)
	}
	// Joined Arabic is narrower than its letters side by side.
	word := "تحذير"
	joined := r.shapeLine([]rune(word), newLineContext("ar", []rune(word))).width
	apart := 0
	for _, c := range word {
		apart += r.shapeLine([]rune{c}, newLineContext("ar", []rune{c})).width
	}
	if joined >= apart {
		t.Errorf("تحذير is %d px joined and %d px as isolated letters; want joining to make it narrower", joined, apart)
	}
}

// textArea returns the text area of a frame (the band excluded).
func textArea(img *image.RGBA) *image.RGBA {
	return img.SubImage(image.Rect(textLeft, 0, Width, Height)).(*image.RGBA)
}

// shiftMatches reports whether b is a shifted by dx pixels (positive:
// moved right) over the columns both show.
func shiftMatches(a, b *image.RGBA, dx int) bool {
	lit := 0
	for y := 0; y < Height; y++ {
		for x := textLeft; x < Width; x++ {
			sx := x - dx
			if sx < textLeft || sx >= Width {
				continue
			}
			if a.RGBAAt(sx, y) != b.RGBAAt(x, y) {
				return false
			}
			if a.RGBAAt(sx, y).R != 0 {
				lit++
			}
		}
	}
	return lit > 20
}

// TestScrollDirection: Latin text moves left, Arabic moves right, and both
// hold still first.
func TestScrollDirection(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct {
		lang, text string
		dx         int
	}{
		{"en", samples[0].text, -8},
		{"ar", samples[6].text, +8},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			s := mustPrepare(t, r, Content{Tier: record.TierWarning, Lang: tc.lang, Text: tc.text})
			if !s.Scrolls() {
				t.Fatal("the sample does not scroll")
			}
			if got := s.RightToLeft(); got != (tc.dx > 0) {
				t.Errorf("RightToLeft() = %v", got)
			}
			l := s.lines[0]
			start := frameAt(s, 0)
			if !cmp.Equal(start.Pix, frameAt(s, l.hold-1).Pix) {
				t.Error("text moved during the hold")
			}
			later := frameAt(s, l.hold+8*l.perPx)
			if !shiftMatches(start, later, tc.dx) {
				t.Errorf("frame after 8 px of scrolling is not the first frame shifted by %d", tc.dx)
			}
		})
	}
}

// TestPeriod: a pass ends where it began, so a scene loops and a caller
// can switch languages at Period without a jump; still text has Dwell.
func TestPeriod(t *testing.T) {
	r := newTestRenderer(t)
	opts := r.Options()
	still := mustPrepare(t, r, Content{Tier: 1, Text: "Open"})
	if still.Scrolls() || still.Period() != opts.Dwell {
		t.Errorf("still scene: Scrolls %v, Period %v; want false, %v", still.Scrolls(), still.Period(), opts.Dwell)
	}
	s := mustPrepare(t, r, sampleContent(samples[0]))
	l := s.lines[0]
	want := opts.Hold + time.Duration(l.width+opts.Gap)*l.perPx
	if s.Period() != want {
		t.Errorf("Period() = %v, want %v", s.Period(), want)
	}
	if !cmp.Equal(frameAt(s, 0).Pix, frameAt(s, s.Period()).Pix) {
		t.Error("the frame at Period differs from the first frame")
	}
	if !cmp.Equal(frameAt(s, 0).Pix, frameAt(s, -time.Second).Pix) {
		t.Error("a negative elapsed time does not show the first frame")
	}
	if cmp.Equal(frameAt(s, 0).Pix, frameAt(s, s.Period()/2).Pix) {
		t.Error("the frame half way through the pass is the first frame")
	}
}

// TestLayouts: short text stands on one line or two, a detail line goes
// under the headline, and longer text scrolls on one centred line.
func TestLayouts(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct {
		name    string
		c       Content
		lines   []string
		scrolls bool
	}{
		{"one line", Content{Tier: 1, Lang: "en", Text: "Open"}, []string{"Open"}, false},
		{"two lines", Content{Tier: 2, Lang: "en", Text: "Road closed"}, []string{"Road", "closed"}, false},
		{"two lines CJK", Content{Tier: 3, Lang: "zh-Hans", Text: "洪水警报撤离"}, []string{"洪水警", "报撤离"}, false},
		{"two lines Korean", Content{Tier: 3, Lang: "ko", Text: "홍수 경보"}, []string{"홍수", "경보"}, false},
		{"scroll", sampleContent(samples[0]), []string{samples[0].text}, true},
		{"detail", Content{Tier: 3, Text: "FLOOD", Detail: "Move to higher ground"}, []string{"FLOOD", "Move to higher ground"}, true},
		{"detail only", Content{Tier: 3, Detail: "Go"}, []string{"Go"}, false},
		{"empty", Content{Tier: 3}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustPrepare(t, r, tc.c)
			if diff := cmp.Diff(tc.lines, s.Lines()); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if s.Scrolls() != tc.scrolls {
				t.Errorf("Scrolls() = %v, want %v", s.Scrolls(), tc.scrolls)
			}
			if len(s.lines) == 1 && s.lines[0].y0 != (Height-lineHeight)/2 {
				t.Errorf("a single line starts on row %d; want it centred", s.lines[0].y0)
			}
		})
	}
}

// TestTestMode: a TEST scene differs visibly from the same alert for real:
// the band spells TEST and the first line carries a TEST badge.
func TestTestMode(t *testing.T) {
	r := newTestRenderer(t)
	for _, s := range []sample{samples[0], samples[6], samples[12]} {
		c := sampleContent(s)
		real := frameAt(mustPrepare(t, r, c), 0)
		c.Test = true
		ts := mustPrepare(t, r, c)
		test := frameAt(ts, 0)
		if !ts.Test() {
			t.Errorf("%s: Test() = false", s.name)
		}
		diff := 0
		for i := range real.Pix {
			if real.Pix[i] != test.Pix[i] {
				diff++
			}
		}
		if diff < 300 {
			t.Errorf("%s: TEST frame differs from the real one in only %d bytes", s.name, diff)
		}
	}
}

// TestFrameClipping draws into destinations smaller, larger and offset.
func TestFrameClipping(t *testing.T) {
	r := newTestRenderer(t)
	s := mustPrepare(t, r, sampleContent(samples[6]))
	want := frameAt(s, time.Second)
	big := image.NewRGBA(image.Rect(-5, 7, 100, 60))
	s.Frame(big, time.Second)
	got := big.SubImage(image.Rect(-5, 7, -5+Width, 7+Height)).(*image.RGBA)
	for y := range Height {
		for x := range Width {
			if got.RGBAAt(x-5, y+7) != want.RGBAAt(x, y) {
				t.Fatalf("offset frame differs at (%d,%d)", x, y)
			}
		}
	}
	for _, rect := range []image.Rectangle{image.Rect(0, 0, 10, 5), image.Rect(0, 0, 40, 32), image.Rect(3, 3, 3, 3)} {
		s.Frame(image.NewRGBA(rect), 2*time.Second) // must not panic
	}
}

// TestFrameDoesNotAllocate holds Frame to zero allocations.
func TestFrameDoesNotAllocate(t *testing.T) {
	r := newTestRenderer(t)
	s := mustPrepare(t, r, sampleContent(samples[12]))
	img := newFrame()
	elapsed := time.Duration(0)
	if n := testing.AllocsPerRun(200, func() {
		elapsed += 16 * time.Millisecond
		s.Frame(img, elapsed)
	}); n != 0 {
		t.Errorf("Frame allocates %.1f times per call", n)
	}
}

// TestDirection: the language decides when it is a right-to-left one;
// otherwise the first letter does.
func TestDirection(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct {
		lang, text string
		rtl        bool
	}{
		{"ar", "COVID-19", true},
		{"", "تحذير", true},
		{"en", "تحذير", true},
		{"ur", "سیلاب", true},
		{"fr", "Alerte", false},
		{"", "123 تحذير", true},
		{"", "", false},
	} {
		s := mustPrepare(t, r, Content{Tier: 1, Lang: tc.lang, Text: tc.text})
		if s.RightToLeft() != tc.rtl {
			t.Errorf("%q in %q: RightToLeft() = %v, want %v", tc.text, tc.lang, s.RightToLeft(), tc.rtl)
		}
	}
}

// TestMixedDirection: numbers and Latin words inside Arabic keep their own
// order (bidi reordering), and brackets drawn right to left are mirrored.
func TestMixedDirection(t *testing.T) {
	r := newTestRenderer(t)
	text := []rune("الطريق 66 مغلق")
	sh := r.shapeLine(text, newLineContext("ar", text))
	// Find the digits' bitmaps: "6" then "6" left to right, and both must
	// lie between the two Arabic words.
	var xs []float32
	for _, g := range sh.glyphs {
		if g.face == nil && g.bm.width == 8 {
			if six, _ := r.bitmap('6', false); g.bm.rows == six.rows {
				xs = append(xs, g.x)
			}
		}
	}
	if len(xs) != 2 || xs[1]-xs[0] != 8 {
		t.Fatalf("the two 6s are at %v; want two glyphs 8 px apart", xs)
	}
	var left, right int
	for _, g := range sh.glyphs {
		if g.face != nil {
			if g.x < xs[0] {
				left++
			} else {
				right++
			}
		}
	}
	if left == 0 || right == 0 {
		t.Errorf("Arabic glyphs left of the number: %d, right: %d; want the number between the words", left, right)
	}
	if got := mirror('('); got != ')' {
		t.Errorf("mirror('(') = %q", got)
	}
}

// TestTiers: each tier has its own band colour and icon; an unknown tier
// is an error.
func TestTiers(t *testing.T) {
	r := newTestRenderer(t)
	seen := map[[4]byte]record.Tier{}
	for _, tier := range record.Tiers() {
		s := mustPrepare(t, r, Content{Tier: tier, Text: "x"})
		img := frameAt(s, 0)
		c := img.RGBAAt(0, 0)
		key := [4]byte{c.R, c.G, c.B, c.A}
		if other, dup := seen[key]; dup && !(tier == record.TierIPAWS && other == record.TierEmergency) {
			t.Errorf("tier %s has the band colour of %s", tier, other)
		}
		seen[key] = tier
		if s.Tier() != tier {
			t.Errorf("Tier() = %v, want %v", s.Tier(), tier)
		}
	}
	if _, err := r.Prepare(Content{Tier: 9, Text: "x"}); err == nil {
		t.Error("tier 9 was accepted")
	}
	custom, err := New(Options{Tiers: map[record.Tier]TierStyle{record.TierAdvisory: {Band: colorRGBA(1, 2, 3), Text: colorRGBA(4, 5, 6)}}})
	if err != nil {
		t.Fatal(err)
	}
	s := mustPrepare(t, custom, Content{Tier: record.TierAdvisory, Icon: IconNone, Text: "x"})
	if c := frameAt(s, 0).RGBAAt(4, 16); c != colorRGBA(1, 2, 3) {
		t.Errorf("custom band colour: got %v", c)
	}
}

// TestMissingFonts: with assets missing or corrupt, New still returns a
// renderer, reports each fault, and shows text with what is left.
func TestMissingFonts(t *testing.T) {
	corrupt := strings.Repeat("\x00\x01\x00\x00\x00\x01", 40) // a valid header, garbage tables
	full := fstest.MapFS{}
	for name, data := range embeddedAssets {
		full[name] = &fstest.MapFile{Data: []byte(data)}
	}
	without := func(names ...string) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range full {
			m[k] = v
		}
		for _, n := range names {
			delete(m, n)
		}
		return m
	}
	withCorrupt := without()
	withCorrupt[assetDevanagari] = &fstest.MapFile{Data: []byte(corrupt)}
	withCorrupt[assetUnifontJP] = &fstest.MapFile{Data: []byte("CAUF garbage")}

	for _, tc := range []struct {
		name       string
		fsys       fstest.MapFS
		newFaults  int // at New
		allFaults  int // after preparing every sample
		shows      []string
		noneMissng []string // sample names that must still have every glyph
	}{
		{"none", fstest.MapFS{}, 5, 5, []string{"en", "es", "fr"}, []string{"en", "es", "fr", "pt"}},
		{"no unifont", without(assetUnifont, assetUnifontJP), 2, 2, []string{"en", "hi", "ar"}, []string{"en", "hi", "bn", "ar"}},
		{"no noto", without(assetArabic, assetDevanagari, assetBengali), 3, 3, []string{"ar", "hi", "bn"}, []string{"ar", "hi", "bn", "ja"}},
		{"corrupt", withCorrupt, 1, 2, []string{"hi", "ja"}, []string{"hi", "ja", "bn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(Options{Fonts: tc.fsys})
			if err != nil {
				t.Fatalf("New with fonts missing: %v", err)
			}
			if got := len(r.Faults()); got != tc.newFaults {
				t.Errorf("%d faults at New, want %d: %v", got, tc.newFaults, r.Faults())
			}
			byName := map[string]*Scene{}
			for _, s := range samples {
				sc := mustPrepare(t, r, sampleContent(s))
				sc.Frame(newFrame(), time.Second)
				byName[s.name] = sc
			}
			faults := r.Faults()
			if len(faults) != tc.allFaults {
				t.Errorf("%d faults after preparing, want %d: %v", len(faults), tc.allFaults, faults)
			}
			for _, f := range faults {
				if !errors.Is(f, ErrFont) || !strings.Contains(f.Error(), "render: font asset ") {
					t.Errorf("fault %q does not wrap ErrFont", f)
				}
			}
			for _, name := range tc.shows {
				lit := 0
				img := frameAt(byName[name], 0)
				for y := range Height {
					for x := textLeft; x < Width; x++ {
						if img.RGBAAt(x, y).R != 0 {
							lit++
						}
					}
				}
				if lit < 30 {
					t.Errorf("%s: only %d lit pixels in the text area", name, lit)
				}
			}
			for _, name := range tc.noneMissng {
				if m := byName[name].Missing(); len(m) > 0 {
					t.Errorf("%s: missing %q", name, string(m))
				}
			}
		})
	}
}

func colorRGBA(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }

// TestConcurrent prepares and draws from several goroutines (run with
// -race).
func TestConcurrent(t *testing.T) {
	r := newTestRenderer(t)
	shared := mustPrepare(t, r, sampleContent(samples[8]))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			img := newFrame()
			for j := range 6 {
				s := mustPrepare(t, r, sampleContent(samples[(i*6+j)%len(samples)]))
				s.Frame(img, time.Duration(j)*time.Second)
				shared.Frame(img, time.Duration(i*j)*100*time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// TestClock: the clock is informational content with the time on top.
func TestClock(t *testing.T) {
	c := Clock(testTime(9, 7), "Welcome to Springfield")
	want := Content{Tier: record.TierInformational, Text: "09:07", Detail: "2 Mar · Welcome to Springfield", Icon: IconClock}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Clock (-want +got):\n%s", diff)
	}
	r := newTestRenderer(t)
	s := mustPrepare(t, r, Clock(testTime(23, 59), ""))
	if diff := cmp.Diff([]string{"23:59", "2 Mar"}, s.Lines()); diff != "" {
		t.Errorf("clock lines (-want +got):\n%s", diff)
	}
	if s.Scrolls() {
		t.Error("the clock without a message scrolls")
	}
}

// TestOptions: zero options mean the defaults; bad ones are all reported.
func TestOptions(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultOptions()
	got := r.Options()
	if got.ScrollSpeed != d.ScrollSpeed || got.Hold != d.Hold || got.Gap != d.Gap || got.MaxRunes != d.MaxRunes || len(got.Tiers) != len(record.Tiers()) {
		t.Errorf("defaults not applied: %+v", got)
	}
	_, err = New(Options{ScrollSpeed: -1, Hold: -time.Second, Gap: -3, MaxRunes: 3, MaxMarks: 99,
		Tiers:    map[record.Tier]TierStyle{9: {}},
		Schedule: Schedule{Points: []LevelPoint{{At: 25 * time.Hour, Brightness: 101, Gamma: 0}}}})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"scroll speed", "hold", "gap", "max runes", "max marks", "unknown tier 9", "at 25h0m0s", "brightness 101", "gamma 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestFontNotice: the licences travel with the binary.
func TestFontNotice(t *testing.T) {
	n := FontNotice()
	for _, want := range []string{"GNU Unifont", "Noto", "SIL Open Font License", "PREAMBLE"} {
		if !strings.Contains(n, want) {
			t.Errorf("FontNotice() lacks %q", want)
		}
	}
}

// TestShapingPanic: if shaping panics, Prepare still returns a scene,
// drawn from the bitmaps alone.
func TestShapingPanic(t *testing.T) {
	r := newTestRenderer(t)
	r.beforeShape = func() { panic("injected") }
	s, err := r.Prepare(sampleContent(samples[12])) // Hindi
	if err != nil {
		t.Fatalf("Prepare after a shaping panic: %v", err)
	}
	if m := s.Missing(); len(m) > 0 {
		t.Errorf("missing %q in the unshaped fallback", string(m))
	}
	r.beforeShape = nil
	if sh := r.shapeLine([]rune("क्ष"), newLineContext("hi", nil)); sh.glyphs[0].face == nil {
		t.Error("shaping stays off after the fallback")
	}
}
