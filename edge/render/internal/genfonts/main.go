// Command genfonts writes the font assets that edge/render embeds, from the
// fonts Debian installs. Run it from the module root on a machine that has
// the Debian packages unifont, fonts-unifont and fonts-noto-core:
//
//	go run ./edge/render/internal/genfonts
//
// It reads
//
//   - /usr/share/unifont/unifont.hex, unifont_jp.hex and plane00-combining.txt
//     (GNU Unifont 15, 8x16 and 16x16 bitmaps);
//   - /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf,
//     NotoSansBengali-Regular.ttf and NotoNaskhArabic-Regular.ttf;
//   - the Debian copyright files of those packages and
//     /usr/share/common-licenses/GPL-2;
//
// and writes into edge/render/fonts:
//
//   - unifont.bin: the Unifont glyphs of the Unicode blocks the alert
//     languages need (see blocks below), in the compact format described in
//     edge/render/fonts/README.md;
//   - unifont_jp.bin: only the glyphs where unifont_jp.hex (Japanese Han
//     forms) differs from unifont.hex, in the same format;
//   - the three Noto TTFs, unmodified;
//   - unifont.copyright, noto.copyright, GPL-2.txt (verbatim) and NOTICE.txt;
//
// and edge/render/builtin_font.go, a last-resort Latin font compiled into the
// package so that text still shows when every asset is missing.
//
// The output is deterministic: running it twice gives identical files. It is
// deliberately not wired into go generate, because CI has no fonts installed;
// the generated files are committed.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// block is a range of code points to keep, with the reason.
type block struct {
	lo, hi rune
	why    string
}

// blocks are the Unicode ranges copied from unifont.hex. They cover the 15
// alert languages (en es zh-Hans zh-Hant tl vi ar fr ko ru ht pt hi ja pl bn)
// plus punctuation and symbols an operator may type.
var blocks = []block{
	{0x0020, 0x007E, "Basic Latin"},
	{0x00A0, 0x024F, "Latin-1, Latin Extended-A and -B (es fr pt pl tl ht)"},
	{0x0250, 0x02FF, "IPA extensions, spacing modifier letters"},
	{0x0300, 0x036F, "combining diacritical marks"},
	{0x0370, 0x03FF, "Greek (units and symbols)"},
	{0x0400, 0x052F, "Cyrillic and Cyrillic Supplement (ru)"},
	{0x0600, 0x06FF, "Arabic (fallback when Noto Naskh Arabic is missing)"},
	{0x0750, 0x077F, "Arabic Supplement"},
	{0x0900, 0x097F, "Devanagari (fallback when Noto Sans Devanagari is missing)"},
	{0x0980, 0x09FF, "Bengali (fallback when Noto Sans Bengali is missing)"},
	{0x1100, 0x11FF, "Hangul Jamo (ko)"},
	{0x1E00, 0x1EFF, "Latin Extended Additional (vi)"},
	{0x2000, 0x209F, "General Punctuation, super- and subscripts"},
	{0x20A0, 0x20CF, "currency symbols"},
	{0x2100, 0x21FF, "letterlike symbols, number forms, arrows"},
	{0x2200, 0x23FF, "mathematical operators, miscellaneous technical"},
	{0x2460, 0x27BF, "enclosed alphanumerics, box drawing, shapes, symbols, dingbats"},
	{0x2E80, 0x2FDF, "CJK radicals"},
	{0x3000, 0x30FF, "CJK symbols and punctuation, Hiragana, Katakana (ja)"},
	{0x3100, 0x318F, "Bopomofo (zh-Hant), Hangul compatibility jamo"},
	{0x31A0, 0x31BF, "Bopomofo Extended"},
	{0x31F0, 0x33FF, "Katakana extensions, enclosed CJK, CJK compatibility"},
	{0x3400, 0x4DBF, "CJK Unified Ideographs Extension A"},
	{0x4E00, 0x9FFF, "CJK Unified Ideographs (zh ja)"},
	{0xA8E0, 0xA8FF, "Devanagari Extended"},
	{0xA960, 0xA97F, "Hangul Jamo Extended-A"},
	{0xAC00, 0xD7A3, "Hangul Syllables (ko)"},
	{0xD7B0, 0xD7FF, "Hangul Jamo Extended-B"},
	{0xF900, 0xFAFF, "CJK Compatibility Ideographs"},
	{0xFB50, 0xFDCF, "Arabic Presentation Forms-A"},
	{0xFDF0, 0xFDFF, "Arabic Presentation Forms-A (ligatures)"},
	{0xFE10, 0xFE1F, "vertical forms"},
	{0xFE30, 0xFE6F, "CJK compatibility forms, small forms"},
	{0xFE70, 0xFEFE, "Arabic Presentation Forms-B"},
	{0xFF01, 0xFFEE, "Halfwidth and Fullwidth Forms (zh ja ko punctuation)"},
	{0xFFFD, 0xFFFD, "replacement character"},
}

