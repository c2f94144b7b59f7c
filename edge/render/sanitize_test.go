package render

import (
	"image"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		max       int
		want      string
		truncated bool
	}{
		{"plain", "Flood warning", 400, "Flood warning", false},
		{"controls", "Flood\x00\x07 warn\x1bing\x7f\u0085now", 400, "Flood warning now", false},
		{"newlines and tabs", "  Flood\r\n\twarning  ", 400, "Flood warning", false},
		{"RLO override", "Evacuate \u202Eetaucave ton od\u202C now", 400, "Evacuate etaucave ton od now", false},
		{"embeddings and isolates", "\u202Aa\u202Bb\u2066c\u2067d\u2068e\u2069f\u202C", 400, "abcdef", false},
		{"LRM RLM ALM kept", "a\u200Eb\u200Fc\u061Cd", 400, "a\u200Eb\u200Fc\u061Cd", false},
		{"ZWJ ZWNJ kept", "क्\u200Dष न\u200Cि", 400, "क्\u200Dष न\u200Cि", false},
		{"format and ignorable dropped", "a\u00ADb\uFEFFc\u2060d\U000E0041e\uFE0Ff\u034Fg\u3164h", 400, "abcdefgh", false},
		{"private use and unassigned", "a\uE000b\U000F0000c\u0378d\uFFFEe", 400, "abcde", false},
		{"invalid UTF-8", "a\xffb\xc3c\xed\xa0\x80d", 400, "abcd", false},
		{"NFC", "Ca\u0309nh ba\u0301o", 400, "Cảnh báo", false},
		{"Hangul jamo compose", "\u1112\u1169\u11BC\u1109\u116E", 400, "홍수", false},
		{"no-break spaces kept", "Alerte\u202F: 10\u00A0km", 400, "Alerte\u202F: 10\u00A0km", false},
		{"combining flood", "a" + strings.Repeat("\u0301", 10000) + "b", 400, "á\u0301\u0301\u0301\u0301b", false},
		{"mark without base", "\u0301\u0301a \u0301b", 400, "a b", false},
		{"truncated at space", "The river will overflow tonight", 20, "The river will…", true},
		{"truncated CJK", "洪水警报请立即转移到高处", 8, "洪水警报请立即…", true},
		{"truncated before a conjunct", "सुरक्षित", 6, "सुर…", true},
		{"only controls", "\x01\x02\u202E", 400, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := sanitize(tc.in, tc.max, 4)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("sanitize(%.40q) (-want +got):\n%s", tc.in, diff)
			}
			if truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", truncated, tc.truncated)
			}
			if len(got) > tc.max {
				t.Errorf("%d runes, more than %d", len(got), tc.max)
			}
		})
	}
}

// TestSanitizeLong: 10,000 characters are cut to MaxRunes with an ellipsis,
// in bounded time and whatever the characters.
func TestSanitizeLong(t *testing.T) {
	for _, unit := range []string{"a", "洪", "क्ष", "\u202E", "e\u0301", " ", "\xff"} {
		in := strings.Repeat(unit, 10000)
		got, truncated := sanitize(in, 400, 4)
		if len(got) > 400 {
			t.Errorf("%q x 10000: %d runes", unit, len(got))
		}
		visible := strings.TrimFunc(unit, func(r rune) bool { return r == ' ' || r == utf8.RuneError || r == '\u202E' })
		if visible != "" && (!truncated || got[len(got)-1] != ellipsis) {
			t.Errorf("%q x 10000: truncated %v, ends %q", unit, truncated, string(got[max(0, len(got)-3):]))
		}
	}
}

// TestPrepareBadInput: bad text never fails Prepare and always gives full
// 64x32 frames.
func TestPrepareBadInput(t *testing.T) {
	r := newTestRenderer(t)
	for _, text := range []string{
		"\x00\x01\x02\x1b[31mred\x1b[0m",
		"\u202Eevacuate\u202C",
		"a" + strings.Repeat("\u0301", 10000),
		strings.Repeat("x", 10000),
		strings.Repeat("تحذير ", 2000),
		strings.Repeat("क्ष", 3000),
		strings.Repeat("\U0001F30A", 100), // emoji: no font has them
		"\xff\xfe\xfd",
		"",
	} {
		s, err := r.Prepare(Content{Tier: record.TierEmergency, Lang: "en", Text: text, Detail: text})
		if err != nil {
			t.Fatalf("Prepare(%.20q): %v", text, err)
		}
		img := newFrame()
		for _, e := range []time.Duration{0, time.Second, s.Period() / 2, s.Period(), 10 * time.Hour} {
			s.Frame(img, e)
		}
		if img.Rect != image.Rect(0, 0, Width, Height) {
			t.Fatalf("frame is %v", img.Rect)
		}
		for _, l := range s.lines {
			if l.width > maxStrip {
				t.Errorf("strip of %d px", l.width)
			}
		}
	}
	s := mustPrepare(t, r, Content{Tier: 1, Text: strings.Repeat("x", 10000)})
	if !s.Truncated() {
		t.Error("10,000 characters not reported as truncated")
	}
	if got := s.Lines()[0]; !strings.HasSuffix(got, "…") || utf8.RuneCountInString(got) != r.Options().MaxRunes {
		t.Errorf("10,000 x: line of %d runes ending %q", utf8.RuneCountInString(got), got[len(got)-6:])
	}
	s = mustPrepare(t, r, Content{Tier: 1, Text: "wave \U0001F30A here"})
	if diff := cmp.Diff([]rune{'\U0001F30A'}, s.Missing()); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
}

// FuzzPrepare: Prepare never fails or panics on any text for a valid tier,
// and Frame always fills exactly 64x32 pixels.
func FuzzPrepare(f *testing.F) {
	for _, s := range samples {
		f.Add(uint8(3), s.lang, s.text, "", false)
	}
	f.Add(uint8(4), "ar", "\u202Eتحذير\u202C 123 (abc)", "\u0301\u0301", true)
	f.Add(uint8(1), "ja", "\x00\xff\u200D\u200C", strings.Repeat("\u0301", 50), false)
	f.Add(uint8(5), "hi", "क्\u200Dष्\u200Cत्र", "বন্যা", true)
	r, err := New(Options{MaxRunes: 120})
	if err != nil {
		f.Fatal(err)
	}
	img := newFrame()
	f.Fuzz(func(t *testing.T, tier uint8, lang, text, detail string, test bool) {
		tr := record.Tier(tier%5 + 1)
		s, err := r.Prepare(Content{Tier: tr, Lang: lang, Text: text, Detail: detail, Test: test})
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		for _, e := range []time.Duration{0, 700 * time.Millisecond, s.Period() - 1, s.Period() * 3 / 2} {
			s.Frame(img, e)
		}
		if img.Rect != image.Rect(0, 0, Width, Height) || len(img.Pix) != Width*Height*4 {
			t.Fatalf("frame %v with %d bytes", img.Rect, len(img.Pix))
		}
		for _, line := range s.Lines() {
			if utf8.RuneCountInString(line) > 120 {
				t.Errorf("line of %d runes", utf8.RuneCountInString(line))
			}
			for _, c := range line {
				if unicode.Is(unicode.Cc, c) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) {
					t.Errorf("line %q keeps %U", line, c)
				}
			}
		}
	})
}
