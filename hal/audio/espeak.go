package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// EspeakConfig configures an [Espeak]. The zero value of each field means
// its default (see DefaultEspeakConfig).
type EspeakConfig struct {
	// Binary is the espeak-ng executable, a name looked up in PATH or a
	// path. Default "espeak-ng".
	Binary string
	// Timeout bounds one synthesis. Default 30 s; espeak-ng 1.51 speaks a
	// sentence in about 10 ms on a desktop, so this only catches a hang.
	Timeout time.Duration
	// MaxText is the longest text accepted, in runes. Default 2000, about
	// two minutes of speech; longer text is refused rather than cut.
	MaxText int
	// MaxOutput bounds the WAV espeak-ng may write, in bytes. Default
	// 32 MiB, about 12 minutes at 22,050 Hz.
	MaxOutput int64
	// Speed is the speaking rate in words per minute (espeak-ng -s),
	// 80..450; 0 keeps espeak-ng's default of 175.
	Speed int
	// Voices overrides the built-in voice table: BCP 47 tag → espeak-ng
	// voice name, e.g. {"zh-Hant": "yue"} for a Cantonese-speaking zone.
	// A tag matches itself and, when given without region or script,
	// every tag of that language.
	Voices map[string]string
	// Logger receives Init's findings. Default: discard.
	Logger *slog.Logger
}

// DefaultEspeakConfig returns the configuration NewEspeak uses for zero
// fields.
func DefaultEspeakConfig() EspeakConfig {
	return EspeakConfig{
		Binary:    "espeak-ng",
		Timeout:   30 * time.Second,
		MaxText:   2000,
		MaxOutput: 32 << 20,
	}
}