// jpExtra are ranges taken from unifont_jp.hex only (Japanese forms of
// CJK Extension B characters used in names).
var jpExtra = []block{{0x20000, 0x2FFFF, "CJK Extension B and later (ja)"}}

// builtinBlocks are compiled into the package as the last-resort font.
var builtinBlocks = []block{
	{0x0020, 0x007E, "Basic Latin"},
	{0x00A0, 0x00FF, "Latin-1"},
	{0x2026, 0x2026, "ellipsis"},
}

// notoFiles are copied unmodified.
var notoFiles = []string{
	"NotoSansDevanagari-Regular.ttf",
	"NotoSansBengali-Regular.ttf",
	"NotoNaskhArabic-Regular.ttf",
}

// glyph is one Unifont bitmap: 16 rows of width/8 bytes.
type glyph struct {
	r     rune
	width int
	rows  []byte
}

func main() {
	unifontDir := flag.String("unifont", "/usr/share/unifont", "directory with unifont.hex, unifont_jp.hex and plane00-combining.txt")
	notoDir := flag.String("noto", "/usr/share/fonts/truetype/noto", "directory with the Noto TTFs")
	docDir := flag.String("doc", "/usr/share/doc", "directory with the Debian copyright files")
	licDir := flag.String("licenses", "/usr/share/common-licenses", "directory with GPL-2")
	out := flag.String("out", "edge/render", "the edge/render package directory (assets go to its fonts/ folder)")
	flag.Parse()
	if err := run(*unifontDir, *notoDir, *docDir, *licDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genfonts:", err)
		os.Exit(1)
	}
}

func run(unifontDir, notoDir, docDir, licDir, out string) error {
	fontsDir := filepath.Join(out, "fonts")
	if err := os.MkdirAll(fontsDir, 0o755); err != nil {
		return err
	}
	base, err := readHex(filepath.Join(unifontDir, "unifont.hex"))
	if err != nil {
		return err
	}
	jp, err := readHex(filepath.Join(unifontDir, "unifont_jp.hex"))
	if err != nil {
		return err
	}
	marks, err := readCombining(filepath.Join(unifontDir, "plane00-combining.txt"))
	if err != nil {
		return err
	}

	var baseGlyphs, jpGlyphs, builtin []glyph
	for _, b := range blocks {
		for r := b.lo; r <= b.hi; r++ {
			if g, ok := base[r]; ok && keep(g) {
				baseGlyphs = append(baseGlyphs, g)
			}
			if g, ok := jp[r]; ok && keep(g) {
				if bg, ok := base[r]; !ok || !bytes.Equal(bg.rows, g.rows) || bg.width != g.width {
					jpGlyphs = append(jpGlyphs, g)
				}
			}
		}
	}
	for _, b := range jpExtra {
		for r := b.lo; r <= b.hi; r++ {
			if g, ok := jp[r]; ok && keep(g) {
				jpGlyphs = append(jpGlyphs, g)
			}
		}
	}
	for _, b := range builtinBlocks {
		for r := b.lo; r <= b.hi; r++ {
			if g, ok := base[r]; ok && keep(g) {
				builtin = append(builtin, g)
			}
		}
	}

	files := map[string][]byte{
		"unifont.bin":    encode(baseGlyphs, marks),
		"unifont_jp.bin": encode(jpGlyphs, marks),
	}
	for _, name := range notoFiles {
		b, err := os.ReadFile(filepath.Join(notoDir, name))
		if err != nil {
			return err
		}
		files[name] = b
	}
	for name, src := range map[string]string{
		"unifont.copyright": filepath.Join(docDir, "unifont", "copyright"),
		"noto.copyright":    filepath.Join(docDir, "fonts-noto-core", "copyright"),
		"GPL-2.txt":         filepath.Join(licDir, "GPL-2"),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files[name] = b
	}
	notice, err := noticeText(unifontDir, notoDir, docDir, files)
	if err != nil {
		return err
	}
	files["NOTICE.txt"] = notice

	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	total := 0
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(fontsDir, name), files[name], 0o644); err != nil {
			return err
		}
		total += len(files[name])
		fmt.Printf("%-34s %9d bytes\n", name, len(files[name]))
	}
	fmt.Printf("%-34s %9d bytes (%d base glyphs, %d jp glyphs)\n", "total", total, len(baseGlyphs), len(jpGlyphs))

	src, err := builtinSource(encode(builtin, marks))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "builtin_font.go"), src, 0o644)
}

