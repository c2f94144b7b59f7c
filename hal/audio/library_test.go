package audio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/audio/audiotest"
	"github.com/google/go-cmp/cmp"
)

// gatedTTS returns a fake TTS whose calls report when they start and wait
// to be released, so tests decide the order of events.
func gatedTTS() *audiotest.TTS {
	return &audiotest.TTS{Rate: 8000, Started: make(chan audiotest.Call, 100), Release: make(chan struct{})}
}

func newLibrary(t *testing.T, cfg audio.LibraryConfig) *audio.Library {
	t.Helper()
	l := audio.NewLibrary(cfg)
	t.Cleanup(func() { l.Close() })
	return l
}

func wait(t *testing.T, j *audio.Job) (*audio.Clip, error) {
	t.Helper()
	return j.Wait(context.Background())
}

func TestLibraryPrepareDoesNotBlock(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 1})
	j := l.Prepare(context.Background(), audio.Request{ID: "a1", Lang: "en", Text: "flood"})
	<-tts.Started // synthesis is running, and Prepare has already returned
	if _, ok := l.Get("a1", "en"); ok {
		t.Fatal("Get found speech before synthesis finished")
	}
	select {
	case <-j.Done():
		t.Fatal("job done before its synthesis was released")
	default:
	}
	tts.Release <- struct{}{}
	c, err := wait(t, j)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := l.Get("a1", "EN") // language tags match case-insensitively
	if !ok || got != c {
		t.Fatalf("Get = %p, %v; want the job's clip %p", got, ok, c)
	}
	if diff := cmp.Diff(audiotest.FakeSpeech(8000, "flood"), c); diff != "" {
		t.Errorf("clip (-want +got):\n%s", diff)
	}
	st := l.Stats()
	if st.Entries != 1 || st.Bytes != c.Size() || st.Prepared != 1 || st.Hits != 1 || st.Misses != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestLibraryIdempotent(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts})
	r := audio.Request{ID: "a1", Lang: "es", Text: "inundación"}
	j1 := l.Prepare(context.Background(), r)
	j2 := l.Prepare(context.Background(), r)
	if j1 != j2 {
		t.Fatal("a second Prepare while running made a second job")
	}
	<-tts.Started
	tts.Release <- struct{}{}
	wait(t, j1)
	if j3 := l.Prepare(context.Background(), r); j3 != j1 {
		t.Error("Prepare after completion made a new job")
	}
	if n := len(tts.Calls()); n != 1 {
		t.Errorf("%d syntheses, want 1", n)
	}
}

func TestLibraryNewTextReplaces(t *testing.T) {
	tts := &audiotest.TTS{Rate: 8000}
	l := newLibrary(t, audio.LibraryConfig{TTS: tts})
	old, _ := wait(t, l.Prepare(context.Background(), audio.Request{ID: "a1", Lang: "en", Text: "old"}))
	c, _ := wait(t, l.Prepare(context.Background(), audio.Request{ID: "a1", Lang: "en", Text: "new text"}))
	got, _ := l.Get("a1", "en")
	if got != c || got == old {
		t.Error("Get did not return the speech of the newer text")
	}
	if st := l.Stats(); st.Entries != 1 || st.Bytes != c.Size() {
		t.Errorf("Stats = %+v, want one entry of the new size", st)
	}
}

func TestLibraryWorkerBound(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 2})
	var jobs []*audio.Job
	for i := range 5 {
		jobs = append(jobs, l.Prepare(context.Background(), audio.Request{ID: fmt.Sprint(i), Lang: "en", Text: "x"}))
	}
	<-tts.Started
	<-tts.Started
	if st := l.Stats(); st.Running != 2 || st.Pending != 3 {
		t.Fatalf("Stats = %+v, want 2 running and 3 pending", st)
	}
	for range 5 {
		tts.Release <- struct{}{}
	}
	for _, j := range jobs {
		if _, err := wait(t, j); err != nil {
			t.Error(err)
		}
	}
}

