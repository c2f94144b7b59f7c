package render

import (
	"fmt"
	"image"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-text/typesetting/bidi"
	"github.com/go-text/typesetting/language"
	"github.com/go-text/typesetting/segmenter"
	"github.com/go-text/typesetting/shaping"
	"golang.org/x/image/vector"

	"github.com/cityarray/cityarray/mesh/record"
)

// Content is what to show: one alert text in one language, or something
// the device makes itself (see Clock).
type Content struct {
	Tier record.Tier
	// Lang is the text's BCP 47 tag ("en", "zh-Hant", "ar"). It sets the
	// paragraph direction for right-to-left languages and the Han glyph
	// forms for Japanese; otherwise the text decides.
	Lang string
	// Text is the headline (an AlertText's Short).
	Text string
	// Detail is an optional second line (an AlertText's Long, or the date
	// under a clock). With a Detail, Text takes the top line and Detail
	// the bottom one, each scrolling if it does not fit.
	Detail string
	// Icon is knocked out of the band; IconAuto picks the tier's.
	Icon Icon
	// Test marks a test alert: the band says TEST instead of the icon and
	// the first line starts with a TEST badge, in every language.
	Test bool
}

// Renderer turns Content into Scenes. It holds the fonts (read in place
// from the binary; the Noto faces are parsed on first use) and the shaping
// buffers, so Prepare is serialised; Scenes are independent of it.
type Renderer struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	unifont   *bitmapFont
	unifontJP *bitmapFont
	builtin   *bitmapFont
	faces     []*outlineFace
	faults    []error

	// Scratch reused by Prepare.
	para   bidi.Paragraph
	seg    segmenter.Segmenter
	shaper shaping.HarfbuzzShaper
	rast   vector.Rasterizer
	mask   image.Alpha
	runs   []bidiRun
	items  []item
	plain  bool // lay out without the Noto faces (after a shaping panic)

	// beforeShape, when set by a test, runs before each HarfBuzz call.
	beforeShape func()
}

// New returns a Renderer. It fails only on invalid options: a missing or
// corrupt font is a fault (see Faults), logged, and the renderer draws with
// the fonts it still has, down to a compiled-in Latin font. New reads no
// font file and decodes nothing beyond table headers, so it is cheap enough
// for a cold start.
func New(opts Options) (*Renderer, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Renderer{opts: o, log: o.Logger.With("component", "render")}
	builtin, err := parseBitmapFont("builtin", builtinFont)
	if err != nil {
		return nil, fmt.Errorf("render: built-in font: %w", err)
	}
	r.builtin = builtin
	r.unifont = r.loadBitmap(assetUnifont)
	r.unifontJP = r.loadBitmap(assetUnifontJP)
	r.faces = newOutlineFaces()
	for _, f := range r.faces {
		data, err := loadAsset(o.Fonts, f.asset)
		if err == nil {
			err = checkSFNT(f.asset, data)
		} else {
			err = fmt.Errorf("%w %s: %w", ErrFont, f.asset, err)
		}
		if err != nil {
			f.state = faceFailed
			r.fault(err)
			continue
		}
		f.data = data
	}
	return r, nil
}

func (r *Renderer) loadBitmap(name string) *bitmapFont {
	data, err := loadAsset(r.opts.Fonts, name)
	if err != nil {
		r.fault(fmt.Errorf("%w %s: %w", ErrFont, name, err))
		return nil
	}
	f, err := parseBitmapFont(name, data)
	if err != nil {
		r.fault(err)
		return nil
	}
	return f
}

// fault records and logs a font problem.
func (r *Renderer) fault(err error) {
	r.faults = append(r.faults, err)
	r.log.Error("font fault; drawing with the remaining fonts", "err", err)
}

// Faults returns the font problems met so far: assets missing or corrupt
// at New, Noto faces that failed to parse on first use. Each wraps ErrFont.
func (r *Renderer) Faults() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.faults)
}

// Options returns (a copy of) the options in use, defaults filled in.
func (r *Renderer) Options() Options {
	o := r.opts
	o.Tiers = maps.Clone(o.Tiers)
	o.Schedule.Points = slices.Clone(o.Schedule.Points)
	return o
}

// Levels returns the brightness and gamma of the renderer's schedule at
// now (see the function Levels).
func (r *Renderer) Levels(now time.Time) (brightness uint8, gamma float64) {
	return Levels(r.opts.Schedule, now)
}

// Prepare sanitises, lays out, shapes and rasterises c once. It fails only
// for an unknown tier; any text, however malformed or long, gives a
// Scene, and characters no font has are reported by Scene.Missing. Prepare
// is safe for concurrent use (calls are serialised).
func (r *Renderer) Prepare(c Content) (*Scene, error) {
	if !c.Tier.Valid() {
		return nil, fmt.Errorf("render: content tier %d: unknown", uint8(c.Tier))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.prepareSafely(c, false)
	if err != nil {
		// A bug in shaping must not leave the pole dark: draw the text
		// again from the bitmaps alone (unshaped Arabic and Indic).
		r.log.Error("shaping failed; drawing without the Noto faces", "lang", c.Lang, "err", err)
		s, err = r.prepareSafely(c, true)
	}
	return s, err
}

// prepareSafely runs prepare, turning a panic into an error. plain leaves
// the Noto faces out.
func (r *Renderer) prepareSafely(c Content, plain bool) (s *Scene, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("render: preparing %.40q in %q: panic: %v", c.Text, c.Lang, p)
		}
		r.plain = false
	}()
	r.plain = plain
	return r.prepare(c), nil
}

