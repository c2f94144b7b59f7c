package audio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/language"
)

// ErrNoVoice is wrapped by errors that say a language cannot be spoken:
// espeak-ng has no voice for it, the voice is not installed, or the voice
// cannot read the text it was given (see [Espeak] for the rules).
var ErrNoVoice = errors.New("audio: no voice")

// ErrBadLanguage is wrapped when a language tag is not well-formed BCP 47.
var ErrBadLanguage = errors.New("audio: bad language tag")

// A VoiceInfo is one line of `espeak-ng --voices`.
type VoiceInfo struct {
	Name     string         // the Language column, passed to -v: "en-us", "cmn-latn-pinyin"
	Priority int            // the Pty column
	Gender   string         // the Age/Gender column: "--/M"
	Title    string         // the VoiceName column: "English_(America)"
	File     string         // the File column: "gmw/en-US"
	Aliases  map[string]int // the Other Languages column: "(zh-cmn 5)(zh 5)" → zh-cmn:5, zh:5
}

var voiceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// validVoiceName reports whether s can be passed to espeak-ng -v: lower
// case letters, digits and hyphens, never a leading hyphen or a path.
func validVoiceName(s string) bool { return voiceNameRE.MatchString(s) }

// ParseVoiceList parses the output of `espeak-ng --voices` (espeak-ng
// 1.51 layout: a header line, then one voice per line with the columns
// Pty, Language, Age/Gender, VoiceName, File and Other Languages).
// Voices whose Language column is not a plain voice name are skipped.
func ParseVoiceList(r io.Reader) ([]VoiceInfo, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var out []VoiceInfo
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		f := strings.Fields(text)
		if line == 1 {
			if len(f) < 2 || f[0] != "Pty" || f[1] != "Language" {
				return nil, fmt.Errorf("audio: espeak-ng --voices: header line is %q, want it to start with \"Pty Language\"", text)
			}
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("audio: espeak-ng --voices line %d: %d columns, want at least 5: %q", line, len(f), text)
		}
		pty, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("audio: espeak-ng --voices line %d: priority %q is not a number", line, f[0])
		}
		v := VoiceInfo{Name: strings.ToLower(f[1]), Priority: pty, Gender: f[2], Title: f[3], File: f[4]}
		if !validVoiceName(v.Name) {
			continue
		}
		if len(f) > 5 {
			v.Aliases = parseAliases(strings.Join(f[5:], ""))
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audio: espeak-ng --voices: %w", err)
	}
	if line == 0 {
		return nil, errors.New("audio: espeak-ng --voices printed nothing")
	}
	return out, nil
}

// parseAliases parses "(zh-cmn 5)(zh 5)" (spaces already removed, so
// "(zh-cmn5)(zh5)") into a map from language to priority.
func parseAliases(s string) map[string]int {
	m := map[string]int{}
	for _, part := range strings.Split(s, ")") {
		part = strings.TrimPrefix(part, "(")
		if part == "" {
			continue
		}
		i := strings.IndexFunc(part, unicode.IsDigit)
		if i <= 0 {
			continue
		}
		p, err := strconv.Atoi(part[i:])
		if err != nil {
			continue
		}
		m[strings.ToLower(part[:i])] = p
	}
	return m
}

// A voiceRule says which espeak-ng voices speak a language, best first.
type voiceRule struct {
	voices []string
	// none, when set, says why no espeak-ng voice serves the language.
	none string
}

// voiceChecks holds, per voice, a check that returns why the voice
// cannot read a text ("" when it can). It applies however the voice was
// chosen, configured overrides included.
var voiceChecks = map[string]func(text string) string{
	"ja": kanaOnly,
}