// keep drops glyphs that would draw as a box: Unifont draws control
// characters, format characters and other default-ignorable code points as
// a dashed box with the hex code inside.
func keep(g glyph) bool {
	if isIgnorable(g.r) {
		return false
	}
	n := g.width / 8
	first, last := g.rows[:n], g.rows[len(g.rows)-n:]
	dashedTop := bytes.Equal(first, bytes.Repeat([]byte{0xAA}, n))
	dashedBottom := bytes.Equal(last, bytes.Repeat([]byte{0x55}, n))
	return !(dashedTop && dashedBottom)
}

// isIgnorable reports default-ignorable code points that Unifont draws as
// boxes; edge/render never draws them.
func isIgnorable(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7F && r < 0xA0, r == 0xAD, r == 0x34F, r == 0x61C,
		r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5, r >= 0x180B && r <= 0x180F,
		r >= 0x200B && r <= 0x200F, r >= 0x2028 && r <= 0x202E, r >= 0x2060 && r <= 0x206F,
		r == 0x3164, r >= 0xFE00 && r <= 0xFE0F, r == 0xFEFF, r == 0xFFA0,
		r >= 0xFFF0 && r <= 0xFFFB, r >= 0xFDD0 && r <= 0xFDEF:
		return true
	}
	return false
}

func readHex(path string) (map[rune]glyph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[rune]glyph{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		cp, bits, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		r, err := strconv.ParseUint(cp, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: code point %q: %w", path, line, cp, err)
		}
		rows, err := hex.DecodeString(bits)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bitmap: %w", path, line, err)
		}
		var width int
		switch len(rows) {
		case 16:
			width = 8
		case 32:
			width = 16
		default:
			return nil, fmt.Errorf("%s:%d: bitmap of %d bytes, want 16 or 32", path, line, len(rows))
		}
		out[rune(r)] = glyph{r: rune(r), width: width, rows: rows}
	}
	return out, sc.Err()
}

func readCombining(path string) (map[rune]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[rune]int{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		cp, off, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want CODE:OFFSET, got %q", path, i+1, line)
		}
		r, err := strconv.ParseUint(cp, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		o, err := strconv.Atoi(off)
		if err != nil || o < -128 || o > 127 {
			return nil, fmt.Errorf("%s:%d: offset %q", path, i+1, off)
		}
		out[rune(r)] = o
	}
	return out, nil
}

// encode writes the format that edge/render/fonts.go reads (all integers
// little-endian):
//
//	magic "CAUF", version u16 = 1, height u16 = 16,
//	nranges u32, nmarks u32,
//	nranges x {first u32, count u16, width u8, 0 u8, offset u32}
//	nmarks  x {rune u32, dx i8, 0, 0, 0}
//	bitmaps: for each range, count glyphs of 16 rows x width/8 bytes,
//	         the most significant bit leftmost.
//
// A range is a run of consecutive code points of equal width; offset is
// where its first glyph starts in the bitmap section.
func encode(glyphs []glyph, marks map[rune]int) []byte {
	slices.SortFunc(glyphs, func(a, b glyph) int { return int(a.r - b.r) })
	type rng struct {
		first  rune
		count  int
		width  int
		offset int
	}
	var ranges []rng
	var bitmaps []byte
	present := map[rune]bool{}
	for _, g := range glyphs {
		present[g.r] = true
		n := len(ranges)
		if n > 0 {
			last := &ranges[n-1]
			if last.first+rune(last.count) == g.r && last.width == g.width && last.count < 0xFFFF {
				last.count++
				bitmaps = append(bitmaps, g.rows...)
				continue
			}
		}
		ranges = append(ranges, rng{first: g.r, count: 1, width: g.width, offset: len(bitmaps)})
		bitmaps = append(bitmaps, g.rows...)
	}
	var markRunes []rune
	for r, dx := range marks {
		if present[r] && dx != 0 {
			markRunes = append(markRunes, r)
		}
	}
	slices.Sort(markRunes)

	var b bytes.Buffer
	b.WriteString("CAUF")
	le := binary.LittleEndian
	b.Write(le.AppendUint16(nil, 1))
	b.Write(le.AppendUint16(nil, 16))
	b.Write(le.AppendUint32(nil, uint32(len(ranges))))
	b.Write(le.AppendUint32(nil, uint32(len(markRunes))))
	for _, r := range ranges {
		b.Write(le.AppendUint32(nil, uint32(r.first)))
		b.Write(le.AppendUint16(nil, uint16(r.count)))
		b.WriteByte(byte(r.width))
		b.WriteByte(0)
		b.Write(le.AppendUint32(nil, uint32(r.offset)))
	}
	for _, r := range markRunes {
		b.Write(le.AppendUint32(nil, uint32(r)))
		b.WriteByte(byte(int8(marks[r])))
		b.Write([]byte{0, 0, 0})
	}
	b.Write(bitmaps)
	return b.Bytes()
}

