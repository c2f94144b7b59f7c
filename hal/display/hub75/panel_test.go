package hub75_test

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/hal/display/hub75"
	"github.com/cityarray/cityarray/hal/display/hub75/hub75test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ctx bounds each wait on the fake device so that a broken refresh loop
// fails the test instead of hanging it; nothing waits on the clock.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// openSession is the call sequence New makes for the default config, with
// the register values from TestSMConfig and the bonnet's 13 pins
// (mask 0x0cf33070 = GPIO 4 5 6 12 13 16 17 20 21 22 23 26 27).
var openSession = []string{
	"ClaimSM()",
	"ConfigXfer(sm=0, size=65532, count=3)",
	"LoadProgram([6000 0081 6021 605f 0020 6000 1885], origin=0)",
	"InitSM(sm=0, pc=2, clkdiv=0x00080000, execctrl=0x40006100, shiftctrl=0x40060000, pinctrl=0x41c04400)",
	"SetPins(sm=0, values=0x10, mask=0xcf33070)",
	"SetPinDirs(sm=0, dirs=0xcf33070, mask=0xcf33070)",
	"SetPIOFunction(gpio=4)", "SetPIOFunction(gpio=5)", "SetPIOFunction(gpio=6)",
	"SetPIOFunction(gpio=12)", "SetPIOFunction(gpio=13)", "SetPIOFunction(gpio=16)",
	"SetPIOFunction(gpio=17)", "SetPIOFunction(gpio=20)", "SetPIOFunction(gpio=21)",
	"SetPIOFunction(gpio=22)", "SetPIOFunction(gpio=23)", "SetPIOFunction(gpio=26)",
	"SetPIOFunction(gpio=27)",
	"SetEnabled(sm=0, true)",
}

var closeSession = []string{
	"SetEnabled(sm=0, false)",
	"UnloadProgram(n=7, origin=0)",
	"UnclaimSM(sm=0)",
	"Close()",
}

