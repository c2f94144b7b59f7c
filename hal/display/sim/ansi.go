package sim

import (
	"bytes"
	"io"
	"strconv"
)

// WriteANSI draws the panel in a true-colour terminal: one line per two LED
// rows, each character an upper half block (▀) whose foreground is the
// upper LED and background the lower, so a 64x32 panel is 64 columns by 16
// lines. Colour codes are sent only where the colour changes, and every
// line ends with a reset.
func (p *Panel) WriteANSI(w io.Writer) error {
	p.mu.Lock()
	shown := p.shownLocked()
	var b bytes.Buffer
	b.Grow(p.rect.Dx() * p.rect.Dy() * 12)
	h := p.rect.Dy()
	for y := 0; y < h; y += 2 {
		var fg, bg [3]uint8
		first := true
		for x := 0; x < p.rect.Dx(); x++ {
			i := y*shown.Stride + 4*x
			top := [3]uint8{shown.Pix[i], shown.Pix[i+1], shown.Pix[i+2]}
			var bot [3]uint8
			if y+1 < h {
				j := i + shown.Stride
				bot = [3]uint8{shown.Pix[j], shown.Pix[j+1], shown.Pix[j+2]}
			}
			if first || top != fg {
				writeSGR(&b, 38, top)
				fg = top
			}
			if first || bot != bg {
				writeSGR(&b, 48, bot)
				bg = bot
			}
			first = false
			b.WriteString("▀")
		}
		b.WriteString("\x1b[0m\n")
	}
	p.mu.Unlock()
	_, err := w.Write(b.Bytes())
	return err
}

// writeSGR writes ESC[38;2;R;G;Bm (foreground) or ESC[48;2;R;G;Bm
// (background).
func writeSGR(b *bytes.Buffer, layer int, c [3]uint8) {
	b.WriteString("\x1b[")
	b.WriteString(strconv.Itoa(layer))
	b.WriteString(";2;")
	b.WriteString(strconv.Itoa(int(c[0])))
	b.WriteByte(';')
	b.WriteString(strconv.Itoa(int(c[1])))
	b.WriteByte(';')
	b.WriteString(strconv.Itoa(int(c[2])))
	b.WriteByte('m')
}
