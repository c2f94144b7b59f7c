package audio

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeAplay returns an aplay player that runs the test binary as aplay in
// the given helper mode (see runHelper).
func fakeAplay(t *testing.T, mode, device string) *aplayPlayer {
	t.Helper()
	t.Setenv(helperEnv, mode)
	t.Setenv(helperOut, filepath.Join(t.TempDir(), "aplay.txt"))
	p, err := Open(PlayerConfig{Kind: KindAplay, Aplay: os.Args[0], Device: device})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.(*aplayPlayer)
}

var beep = &Clip{Rate: 22050, Channels: 1, Samples: []int16{0, 100, -100, 0}}

func TestAplayPipesAWAV(t *testing.T) {
	p := fakeAplay(t, "aplay", "plughw:1,0")
	stereo := &Clip{Rate: 48000, Channels: 2, Samples: []int16{1, 2, 3, 4, 5, 6}}
	if err := p.Play(context.Background(), stereo); err != nil {
		t.Fatalf("Play: %v", err)
	}
	got, err := os.ReadFile(os.Getenv(helperOut))
	if err != nil {
		t.Fatal(err)
	}
	want := "args=-q -t wav -D plughw:1,0 -\nrate=48000 channels=2 samples=6\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("what aplay saw (-want +got):\n%s", diff)
	}
}

func TestAplayReportsFailure(t *testing.T) {
	p := fakeAplay(t, "fail", "")
	err := p.Play(context.Background(), beep)
	if err == nil || !strings.Contains(err.Error(), "device default: exit status 3: helper: device on fire") {
		t.Errorf("Play = %v, want aplay's exit status and stderr", err)
	}
}

func TestAplayCancel(t *testing.T) {
	p := fakeAplay(t, "block", "")
	ctx, cancel := context.WithCancel(context.Background())
	p.started = cancel // cancel once aplay is running and blocked
	if err := p.Play(ctx, beep); !errors.Is(err, context.Canceled) {
		t.Errorf("Play = %v, want context.Canceled", err)
	}
	p.started = nil
	if err := p.Play(ctx, beep); !errors.Is(err, context.Canceled) {
		t.Errorf("Play with a done context = %v, want context.Canceled", err)
	}
}

func TestAplayClose(t *testing.T) {
	p := fakeAplay(t, "block", "")
	closed := make(chan error, 1)
	p.started = func() { go func() { closed <- p.Close() }() }
	if err := p.Play(context.Background(), beep); !errors.Is(err, ErrClosed) {
		t.Errorf("Play cut off by Close = %v, want ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Play(context.Background(), beep); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close = %v, want ErrClosed", err)
	}
}

// TestAplayNullDevice plays through the real aplay into ALSA's null
// device, which needs alsa-utils but no sound card.
func TestAplayNullDevice(t *testing.T) {
	if _, err := exec.LookPath("aplay"); err != nil {
		t.Skip("aplay (alsa-utils, the hardware player) not installed; the fake-aplay tests cover the player")
	}
	p, err := Open(PlayerConfig{Kind: KindAplay, Device: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tone, _ := Tone(TierInformational, 22050)
	if err := p.Play(context.Background(), tone); err != nil {
		t.Errorf("Play to the null device: %v", err)
	}
	bad, _ := Open(PlayerConfig{Kind: KindAplay, Device: "cityarray_no_such_pcm"})
	defer bad.Close()
	if err := bad.Play(context.Background(), tone); err == nil || !strings.Contains(err.Error(), "cityarray_no_such_pcm") {
		t.Errorf("Play to a missing device = %v, want an error naming it", err)
	}
}

func TestOpen(t *testing.T) {
	p, err := Open(PlayerConfig{Kind: KindNone})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Play(context.Background(), beep); err != nil {
		t.Errorf("none: Play = %v", err)
	}
	if err := p.Play(context.Background(), &Clip{Rate: 1}); !errors.Is(err, ErrBadClip) {
		t.Errorf("none: Play(bad clip) = %v, want ErrBadClip", err)
	}
	for _, tt := range []struct {
		cfg  PlayerConfig
		want string
	}{
		{PlayerConfig{Kind: "alsa"}, `unknown kind "alsa"`},
		{PlayerConfig{Kind: KindAplay, Aplay: "/nonexistent/aplay"}, "/nonexistent/aplay"},
		{PlayerConfig{Kind: KindAplay, Device: "-D"}, `device "-D" starts with '-'`},
		{PlayerConfig{Kind: KindNone, Rate: 100}, "rate 100 Hz"},
	} {
		if _, err := Open(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestOpenAutoFallsBackToAplay(t *testing.T) {
	if _, err := openOto(PlayerConfig{Rate: 22050}); err == nil {
		t.Skip("this build has a working oto player (hardware present)")
	}
	t.Setenv(helperEnv, "aplay")
	t.Setenv(helperOut, filepath.Join(t.TempDir(), "aplay.txt"))
	p, err := Open(PlayerConfig{Aplay: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.(*aplayPlayer); !ok {
		t.Errorf("auto opened %T, want the aplay player", p)
	}
	_, err = Open(PlayerConfig{Kind: KindAuto, Aplay: "/nonexistent/aplay"})
	if err == nil || !strings.Contains(err.Error(), "oto") || !strings.Contains(err.Error(), "/nonexistent/aplay") {
		t.Errorf("auto with nothing working = %v, want both failures named", err)
	}
}

func TestClipHelpers(t *testing.T) {
	c := &Clip{Rate: 8000, Channels: 1, Samples: []int16{0, 100, 200, 300}}
	up, err := c.Resample(16000)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int16{0, 50, 100, 150, 200, 250, 300, 300}; !cmp.Equal(up.Samples, want) {
		t.Errorf("Resample(16000) = %v, want %v", up.Samples, want)
	}
	if same, _ := c.Resample(8000); same != c {
		t.Error("Resample to the same rate copied the clip")
	}
	if _, err := c.Resample(1); !errors.Is(err, ErrBadClip) {
		t.Errorf("Resample(1) = %v, want ErrBadClip", err)
	}
	st := &Clip{Rate: 8000, Channels: 2, Samples: []int16{10, 20, -10, -30}}
	if m := st.Mono(); !cmp.Equal(m.Samples, []int16{15, -20}) || m.Channels != 1 {
		t.Errorf("Mono = %+v", m)
	}
	if d := Silence(8000, 250*time.Millisecond); d.Frames() != 2000 || d.Duration() != 250*time.Millisecond {
		t.Errorf("Silence: %d frames, %v", d.Frames(), d.Duration())
	}
	joined, err := Concat(st, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int16{10, 20, -10, -30, 0, 0, 100, 100, 200, 200, 300, 300}; !cmp.Equal(joined.Samples, want) {
		t.Errorf("Concat = %v, want %v", joined.Samples, want)
	}
	mono, _ := Concat(c, st)
	if want := []int16{0, 100, 200, 300, 15, -20}; !cmp.Equal(mono.Samples, want) {
		t.Errorf("Concat mono = %v, want %v", mono.Samples, want)
	}
	if _, err := Concat(nil); !errors.Is(err, ErrBadClip) {
		t.Errorf("Concat(nil) = %v, want ErrBadClip", err)
	}
	if _, err := Concat(c, &Clip{Rate: 8000, Channels: 5}); err == nil || !strings.Contains(err.Error(), "clip 1") {
		t.Errorf("Concat(bad) = %v, want the bad clip named", err)
	}
}
