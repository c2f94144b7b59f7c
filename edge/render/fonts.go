package render

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/go-text/typesetting/font"
	"github.com/go-text/typesetting/language"
)

// The embedded assets, written by internal/genfonts. They are strings so
// that they stay in the binary's read-only data: nothing is copied or
// decoded at start, and only the pages a text touches become resident.
var (
	//go:embed fonts/unifont.bin
	embeddedUnifont string
	//go:embed fonts/unifont_jp.bin
	embeddedUnifontJP string
	//go:embed fonts/NotoSansDevanagari-Regular.ttf
	embeddedDevanagari string
	//go:embed fonts/NotoSansBengali-Regular.ttf
	embeddedBengali string
	//go:embed fonts/NotoNaskhArabic-Regular.ttf
	embeddedArabic string
	//go:embed fonts/NOTICE.txt
	embeddedNotice string
	//go:embed fonts/noto.copyright
	embeddedOFL string
)

// Asset file names, in the embedded set and in Options.Fonts.
const (
	assetUnifont    = "unifont.bin"
	assetUnifontJP  = "unifont_jp.bin"
	assetDevanagari = "NotoSansDevanagari-Regular.ttf"
	assetBengali    = "NotoSansBengali-Regular.ttf"
	assetArabic     = "NotoNaskhArabic-Regular.ttf"
)

var embeddedAssets = map[string]string{
	assetUnifont:    embeddedUnifont,
	assetUnifontJP:  embeddedUnifontJP,
	assetDevanagari: embeddedDevanagari,
	assetBengali:    embeddedBengali,
	assetArabic:     embeddedArabic,
}

// FontNotice returns the copyright and licence notices of the embedded
// fonts (GNU Unifont and Noto, both under the SIL Open Font License 1.1),
// which a binary that embeds them must make available to its users, for
// example from a "licenses" command.
func FontNotice() string { return embeddedNotice + "\n" + embeddedOFL }

