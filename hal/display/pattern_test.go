package display_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/cityarray/cityarray/hal/display"
)

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
)

func TestPatternNames(t *testing.T) {
	for _, p := range display.Patterns() {
		got, err := display.ParsePattern(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePattern(%q) = %v, %v", p, got, err)
		}
		if p.Describe() == "" || p.Describe() == "unknown pattern" {
			t.Errorf("%s has no description", p)
		}
	}
	if _, err := display.ParsePattern("plaid"); err == nil {
		t.Error("ParsePattern(plaid) succeeded")
	}
	if p, _ := display.ParsePattern("BARS"); p != display.PatternBars {
		t.Error("names are not case-insensitive")
	}
	if s := display.Pattern(99).String(); s != "Pattern(99)" {
		t.Errorf("String of an unknown pattern = %q", s)
	}
}

func TestPatternPixels(t *testing.T) {
	at := func(p display.Pattern, x, y int) color.RGBA { return display.TestPattern(p).RGBAAt(x, y) }
	tests := []struct {
		p    display.Pattern
		x, y int
		want color.RGBA
	}{
		{display.PatternBars, 0, 0, white},
		{display.PatternBars, 8, 31, color.RGBA{255, 255, 0, 255}}, // second bar yellow
		{display.PatternBars, 40, 5, color.RGBA{255, 0, 0, 255}},   // sixth bar red
		{display.PatternBars, 63, 0, black},
		{display.PatternGradient, 0, 0, black},
		{display.PatternGradient, 63, 0, white},
		{display.PatternGradient, 63, 8, color.RGBA{255, 0, 0, 255}},
		{display.PatternGradient, 63, 16, color.RGBA{0, 255, 0, 255}},
		{display.PatternGradient, 63, 31, color.RGBA{0, 0, 255, 255}},
		{display.PatternChecker, 0, 0, white},
		{display.PatternChecker, 1, 0, black},
		{display.PatternCheckerInverse, 0, 0, black},
		{display.PatternRows, 1, 0, white},   // row 0: 2 pixels
		{display.PatternRows, 2, 0, black},   //
		{display.PatternRows, 63, 31, white}, // row 31: all 64
		{display.PatternCorners, 0, 0, color.RGBA{255, 0, 0, 255}},
		{display.PatternCorners, 63, 0, color.RGBA{0, 255, 0, 255}},
		{display.PatternCorners, 0, 31, color.RGBA{0, 0, 255, 255}},
		{display.PatternCorners, 63, 31, white},
		{display.PatternCorners, 30, 15, black},
		{display.PatternWhite, 17, 23, white},
		{display.PatternBlack, 17, 23, black},
	}
	for _, tt := range tests {
		if got := at(tt.p, tt.x, tt.y); got != tt.want {
			t.Errorf("%s (%d,%d) = %v, want %v", tt.p, tt.x, tt.y, got, tt.want)
		}
	}
}

// TestCheckerLightsEveryLEDOnce: the two checker phases together light
// every LED exactly once, and the solid colours light every LED of theirs.
func TestCheckerLightsEveryLEDOnce(t *testing.T) {
	a, b := display.TestPattern(display.PatternChecker), display.TestPattern(display.PatternCheckerInverse)
	for y := 0; y < display.Height; y++ {
		for x := 0; x < display.Width; x++ {
			if (a.RGBAAt(x, y) == white) == (b.RGBAAt(x, y) == white) {
				t.Fatalf("(%d,%d) lit in both phases or neither", x, y)
			}
		}
	}
	for _, p := range []display.Pattern{display.PatternRed, display.PatternGreen, display.PatternBlue} {
		img := display.TestPattern(p)
		first := img.RGBAAt(0, 0)
		for y := 0; y < display.Height; y++ {
			for x := 0; x < display.Width; x++ {
				if img.RGBAAt(x, y) != first {
					t.Fatalf("%s not uniform at (%d,%d)", p, x, y)
				}
			}
		}
	}
}

// TestRowsStaircase: every row has its own length, so a stuck address line
// (two rows showing the same data) is visible.
func TestRowsStaircase(t *testing.T) {
	img := display.TestPattern(display.PatternRows)
	seen := map[int]int{}
	for y := 0; y < display.Height; y++ {
		n := 0
		for x := 0; x < display.Width; x++ {
			if img.RGBAAt(x, y) == white {
				n++
			}
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("rows %d and %d both have %d lit", prev, y, n)
		}
		seen[n] = y
	}
}

func TestDrawPatternAnySize(t *testing.T) {
	img := image.NewRGBA(image.Rect(10, 20, 13, 21)) // 3x1 at an offset
	display.DrawPattern(img, display.PatternBars)
	if img.RGBAAt(10, 20) != white || img.RGBAAt(12, 20) == white {
		t.Errorf("3x1 bars: %v %v", img.RGBAAt(10, 20), img.RGBAAt(12, 20))
	}
}
