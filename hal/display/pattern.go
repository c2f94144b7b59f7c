package display

import (
	"fmt"
	"image"
	"image/color"
	"strings"
)

// Pattern is a test picture for checking a panel by eye: the edge's
// "display test pattern" command and the on-device smoke test show them.
type Pattern int

// The patterns. Checker and CheckerInverse together light every LED once,
// and the solid colours light every LED of one colour: a dead LED, a stuck
// colour line or a short between neighbours shows in one of them.
const (
	PatternBars           Pattern = iota // eight colour bars
	PatternGradient                      // grey, red, green and blue ramps
	PatternChecker                       // one-pixel checkerboard
	PatternCheckerInverse                // the other phase of it
	PatternRed                           // every red LED
	PatternGreen                         // every green LED
	PatternBlue                          // every blue LED
	PatternWhite                         // every LED
	PatternRows                          // a staircase: row y is lit for (y+1) steps
	PatternCorners                       // a border with coloured corners: orientation
	PatternBlack                         // nothing lit
	numPatterns
)

var patternNames = [numPatterns]string{
	"bars", "gradient", "checker", "checker-inverse", "red", "green", "blue", "white", "rows", "corners", "black",
}

var patternDescriptions = [numPatterns]string{
	"eight vertical bars, left to right: white, yellow, cyan, green, magenta, red, blue, black",
	"four horizontal bands ramping from dark at the left to bright at the right: grey, red, green, blue",
	"a one-pixel white checkerboard, white at the top-left corner",
	"the checkerboard with the other phase, black at the top-left corner",
	"every LED red, evenly",
	"every LED green, evenly",
	"every LED blue, evenly",
	"every LED white, evenly",
	"a white staircase from a short top row to a full bottom row, every row one step longer (a stuck address line repeats or skips steps)",
	"a white border; top-left red, top-right green, bottom-left blue, bottom-right white",
	"nothing lit",
}

// String is the pattern's name as ParsePattern takes it.
func (p Pattern) String() string {
	if p < 0 || p >= numPatterns {
		return fmt.Sprintf("Pattern(%d)", int(p))
	}
	return patternNames[p]
}

// Describe says what a person should see when p is on the panel.
func (p Pattern) Describe() string {
	if p < 0 || p >= numPatterns {
		return "unknown pattern"
	}
	return patternDescriptions[p]
}

// Patterns lists every pattern in order.
func Patterns() []Pattern {
	ps := make([]Pattern, numPatterns)
	for i := range ps {
		ps[i] = Pattern(i)
	}
	return ps
}

// ParsePattern returns the pattern with the given name.
func ParsePattern(name string) (Pattern, error) {
	for i, n := range patternNames {
		if strings.EqualFold(name, n) {
			return Pattern(i), nil
		}
	}
	return 0, fmt.Errorf("display: no test pattern %q (have %s)", name, strings.Join(patternNames[:], ", "))
}

// TestPattern returns pattern p as a new Width x Height frame.
func TestPattern(p Pattern) *image.RGBA {
	img := image.NewRGBA(Bounds())
	DrawPattern(img, p)
	return img
}

var bars = [8]color.RGBA{
	{255, 255, 255, 255}, {255, 255, 0, 255}, {0, 255, 255, 255}, {0, 255, 0, 255},
	{255, 0, 255, 255}, {255, 0, 0, 255}, {0, 0, 255, 255}, {0, 0, 0, 255},
}

// DrawPattern draws pattern p over all of dst, whatever its size.
func DrawPattern(dst *image.RGBA, p Pattern) {
	r := dst.Rect
	w, h := r.Dx(), r.Dy()
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{0, 0, 0, 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := black
			switch p {
			case PatternBars:
				c = bars[x*len(bars)/w]
			case PatternGradient:
				v := uint8(x * 255 / max(w-1, 1))
				switch y * 4 / h {
				case 0:
					c = color.RGBA{v, v, v, 255}
				case 1:
					c = color.RGBA{v, 0, 0, 255}
				case 2:
					c = color.RGBA{0, v, 0, 255}
				default:
					c = color.RGBA{0, 0, v, 255}
				}
			case PatternChecker, PatternCheckerInverse:
				if (x+y)%2 == 0 == (p == PatternChecker) {
					c = white
				}
			case PatternRed:
				c = color.RGBA{255, 0, 0, 255}
			case PatternGreen:
				c = color.RGBA{0, 255, 0, 255}
			case PatternBlue:
				c = color.RGBA{0, 0, 255, 255}
			case PatternWhite:
				c = white
			case PatternRows:
				if x < (y+1)*w/h {
					c = white
				}
			case PatternCorners:
				if x == 0 || y == 0 || x == w-1 || y == h-1 {
					c = white
				}
				switch {
				case x < 2 && y < 2:
					c = color.RGBA{255, 0, 0, 255}
				case x >= w-2 && y < 2:
					c = color.RGBA{0, 255, 0, 255}
				case x < 2 && y >= h-2:
					c = color.RGBA{0, 0, 255, 255}
				}
			}
			dst.SetRGBA(r.Min.X+x, r.Min.Y+y, c)
		}
	}
}
