package render

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-text/typesetting/language"
)

// TestEmbeddedFonts: every embedded asset decodes.
func TestEmbeddedFonts(t *testing.T) {
	for _, name := range []string{assetUnifont, assetUnifontJP} {
		f, err := parseBitmapFont(name, embeddedAssets[name])
		if err != nil {
			t.Fatal(err)
		}
		if f.numRanges() == 0 {
			t.Errorf("%s: no glyphs", name)
		}
	}
	if _, err := parseBitmapFont("builtin", builtinFont); err != nil {
		t.Fatal(err)
	}
	for _, f := range newOutlineFaces() {
		if err := checkSFNT(f.asset, embeddedAssets[f.asset]); err != nil {
			t.Fatal(err)
		}
		face, err := parseFace(f.asset, embeddedAssets[f.asset])
		if err != nil {
			t.Fatal(err)
		}
		if face.Upem() != 1000 {
			t.Errorf("%s: %d units per em; the metrics in newOutlineFaces assume 1000", f.asset, face.Upem())
		}
	}
}

// TestSampleCoverage: every rune of every sample text has a glyph in the
// font meant for it: Noto for Arabic, Devanagari and Bengali (and the
// punctuation between their words, or else Unifont), Unifont for the rest.
func TestSampleCoverage(t *testing.T) {
	r := newTestRenderer(t)
	for _, s := range samples {
		text, _ := sanitize(s.text, 400, 4)
		lc := newLineContext(s.lang, text)
		script := language.Common
		for _, c := range text {
			if sc := language.LookupScript(c); sc.Strong() {
				script = sc
			}
			if f := r.faceFor(script); f != nil {
				if !f.has(c) {
					if _, ok := r.unifont.glyph(c); !ok {
						t.Errorf("%s: %q (%U) is in neither %s nor Unifont", s.name, c, c, f.asset)
					}
				}
				continue
			}
			if _, ok := r.unifont.glyph(c); !ok && !(lc.jp && hasGlyph(r.unifontJP, c)) {
				t.Errorf("%s: %q (%U) is not in the Unifont subset", s.name, c, c)
			}
		}
	}
}

func hasGlyph(f *bitmapFont, c rune) bool { _, ok := f.glyph(c); return ok }

// TestNoBoxGlyphs: the subset holds none of Unifont's dashed boxes, and
// the built-in font is Unifont's Latin.
func TestNoBoxGlyphs(t *testing.T) {
	r := newTestRenderer(t)
	for _, f := range []*bitmapFont{r.unifont, r.unifontJP, r.builtin} {
		n := 0
		for ri := range f.numRanges() {
			rg := f.rangeAt(ri)
			for i := range rg.count {
				c := rg.first + rune(i)
				g, ok := f.glyph(c)
				if !ok {
					t.Fatalf("%s: %U listed but not found", f.name, c)
				}
				if isUnifontBox(g) {
					t.Errorf("%s: %U is a box", f.name, c)
				}
				if f == r.builtin {
					if u, _ := r.unifont.glyph(c); u.rows != g.rows {
						t.Errorf("builtin %U differs from Unifont", c)
					}
				}
				n++
			}
		}
		t.Logf("%s: %d glyphs in %d ranges, %d marks", f.name, n, f.numRanges(), len(f.marks)/markSize)
	}
	if _, ok := r.unifont.glyph(0x200B); ok {
		t.Error("U+200B (a box in Unifont) is in the subset")
	}
	if g, ok := r.unifont.glyph(0x0301); !ok || g.dx != -8 {
		t.Errorf("U+0301: found %v, offset %d; want -8", ok, g.dx)
	}
}

// TestAssetBudget: the committed font assets stay within 4 MB.
func TestAssetBudget(t *testing.T) {
	ents, err := os.ReadDir("fonts")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += int(info.Size())
		t.Logf("%-32s %8d", e.Name(), info.Size())
	}
	t.Logf("%-32s %8d", "total", total)
	if total > 4<<20 {
		t.Errorf("font assets take %d bytes; the budget is 4 MiB", total)
	}
	for _, lic := range []string{"unifont.copyright", "noto.copyright", "GPL-2.txt", "NOTICE.txt", "README.md"} {
		if _, err := os.Stat(filepath.Join("fonts", lic)); err != nil {
			t.Errorf("licence file: %v", err)
		}
	}
}

// TestBitmapFontCorrupt: bad bitmap assets are errors, never panics.
func TestBitmapFontCorrupt(t *testing.T) {
	good := embeddedAssets[assetUnifont]
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "not a CAUF"},
		{"magic", "ABCD" + good[4:], "not a CAUF"},
		{"version", good[:4] + "\x02\x00" + good[6:], "version 2"},
		{"tables overrun", good[:8] + "\xff\xff\x0f\x00" + good[12:64], "overrun"},
		{"bitmaps truncated", good[:len(good)/2], "bitmaps overrun"},
		{"width", good[:22] + "\x07" + good[23:], "width 7"},
	} {
		_, err := parseBitmapFont("unifont.bin", tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseBitmapFont: any bytes either parse into a font whose every
// listed glyph can be read, or are an error.
func FuzzParseBitmapFont(f *testing.F) {
	f.Add(builtinFont)
	f.Add(builtinFont[:40])
	f.Fuzz(func(t *testing.T, data string) {
		bf, err := parseBitmapFont("fuzz", data)
		if err != nil {
			return
		}
		for ri := range bf.numRanges() {
			rg := bf.rangeAt(ri)
			for i := range min(rg.count, 64) {
				if g, ok := bf.glyph(rg.first + rune(i)); !ok || len(g.rows) != g.width*2 {
					t.Fatalf("%U: ok %v, %d bytes", rg.first+rune(i), ok, len(g.rows))
				}
			}
		}
	})
}

// TestStartCost measures what a cold start pays for fonts: New, then the
// first scene in English (Unifont only) and in Hindi (parses Noto
// Devanagari on first use). It checks the heap New leaves, which is what
// the 40 MB budget of the edge process cares about; the times are logged.
func TestStartCost(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	r, err := New(Options{})
	newTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)

	start = time.Now()
	en := mustPrepare(t, r, sampleContent(samples[0]))
	enTime := time.Since(start)
	start = time.Now()
	mustPrepare(t, r, sampleContent(samples[12]))
	hiTime := time.Since(start)
	scenes := make([]*Scene, len(samples))
	for i, s := range samples {
		scenes[i] = mustPrepare(t, r, sampleContent(s))
	}
	runtime.GC()
	var loaded runtime.MemStats
	runtime.ReadMemStats(&loaded)
	t.Logf("New: %v, heap %+d KiB; first English scene %v; first Hindi scene (parses Noto Devanagari) %v; "+
		"heap with every font parsed and all %d scenes held: %+d KiB",
		newTime, heap>>10, enTime, hiTime, len(scenes), (int64(loaded.HeapAlloc)-int64(before.HeapAlloc))>>10)
	runtime.KeepAlive(scenes)
	if heap > 1<<20 {
		t.Errorf("New leaves %d KiB on the heap; fonts must be read in place", heap>>10)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(en)
}