// loadAsset returns the named asset from fsys, or the embedded copy when
// fsys is nil.
func loadAsset(fsys fs.FS, name string) (string, error) {
	if fsys == nil {
		return embeddedAssets[name], nil
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// lineHeight is the height of one text line: Unifont's cell.
const lineHeight = 16

// unifontBaseline is the baseline of a Unifont cell, from its top.
const unifontBaseline = 14

// bitmapFont is a font in the format internal/genfonts writes (see
// fonts/README.md): ranges of consecutive code points of one width, a table
// of combining-mark offsets, and 1-bit rows. Everything is read in place
// from the asset string; parsing only checks it.
type bitmapFont struct {
	name    string
	ranges  string // nranges x 12 bytes
	marks   string // nmarks x 8 bytes
	bitmaps string
}

const (
	bitmapHeader = 16
	rangeSize    = 12
	markSize     = 8
)

type bitmapRange struct {
	first  rune
	count  int32
	width  int32 // 8 or 16
	offset int32 // into bitmaps
}

// bitmapGlyph is one glyph of a bitmapFont.
type bitmapGlyph struct {
	rows  string // 16 rows of width/8 bytes, most significant bit leftmost
	width int
	dx    int // where a combining mark is drawn relative to the pen: 0, -8, -16…
}

// parseBitmapFont checks data and returns the font it holds.
func parseBitmapFont(name, data string) (*bitmapFont, error) {
	if len(data) < bitmapHeader || data[:4] != "CAUF" {
		return nil, fmt.Errorf("%w %s: not a CAUF bitmap font (%d bytes)", ErrFont, name, len(data))
	}
	if v, h := le16(data[4:]), le16(data[6:]); v != 1 || h != lineHeight {
		return nil, fmt.Errorf("%w %s: version %d height %d, want version 1 height %d", ErrFont, name, v, h, lineHeight)
	}
	nr, nm := int(le32(data[8:])), int(le32(data[12:]))
	bitmapStart := bitmapHeader + rangeSize*nr + markSize*nm
	if nr > 1<<20 || nm > 1<<20 || bitmapStart > len(data) {
		return nil, fmt.Errorf("%w %s: tables of %d ranges and %d marks overrun %d bytes", ErrFont, name, nr, nm, len(data))
	}
	f := &bitmapFont{
		name:    name,
		ranges:  data[bitmapHeader : bitmapHeader+rangeSize*nr],
		marks:   data[bitmapHeader+rangeSize*nr : bitmapStart],
		bitmaps: data[bitmapStart:],
	}
	prevEnd := rune(-1)
	for i := range nr {
		r := f.rangeAt(i)
		if r.width != 8 && r.width != 16 {
			return nil, fmt.Errorf("%w %s: range %d at %U: width %d, want 8 or 16", ErrFont, name, i, r.first, r.width)
		}
		if r.first <= prevEnd || r.count == 0 || r.first > 0x10FFFF {
			return nil, fmt.Errorf("%w %s: range %d at %U: not sorted or empty", ErrFont, name, i, r.first)
		}
		end := int64(r.offset) + int64(r.count)*int64(r.width)*2
		if r.offset < 0 || end > int64(len(f.bitmaps)) {
			return nil, fmt.Errorf("%w %s: range %d at %U: bitmaps overrun the file", ErrFont, name, i, r.first)
		}
		prevEnd = r.first + rune(r.count) - 1
	}
	prev := rune(-1)
	for i := range nm {
		m := f.markRune(i)
		if m <= prev {
			return nil, fmt.Errorf("%w %s: mark %d at %U: not sorted", ErrFont, name, i, m)
		}
		prev = m
	}
	return f, nil
}

func (f *bitmapFont) numRanges() int { return len(f.ranges) / rangeSize }

func (f *bitmapFont) rangeAt(i int) bitmapRange {
	p := f.ranges[i*rangeSize:]
	return bitmapRange{
		first:  rune(le32(p)),
		count:  int32(le16(p[4:])),
		width:  int32(p[6]),
		offset: int32(le32(p[8:])),
	}
}

func (f *bitmapFont) markRune(i int) rune { return rune(le32(f.marks[i*markSize:])) }

// glyph returns the glyph for r.
func (f *bitmapFont) glyph(r rune) (bitmapGlyph, bool) {
	if f == nil {
		return bitmapGlyph{}, false
	}
	// The last range starting at or before r.
	lo, hi := 0, f.numRanges()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rune(le32(f.ranges[m*rangeSize:])) <= r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return bitmapGlyph{}, false
	}
	rg := f.rangeAt(lo - 1)
	idx := r - rg.first
	if idx >= rune(rg.count) {
		return bitmapGlyph{}, false
	}
	size := int(rg.width) * 2
	off := int(rg.offset) + int(idx)*size
	return bitmapGlyph{rows: f.bitmaps[off : off+size], width: int(rg.width), dx: f.markOffset(r)}, true
}

func (f *bitmapFont) markOffset(r rune) int {
	lo, hi := 0, len(f.marks)/markSize
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := f.markRune(m); {
		case c == r:
			return int(int8(f.marks[m*markSize+4]))
		case c < r:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0
}

func le16(s string) uint16 { return uint16(s[0]) | uint16(s[1])<<8 }
func le32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// outlineFace is a Noto font for a script that needs shaping, with the
// metrics tuned for a 16-pixel line (see doc.go). It is parsed on first use.
type outlineFace struct {
	asset  string
	script language.Script
	// size is the horizontal scale (pixels per em) and ysize the vertical
	// one. Indic faces are squeezed a little vertically so that the tallest
	// vowel signs and the lowest subscript forms fit the 16-pixel line.
	size, ysize float32
	// baseline is the baseline's distance from the top of the line. It is
	// fractional so that the Devanagari and Bengali headline (shirorekha)
	// falls on exactly one row of pixels instead of two grey ones.
	baseline float32

	data  string
	face  *font.Face
	state faceState
	err   error
}

type faceState uint8

const (
	faceUnloaded faceState = iota
	faceReady
	faceFailed
)

// newOutlineFaces returns the shaped faces, not yet parsed.
func newOutlineFaces() []*outlineFace {
	return []*outlineFace{
		// Glyphs span 896..-308 units: 1204 units in 16 rows. The headline
		// (551..622 units) starts on row 4.
		{asset: assetDevanagari, script: language.Devanagari, size: 14, ysize: 16 * 1000 / 1204.0, baseline: 4 + 622*16/1204.0},
		// Glyphs span 917..-271 units: 1188 units in 16 rows; same headline.
		{asset: assetBengali, script: language.Bengali, size: 14, ysize: 16 * 1000 / 1188.0, baseline: 4 + 622*16/1188.0},
		// Naskh at 16 px: the letter bodies span about 671..-286 units; the
		// baseline stroke lands on one row at 11.5.
		{asset: assetArabic, script: language.Arabic, size: 16, ysize: 16, baseline: 11.5},
	}
}

// load parses the face on first use. A failure is returned once, as a
// fault, and the face is not tried again.
func (o *outlineFace) load() (*font.Face, error) {
	switch o.state {
	case faceReady:
		return o.face, nil
	case faceFailed:
		return nil, nil
	}
	face, err := parseFace(o.asset, o.data)
	if err != nil {
		o.state, o.err = faceFailed, err
		return nil, err
	}
	o.face, o.state = face, faceReady
	return face, nil
}

func parseFace(name, data string) (face *font.Face, err error) {
	if data == "" {
		return nil, fmt.Errorf("%w %s: empty", ErrFont, name)
	}
	defer func() {
		// go-text parses untrusted tables; a corrupt asset must not take
		// the display loop down.
		if p := recover(); p != nil {
			face, err = nil, fmt.Errorf("%w %s: parser panic: %v", ErrFont, name, p)
		}
	}()
	face, err = font.ParseTTF(strings.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrFont, name, err)
	}
	return face, nil
}

// checkSFNT does the cheap part of parsing at start: the sfnt version and
// that the table directory fits the file.
func checkSFNT(name, data string) error {
	if len(data) < 12 {
		return fmt.Errorf("%w %s: %d bytes is too short for a font", ErrFont, name, len(data))
	}
	switch data[:4] {
	case "\x00\x01\x00\x00", "OTTO", "true":
	default:
		return fmt.Errorf("%w %s: sfnt version %q is not TrueType or OpenType", ErrFont, name, data[:4])
	}
	n := int(data[4])<<8 | int(data[5])
	if n == 0 || 12+16*n > len(data) {
		return fmt.Errorf("%w %s: table directory of %d tables overruns %d bytes", ErrFont, name, n, len(data))
	}
	return nil
}

// ErrFont is wrapped by every font fault (see Renderer.Faults): an asset
// that is missing, corrupt or fails to parse.
var ErrFont = errors.New("render: font asset")