func TestLibraryPriority(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 1})
	first := l.Prepare(context.Background(), audio.Request{ID: "busy", Lang: "en", Text: "x"})
	<-tts.Started // the only worker is busy; the rest queue
	var jobs []*audio.Job
	for _, r := range []audio.Request{
		{ID: "info", Lang: "en", Text: "i", Priority: audio.TierInformational},
		{ID: "emergency", Lang: "en", Text: "e", Priority: audio.TierEmergency},
		{ID: "advisory-1", Lang: "en", Text: "a1", Priority: audio.TierAdvisory},
		{ID: "advisory-2", Lang: "en", Text: "a2", Priority: audio.TierAdvisory},
	} {
		jobs = append(jobs, l.Prepare(context.Background(), r))
	}
	tts.Release <- struct{}{}
	wait(t, first)
	var order []string
	for range jobs {
		c := <-tts.Started
		order = append(order, c.Text)
		tts.Release <- struct{}{}
	}
	if want := []string{"e", "a1", "a2", "i"}; !cmp.Equal(order, want) {
		t.Errorf("synthesis order %q, want %q", order, want)
	}
}

func TestLibraryEvictsLeastRecentlyUsed(t *testing.T) {
	tts := &audiotest.TTS{Rate: 8000} // 160 bytes per rune
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, MaxBytes: 4000})
	prep := func(id string) {
		if _, err := wait(t, l.Prepare(context.Background(), audio.Request{ID: id, Lang: "en", Text: "0123456789"})); err != nil {
			t.Fatal(err)
		}
	}
	prep("a")
	prep("b")
	l.Get("a", "en") // a is now more recent than b
	prep("c")
	for id, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok := l.Get(id, "en"); ok != want {
			t.Errorf("Get(%s) found=%v, want %v", id, ok, want)
		}
	}
	if st := l.Stats(); st.Evicted != 1 || st.Entries != 2 || st.Bytes != 3200 {
		t.Errorf("Stats = %+v, want 1 evicted, 2 entries of 3200 bytes", st)
	}
	// A clip bigger than the whole bound is returned but not kept.
	big, err := wait(t, l.Prepare(context.Background(), audio.Request{ID: "big", Lang: "en", Text: strings.Repeat("x", 30)}))
	if err != nil || big == nil {
		t.Fatalf("big job: %v", err)
	}
	if _, ok := l.Get("big", "en"); ok {
		t.Error("a clip over the bound was kept")
	}
	if st := l.Stats(); !strings.Contains(st.LastError, "over the library bound") {
		t.Errorf("LastError = %q, want the bound named", st.LastError)
	}
}

func TestLibraryFailures(t *testing.T) {
	boom := errors.New("engine on fire")
	tts := &audiotest.TTS{Fail: map[string]error{"ko": boom}}
	l := newLibrary(t, audio.LibraryConfig{TTS: tts})
	r := audio.Request{ID: "a1", Lang: "ko", Text: "홍수"}
	_, err := wait(t, l.Prepare(context.Background(), r))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "a1/ko") {
		t.Fatalf("job error %v, want the TTS error with the alert and language", err)
	}
	if st := l.Stats(); st.Failed != 1 || !strings.Contains(st.LastError, "engine on fire") {
		t.Errorf("Stats = %+v, want the failure counted and reported", st)
	}
	wait(t, l.Prepare(context.Background(), r)) // a failure is not cached: Prepare retries
	if n := len(tts.Calls()); n != 2 {
		t.Errorf("%d syntheses, want 2 (the retry)", n)
	}
	if _, err := l.Wait(context.Background(), "a1", "ko"); err == nil {
		t.Error("Library.Wait found speech for a failed job")
	}
}

func TestLibraryWithoutSpeech(t *testing.T) {
	l := newLibrary(t, audio.LibraryConfig{})
	j := l.Prepare(context.Background(), audio.Request{ID: "a1", Lang: "en", Text: "x"})
	select {
	case <-j.Done():
	default:
		t.Fatal("a job without a TTS is not done at once")
	}
	if _, err := wait(t, j); !errors.Is(err, audio.ErrNoSpeech) {
		t.Errorf("job error %v, want ErrNoSpeech", err)
	}
}

func TestLibraryQueueFull(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 1, MaxPending: 1})
	running := l.Prepare(context.Background(), audio.Request{ID: "1", Lang: "en", Text: "x"})
	<-tts.Started
	queued := l.Prepare(context.Background(), audio.Request{ID: "2", Lang: "en", Text: "x"})
	full := l.Prepare(context.Background(), audio.Request{ID: "3", Lang: "en", Text: "x"})
	if _, err := wait(t, full); !errors.Is(err, audio.ErrBusy) {
		t.Errorf("third job: %v, want ErrBusy", err)
	}
	tts.Release <- struct{}{}
	tts.Release <- struct{}{}
	wait(t, running)
	wait(t, queued)
	if st := l.Stats(); st.Dropped != 1 || st.Prepared != 2 {
		t.Errorf("Stats = %+v, want 1 dropped and 2 prepared", st)
	}
}

