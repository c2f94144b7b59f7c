package audiotest_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/audio/audiotest"
	"github.com/google/go-cmp/cmp"
)

func TestSink(t *testing.T) {
	s := &audiotest.Sink{Played: make(chan *audio.Clip, 2)}
	a := &audio.Clip{Rate: 8000, Channels: 1, Samples: []int16{1, 2}}
	b := &audio.Clip{Rate: 16000, Channels: 2, Samples: []int16{10, 20, 30, 40, 50, 60, 70, 80}}
	for _, c := range []*audio.Clip{a, b} {
		if err := s.Play(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if got := <-s.Played; got != c {
			t.Errorf("Played sent %p, want %p", got, c)
		}
	}
	if diff := cmp.Diff([]*audio.Clip{a, b}, s.Clips()); diff != "" {
		t.Errorf("Clips (-want +got):\n%s", diff)
	}
	want := &audio.Clip{Rate: 8000, Channels: 1, Samples: []int16{1, 2, 15, 55}}
	if diff := cmp.Diff(want, s.Audio()); diff != "" {
		t.Errorf("Audio (-want +got):\n%s", diff)
	}
	var buf bytes.Buffer
	if err := s.WriteWAV(&buf); err != nil {
		t.Fatal(err)
	}
	if got, err := audio.ParseWAV(&buf); err != nil || !cmp.Equal(got, want) {
		t.Errorf("WriteWAV round trip = %+v, %v", got, err)
	}
	if err := s.WriteFile(filepath.Join(t.TempDir(), "played.wav")); err != nil {
		t.Error(err)
	}
	s.Close()
	if err := s.Play(context.Background(), a); !errors.Is(err, audio.ErrClosed) {
		t.Errorf("Play after Close = %v, want ErrClosed", err)
	}
	if err := (&audiotest.Sink{}).WriteWAV(&buf); err == nil {
		t.Error("WriteWAV of nothing succeeded")
	}
}

func TestTTS(t *testing.T) {
	f := &audiotest.TTS{Voices: map[string]string{"en": "v-en"}}
	if v, err := f.VoiceFor("en", ""); v != "v-en" || err != nil {
		t.Errorf("VoiceFor(en) = %q, %v", v, err)
	}
	if _, err := f.Synthesize(context.Background(), "tl", "x"); !errors.Is(err, audio.ErrNoVoice) {
		t.Errorf("Synthesize(tl) = %v, want ErrNoVoice", err)
	}
	c, err := f.Synthesize(context.Background(), "en", "hello")
	if err != nil || !cmp.Equal(c, audiotest.FakeSpeech(22050, "hello")) || c.Frames() != 5*22050/100 {
		t.Errorf("Synthesize(en) = %d frames, %v", c.Frames(), err)
	}
	if diff := cmp.Diff([]audiotest.Call{{"tl", "x"}, {"en", "hello"}}, f.Calls()); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
	got, err := audio.Choose(f, "tl", []string{"tl", "en"}, map[string]string{"tl": "x", "en": "hello"})
	if err != nil || got.Lang != "en" || !got.FellBack {
		t.Errorf("Choose with the fake = %+v, %v", got, err)
	}
}
