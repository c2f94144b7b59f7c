// Package render turns alert text into frames for the pole's 64x32 RGB LED
// matrix: fonts for the 15 languages of the network, real shaping and
// bidi, a layout for a tiny panel, smooth scrolling, tier colours and
// icons, a TEST mode, and brightness and gamma by time of day.
//
// A Renderer prepares Content once into a Scene (Prepare, a few hundred
// microseconds); the display loop then asks the Scene for frames (Frame, a
// few microseconds, no allocation) as often as the panel refreshes:
//
//	r, err := render.New(render.DefaultOptions())
//	s, err := r.Prepare(render.Content{Tier: record.TierWarning, Lang: "hi", Text: text})
//	for {
//		s.Frame(img, clock.Since(start)) // img is a 64x32 *image.RGBA
//		...
//	}
//
// Scene.Period is one full pass of the text, so a caller rotating through
// languages switches at a multiple of it. Nothing here reads the wall
// clock: elapsed times and "now" are passed in.
//
// # Fonts
//
// Three kinds of font, all embedded (see fonts/README.md for the files,
// their licences and the generator that makes them from Debian's
// packages):
//
//   - GNU Unifont, as 1-bit 8x16 and 16x16 bitmaps, for Latin (English,
//     Spanish, French, Portuguese, Polish, Tagalog, Haitian Creole),
//     Vietnamese, Cyrillic, Hangul, kana and Han. On an LED matrix crisp
//     full-on pixels read best, and Unifont is drawn for exactly this grid.
//     Japanese text takes the Han forms of unifont_jp.
//   - Noto Sans Devanagari, Noto Sans Bengali and Noto Naskh Arabic for the
//     scripts Unifont cannot shape: Hindi needs conjuncts (क्ष) and matra
//     reordering, Bengali likewise, Arabic needs joining. They are
//     rasterised with anti-aliasing into 16 grey levels, which a HUB75
//     panel shows. Naskh is used because Nastaliq is too tall for 16 rows.
//   - A compiled-in copy of Unifont's Latin-1 glyphs, the last resort.
//
// The fonts are Go strings in the binary's read-only data: New parses only
// table headers (about 25 µs); a Noto face is parsed on first use of its
// script (about 1.5 ms and 500 KB of heap each). A missing or corrupt asset
// (possible when Options.Fonts points at files installed with the image) is
// a fault, reported by Faults and logged, never an error: each character
// then falls back to another font that has it (Unifont's unshaped
// Devanagari, Bengali and Arabic when Noto is missing; the built-in Latin
// and whatever the Noto faces hold when Unifont is missing). Characters
// no font has are reported by Scene.Missing and left out; nothing is ever
// drawn as a missing-glyph box (Unifont's dashed boxes are not in the
// subset, and Noto's .notdef is skipped).
//
// # Shaping
//
// Text is first sanitised: invalid UTF-8, controls, bidi embeddings,
// overrides and isolates, other format characters and ignorables are
// dropped (ZWJ and ZWNJ, which Indic shaping needs, and the LRM, RLM and
// ALM marks stay); it is normalised to NFC; white space collapses; at most
// Options.MaxMarks combining marks follow a base; and text over
// Options.MaxRunes is cut at a cluster boundary with "…". Any input, ten
// thousand combining marks included, costs time linear in its length and
// memory bounded by MaxRunes.
//
// Each line then goes through the Unicode bidi algorithm (go-text/bidi; the
// paragraph is right to left for right-to-left languages or when the first
// letter is), runs are reordered for display (rule L2), and each run is
// split by script: Common characters such as spaces, digits and the danda
// take the script of the letters around them. Arabic, Devanagari and
// Bengali items are shaped by go-text's HarfBuzz port with their Noto
// face; all other items are placed one Unifont glyph per code point, which
// is all NFC text needs in those scripts. Right-to-left bitmap runs are
// reversed by cluster with brackets mirrored.
//
// The Noto faces are tuned to the 16-row line: Devanagari and Bengali at
// 14 px wide, squeezed vertically so the tallest vowel signs and lowest
// subscripts fit, with the baseline set at a fraction of a pixel so that
// the headline (shirorekha) covers exactly one row instead of two grey
// ones; Naskh Arabic at 16 px with its baseline stroke on one row.
//
// # Layout
//
// The left 9 columns are a band in the tier's colour (blue informational,
// yellow advisory, orange warning, red emergency and IPAWS) with a
// pictogram knocked out of it ("i", "!", a warning triangle, "!!", or a
// clock for the device's own clock scene); one dark column separates it
// from the 54-column text area. Text is 16 rows high:
//
//   - text that fits one line stands still, centred;
//   - text that fits two lines, broken at a UAX #14 opportunity
//     (go-text/segmenter, so Chinese and Japanese break between
//     characters), stands still on two balanced lines;
//   - with a Detail, Text takes the top line and Detail the bottom one;
//   - any line that does not fit scrolls: it holds at its start for
//     Options.Hold, then moves at Options.ScrollSpeed px/s until its end
//     has left and its start is back, which is one Period. Left-to-right
//     text starts at the left and moves left; right-to-left text starts at
//     the right and moves right.
//
// Prepare rasterises each line once into an off-screen strip of coverage
// bytes; Frame copies the band and a 54-pixel window of each strip,
// coloured through a 256-entry palette. TEST mode replaces the icon with
// the word TEST down the band and puts a TEST badge at the start of the
// first line, in every language.
//
// # Brightness
//
// Levels reads a Schedule (dawn, day, dusk and night by default, with
// ramps between them) at a given time and returns a brightness and gamma
// for the display driver; ApplyLevels and LUT apply them in software for
// back ends that cannot.
package render