func TestLibraryCancelAndForget(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 1})
	running := l.Prepare(context.Background(), audio.Request{ID: "run", Lang: "en", Text: "x"})
	<-tts.Started
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := l.Prepare(ctx, audio.Request{ID: "gone", Lang: "en", Text: "x"})
	forgotten := l.Prepare(context.Background(), audio.Request{ID: "cancelled-alert", Lang: "fr", Text: "x"})
	if n := l.Forget("cancelled-alert"); n != 1 {
		t.Errorf("Forget = %d, want 1 queued job", n)
	}
	if _, err := wait(t, forgotten); err == nil || !strings.Contains(err.Error(), "forgotten") {
		t.Errorf("forgotten job: %v", err)
	}
	cancel()
	tts.Release <- struct{}{}
	wait(t, running)
	if _, err := wait(t, abandoned); !errors.Is(err, context.Canceled) {
		t.Errorf("abandoned job: %v, want context.Canceled", err)
	}
	if n := l.Forget("run"); n != 1 {
		t.Errorf("Forget(run) = %d, want 1 clip", n)
	}
	if st := l.Stats(); st.Entries != 0 || st.Bytes != 0 || st.Failed != 0 || st.Dropped != 1 {
		t.Errorf("Stats = %+v, want empty, no failures, 1 dropped", st)
	}
}

func TestLibraryClose(t *testing.T) {
	tts := gatedTTS()
	l := audio.NewLibrary(audio.LibraryConfig{TTS: tts, Workers: 1})
	running := l.Prepare(context.Background(), audio.Request{ID: "1", Lang: "en", Text: "x"})
	<-tts.Started
	queued := l.Prepare(context.Background(), audio.Request{ID: "2", Lang: "en", Text: "x"})
	if err := l.Close(); err != nil { // cancels the running synthesis
		t.Fatal(err)
	}
	if _, err := wait(t, running); !errors.Is(err, context.Canceled) {
		t.Errorf("running job: %v, want context.Canceled", err)
	}
	if _, err := wait(t, queued); !errors.Is(err, audio.ErrLibraryClosed) {
		t.Errorf("queued job: %v, want ErrLibraryClosed", err)
	}
	if _, err := wait(t, l.Prepare(context.Background(), audio.Request{ID: "3", Lang: "en", Text: "x"})); !errors.Is(err, audio.ErrLibraryClosed) {
		t.Errorf("job after Close: %v, want ErrLibraryClosed", err)
	}
	l.Close() // a second Close is harmless
}

func TestLibraryWait(t *testing.T) {
	tts := gatedTTS()
	l := newLibrary(t, audio.LibraryConfig{TTS: tts})
	if _, err := l.Wait(context.Background(), "none", "en"); err == nil {
		t.Error("Wait for speech never asked for succeeded")
	}
	l.Prepare(context.Background(), audio.Request{ID: "a1", Lang: "en", Text: "x"})
	<-tts.Started
	got := make(chan error, 1)
	go func() {
		_, err := l.Wait(context.Background(), "a1", "en")
		got <- err
	}()
	tts.Release <- struct{}{}
	if err := <-got; err != nil {
		t.Errorf("Wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Prepare(context.Background(), audio.Request{ID: "a2", Lang: "en", Text: "x"})
	if _, err := l.Wait(ctx, "a2", "en"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: %v", err)
	}
	<-tts.Started
	tts.Release <- struct{}{}
}

// TestLibraryConcurrent hammers one Library from many goroutines; run it
// with -race.
func TestLibraryConcurrent(t *testing.T) {
	tts := &audiotest.TTS{Rate: 8000}
	l := newLibrary(t, audio.LibraryConfig{TTS: tts, Workers: 3, MaxBytes: 20000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprint(i % 10)
				j := l.Prepare(context.Background(), audio.Request{ID: id, Lang: []string{"en", "es"}[g%2], Text: "text " + id, Priority: i % 5})
				// Another goroutine's Forget may abandon a queued job.
				if _, err := j.Wait(context.Background()); err != nil && !strings.Contains(err.Error(), "forgotten") {
					t.Error(err)
				}
				l.Get(id, "en")
				l.Stats()
				if i%17 == 0 {
					l.Forget(id)
				}
			}
		}()
	}
	wg.Wait()
	if st := l.Stats(); st.Bytes > 20000 || st.Failed != 0 {
		t.Errorf("Stats = %+v, want within the bound and no failures", st)
	}
}
