// Package audiotest provides fakes for hal/audio: Sink, a Player that
// records every clip it is asked to play, and TTS, a scripted speech
// engine whose calls tests can hold and release one by one. Neither
// touches a sound card or a subprocess, so tests that use them are
// deterministic and run anywhere.
package audiotest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sync"

	"github.com/cityarray/cityarray/hal/audio"
)

// The fakes satisfy the interfaces they stand in for.
var (
	_ audio.Player = (*Sink)(nil)
	_ audio.TTS    = (*TTS)(nil)
	_ audio.Voicer = (*TTS)(nil)
	_ audio.TTS    = (*audio.Espeak)(nil)
	_ audio.Voicer = (*audio.Espeak)(nil)
)

// Sink is an audio.Player that captures what it plays instead of
// sounding it. The zero value is ready to use. Its exported fields may be
// set before use and are not changed by it.
type Sink struct {
	// Rate is the rate of the captured stream; clips at other rates are
	// resampled to it. 0 takes the rate of the first clip played.
	Rate int
	// Err, when set, is returned by every Play, which then captures
	// nothing.
	Err error
	// Played, when set, receives each clip after it is captured. Play
	// blocks on the send (or ctx), which lets a test step playback.
	Played chan *audio.Clip

	mu     sync.Mutex
	rate   int
	clips  []*audio.Clip
	pcm    []int16
	closed bool
}

// Play records c (mixed down to mono and resampled to the sink's rate)
// and returns at once: a Sink plays instantly.
func (s *Sink) Play(ctx context.Context, c *audio.Clip) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("audiotest: play: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audiotest: play: %w", err)
	}
	if s.Err != nil {
		return s.Err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return audio.ErrClosed
	}
	if s.rate == 0 {
		s.rate = s.Rate
		if s.rate == 0 {
			s.rate = c.Rate
		}
	}
	r, err := c.Mono().Resample(s.rate)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("audiotest: play: %w", err)
	}
	s.clips = append(s.clips, c)
	s.pcm = append(s.pcm, r.Samples...)
	s.mu.Unlock()
	if s.Played != nil {
		select {
		case s.Played <- c:
		case <-ctx.Done():
			return fmt.Errorf("audiotest: play: %w", ctx.Err())
		}
	}
	return nil
}

// Close makes later Play calls fail with audio.ErrClosed.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Clips returns the clips played, in order, as they were given.
func (s *Sink) Clips() []*audio.Clip {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*audio.Clip(nil), s.clips...)
}

// Audio returns everything played as one mono clip (nil if nothing was).
func (s *Sink) Audio() *audio.Clip {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rate == 0 {
		return nil
	}
	return &audio.Clip{Rate: s.rate, Channels: 1, Samples: append([]int16(nil), s.pcm...)}
}

// WriteWAV writes everything played as one WAV file.
func (s *Sink) WriteWAV(w io.Writer) error {
	c := s.Audio()
	if c == nil {
		return errors.New("audiotest: nothing was played")
	}
	return c.WriteWAV(w)
}

// WriteFile writes everything played to a WAV file at path, for a person
// to listen to after a test.
func (s *Sink) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.WriteWAV(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// A Call is one Synthesize call made to a TTS.
type Call struct {
	Lang string // the language asked for
	Text string // the text to speak
}

// TTS is a fake speech engine implementing audio.TTS and audio.Voicer.
// Its clips are deterministic: 10 ms of a text-dependent tone per rune.
// The zero value speaks every language. Set exported fields before use.
type TTS struct {
	// Rate of the clips made. Default 22050.
	Rate int
	// Voices maps languages (as given to Synthesize) to voice names.
	// When nil every language has the voice "fake-<lang>"; when set,
	// a language missing from it has no voice.
	Voices map[string]string
	// Fail maps languages to an error Synthesize returns for them.
	Fail map[string]error
	// Started, when set, receives each call as it starts.
	Started chan Call
	// Release, when set, makes each call wait to receive from it (or for
	// ctx) before it returns, so a test decides when syntheses finish.
	Release chan struct{}

	mu    sync.Mutex
	calls []Call
}

// VoiceFor returns the fake voice for lang or an error wrapping
// audio.ErrNoVoice.
func (f *TTS) VoiceFor(lang, text string) (string, error) {
	if f.Voices == nil {
		return "fake-" + lang, nil
	}
	if v, ok := f.Voices[lang]; ok {
		return v, nil
	}
	return "", fmt.Errorf("%w: %s: the fake TTS has no voice for it", audio.ErrNoVoice, lang)
}

// Synthesize records the call, waits for Release if set, and returns a
// clip derived from text.
func (f *TTS) Synthesize(ctx context.Context, lang, text string) (*audio.Clip, error) {
	c := Call{Lang: lang, Text: text}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.Started != nil {
		select {
		case f.Started <- c:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.Release != nil {
		select {
		case <-f.Release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := f.Fail[lang]; err != nil {
		return nil, err
	}
	if _, err := f.VoiceFor(lang, text); err != nil {
		return nil, err
	}
	return FakeSpeech(f.rate(), text), nil
}

func (f *TTS) rate() int {
	if f.Rate == 0 {
		return 22050
	}
	return f.Rate
}

// Calls returns the calls made so far, in order.
func (f *TTS) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// FakeSpeech returns the clip the fake TTS makes for text at rate: 10 ms
// per rune of a square-ish wave whose period depends on the text, so two
// texts give different clips and the same text the same clip.
func FakeSpeech(rate int, text string) *audio.Clip {
	h := fnv.New32a()
	h.Write([]byte(text))
	period := 20 + int(h.Sum32()%40)
	n := len([]rune(text)) * rate / 100
	c := &audio.Clip{Rate: rate, Channels: 1, Samples: make([]int16, n)}
	for i := range c.Samples {
		if (i/period)%2 == 0 {
			c.Samples[i] = 4000
		} else {
			c.Samples[i] = -4000
		}
	}
	return c
}
