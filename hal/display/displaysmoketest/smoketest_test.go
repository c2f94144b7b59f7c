package displaysmoketest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/display/displaysmoketest"
	"github.com/cityarray/cityarray/hal/display/displaytest"
	"github.com/cityarray/cityarray/hal/display/hub75"
	"github.com/cityarray/cityarray/hal/display/hub75/hub75test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// instant is a Wait that does not wait, counting the holds.
type instant struct{ holds []time.Duration }

func (i *instant) Wait(ctx context.Context, d time.Duration) error {
	i.holds = append(i.holds, d)
	return ctx.Err()
}

// ticker is a clock that moves 1 ms per reading.
type ticker struct{ t time.Time }

func (c *ticker) Now() time.Time { c.t = c.t.Add(time.Millisecond); return c.t }

func TestRunShowsEverything(t *testing.T) {
	fake := displaytest.New()
	var out bytes.Buffer
	wait := &instant{}
	err := displaysmoketest.Run(context.Background(), fake, &out, displaysmoketest.Options{
		Hold:   time.Second,
		Wait:   wait.Wait,
		Now:    (&ticker{}).Now,
		Frames: 10,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	n := len(display.Patterns())
	frames := fake.Frames()
	// Each pattern, the gradient for the level steps, 10 rate frames, black.
	if len(frames) != n+1+10+1 {
		t.Errorf("%d frames shown, want %d", len(frames), n+12)
	}
	for i, p := range display.Patterns() {
		if err := displaytest.Diff(display.TestPattern(p), frames[i]); err != nil {
			t.Errorf("frame %d is not %s: %v", i, p, err)
		}
	}
	if err := displaytest.Diff(display.TestPattern(display.PatternBlack), fake.Last()); err != nil {
		t.Errorf("the panel is not left dark: %v", err)
	}
	levels := fake.Levels()
	if len(levels) != 5 || levels[4] != (displaytest.Levels{Brightness: 100, Gamma: 2.2}) {
		t.Errorf("levels %v, want four steps then 100/2.2 restored", levels)
	}
	if len(wait.holds) != n+4 {
		t.Errorf("%d holds, want %d", len(wait.holds), n+4)
	}
	for _, want := range []string{
		"display smoke test: 64x32 panel",
		"pattern 1/11 bars: you should see eight vertical bars",
		"pattern 9/11 rows: you should see a white staircase",
		"levels brightness 10 gamma 2.2: you should see the gradient dim",
		"10 frames in",
		"display smoke test passed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunOperatorRejects(t *testing.T) {
	fake := displaytest.New()
	var out bytes.Buffer
	answers := strings.NewReader("y\nn\n\nyes\nNO\n")
	err := displaysmoketest.Run(context.Background(), fake, &out, displaysmoketest.Options{
		Wait:     (&instant{}).Wait,
		Confirm:  answers,
		Patterns: []display.Pattern{display.PatternBars, display.PatternGradient},
		Frames:   2,
	})
	if err == nil {
		t.Fatal("Run passed with rejected steps")
	}
	msg := err.Error()
	for _, want := range []string{
		"displaysmoketest: pattern 2/2 gradient: the operator saw a fault",
		"displaysmoketest: levels brightness 10 gamma 2.2: the operator saw a fault",
		"displaysmoketest: levels brightness 100 gamma 1.0: no answer from the operator",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(out.String(), "FAILED: 3 problems") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRunPanelErrors(t *testing.T) {
	fake := displaytest.New()
	fake.FailShow(errors.New("no panel"))
	err := displaysmoketest.Run(context.Background(), fake, &bytes.Buffer{}, displaysmoketest.Options{
		Wait: (&instant{}).Wait, Patterns: []display.Pattern{display.PatternRed}, Frames: 3,
	})
	if err == nil || !strings.Contains(err.Error(), "pattern 1/1 red: no panel") || !strings.Contains(err.Error(), "blank: no panel") {
		t.Errorf("Run = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := displaysmoketest.Run(ctx, displaytest.New(), &bytes.Buffer{}, displaysmoketest.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v", err)
	}
}

// TestRunOnHUB75 runs the smoke test through the real hub75 driver on a fake
// PIO device, as far as that goes without a Pi: the refresh rate shows.
func TestRunOnHUB75(t *testing.T) {
	dev := hub75test.New()
	dev.Release() // transfers complete at once
	p, err := hub75.New(dev, hub75.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := displaysmoketest.Run(context.Background(), p, &out, displaysmoketest.Options{
		Wait: (&instant{}).Wait, Now: (&ticker{}).Now, Frames: 5,
	}); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "display smoke test passed") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestDevice runs the smoke test on a real panel. It needs a Raspberry Pi 5
// with a panel on the bonnet and a person watching.
func TestDevice(t *testing.T) {
	if testing.Short() || os.Getenv("CITYARRAY_INTEG") == "" {
		t.Skip("hardware: set CITYARRAY_INTEG=1 (not with testing.Short) on a Raspberry Pi 5 with a HUB75 panel")
	}
	d, err := display.Open(display.DefaultConfig(), display.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.Status(); !st.OK() {
		t.Fatalf("panel fault: %s", st.Fault)
	}
	opts := displaysmoketest.Options{Hold: 2 * time.Second}
	if os.Getenv("CITYARRAY_INTEG_CONFIRM") != "" {
		opts.Confirm = os.Stdin
	}
	if err := displaysmoketest.Run(context.Background(), d, os.Stdout, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("status after the smoke test: %+v", d.Status())
}
