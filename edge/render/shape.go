package render

import (
	"slices"

	"github.com/go-text/typesetting/bidi"
	"github.com/go-text/typesetting/di"
	"github.com/go-text/typesetting/font"
	"github.com/go-text/typesetting/language"
	"github.com/go-text/typesetting/shaping"
	"golang.org/x/image/math/fixed"
)

// placed is one glyph of a laid-out line: a Unifont bitmap at an integer
// x, or a shaped Noto glyph at a fractional one.
type placed struct {
	x    float32 // bitmap: left edge; outline: pen plus the shaper's x offset
	dy   float32 // outline: the shaper's y offset in pixels, up
	bm   bitmapGlyph
	face *outlineFace // nil for a bitmap
	gid  font.GID
}

// shaped is a line laid out left to right in visual order.
type shaped struct {
	glyphs  []placed
	width   int // pixels
	missing []rune
	badge   bool // a TEST badge at badgeX
	badgeX  int
}

// The TEST badge: "TEST" knocked out of a box in the text colour, before
// the text (after it, right to left) on the first line.
const (
	badgeWidth = 4*8 + 4
	badgeGap   = 6
)

// layoutLine shapes text and, in TEST mode, adds the badge at its start.
func (r *Renderer) layoutLine(text []rune, lc lineContext, badge bool) shaped {
	sh := r.shapeLine(text, lc)
	if !badge {
		return sh
	}
	sh.badge = true
	switch {
	case sh.width == 0:
		sh.width = badgeWidth
	case lc.rtl:
		sh.badgeX = sh.width + badgeGap
		sh.width = sh.badgeX + badgeWidth
	default:
		shift := float32(badgeWidth + badgeGap)
		for i := range sh.glyphs {
			sh.glyphs[i].x += shift
		}
		sh.width += badgeWidth + badgeGap
	}
	return sh
}

// item is a piece of a bidi run drawn with one font: a Noto face, or the
// Unifont bitmaps when face is nil.
type item struct {
	start, end int
	face       *outlineFace
	rtl        bool
}

type bidiRun struct {
	start, end int
	level      bidi.Level
}

// lineContext is what a line is shaped with besides its text.
type lineContext struct {
	rtl  bool // paragraph direction
	jp   bool // Japanese Han forms
	lang language.Language
}

// shapeLine lays out text (sanitised, logical order) on one line: bidi
// runs by the Unicode algorithm (go-text/bidi), reordered for display; each
// run split into items by script and font; items in Arabic, Devanagari or
// Bengali shaped by HarfBuzz (go-text/shaping) with Noto, the rest placed
// from Unifont one code point at a time (NFC text needs nothing more in
// Latin, Cyrillic, Vietnamese, Hangul, kana and Han).
func (r *Renderer) shapeLine(text []rune, lc lineContext) shaped {
	var out shaped
	if len(text) == 0 {
		return out
	}
	dir := bidi.LeftToRight
	if lc.rtl {
		dir = bidi.RightToLeft
	}
	runs := r.para.Segment(text, dir)
	r.runs = r.runs[:0]
	for i := range runs.NumRuns() {
		run := runs.Run(i)
		r.runs = append(r.runs, bidiRun{start: run.Start, end: run.End, level: run.Level})
	}
	reorderRuns(r.runs)

	pen := float32(0)
	for _, run := range r.runs {
		items := r.itemize(text, run, lc.jp)
		if run.level%2 == 1 {
			slices.Reverse(items)
		}
		for _, it := range items {
			if it.face != nil {
				pen = r.placeOutline(&out, text, it, pen, lc)
			} else {
				pen = r.placeBitmaps(&out, text, it, pen, lc)
			}
		}
	}
	out.width = int(pen + 0.999)
	return out
}

// reorderRuns puts bidi runs in display order (UAX #9 rule L2): from the
// highest level down to the lowest odd one, reverse every sequence of runs
// at that level or above.
func reorderRuns(runs []bidiRun) {
	var hi, loOdd bidi.Level = 0, 127
	for _, r := range runs {
		hi = max(hi, r.level)
		if r.level%2 == 1 {
			loOdd = min(loOdd, r.level)
		}
	}
	for lvl := hi; lvl >= loOdd && lvl > 0; lvl-- {
		for i := 0; i < len(runs); {
			if runs[i].level < lvl {
				i++
				continue
			}
			j := i
			for j < len(runs) && runs[j].level >= lvl {
				j++
			}
			slices.Reverse(runs[i:j])
			i = j
		}
	}
}

// itemize splits a bidi run by font. Common and inherited characters
// (spaces, digits, punctuation, marks, joiners) take the script of the
// letters before them (or after, at the start), so a Hindi sentence's
// spaces and danda are shaped with it.
func (r *Renderer) itemize(text []rune, run bidiRun, jp bool) []item {
	r.items = r.items[:0]
	script := language.Common
	for i := run.start; i < run.end; i++ {
		if s := language.LookupScript(text[i]); s.Strong() {
			script = s
			break
		}
	}
	rtl := run.level%2 == 1
	for i := run.start; i < run.end; i++ {
		c := text[i]
		s := language.LookupScript(c)
		if s.Strong() {
			script = s
		}
		var face *outlineFace
		switch n := len(r.items); {
		case n > 0 && isInvisible(c):
			// Joiners and direction marks stay in the item around them;
			// HarfBuzz hides them.
			face = r.items[n-1].face
		case n > 0 && (s == language.Inherited || isMarkLike(c)):
			face = r.items[n-1].face
			if face != nil && !face.has(c) {
				face = nil
			}
		default:
			face = r.chooseFace(c, script, jp)
		}
		if n := len(r.items); n > 0 && r.items[n-1].face == face {
			r.items[n-1].end = i + 1
			continue
		}
		r.items = append(r.items, item{start: i, end: i + 1, face: face, rtl: rtl})
	}
	return r.items
}

