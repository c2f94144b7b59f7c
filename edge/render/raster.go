package render

import (
	"image"
	"image/draw"
	"math"

	"github.com/go-text/typesetting/font"
	ot "github.com/go-text/typesetting/font/opentype"
)

// maxStrip caps a line's strip, in pixels (16 rows of one byte each):
// 400 CJK characters take 6,400.
const maxStrip = 8192

// coverage maps the rasteriser's anti-aliased coverage to what is stored:
// a little darker strokes (thin Noto stems at 14 px are otherwise dim next
// to full-on Unifont pixels) and 16 levels, which is what a HUB75 panel
// shows of a grey anyway and keeps golden images stable across CPUs.
var coverage = func() (t [256]uint8) {
	for i := range t {
		v := math.Pow(float64(i)/255, 0.75)
		t[i] = uint8(math.Round(v*15) * 17)
	}
	return t
}()

// rasterize draws a shaped line into a strip of width x lineHeight coverage
// bytes, row-major.
func (r *Renderer) rasterize(sh shaped) (strip []uint8, width int) {
	width = min(max(sh.width, 1), maxStrip)
	strip = make([]uint8, width*lineHeight)
	for _, g := range sh.glyphs {
		if g.face == nil {
			drawBitmap(strip, width, int(g.x), g.bm)
		} else {
			r.drawOutline(strip, width, g)
		}
	}
	if sh.badge {
		r.drawBadge(strip, width, sh.badgeX)
	}
	return strip, width
}

// drawBadge fills the badge box and knocks "TEST" out of it.
func (r *Renderer) drawBadge(strip []uint8, width, x0 int) {
	for y := 1; y < lineHeight-1; y++ {
		for x := x0; x < min(x0+badgeWidth, width); x++ {
			strip[y*width+x] = 255
		}
	}
	for i, c := range "TEST" {
		g, ok := r.bitmap(c, false)
		if !ok {
			continue
		}
		bx := x0 + 2 + i*8
		for y := range lineHeight {
			b := g.rows[y*(g.width/8)]
			for bit := range 8 {
				if x := bx + bit; b&(0x80>>bit) != 0 && x < width {
					strip[y*width+x] = 0
				}
			}
		}
	}
}

func drawBitmap(strip []uint8, width, x0 int, g bitmapGlyph) {
	bpr := g.width / 8
	for y := range lineHeight {
		row := strip[y*width : (y+1)*width]
		for bx := range bpr {
			b := g.rows[y*bpr+bx]
			for bit := range 8 {
				if b&(0x80>>bit) == 0 {
					continue
				}
				if x := x0 + bx*8 + bit; x >= 0 && x < width {
					row[x] = 255
				}
			}
		}
	}
}

// drawOutline rasterises one Noto glyph with anti-aliasing
// (x/image/vector) into a scratch mask the size of its bounds, then merges
// the mask into the strip.
func (r *Renderer) drawOutline(strip []uint8, width int, g placed) {
	f := g.face
	o, ok := f.face.GlyphData(g.gid).(font.GlyphOutline)
	if !ok || len(o.Segments) == 0 {
		return
	}
	upem := float32(f.face.Upem())
	sx, sy := f.size/upem, f.ysize/upem
	ox, oy := g.x, f.baseline-g.dy
	pt := func(p ot.SegmentPoint) (float32, float32) {
		return ox + float32(p.X*sx), oy - float32(p.Y*sy)
	}
	minX, minY := float32(math.Inf(1)), float32(math.Inf(1))
	maxX, maxY := float32(math.Inf(-1)), float32(math.Inf(-1))
	for _, s := range o.Segments {
		for _, p := range s.ArgsSlice() {
			x, y := pt(p)
			minX, maxX = min(minX, x), max(maxX, x)
			minY, maxY = min(minY, y), max(maxY, y)
		}
	}
	// The box, clipped to the strip.
	x0, y0 := max(int(math.Floor(float64(minX))), 0), max(int(math.Floor(float64(minY))), 0)
	x1, y1 := min(int(math.Ceil(float64(maxX))), width), min(int(math.Ceil(float64(maxY))), lineHeight)
	if x1 <= x0 || y1 <= y0 {
		return
	}
	w, h := x1-x0, y1-y0
	r.rast.Reset(w, h)
	fx, fy := float32(x0), float32(y0)
	for _, s := range o.Segments {
		a := s.ArgsSlice()
		switch s.Op {
		case ot.SegmentOpMoveTo:
			x, y := pt(a[0])
			r.rast.MoveTo(x-fx, y-fy)
		case ot.SegmentOpLineTo:
			x, y := pt(a[0])
			r.rast.LineTo(x-fx, y-fy)
		case ot.SegmentOpQuadTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			r.rast.QuadTo(bx-fx, by-fy, cx-fx, cy-fy)
		case ot.SegmentOpCubeTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			dx, dy := pt(a[2])
			r.rast.CubeTo(bx-fx, by-fy, cx-fx, cy-fy, dx-fx, dy-fy)
		}
	}
	r.rast.ClosePath()
	if cap(r.mask.Pix) < w*h {
		r.mask.Pix = make([]uint8, w*h)
	}
	r.mask.Pix = r.mask.Pix[:w*h]
	r.mask.Stride = w
	r.mask.Rect = image.Rect(0, 0, w, h)
	r.rast.DrawOp = draw.Src
	r.rast.Draw(&r.mask, r.mask.Rect, image.Opaque, image.Point{})
	for y := range h {
		row := strip[(y0+y)*width+x0 : (y0+y)*width+x1]
		src := r.mask.Pix[y*w : (y+1)*w]
		for x, a := range src {
			if c := coverage[a]; c > row[x] {
				row[x] = c
			}
		}
	}
}