func encode(t *testing.T, cfg hub75.Config, levels func(*hub75.Encoder), frame *image.RGBA) []uint32 {
	t.Helper()
	e, err := hub75.NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if levels != nil {
		levels(e)
	}
	s, err := e.Encode(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nextMatching takes transfers until one equals want; a transfer already in
// flight when a new frame is queued may still carry the old one.
func nextMatching(t *testing.T, dev *hub75test.Device, want []uint32) {
	t.Helper()
	for range 3 {
		got, err := dev.Next(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatal("the panel never sent the expected stream")
}

func TestPanelSession(t *testing.T) {
	cfg := hub75.DefaultConfig()
	dev := hub75test.New()
	p, err := hub75.New(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(openSession, dev.Calls()); diff != "" {
		t.Errorf("open session (-want +got):\n%s", diff)
	}
	if got := p.Bounds(); got != image.Rect(0, 0, 64, 32) {
		t.Errorf("Bounds = %v", got)
	}

	// Show: the refresh loop sends the encoded frame, and keeps sending it.
	frame := hub75.TestFrame(64, 32)
	want := encode(t, cfg, nil, frame)
	if err := p.Show(frame); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := dev.Next(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatal("refresh sent a stream other than the shown frame's")
		}
	}
	// The caller may reuse its buffer: the panel keeps its own copy.
	for i := range frame.Pix {
		frame.Pix[i] = 0
	}
	got, err := dev.Next(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("changing the caller's frame after Show changed the panel")
	}
	if p.Refreshes() < 3 {
		t.Errorf("Refreshes = %d, want at least 3", p.Refreshes())
	}

	// SetLevels re-encodes the frame on show at once.
	if err := p.SetLevels(40, 1.8); err != nil {
		t.Fatal(err)
	}
	nextMatching(t, dev, encode(t, cfg, func(e *hub75.Encoder) { e.SetLevels(40, 1.8) }, hub75.TestFrame(64, 32)))
	if err := p.SetLevels(101, 2); err == nil {
		t.Error("SetLevels(101) succeeded")
	}

	// A wrong-sized frame is refused and the panel keeps its picture.
	if err := p.Show(image.NewRGBA(image.Rect(0, 0, 10, 10))); err == nil {
		t.Error("Show accepted a 10x10 frame")
	}

	dev.Release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	calls := dev.Calls()
	if diff := cmp.Diff(closeSession, calls[len(openSession):]); diff != "" {
		t.Errorf("close session (-want +got):\n%s", diff)
	}
	// The last transfer is a dark frame, so the panel is off.
	dark := encode(t, cfg, nil, image.NewRGBA(image.Rect(0, 0, 64, 32)))
	if !slices.Equal(dev.Last(), dark) {
		t.Error("Close did not send a dark frame last")
	}
	if err := p.Show(frame); !errors.Is(err, hub75.ErrClosed) {
		t.Errorf("Show after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, hub75.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// TestPanelRecording is the hardware path without the hardware: the frame
// goes through Show, the refresh loop and Device.Xfer into a file, as the
// DMA would see it, and the file must equal the recorded golden stream and
// show the frame on the model panel.
func TestPanelRecording(t *testing.T) {
	cfg := hub75.DefaultConfig()
	dev := hub75test.New()
	path := filepath.Join(t.TempDir(), "pio0.stream")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dev.RecordTo(f)
	p, err := hub75.New(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	frame := hub75.TestFrame(64, 32)
	if err := p.Show(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Next(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Next returns once the transfer is taken; the recording is written
	// after. A second Next orders us after the first transfer's write.
	if _, err := dev.Next(ctx(t)); err != nil {
		t.Fatal(err)
	}
	dev.RecordTo(nil)
	dev.Release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "frame64x32.stream"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) < len(golden) || string(rec[:len(golden)]) != string(golden) {
		t.Fatalf("recorded %d bytes that do not start with testdata/frame64x32.stream (%d bytes)", len(rec), len(golden))
	}
	words := make([]uint32, len(golden)/4)
	for i := range words {
		words[i] = uint32(rec[4*i]) | uint32(rec[4*i+1])<<8 | uint32(rec[4*i+2])<<16 | uint32(rec[4*i+3])<<24
	}
	e, _ := hub75.NewEncoder(cfg)
	panel, _ := hub75.RunModel(t, cfg, words)
	hub75.CheckShown(t, e, frame, panel)
}

func TestPanelSetupFailureReleases(t *testing.T) {
	boom := errors.New("boom")
	dev := hub75test.New()
	dev.Fail("InitSM", boom)
	_, err := hub75.New(dev, hub75.DefaultConfig())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "hub75: init state machine 0: boom") {
		t.Fatalf("New = %v", err)
	}
	want := []string{
		"ClaimSM()",
		"ConfigXfer(sm=0, size=65532, count=3)",
		"LoadProgram([6000 0081 6021 605f 0020 6000 1885], origin=0)",
		"InitSM(sm=0, pc=2, clkdiv=0x00080000, execctrl=0x40006100, shiftctrl=0x40060000, pinctrl=0x41c04400) failed",
		"UnloadProgram(n=7, origin=0)",
		"UnclaimSM(sm=0)",
	}
	if diff := cmp.Diff(want, dev.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	dev = hub75test.New()
	dev.Fail("ClaimSM", boom)
	if _, err := hub75.New(dev, hub75.DefaultConfig()); err == nil || err.Error() != "hub75: claim a PIO state machine: boom" {
		t.Errorf("New with no free state machine = %v", err)
	}
}

// TestPanelTransferFailure: a failing transfer surfaces in Show, and the
// loop retries on the next Show rather than spinning.
func TestPanelTransferFailure(t *testing.T) {
	boom := errors.New("DMA wait timed out")
	dev := hub75test.New()
	p, err := hub75.New(dev, hub75.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dev.Fail("Xfer", boom)
	frame := hub75.TestFrame(64, 32)
	if err := p.Show(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Next(ctx(t)); err != nil { // failure 1
		t.Fatal(err)
	}
	err2 := p.Show(frame)                       // wakes the loop, which retries
	if _, err := dev.Next(ctx(t)); err != nil { // failure 2: failure 1 is recorded by now
		t.Fatal(err)
	}
	err3 := p.Show(frame)
	if !errors.Is(err2, boom) && !errors.Is(err3, boom) {
		t.Errorf("Show after failed transfers = %v, %v; want %v", err2, err3, boom)
	}
	for _, err := range []error{err2, err3} {
		if err != nil && !strings.HasPrefix(err.Error(), "hub75: refresh: ") {
			t.Errorf("error %q does not say it came from the refresh", err)
		}
	}
	dev.Fail("Xfer", nil)
	dev.Release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
