package audio

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestChoose runs the fallback rule against the real voice table (the
// recorded espeak-ng 1.51 voice list).
func TestChoose(t *testing.T) {
	e := recordedEspeak(t, EspeakConfig{})
	all := alertText
	tests := []struct {
		name  string
		want  string
		zone  []string
		texts map[string]string
		out   Choice
		err   string
	}{
		{
			name: "spoken in its own language",
			want: "es", zone: []string{"en", "es", "tl"}, texts: all,
			out: Choice{Lang: "es", Voice: "es-419", Text: all["es"]},
		},
		{
			name: "Tagalog falls back to the next zone language",
			want: "tl", zone: []string{"en", "tl", "vi", "es"}, texts: all,
			out: Choice{Lang: "vi", Voice: "vi", Text: all["vi"], FellBack: true,
				Reason: "audio: no voice: tl: espeak-ng has no Tagalog/Filipino voice; spoke vi instead"},
		},
		{
			name: "fallback wraps around the zone list",
			want: "tl", zone: []string{"en", "es", "tl"}, texts: all,
			out: Choice{Lang: "en", Voice: "en-us", Text: all["en"], FellBack: true,
				Reason: "audio: no voice: tl: espeak-ng has no Tagalog/Filipino voice; spoke en instead"},
		},
		{
			name: "a next language without text is passed over",
			want: "tl", zone: []string{"tl", "ko", "fr"}, texts: map[string]string{"tl": all["tl"], "fr": all["fr"]},
			out: Choice{Lang: "fr", Voice: "fr-fr", Text: all["fr"], FellBack: true,
				Reason: "audio: no voice: tl: espeak-ng has no Tagalog/Filipino voice; spoke fr instead"},
		},
		{
			name: "Japanese with kanji falls back",
			want: "ja", zone: []string{"ja", "en"}, texts: map[string]string{"ja": jaKanji, "en": all["en"]},
			out: Choice{Lang: "en", Voice: "en-us", Text: all["en"], FellBack: true,
				Reason: "audio: no voice: ja: espeak-ng's ja voice reads kana only and the text has kanji ('洪'); spoke en instead"},
		},
		{
			name: "keys match as tags",
			want: "zh-hant", zone: []string{"zh-Hant"}, texts: map[string]string{"zh-Hant": all["zh-Hant"]},
			out: Choice{Lang: "zh-Hant", Voice: "cmn-latn-pinyin", Text: all["zh-Hant"]},
		},
		{
			name: "alert language outside the zone list: the list from its start",
			want: "tl", zone: []string{"pl", "ru"}, texts: all,
			out: Choice{Lang: "pl", Voice: "pl", Text: all["pl"], FellBack: true,
				Reason: "audio: no voice: tl: espeak-ng has no Tagalog/Filipino voice; spoke pl instead"},
		},
		{
			name: "no text in the alert's language",
			want: "ko", zone: []string{"ko", "en"}, texts: map[string]string{"en": all["en"]},
			out: Choice{Lang: "en", Voice: "en-us", Text: all["en"], FellBack: true,
				Reason: "ko: the alert has no text in that language; spoke en instead"},
		},
		{
			name: "nothing speakable",
			want: "tl", zone: []string{"tl", "km"}, texts: map[string]string{"tl": "x", "km": "y"},
			err: "no language of the alert can be spoken: audio: no voice: tl: espeak-ng has no Tagalog/Filipino voice; audio: no voice: km: no installed espeak-ng voice for km",
		},
		{
			name: "no text at all",
			want: "en", zone: []string{"en"}, texts: nil,
			err: "the alert has text in none of en",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(e, tt.want, tt.zone, tt.texts)
			if tt.err != "" {
				if !errors.Is(err, ErrNoVoice) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Choose = %+v, %v; want ErrNoVoice containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Choose: %v", err)
			}
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("Choose (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFallbackOrder(t *testing.T) {
	for _, tt := range []struct {
		want string
		zone []string
		out  []string
	}{
		{"b", []string{"a", "b", "c"}, []string{"b", "c", "a"}},
		{"x", []string{"a", "b"}, []string{"x", "a", "b"}},
		{"en-US", []string{"EN_us", "es", "es"}, []string{"en-US", "es"}},
		{"a", nil, []string{"a"}},
	} {
		if got := fallbackOrder(tt.want, tt.zone); !cmp.Equal(got, tt.out) {
			t.Errorf("fallbackOrder(%q, %q) = %q, want %q", tt.want, tt.zone, got, tt.out)
		}
	}
}
