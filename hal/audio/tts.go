package audio

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoSpeech is wrapped when the speech engine itself is unavailable
// (espeak-ng missing or broken), as opposed to one language lacking a
// voice (ErrNoVoice).
var ErrNoSpeech = errors.New("audio: speech unavailable")

// A TTS turns text in a language into speech.
type TTS interface {
	// Synthesize speaks text, written in lang (a BCP 47 tag), and returns
	// the speech. Errors wrap ErrNoVoice when lang cannot be spoken and
	// ErrNoSpeech when the engine is unavailable.
	Synthesize(ctx context.Context, lang, text string) (*Clip, error)
}

// A Voicer says which voice would speak text in lang, or why none can.
// [Espeak] and audiotest.TTS implement it; [Choose] consumes it.
type Voicer interface {
	// VoiceFor returns the voice for text in lang, or an error wrapping
	// ErrNoVoice (or ErrNoSpeech, ErrBadLanguage) that says why not.
	VoiceFor(lang, text string) (voice string, err error)
}

// A Choice is the language, voice and text picked to speak an alert.
type Choice struct {
	Lang  string // the language spoken: the key of the chosen text
	Voice string // the voice that speaks it
	Text  string // the text to speak

	// FellBack is set when the alert's own language could not be spoken
	// and Lang is the next language of the zone's list that could.
	FellBack bool
	// Reason says why the alert's language was not spoken, for the
	// edge's health record; empty unless FellBack.
	Reason string
}

// Choose picks what to speak for an alert written in want, for a pole
// whose zone lists zoneLangs in its order of preference. texts holds the
// alert's text per language (BCP 47 keys; "zh-Hant" and "zh-hant" are the
// same key).
//
// It tries want first. When want cannot be spoken (no text, no voice, or
// text the voice cannot read, such as kanji for the kana-only ja voice) it
// falls back to the next language of zoneLangs after want that the alert
// has text for and v can speak, wrapping around to the start of the list;
// if want is not in zoneLangs the list is tried from its start. The
// Choice says whether it fell back and why. The error, when no language
// can be spoken, wraps ErrNoVoice (or ErrNoSpeech when v has no engine)
// and lists every language tried with its reason.
func Choose(v Voicer, want string, zoneLangs []string, texts map[string]string) (Choice, error) {
	order := fallbackOrder(want, zoneLangs)
	var tried []string
	var firstErr error
	wantReason := ""
	for i, lang := range order {
		key, text, ok := lookupText(texts, lang)
		if !ok {
			if i == 0 {
				wantReason = fmt.Sprintf("%s: the alert has no text in that language", lang)
			}
			continue
		}
		voice, err := v.VoiceFor(key, text)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			tried = append(tried, err.Error())
			if i == 0 {
				wantReason = err.Error()
			}
			continue
		}
		c := Choice{Lang: key, Voice: voice, Text: text}
		if i > 0 {
			c.FellBack = true
			c.Reason = fmt.Sprintf("%s; spoke %s instead", wantReason, key)
		}
		return c, nil
	}
	if errors.Is(firstErr, ErrNoSpeech) {
		return Choice{}, fmt.Errorf("audio: choose speech for %s: %w", want, firstErr)
	}
	if len(tried) == 0 {
		return Choice{}, fmt.Errorf("%w: the alert has text in none of %s", ErrNoVoice, strings.Join(order, ", "))
	}
	return Choice{}, fmt.Errorf("%w: no language of the alert can be spoken: %s", ErrNoVoice, strings.Join(tried, "; "))
}

// fallbackOrder returns want followed by the zone's languages after it,
// then those before it, without duplicates (compared as canonical tags).
func fallbackOrder(want string, zone []string) []string {
	out := []string{want}
	seen := map[string]bool{tagKey(want): true}
	start := 0
	for i, z := range zone {
		if tagKey(z) == tagKey(want) {
			start = i + 1
			break
		}
	}
	for i := range zone {
		z := zone[(start+i)%len(zone)]
		if k := tagKey(z); !seen[k] {
			seen[k] = true
			out = append(out, z)
		}
	}
	return out
}

// tagKey returns a comparable form of a language tag: its canonical BCP 47
// form in lower case, or the lower-cased input when it does not parse.
func tagKey(s string) string {
	if t, err := canonicalTag(s); err == nil {
		return strings.ToLower(t.String())
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// lookupText finds the text for lang in texts, matching keys as canonical
// tags, and returns the key as the caller spelled it.
func lookupText(texts map[string]string, lang string) (key, text string, ok bool) {
	if t, ok := texts[lang]; ok {
		return lang, t, true
	}
	want := tagKey(lang)
	keys := make([]string, 0, len(texts))
	for k := range texts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when two spellings of one tag are present
	for _, k := range keys {
		if tagKey(k) == want {
			return k, texts[k], true
		}
	}
	return "", "", false
}