func (r *Renderer) prepare(c Content) *Scene {
	style := r.opts.Tiers[c.Tier]
	s := &Scene{tier: c.Tier, test: c.Test}
	icon := c.Icon
	if icon == IconAuto {
		icon = tierIcon(c.Tier)
	}
	drawChrome(s.chrome[:], style.Band, icon, c.Test)
	for a := range s.pal {
		s.pal[a] = [4]byte{scale8(style.Text.R, a), scale8(style.Text.G, a), scale8(style.Text.B, a), 255}
	}

	text, tr1 := sanitize(c.Text, r.opts.MaxRunes, r.opts.MaxMarks)
	detail, tr2 := sanitize(c.Detail, r.opts.MaxRunes, r.opts.MaxMarks)
	s.truncated = tr1 || tr2
	if len(text) == 0 {
		text, detail = detail, nil
	}
	lc := newLineContext(c.Lang, text)
	s.rtl = lc.rtl

	var missing []rune
	addLine := func(runes []rune, sh shaped, y0 int) {
		missing = append(missing, sh.missing...)
		strip, w := r.rasterize(sh)
		l := sceneLine{strip: strip, width: w, y0: y0, rtl: lc.rtl}
		if w <= textWidth {
			l.x0 = textLeft + (textWidth-w)/2
		} else {
			l.scroll = true
			l.tape = w + r.opts.Gap
			l.hold = r.opts.Hold
			l.perPx = max(time.Duration(float64(time.Second)/r.opts.ScrollSpeed), 1)
			l.pass = l.hold + time.Duration(l.tape)*l.perPx
		}
		s.lines = append(s.lines, l)
		s.text = append(s.text, string(runes))
	}
	switch {
	case len(text) == 0 && !c.Test:
	case len(detail) > 0:
		addLine(text, r.layoutLine(text, lc, c.Test), 0)
		addLine(detail, r.layoutLine(detail, lc, false), lineHeight)
	default:
		sh := r.layoutLine(text, lc, c.Test)
		if sh.width <= textWidth {
			addLine(text, sh, (Height-lineHeight)/2)
			break
		}
		if a, b, sa, sb, ok := r.splitTwo(text, sh.width, lc, c.Test); ok {
			addLine(a, sa, 0)
			addLine(b, sb, lineHeight)
			break
		}
		addLine(text, sh, (Height-lineHeight)/2)
	}

	s.period = r.opts.Dwell
	if s.Scrolls() {
		s.period = 0
		for _, l := range s.lines {
			s.period = max(s.period, l.pass)
		}
	}
	slices.Sort(missing)
	s.missing = slices.Compact(missing)
	return s
}

// splitTwo looks for a line break (UAX #14, go-text/segmenter) that puts
// text on two lines that both fit, and returns the most balanced one.
func (r *Renderer) splitTwo(text []rune, width int, lc lineContext, badge bool) (a, b []rune, sa, sb shaped, ok bool) {
	if width > 2*textWidth+2*lineHeight {
		return nil, nil, shaped{}, shaped{}, false
	}
	r.seg.Init(text)
	it := r.seg.LineIterator()
	best := -1
	for it.Next() {
		at := it.Line().Offset
		if at == 0 {
			continue
		}
		l1, l2 := trimSpaces(text[:at]), trimSpaces(text[at:])
		if len(l1) == 0 || len(l2) == 0 {
			continue
		}
		s1 := r.layoutLine(l1, lc, badge)
		if s1.width > textWidth {
			break // later breaks only make the first line longer
		}
		s2 := r.shapeLine(l2, lc)
		if s2.width > textWidth {
			continue
		}
		if score := max(s1.width, s2.width); best < 0 || score < best {
			best, a, b, sa, sb, ok = score, l1, l2, s1, s2, true
		}
	}
	return a, b, sa, sb, ok
}

// newLineContext derives direction and glyph forms from the language tag
// and, for the direction, from the text's first letter.
func newLineContext(lang string, text []rune) lineContext {
	primary := primaryTag(lang)
	return lineContext{
		rtl:  rtlLanguage(primary) || firstStrongRTL(text),
		jp:   primary == "ja",
		lang: language.NewLanguage(lang),
	}
}

func trimSpaces(r []rune) []rune {
	for len(r) > 0 && r[0] == ' ' {
		r = r[1:]
	}
	for len(r) > 0 && r[len(r)-1] == ' ' {
		r = r[:len(r)-1]
	}
	return r
}

func scale8(c uint8, a int) uint8 { return uint8((int(c)*a + 127) / 255) }

// primaryTag returns the lower-case primary subtag of a BCP 47 tag.
func primaryTag(tag string) string {
	p, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	return strings.ToLower(p)
}

// rtlLanguage reports languages written right to left.
func rtlLanguage(primary string) bool {
	switch primary {
	case "ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ps", "sd", "ug", "ur", "yi":
		return true
	}
	return false
}

// firstStrongRTL applies UAX #9 rules P2 and P3: the paragraph is right to
// left when its first letter is.
func firstStrongRTL(text []rune) bool {
	for _, c := range text {
		switch s := language.LookupScript(c); s {
		case language.Arabic, language.Hebrew, language.Syriac, language.Thaana, language.Nko, language.Adlam, language.Samaritan, language.Mandaic:
			return true
		default:
			if s.Strong() {
				return false
			}
		}
	}
	return false
}
