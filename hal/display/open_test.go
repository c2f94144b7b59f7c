package display_test

import (
	"bytes"
	"errors"
	"image"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/display/displaytest"
	"github.com/cityarray/cityarray/hal/display/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// missingPanel is a pole config whose PIO device is not there: on this
// machine hub75 is unsupported, on a Pi the path does not exist.
func missingPanel(t *testing.T) display.Config {
	cfg := display.DefaultConfig()
	cfg.HUB75.DevicePath = t.TempDir() + "/no-pio0"
	return cfg
}

// TestMissingPanelFallsBack is the fault in the issue: the panel cannot be
// driven, the runtime still starts, the fault is in the health report, and
// frames go to the fallback.
func TestMissingPanelFallsBack(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	d, err := display.Open(missingPanel(t), display.Options{Logger: log, Now: newClock().Now})
	if err != nil {
		t.Fatalf("Open with a fallback failed: %v", err)
	}
	defer d.Close()
	st := d.Status()
	if st.OK() || st.Backend != "none" || st.Configured != "hub75" {
		t.Errorf("status %+v, want a fault, backend none, configured hub75", st)
	}
	if !strings.Contains(st.Fault, "hub75 panel unavailable, showing on none: hub75: open ") {
		t.Errorf("fault %q does not say what failed", st.Fault)
	}
	if !strings.Contains(logs.String(), "panel backend failed; using the fallback") || !strings.Contains(logs.String(), "component=display") {
		t.Errorf("log:\n%s", logs.String())
	}
	// The runtime goes on showing frames, into "none".
	if err := d.Show(display.TestPattern(display.PatternBars)); err != nil {
		t.Errorf("Show on the fallback: %v", err)
	}
	if st := d.Status(); st.Frames != 1 || st.OK() {
		t.Errorf("after a frame: %+v", st)
	}
	// Without a fallback the fault is an error.
	cfg := missingPanel(t)
	cfg.Fallback = ""
	if d, err := display.Open(cfg, display.Options{}); err == nil {
		d.Close()
		t.Error("Open without a fallback succeeded with no panel")
	} else if !strings.HasPrefix(err.Error(), "display: open hub75: hub75: open ") {
		t.Errorf("Open = %v", err)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	cfg := display.DefaultConfig()
	cfg.Backend, cfg.Brightness = "crt", 200
	_, err := display.Open(cfg, display.Options{})
	if err == nil || !strings.Contains(err.Error(), `backend "crt"`) || !strings.Contains(err.Error(), "brightness 200") {
		t.Errorf("Open = %v, want both problems", err)
	}
}

func TestOpenSim(t *testing.T) {
	cfg := display.SimConfig()
	cfg.Brightness = 60
	d, err := display.Open(cfg, display.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Bounds() != display.Bounds() {
		t.Errorf("Bounds = %v", d.Bounds())
	}
	sp, ok := d.Unwrap().(*sim.Panel)
	if !ok {
		t.Fatalf("Unwrap is %T, want *sim.Panel", d.Unwrap())
	}
	if b, g := sp.Levels(); b != 60 || g != 2.2 {
		t.Errorf("sim levels %d %v, want the config's 60 2.2", b, g)
	}
	// The edge mounts the sim panel's page for the demo.
	h, ok := d.Unwrap().(http.Handler)
	if !ok {
		t.Fatal("the sim panel is not an http.Handler")
	}
	d.Show(display.TestPattern(display.PatternRed))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/frame.png", nil))
	// Version 1 was the levels Open set, 2 the frame.
	if rec.Code != 200 || rec.Header().Get("ETag") != `"v2"` {
		t.Errorf("frame.png: %d %v", rec.Code, rec.Header())
	}
	st := d.Status()
	if !st.OK() || st.Backend != "sim" || st.Frames != 1 || st.Brightness != 60 {
		t.Errorf("status %+v", st)
	}
}

func TestOpenNone(t *testing.T) {
	cfg := display.DefaultConfig()
	cfg.Backend, cfg.Fallback = "none", ""
	d, err := display.Open(cfg, display.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Show(image.NewRGBA(image.Rect(0, 0, 3, 3))); err == nil {
		t.Error("none accepted a 3x3 frame")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); !errors.Is(err, display.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if err := d.Show(display.TestPattern(display.PatternBars)); !errors.Is(err, display.ErrClosed) {
		t.Errorf("Show after Close = %v", err)
	}
}

func TestStatusCountsAndRate(t *testing.T) {
	clk := newClock()
	fake := displaytest.New()
	var logs bytes.Buffer
	d := display.Wrap(fake, "fake", display.Options{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	frame := display.TestPattern(display.PatternBars)
	if st := d.Status(); st.FPS != 0 || st.Frames != 0 || !st.LastFrame.IsZero() {
		t.Errorf("fresh status %+v", st)
	}
	for range 10 {
		if err := d.Show(frame); err != nil {
			t.Fatal(err)
		}
		clk.Advance(100 * time.Millisecond)
	}
	st := d.Status()
	if st.Frames != 10 || st.FPS != 10 {
		t.Errorf("10 frames 100 ms apart: frames %d fps %v, want 10 10", st.Frames, st.FPS)
	}
	// More than the window: the rate follows the recent frames.
	for range 20 {
		d.Show(frame)
		clk.Advance(50 * time.Millisecond)
	}
	if st := d.Status(); st.FPS != 20 {
		t.Errorf("fps %v after speeding up, want 20", st.FPS)
	}

	// A failing panel: counted, a fault while it lasts, logged once each way.
	boom := errors.New("bus on fire")
	fake.FailShow(boom)
	for range 3 {
		if err := d.Show(frame); !errors.Is(err, boom) {
			t.Fatalf("Show = %v", err)
		}
	}
	st = d.Status()
	if st.Errors != 3 || st.OK() || st.Fault != "last frame failed: bus on fire" || st.LastError != "bus on fire" {
		t.Errorf("failing status %+v", st)
	}
	fake.FailShow(nil)
	d.Show(frame)
	st = d.Status()
	if !st.OK() || st.LastError != "bus on fire" || st.Frames != 31 {
		t.Errorf("recovered status %+v", st)
	}
	if n := strings.Count(logs.String(), "panel failing"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "panel recovered"); n != 1 {
		t.Errorf("logged the recovery %d times, want once", n)
	}

	if err := d.SetLevels(30, 1.5); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Brightness != 30 || st.Gamma != 1.5 {
		t.Errorf("levels in status: %d %v", st.Brightness, st.Gamma)
	}
	if got := fake.Levels(); len(got) != 1 || got[0] != (displaytest.Levels{Brightness: 30, Gamma: 1.5}) {
		t.Errorf("panel levels %v", got)
	}
	if err := d.SetLevels(30, 9); err == nil {
		t.Error("SetLevels accepted gamma 9")
	}
	if len(fake.Levels()) != 1 {
		t.Error("a refused level reached the panel")
	}
}

func TestCheckLevels(t *testing.T) {
	if err := display.CheckLevels(100, 2.2); err != nil {
		t.Error(err)
	}
	err := display.CheckLevels(101, 0)
	if err == nil || err.Error() != "display: brightness 101 is above 100\ndisplay: gamma 0 is outside 1.0..3.0" {
		t.Errorf("CheckLevels(101, 0) = %v", err)
	}
}