func builtinSource(font []byte) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by go run ./edge/render/internal/genfonts; DO NOT EDIT.\n\n")
	b.WriteString("package render\n\n")
	b.WriteString("// builtinFont is the last-resort font: the Unifont glyphs of Basic Latin,\n")
	b.WriteString("// Latin-1 and the ellipsis, compiled in so that text still shows when every\n")
	b.WriteString("// font asset is missing. Same format as fonts/unifont.bin.\n")
	b.WriteString("const builtinFont = \"\" +\n")
	for len(font) > 0 {
		n := min(len(font), 32)
		b.WriteString("\t\"")
		for _, c := range font[:n] {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
		font = font[n:]
		if len(font) > 0 {
			b.WriteString("\" +\n")
		} else {
			b.WriteString("\"\n")
		}
	}
	return format.Source(b.Bytes())
}

func noticeText(unifontDir, notoDir, docDir string, files map[string][]byte) ([]byte, error) {
	uver, err := debianVersion(filepath.Join(docDir, "unifont", "changelog.Debian.gz"))
	if err != nil {
		return nil, err
	}
	nver, err := debianVersion(filepath.Join(docDir, "fonts-noto-core", "changelog.Debian.gz"))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Fonts embedded in CITYARRAY edge/render\n")
	fmt.Fprintf(&b, "=======================================\n\n")
	fmt.Fprintf(&b, "unifont.bin, unifont_jp.bin\n")
	fmt.Fprintf(&b, "  A subset of GNU Unifont 15.0.01 (Debian package %s), converted from\n", uver)
	fmt.Fprintf(&b, "  %s/unifont.hex and unifont_jp.hex to a packed bitmap format.\n", unifontDir)
	fmt.Fprintf(&b, "  Copyright (C) 1998-2022 Roman Czyborra, Paul Hardy, Qianqian Fang,\n")
	fmt.Fprintf(&b, "  Andrew Miller, Johnnie Weaver, David Corbett, Nils Moskopp, Rebecca\n")
	fmt.Fprintf(&b, "  Bettencourt, et al.\n")
	fmt.Fprintf(&b, "  Unifont 15 is dual-licensed: SIL Open Font License 1.1, and GNU GPL\n")
	fmt.Fprintf(&b, "  version 2 or later with the GNU Font Embedding Exception (as stated in\n")
	fmt.Fprintf(&b, "  the name table of Debian's unifont.otf). CITYARRAY uses it under the\n")
	fmt.Fprintf(&b, "  SIL Open Font License 1.1 (text in noto.copyright). Debian's copyright\n")
	fmt.Fprintf(&b, "  file: unifont.copyright; GPL version 2: GPL-2.txt.\n\n")
	for _, name := range notoFiles {
		fmt.Fprintf(&b, "%s\n", name)
		fmt.Fprintf(&b, "  Noto, Copyright 2010-2020 Google Inc./Google LLC, from Debian package\n")
		fmt.Fprintf(&b, "  fonts-noto-core %s (%s), unmodified.\n", nver, notoDir)
		fmt.Fprintf(&b, "  Licensed under the SIL Open Font License 1.1 (text in noto.copyright).\n\n")
	}
	fmt.Fprintf(&b, "SHA-256\n")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %x  %s\n", sha256.Sum256(files[name]), name)
	}
	return b.Bytes(), nil
}

// debianVersion returns the version on the first line of a Debian
// changelog ("unifont (1:15.0.01-2) unstable; ...").
func debianVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	line, err := bufio.NewReader(zr).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	_, rest, ok := strings.Cut(line, "(")
	ver, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		return "", fmt.Errorf("%s: no version on the first line %q", path, line)
	}
	return ver, nil
}
