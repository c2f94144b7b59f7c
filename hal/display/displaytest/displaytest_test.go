package displaytest_test

import (
	"errors"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/display/displaytest"
)

func TestPanelRecords(t *testing.T) {
	p := displaytest.New()
	if p.Bounds() != display.Bounds() {
		t.Fatalf("Bounds = %v", p.Bounds())
	}
	f := display.TestPattern(display.PatternBars)
	if err := p.Show(f); err != nil {
		t.Fatal(err)
	}
	f.SetRGBA(0, 0, color.RGBA{1, 2, 3, 255}) // reused by the caller
	if err := p.Show(f); err != nil {
		t.Fatal(err)
	}
	frames := p.Frames()
	if len(frames) != 2 {
		t.Fatalf("%d frames", len(frames))
	}
	if frames[0].RGBAAt(0, 0) != (color.RGBA{255, 255, 255, 255}) || p.Last().RGBAAt(0, 0) != (color.RGBA{1, 2, 3, 255}) {
		t.Error("the recording is not a copy of each frame")
	}
	if err := p.Show(image.NewRGBA(image.Rect(0, 0, 2, 2))); err == nil {
		t.Error("accepted a 2x2 frame")
	}
	boom := errors.New("boom")
	p.FailShow(boom)
	if err := p.Show(f); err != boom {
		t.Errorf("Show = %v, want boom", err)
	}
	p.FailShow(nil)
	p.SetLevels(20, 2)
	p.FailLevels(boom)
	if err := p.SetLevels(30, 2); err != boom {
		t.Errorf("SetLevels = %v", err)
	}
	if err := p.SetLevels(200, 2); err != boom {
		t.Errorf("SetLevels with a failure set = %v", err)
	}
	p.FailLevels(nil)
	if err := p.SetLevels(200, 2); err == nil {
		t.Error("SetLevels(200) accepted")
	}
	if got := p.Levels(); len(got) != 1 || got[0].Brightness != 20 {
		t.Errorf("Levels = %v", got)
	}
	p.Close()
	if !p.Closed() || p.Show(f) != displaytest.ErrClosed || p.Close() != displaytest.ErrClosed {
		t.Error("Close did not stick")
	}
	if empty := displaytest.New(); empty.Last() != nil {
		t.Error("Last of an empty panel is not nil")
	}
}

func TestRecordAndPlayback(t *testing.T) {
	rec := displaytest.NewRecord(displaytest.New())
	pats := []display.Pattern{display.PatternBars, display.PatternChecker, display.PatternRows}
	for _, p := range pats {
		if err := rec.Show(display.TestPattern(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Show(image.NewRGBA(image.Rect(0, 0, 1, 1))); err == nil {
		t.Error("Record passed on a bad frame")
	}
	pb := displaytest.NewPlayback(rec.Frames()...)
	if pb.Bounds() != display.Bounds() {
		t.Errorf("Bounds = %v", pb.Bounds())
	}
	if err := pb.Done(); err == nil {
		t.Error("Done before any frame")
	}
	for _, p := range pats[:2] {
		if err := pb.Show(display.TestPattern(p)); err != nil {
			t.Fatal(err)
		}
	}
	wrong := display.TestPattern(display.PatternRows)
	wrong.SetRGBA(40, 3, color.RGBA{9, 9, 9, 255})
	err := pb.Show(wrong)
	if err == nil || !strings.Contains(err.Error(), "frame 3: pixel (40,3) is {9 9 9 255}, want {0 0 0 255}") {
		t.Errorf("Show(wrong) = %v", err)
	}
	if err := pb.Show(display.TestPattern(display.PatternRows)); err != nil {
		t.Fatal(err)
	}
	if err := pb.Done(); err != nil {
		t.Error(err)
	}
	if err := pb.Show(display.TestPattern(display.PatternRows)); err == nil || !strings.Contains(err.Error(), "only 3 expected") {
		t.Errorf("extra frame: %v", err)
	}
}

func TestDiff(t *testing.T) {
	a := display.TestPattern(display.PatternBars)
	big := image.NewRGBA(image.Rect(-5, -5, 80, 40))
	sub := big.SubImage(image.Rect(1, 2, 65, 34)).(*image.RGBA)
	display.DrawPattern(sub, display.PatternBars)
	if err := displaytest.Diff(a, sub); err != nil {
		t.Errorf("same picture at another origin: %v", err)
	}
	if err := displaytest.Diff(a, image.NewRGBA(image.Rect(0, 0, 3, 3))); err == nil {
		t.Error("different sizes compared equal")
	}
	if err := displaytest.Diff(nil, nil); err != nil {
		t.Error(err)
	}
	if err := displaytest.Diff(a, nil); err == nil {
		t.Error("nil compared equal")
	}
}

func TestConcurrentUse(t *testing.T) {
	p := displaytest.New()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				p.Show(display.TestPattern(display.PatternChecker))
				p.Frames()
				p.SetLevels(10, 2)
			}
		}()
	}
	wg.Wait()
	if n := len(p.Frames()); n != 100 {
		t.Errorf("%d frames, want 100", n)
	}
}
