package render

import (
	"image"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Scene is a prepared alert: its text laid out, shaped and rasterised once
// into off-screen strips, and the band drawn. Frame only copies pixels, so
// a Scene can be shown for hours at no cost. A Scene is immutable; Frame
// may be called from several goroutines at once.
type Scene struct {
	chrome    [Width * Height * 4]byte
	pal       [256][4]byte // text colour at each coverage
	lines     []sceneLine
	period    time.Duration
	rtl       bool
	test      bool
	tier      record.Tier
	missing   []rune
	text      []string
	truncated bool
}

// sceneLine is one line of text on the panel.
type sceneLine struct {
	strip  []uint8 // width x lineHeight coverage, row-major
	width  int
	y0     int // top row on the panel
	x0     int // left column on the panel, when still
	scroll bool
	rtl    bool // scrolls left to right
	tape   int  // width + gap: the scroll distance of one pass
	hold   time.Duration
	perPx  time.Duration
	pass   time.Duration // hold + tape*perPx
}

// Frame draws the scene as it is elapsed after it started into the 64x32
// pixels at dst.Rect.Min (clipped to dst). Text that fits stands still;
// text that does not holds at its start, then scrolls (towards the left,
// or towards the right for right-to-left text) and comes round again
// every Period. Frame does not allocate.
func (s *Scene) Frame(dst *image.RGBA, elapsed time.Duration) {
	b := dst.Rect
	w, h := min(Width, b.Dx()), min(Height, b.Dy())
	if w <= 0 || h <= 0 {
		return
	}
	for y := range h {
		off := dst.PixOffset(b.Min.X, b.Min.Y+y)
		copy(dst.Pix[off:off+w*4], s.chrome[y*Width*4:(y*Width+w)*4])
	}
	if elapsed < 0 {
		elapsed = 0
	}
	for i := range s.lines {
		s.lines[i].draw(dst, w, h, elapsed, &s.pal)
	}
}

// offset is how far the line has scrolled at elapsed, in [0, tape).
func (l *sceneLine) offset(elapsed time.Duration) int {
	if !l.scroll || l.pass <= 0 {
		return 0
	}
	e := elapsed % l.pass
	if e < l.hold {
		return 0
	}
	p := int((e - l.hold) / l.perPx)
	if p >= l.tape {
		return 0
	}
	return p
}

func (l *sceneLine) draw(dst *image.RGBA, w, h int, elapsed time.Duration, pal *[256][4]byte) {
	p := l.offset(elapsed)
	right := min(textLeft+textWidth, w) // one past the last column drawn
	for row := range lineHeight {
		y := l.y0 + row
		if y >= h {
			return
		}
		src := l.strip[row*l.width : (row+1)*l.width]
		out := dst.Pix[dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y+y):]
		switch {
		case !l.scroll:
			for x := max(l.x0, textLeft); x < min(l.x0+l.width, right); x++ {
				if a := src[x-l.x0]; a != 0 {
					copy(out[x*4:x*4+4], pal[a][:])
				}
			}
		case !l.rtl:
			// Column textLeft shows tape position p; the tape is the strip
			// then the gap, repeated.
			t := p
			for x := textLeft; x < right; x++ {
				if t < l.width {
					if a := src[t]; a != 0 {
						copy(out[x*4:x*4+4], pal[a][:])
					}
				}
				if t++; t == l.tape {
					t = 0
				}
			}
		default:
			// Mirrored: the rightmost column shows the strip's right end
			// (where right-to-left text starts) moved right by p.
			t := p
			for x := textLeft + textWidth - 1; x >= textLeft; x-- {
				if t < l.width && x < right {
					if a := src[l.width-1-t]; a != 0 {
						copy(out[x*4:x*4+4], pal[a][:])
					}
				}
				if t++; t == l.tape {
					t = 0
				}
			}
		}
	}
}

// Period is how long one full pass of the scene takes: the longest line's
// hold and scroll, or Options.Dwell when all text stands still. A caller
// that rotates languages switches scenes at a multiple of it.
func (s *Scene) Period() time.Duration { return s.period }

// Missing returns the characters no available font could draw, sorted and
// without repeats. They are left out of the frame (never drawn as boxes).
func (s *Scene) Missing() []rune { return append([]rune(nil), s.missing...) }

// Scrolls reports whether any line of the scene scrolls.
func (s *Scene) Scrolls() bool {
	for _, l := range s.lines {
		if l.scroll {
			return true
		}
	}
	return false
}

// Lines returns the text of each line shown, after sanitising: none, one
// or two.
func (s *Scene) Lines() []string { return append([]string(nil), s.text...) }

// RightToLeft reports whether the scene's paragraph direction is right to
// left (Arabic), which is also the direction it scrolls in.
func (s *Scene) RightToLeft() bool { return s.rtl }

// Truncated reports whether the text was cut to Options.MaxRunes.
func (s *Scene) Truncated() bool { return s.truncated }

// Test reports whether the scene is in TEST mode.
func (s *Scene) Test() bool { return s.test }

// Tier returns the scene's tier.
func (s *Scene) Tier() record.Tier { return s.tier }