// chooseFace returns the Noto face for c, or nil for the bitmaps: the
// script's face when it has c; else the bitmaps when they have c; else any
// Noto face that has it (the fallback when Unifont is missing).
func (r *Renderer) chooseFace(c rune, script language.Script, jp bool) *outlineFace {
	if f := r.faceFor(script); f != nil && f.has(c) {
		return f
	}
	if _, ok := r.bitmap(c, jp); ok || isInvisible(c) {
		return nil
	}
	if r.plain {
		return nil
	}
	for _, f := range r.faces {
		if r.loadFace(f) != nil && f.has(c) {
			return f
		}
	}
	return nil
}

// faceFor returns the loaded face for a script that needs shaping.
func (r *Renderer) faceFor(s language.Script) *outlineFace {
	if r.plain {
		return nil
	}
	for _, f := range r.faces {
		if f.script == s {
			if r.loadFace(f) == nil {
				return nil
			}
			return f
		}
	}
	return nil
}

// loadFace parses f on first use, recording a failure as a fault.
func (r *Renderer) loadFace(f *outlineFace) *font.Face {
	if f.state == faceUnloaded && f.data == "" {
		f.state = faceFailed
	}
	face, err := f.load()
	if err != nil {
		r.fault(err)
	}
	return face
}

func (f *outlineFace) has(c rune) bool {
	if f.face == nil {
		return false
	}
	_, ok := f.face.NominalGlyph(c)
	return ok
}

// bitmap looks c up in the Unifont subset (the Japanese forms first for
// Japanese text), then in the built-in Latin font.
func (r *Renderer) bitmap(c rune, jp bool) (bitmapGlyph, bool) {
	if jp {
		if g, ok := r.unifontJP.glyph(c); ok {
			return g, true
		}
	}
	if g, ok := r.unifont.glyph(c); ok {
		return g, true
	}
	return r.builtin.glyph(c)
}

// isInvisible reports the characters that are kept for bidi and shaping
// but have no glyph of their own.
func isInvisible(c rune) bool {
	return c == 0x200C || c == 0x200D || c == 0x200E || c == 0x200F || c == 0x061C
}

// placeOutline shapes an item with HarfBuzz and places its glyphs. The
// whole line is passed as context so joining across items stays right.
func (r *Renderer) placeOutline(out *shaped, text []rune, it item, pen float32, lc lineContext) float32 {
	f := it.face
	dir := di.DirectionLTR
	if it.rtl {
		dir = di.DirectionRTL
	}
	if r.beforeShape != nil {
		r.beforeShape()
	}
	o := r.shaper.Shape(shaping.Input{
		Text:      text,
		RunStart:  it.start,
		RunEnd:    it.end,
		Direction: dir,
		Face:      f.face,
		Size:      fixed.I(int(f.size)),
		Script:    f.script,
		Language:  lc.lang,
	})
	yScale := f.ysize / f.size
	for _, g := range o.Glyphs {
		if g.GlyphID == 0 {
			// .notdef: report the cluster's visible runes, draw no box.
			for _, c := range text[g.ClusterIndex:min(len(text), g.ClusterIndex+max(1, g.RuneCount))] {
				if !isInvisible(c) {
					out.missing = append(out.missing, c)
				}
			}
			continue
		}
		out.glyphs = append(out.glyphs, placed{
			x:    pen + fix(g.XOffset),
			dy:   fix(g.YOffset) * yScale,
			face: f,
			gid:  g.GlyphID,
		})
		pen += fix(g.Advance)
	}
	return pen
}

func fix(v fixed.Int26_6) float32 { return float32(v) / 64 }

// placeBitmaps places an item's Unifont glyphs, one per code point. In a
// right-to-left run the clusters (a base and its marks) are reversed and
// brackets mirrored. Combining marks with a Unifont offset take no room and
// are drawn back over their base.
func (r *Renderer) placeBitmaps(out *shaped, text []rune, it item, pen float32, lc lineContext) float32 {
	x := int(pen + 0.5)
	emit := func(c rune) {
		if isInvisible(c) {
			return
		}
		g, ok := r.bitmap(c, lc.jp)
		if !ok {
			out.missing = append(out.missing, c)
			return
		}
		out.glyphs = append(out.glyphs, placed{x: float32(x + g.dx), bm: g})
		if g.dx == 0 {
			x += g.width
		}
	}
	if !it.rtl {
		for _, c := range text[it.start:it.end] {
			emit(c)
		}
		return float32(x)
	}
	end := it.end
	for end > it.start {
		start := end - 1
		for start > it.start && isMarkLike(text[start]) {
			start--
		}
		emit(mirror(text[start]))
		for _, c := range text[start+1 : end] {
			emit(c)
		}
		end = start
	}
	return float32(x)
}

// mirror returns the mirrored form of a bracket drawn right to left.
func mirror(c rune) rune {
	switch c {
	case '(':
		return ')'
	case ')':
		return '('
	case '[':
		return ']'
	case ']':
		return '['
	case '{':
		return '}'
	case '}':
		return '{'
	case '<':
		return '>'
	case '>':
		return '<'
	case '«':
		return '»'
	case '»':
		return '«'
	case '‹':
		return '›'
	case '›':
		return '‹'
	}
	return c
}