// ruleFor returns the built-in rule for tag, or ok=false for a language
// the table does not know (the installed voice list decides those).
// The findings behind each rule are in the package documentation.
func ruleFor(tag language.Tag) (voiceRule, bool) {
	base, _ := tag.Base()
	region, rconf := tag.Region()
	exactRegion := ""
	if rconf == language.Exact {
		exactRegion = region.String()
	}
	switch base.String() {
	case "en":
		switch exactRegion {
		case "GB", "IE", "AU", "NZ", "ZA":
			return voiceRule{voices: []string{"en-gb", "en-us"}}, true
		}
		return voiceRule{voices: []string{"en-us", "en-gb"}}, true
	case "es":
		if exactRegion == "ES" {
			return voiceRule{voices: []string{"es", "es-419"}}, true
		}
		return voiceRule{voices: []string{"es-419", "es"}}, true
	case "fr":
		switch exactRegion {
		case "BE":
			return voiceRule{voices: []string{"fr-be", "fr-fr"}}, true
		case "CH":
			return voiceRule{voices: []string{"fr-ch", "fr-fr"}}, true
		}
		return voiceRule{voices: []string{"fr-fr"}}, true
	case "pt":
		if exactRegion != "" && exactRegion != "BR" {
			return voiceRule{voices: []string{"pt", "pt-br"}}, true
		}
		return voiceRule{voices: []string{"pt-br", "pt"}}, true
	case "zh", "cmn":
		if exactRegion == "HK" || exactRegion == "MO" {
			return voiceRule{voices: []string{"yue", "cmn-latn-pinyin"}}, true
		}
		return voiceRule{voices: []string{"cmn-latn-pinyin"}}, true
	case "yue":
		return voiceRule{voices: []string{"yue"}}, true
	case "ja":
		return voiceRule{voices: []string{"ja"}}, true
	case "fil": // x/text canonicalises "tl" to "fil"
		return voiceRule{none: "espeak-ng has no Tagalog/Filipino voice"}, true
	case "vi", "ko", "ar", "ru", "pl", "hi", "bn", "ht":
		return voiceRule{voices: []string{base.String()}}, true
	}
	return voiceRule{}, false
}

// kanaOnly is the text check for the ja voice, which reads kana but says
// "Chinese letter" for every kanji (checked with espeak-ng 1.51 -q --ipa).
func kanaOnly(text string) string {
	for _, r := range text {
		if unicode.Is(unicode.Han, r) {
			return fmt.Sprintf("espeak-ng's ja voice reads kana only and the text has kanji (%q)", r)
		}
	}
	return ""
}

// canonicalTag parses a BCP 47 tag ("zh-Hant", "tl", "EN_us").
func canonicalTag(s string) (language.Tag, error) {
	if strings.TrimSpace(s) == "" {
		return language.Und, fmt.Errorf("%w: empty", ErrBadLanguage)
	}
	t, err := language.Parse(s)
	if err != nil {
		return language.Und, fmt.Errorf("%w: %q: %v", ErrBadLanguage, s, err)
	}
	return t, nil
}

// voiceSet is the installed voices, by name and by alias.
type voiceSet struct {
	byName  map[string]VoiceInfo
	byAlias map[string][]VoiceInfo // alias → voices, best (lowest priority) first
}

func newVoiceSet(list []VoiceInfo) voiceSet {
	s := voiceSet{byName: map[string]VoiceInfo{}, byAlias: map[string][]VoiceInfo{}}
	for _, v := range list {
		if _, dup := s.byName[v.Name]; !dup {
			s.byName[v.Name] = v
		}
		for a, p := range v.Aliases {
			vv := v
			vv.Priority = p
			s.byAlias[a] = append(s.byAlias[a], vv)
		}
	}
	for _, vs := range s.byAlias {
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].Priority < vs[j].Priority })
	}
	return s
}

// resolve returns the voice that speaks tag, or why none does. overrides
// maps lower-case tags ("zh-hant", "tl") to voice names and wins over the
// built-in rules; a voice it names must be installed.
func (s voiceSet) resolve(tag language.Tag, overrides map[string]string) (voice, reason string) {
	full := strings.ToLower(tag.String())
	base, _ := tag.Base()
	for _, k := range []string{full, base.String()} {
		if v, ok := overrides[k]; ok {
			if _, ok := s.byName[v]; ok {
				return v, ""
			}
			return "", fmt.Sprintf("configured voice %q for %s is not installed", v, k)
		}
	}
	if rule, ok := ruleFor(tag); ok {
		if rule.none != "" {
			return "", rule.none
		}
		for _, v := range rule.voices {
			if _, ok := s.byName[v]; ok {
				return v, ""
			}
		}
		return "", fmt.Sprintf("none of the voices %s is installed", strings.Join(rule.voices, ", "))
	}
	// A language outside the table: an installed voice of that exact name,
	// then of its base language, then the best voice listing it as an
	// alias.
	for _, k := range []string{full, base.String()} {
		if _, ok := s.byName[k]; ok {
			return k, ""
		}
	}
	for _, k := range []string{full, base.String()} {
		if vs := s.byAlias[k]; len(vs) > 0 {
			return vs[0].Name, ""
		}
	}
	return "", fmt.Sprintf("no installed espeak-ng voice for %s", tag)
}
