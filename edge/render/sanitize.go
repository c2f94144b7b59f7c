package render

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// preMarks bounds the marks per base before normalisation, so that a flood
// of combining marks costs nothing in NFC; the real cap (Options.MaxMarks)
// is applied after it, when precomposed letters have absorbed their marks.
const preMarks = 8

const ellipsis = '…'

// maxInput is the most of a text sanitize reads: 1 MiB, a thousand times an
// alert's long text.
const maxInput = 1 << 20

// sanitize turns untrusted alert text into the runes the renderer draws:
//
//   - invalid UTF-8, unassigned and private-use code points are dropped;
//   - controls become spaces (tab, newline…) or are dropped, and every run
//     of white space becomes one space, trimmed at both ends;
//   - format characters are dropped, bidi embeddings, overrides and isolates
//     included (they could reverse what a sign says), except ZWJ and ZWNJ
//     (Indic and Arabic shaping) and LRM, RLM and ALM (harmless marks);
//   - default-ignorable code points (variation selectors, CGJ, fillers) are
//     dropped;
//   - the text is normalised to NFC;
//   - at most maxMarks combining marks or joiners follow one base;
//   - text longer than maxRunes is cut at a cluster boundary (at a space
//     when one is near) and ends with "…".
//
// truncated reports the cut. The work is linear in the input, read up to
// maxInput bytes, and the memory is bounded by maxRunes.
func sanitize(s string, maxRunes, maxMarks int) (out []rune, truncated bool) {
	if maxRunes < 2 {
		maxRunes = 2
	}
	// The first pass stops once it holds more than can be shown, and reads
	// at most maxInput bytes whatever it drops.
	if len(s) > maxInput {
		s = s[:maxInput]
		truncated = true
	}
	keep := (maxRunes + 2) * (preMarks + 1) * utf8.UTFMax
	buf := make([]byte, 0, min(len(s), keep))
	marks := 0
	for _, r := range s {
		r, ok := classify(r)
		switch {
		case !ok:
			continue
		case isMarkLike(r):
			if marks++; marks > preMarks {
				continue
			}
		default:
			marks = 0
		}
		if len(buf) >= keep {
			truncated = true
			break
		}
		buf = utf8.AppendRune(buf, r)
	}
	buf = norm.NFC.Bytes(buf)

	out = make([]rune, 0, min(len(buf), maxRunes+1))
	marks = 0
	for len(buf) > 0 {
		r, n := utf8.DecodeRune(buf)
		buf = buf[n:]
		r, ok := classify(r) // NFC may produce nothing new, but check again
		if !ok {
			continue
		}
		switch {
		case r == ' ':
			marks = 0
			if len(out) == 0 || out[len(out)-1] == ' ' {
				continue
			}
		case isMarkLike(r):
			if marks++; marks > maxMarks || len(out) == 0 || out[len(out)-1] == ' ' {
				continue // a mark needs a base
			}
		default:
			marks = 0
		}
		if len(out) > maxRunes {
			truncated = true
			break
		}
		out = append(out, r)
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	if len(out) > maxRunes {
		truncated = true
	}
	if truncated {
		out = truncate(out, maxRunes)
	}
	return out, truncated
}

// classify maps r to what sanitize keeps: r itself, a space, or nothing.
func classify(r rune) (rune, bool) {
	switch {
	case r == utf8.RuneError:
		return 0, false
	case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
		return ' ', true
	case r == 0xA0 || r == 0x2007 || r == 0x202F:
		return r, true // no-break spaces keep their meaning (French « : »)
	case unicode.Is(unicode.Zs, r):
		return ' ', true
	case r == 0x200C || r == 0x200D || r == 0x200E || r == 0x200F || r == 0x061C:
		return r, true // ZWNJ, ZWJ, LRM, RLM, ALM
	case unicode.Is(unicode.Variation_Selector, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return 0, false
	case unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		return r, true
	}
	return 0, false // controls, format, private use, surrogates, unassigned
}

// isMarkLike reports runes that attach to the base before them.
func isMarkLike(r rune) bool {
	return r == 0x200C || r == 0x200D || unicode.Is(unicode.M, r)
}

// isVirama reports a mark that joins its consonant to the next one.
func isVirama(r rune) bool {
	return r >= 0x0900 && norm.NFC.PropertiesString(string(r)).CCC() == 9
}

// truncate cuts runes to fit maxRunes with a trailing ellipsis, at a
// cluster boundary: never between a base and its marks, never after a
// virama or joiner. It prefers a space in the last 16 runes.
func truncate(runes []rune, maxRunes int) []rune {
	keep := min(len(runes), maxRunes-1)
	for keep > 0 && keep < len(runes) && (isMarkLike(runes[keep]) || isMarkLike(runes[keep-1]) && !unicode.Is(unicode.M, runes[keep-1]) || isVirama(runes[keep-1])) {
		keep--
	}
	for i := keep - 1; i > keep-16 && i > keep/2; i-- {
		if runes[i] == ' ' {
			keep = i
			break
		}
	}
	out := runes[:keep]
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return append(out, ellipsis)
}
