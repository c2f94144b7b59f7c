package displaysmoketest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"strings"
	"time"

	"github.com/cityarray/cityarray/hal/display"
)

// Options tune Run.
type Options struct {
	// Hold is how long each step stays on the panel (default 3 s).
	Hold time.Duration
	// Wait waits for d or until ctx ends; nil uses a timer. Tests pass a
	// function that returns at once.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock for the frame-rate step; nil uses time.Now.
	Now func() time.Time
	// Confirm, if set, is where the operator answers "ok? [Y/n]" after
	// each step (a terminal's stdin); an answer starting with n fails the
	// step. Without it the run is unattended: watch the panel.
	Confirm io.Reader
	// Patterns to show; nil shows every pattern.
	Patterns []display.Pattern
	// Frames is how many frames the frame-rate step shows (default 200).
	Frames int
}

// refresher is a panel that counts its own refreshes (hub75.Panel and a
// display.Display wrapping one).
type refresher interface{ Refreshes() uint64 }

// Run walks a person through checking panel p, writing what to expect to w:
// every test pattern, brightness and gamma steps, a burst of frames to
// measure the frame rate (and the refresh rate, if the panel counts its
// refreshes), then a dark panel. It returns every failure, joined: a panel
// error, or a step the operator rejected.
func Run(ctx context.Context, p display.Panel, w io.Writer, opts Options) error {
	if opts.Hold <= 0 {
		opts.Hold = 3 * time.Second
	}
	if opts.Wait == nil {
		opts.Wait = sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Patterns == nil {
		opts.Patterns = display.Patterns()
	}
	if opts.Frames <= 0 {
		opts.Frames = 200
	}
	var answers *bufio.Scanner
	if opts.Confirm != nil {
		answers = bufio.NewScanner(opts.Confirm)
	}
	var failures []error
	fail := func(step string, err error) {
		failures = append(failures, fmt.Errorf("displaysmoketest: %s: %w", step, err))
		fmt.Fprintf(w, "  FAIL: %v\n", err)
	}
	frame := image.NewRGBA(p.Bounds())
	fmt.Fprintf(w, "display smoke test: %dx%d panel, %d patterns, %v each\n", frame.Rect.Dx(), frame.Rect.Dy(), len(opts.Patterns), opts.Hold)

	// step shows something, waits, and asks. It returns false when ctx
	// ended and the run should stop.
	step := func(name, expect string, show func() error) bool {
		fmt.Fprintf(w, "%s: you should see %s\n", name, expect)
		if err := show(); err != nil {
			fail(name, err)
			return ctx.Err() == nil
		}
		if err := opts.Wait(ctx, opts.Hold); err != nil {
			fail(name, err)
			return false
		}
		if answers != nil {
			fmt.Fprint(w, "  ok? [Y/n] ")
			if !answers.Scan() {
				fail(name, errors.New("no answer from the operator"))
				answers = nil
				return true
			}
			if a := strings.ToLower(strings.TrimSpace(answers.Text())); strings.HasPrefix(a, "n") {
				fail(name, errors.New("the operator saw a fault"))
			}
		}
		return true
	}

	for i, pat := range opts.Patterns {
		name := fmt.Sprintf("pattern %d/%d %s", i+1, len(opts.Patterns), pat)
		if !step(name, pat.Describe(), func() error {
			display.DrawPattern(frame, pat)
			return p.Show(frame)
		}) {
			return errors.Join(failures...)
		}
	}

	levels := []struct {
		b      uint8
		g      float64
		expect string
	}{
		{100, display.DefaultGamma, "the gradient at full brightness"},
		{50, display.DefaultGamma, "the gradient dimmer"},
		{10, display.DefaultGamma, "the gradient dim but every band still visible"},
		{100, 1.0, "the gradient with gamma 1: the dark ends look brighter and washed out"},
	}
	display.DrawPattern(frame, display.PatternGradient)
	if err := p.Show(frame); err != nil {
		fail("levels", err)
	}
	for _, l := range levels {
		name := fmt.Sprintf("levels brightness %d gamma %.1f", l.b, l.g)
		if !step(name, l.expect, func() error { return p.SetLevels(l.b, l.g) }) {
			return errors.Join(failures...)
		}
	}
	if err := p.SetLevels(display.DefaultBrightness, display.DefaultGamma); err != nil {
		fail("restore levels", err)
	}

	// Frame rate: alternate the checkerboard phases as fast as Show takes
	// them (the panel looks grey).
	var refreshes func() uint64
	if r, ok := p.(refresher); ok {
		refreshes = r.Refreshes
	}
	var r0 uint64
	if refreshes != nil {
		r0 = refreshes()
	}
	fmt.Fprintf(w, "frame rate: showing %d frames\n", opts.Frames)
	start := opts.Now()
	for i := 0; i < opts.Frames; i++ {
		display.DrawPattern(frame, display.PatternChecker+display.Pattern(i%2))
		if err := p.Show(frame); err != nil {
			fail("frame rate", err)
			break
		}
	}
	if el := opts.Now().Sub(start); el > 0 {
		fmt.Fprintf(w, "  %d frames in %v: %.0f frames/s\n", opts.Frames, el.Round(time.Millisecond), float64(opts.Frames)/el.Seconds())
		if refreshes != nil && refreshes() > r0 {
			fmt.Fprintf(w, "  panel refreshed %d times: %.0f Hz\n", refreshes()-r0, float64(refreshes()-r0)/el.Seconds())
		}
	}

	display.DrawPattern(frame, display.PatternBlack)
	if err := p.Show(frame); err != nil {
		fail("blank", err)
	}
	if len(failures) == 0 {
		fmt.Fprintln(w, "display smoke test passed")
	} else {
		fmt.Fprintf(w, "display smoke test FAILED: %d problems\n", len(failures))
	}
	return errors.Join(failures...)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