// validate fills defaults and returns every problem with c.
func (c *EspeakConfig) validate() error {
	d := DefaultEspeakConfig()
	if c.Binary == "" {
		c.Binary = d.Binary
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxText == 0 {
		c.MaxText = d.MaxText
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = d.MaxOutput
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if strings.HasPrefix(c.Binary, "-") {
		errs = append(errs, fmt.Errorf("binary %q starts with '-'", c.Binary))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", c.Timeout))
	}
	if c.MaxText < 0 {
		errs = append(errs, fmt.Errorf("max text %d is negative", c.MaxText))
	}
	if c.MaxOutput < 1024 {
		errs = append(errs, fmt.Errorf("max output %d bytes is below 1024", c.MaxOutput))
	}
	if c.Speed != 0 && (c.Speed < 80 || c.Speed > 450) {
		errs = append(errs, fmt.Errorf("speed %d words per minute outside 80..450", c.Speed))
	}
	norm := make(map[string]string, len(c.Voices))
	tags := make([]string, 0, len(c.Voices))
	for tag := range c.Voices {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		voice := c.Voices[tag]
		t, err := canonicalTag(tag)
		if err != nil {
			errs = append(errs, fmt.Errorf("voices: %w", err))
			continue
		}
		if !validVoiceName(voice) {
			errs = append(errs, fmt.Errorf("voices: %s: voice name %q is not lower-case letters, digits and hyphens", tag, voice))
			continue
		}
		norm[strings.ToLower(t.String())] = voice
	}
	c.Voices = norm
	if len(errs) > 0 {
		return fmt.Errorf("audio: espeak config: %w", errors.Join(errs...))
	}
	return nil
}

// Espeak speaks text with the espeak-ng command, one process per
// synthesis: the text goes in on stdin (never on the command line, so no
// text can be taken for an option), a WAV comes back on stdout. It is
// safe for concurrent use.
//
// NewEspeak only checks the configuration; Init finds the binary and its
// voices. Until Init succeeds, Synthesize and VoiceFor fail with errors
// wrapping ErrNoSpeech and Status says why, so a pole without espeak-ng
// starts, reports the fault and carries on without speech.
type Espeak struct {
	cfg EspeakConfig

	mu      sync.RWMutex
	path    string // resolved binary; "" until Init succeeds
	version string
	voices  []VoiceInfo
	set     voiceSet
	fault   error // why speech is unavailable; nil when ready
}

// NewEspeak returns an Espeak for cfg. It fails only on an invalid
// configuration; it runs nothing.
func NewEspeak(cfg EspeakConfig) (*Espeak, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Espeak{cfg: cfg, fault: fmt.Errorf("%w: espeak-ng: Init has not run", ErrNoSpeech)}, nil
}

// Init finds espeak-ng, reads its version and lists its installed voices
// (`espeak-ng --voices`). On failure the error wraps ErrNoSpeech, the
// Espeak stays usable but silent, and Status reports the fault. Init may
// be called again, for example after espeak-ng is installed.
func (e *Espeak) Init(ctx context.Context) error {
	path, version, voices, err := e.probe(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.path, e.version, e.voices, e.set = "", "", nil, voiceSet{}
		e.fault = fmt.Errorf("%w: %w", ErrNoSpeech, err)
		e.cfg.Logger.Warn("speech unavailable", "component", "audio", "err", e.fault)
		return e.fault
	}
	e.path, e.version, e.voices, e.set, e.fault = path, version, voices, newVoiceSet(voices), nil
	e.cfg.Logger.Info("espeak-ng ready", "component", "audio", "path", path, "version", version, "voices", len(voices))
	return nil
}

func (e *Espeak) probe(ctx context.Context) (path, version string, voices []VoiceInfo, err error) {
	path, err = exec.LookPath(e.cfg.Binary)
	if err != nil {
		return "", "", nil, fmt.Errorf("espeak-ng: %w", err)
	}
	out, err := e.command(ctx, path, nil, "--version")
	if err != nil {
		return "", "", nil, fmt.Errorf("espeak-ng --version: %w", err)
	}
	version = strings.TrimSpace(string(out))
	if i := strings.Index(version, "Data at:"); i >= 0 {
		version = strings.TrimSpace(version[:i])
	}
	out, err = e.command(ctx, path, nil, "--voices")
	if err != nil {
		return "", "", nil, fmt.Errorf("espeak-ng --voices: %w", err)
	}
	voices, err = ParseVoiceList(bytes.NewReader(out))
	if err != nil {
		return "", "", nil, err
	}
	if len(voices) == 0 {
		return "", "", nil, errors.New("espeak-ng --voices lists no voices")
	}
	return path, version, voices, nil
}

// EspeakStatus is what an Espeak reports for health.
type EspeakStatus struct {
	Ready   bool   `json:"ready"`             // speech is available
	Binary  string `json:"binary,omitempty"`  // resolved path
	Version string `json:"version,omitempty"` // "eSpeak NG text-to-speech: 1.51"
	Voices  int    `json:"voices"`            // installed voices
	Fault   string `json:"fault,omitempty"`   // why speech is unavailable
}

// Status reports whether speech is available and, if not, why.
func (e *Espeak) Status() EspeakStatus {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := EspeakStatus{Ready: e.fault == nil, Binary: e.path, Version: e.version, Voices: len(e.voices)}
	if e.fault != nil {
		s.Fault = e.fault.Error()
	}
	return s
}

// Voices returns the installed voices found by Init.
func (e *Espeak) Voices() []VoiceInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return append([]VoiceInfo(nil), e.voices...)
}

// Voice returns the espeak-ng voice that speaks lang (a BCP 47 tag), or
// ok=false when none does. It ignores text limits such as ja's kana-only
// rule; VoiceFor applies them and says why.
func (e *Espeak) Voice(lang string) (voice string, ok bool) {
	v, err := e.resolve(lang)
	return v, err == nil
}

// VoiceFor returns the espeak-ng voice that speaks text in lang, or an
// error wrapping ErrNoVoice (ErrNoSpeech, ErrBadLanguage) that says why
// not. An empty text only checks the language.
func (e *Espeak) VoiceFor(lang, text string) (string, error) {
	v, err := e.resolve(lang)
	if err != nil {
		return "", err
	}
	if check := voiceChecks[v]; check != nil && text != "" {
		if why := check(text); why != "" {
			return "", fmt.Errorf("%w: %s: %s", ErrNoVoice, lang, why)
		}
	}
	return v, nil
}

func (e *Espeak) resolve(lang string) (string, error) {
	tag, err := canonicalTag(lang)
	if err != nil {
		return "", err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.fault != nil {
		return "", e.fault
	}
	v, reason := e.set.resolve(tag, e.cfg.Voices)
	if v == "" {
		return "", fmt.Errorf("%w: %s: %s", ErrNoVoice, lang, reason)
	}
	return v, nil
}

// Synthesize speaks text in lang with the voice VoiceFor picks and returns
// the speech (16-bit mono; 22,050 Hz with espeak-ng 1.51).
func (e *Espeak) Synthesize(ctx context.Context, lang, text string) (*Clip, error) {
	voice, err := e.VoiceFor(lang, text)
	if err != nil {
		return nil, fmt.Errorf("audio: synthesize: %w", err)
	}
	clean, err := cleanText(text, e.cfg.MaxText)
	if err != nil {
		return nil, fmt.Errorf("audio: synthesize %s: %w", lang, err)
	}
	e.mu.RLock()
	path := e.path
	e.mu.RUnlock()
	args := []string{"-b", "1", "-v", voice, "--stdin", "--stdout"}
	if e.cfg.Speed != 0 {
		args = append(args, "-s", strconv.Itoa(e.cfg.Speed))
	}
	out, err := e.command(ctx, path, strings.NewReader(clean), args...)
	if err != nil {
		return nil, fmt.Errorf("audio: synthesize %s with voice %s: %w", lang, voice, err)
	}
	clip, err := ParseWAV(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("audio: synthesize %s with voice %s: espeak-ng output: %w", lang, voice, err)
	}
	if clip.Frames() == 0 {
		return nil, fmt.Errorf("audio: synthesize %s with voice %s: espeak-ng wrote no audio", lang, voice)
	}
	return clip, nil
}

// command runs path with args, feeding it stdin, and returns its stdout,
// bounded by the configured timeout and output size.
func (e *Espeak) command(parent context.Context, path string, stdin io.Reader, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, e.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = stdin
	stderr := &capBuffer{max: 2048}
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		switch {
		case parent.Err() != nil:
			return nil, parent.Err()
		case ctx.Err() != nil:
			return nil, fmt.Errorf("timed out after %v", e.cfg.Timeout)
		}
		return nil, err
	}
	out, readErr := io.ReadAll(io.LimitReader(stdout, e.cfg.MaxOutput+1))
	over := int64(len(out)) > e.cfg.MaxOutput
	if over {
		cancel()
	}
	waitErr := cmd.Wait()
	switch {
	case over:
		return nil, fmt.Errorf("output exceeds %d bytes", e.cfg.MaxOutput)
	case parent.Err() != nil:
		return nil, parent.Err()
	case ctx.Err() != nil:
		return nil, fmt.Errorf("timed out after %v", e.cfg.Timeout)
	case waitErr != nil:
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", waitErr, msg)
		}
		return nil, waitErr
	case readErr != nil:
		return nil, fmt.Errorf("reading output: %w", readErr)
	}
	return out, nil
}

// cleanText makes text safe and sensible to feed espeak-ng: invalid UTF-8
// and control characters (other than newline) become spaces, so no
// control byte reaches espeak-ng's text parser, and the result must be
// non-empty and at most max runes.
func cleanText(text string, max int) (string, error) {
	var b strings.Builder
	n := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = ' '
		case r == '\n':
		case unicode.IsControl(r):
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return "", errors.New("text is empty")
	}
	if n > max {
		return "", fmt.Errorf("text is %d runes, over the limit of %d", n, max)
	}
	return out + "\n", nil
}

// capBuffer keeps the first max bytes written to it and drops the rest.
type capBuffer struct {
	max int
	buf bytes.Buffer
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

func (c *capBuffer) String() string { return c.buf.String() }
