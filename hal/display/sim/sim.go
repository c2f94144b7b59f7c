package sim

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// Config sets up a simulated panel.
type Config struct {
	// Width is the panel width in LEDs (64).
	Width int `yaml:"width"`
	// Height is the panel height in LEDs (32).
	Height int `yaml:"height"`
	// Scale is the size of one LED in the PNG, in pixels (1..32).
	Scale int `yaml:"scale"`
	// DumpDir, if set, receives frames as frame-NNNNNN.png.
	DumpDir string `yaml:"dump_dir"`
	// DumpEvery writes every Nth shown frame; 0 writes each frame that
	// differs from the one before.
	DumpEvery int `yaml:"dump_every"`
	// Title heads the HTML page.
	Title string `yaml:"title"`
}

// DefaultConfig is a 64x32 panel drawn at 8 pixels per LED, no dump.
func DefaultConfig() Config {
	return Config{Width: 64, Height: 32, Scale: 8, Title: "CITYARRAY pole"}
}

// Limits checked by Validate.
const (
	MaxSize  = 1024
	MaxScale = 32
)

// Validate reports every problem with the configuration, joined.
func (c Config) Validate() error {
	var errs []error
	if c.Width < 1 || c.Width > MaxSize || c.Height < 1 || c.Height > MaxSize {
		errs = append(errs, fmt.Errorf("sim: size %dx%d is outside 1..%d", c.Width, c.Height, MaxSize))
	}
	if c.Scale < 1 || c.Scale > MaxScale {
		errs = append(errs, fmt.Errorf("sim: scale %d is outside 1..%d", c.Scale, MaxScale))
	}
	if c.DumpEvery < 0 {
		errs = append(errs, fmt.Errorf("sim: dump_every %d is negative", c.DumpEvery))
	}
	return errors.Join(errs...)
}

// Level limits, as for the real panel.
const (
	MaxBrightness = 100
	MinGamma      = 1.0
	MaxGamma      = 3.0
)

// screenGamma is the gamma of the screen that shows the PNG (sRGB is close
// to 2.2).
const screenGamma = 2.2

// Panel is a simulated LED matrix. It keeps the last frame and renders it
// only when asked (PNG, terminal, HTTP), caching the PNG until the picture
// changes, so a process can hold hundreds of them; it starts no goroutine.
// It is safe for concurrent use.
type Panel struct {
	cfg  Config
	rect image.Rectangle

	mu         sync.Mutex
	frame      *image.RGBA // as shown by the caller
	frames     uint64      // Show calls that succeeded
	version    uint64      // bumps when what the panel shows changes
	brightness uint8
	gamma      float64
	lut        [256]uint8
	closed     bool

	shown        *image.RGBA // frame with levels applied, for shownVersion
	shownVersion uint64
	// pngs caches encodings: [0] at Config.Scale, [1] at the last other
	// scale asked for (a thumbnail, say).
	pngs [2]pngCache
}

// pngCache is one cached PNG encoding.
type pngCache struct {
	scale   int
	dot     []bool // scale x scale mask of an LED's lit disc
	version uint64
	ok      bool
	buf     bytes.Buffer
}

// New returns a dark panel at full brightness and gamma 2.2.
func New(cfg Config) (*Panel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DumpDir != "" {
		if err := os.MkdirAll(cfg.DumpDir, 0o755); err != nil {
			return nil, fmt.Errorf("sim: dump directory: %w", err)
		}
	}
	p := &Panel{
		cfg:          cfg,
		rect:         image.Rect(0, 0, cfg.Width, cfg.Height),
		frame:        image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height)),
		shownVersion: ^uint64(0),
	}
	p.pngs[0] = pngCache{scale: cfg.Scale, dot: dotMask(cfg.Scale)}
	if err := p.SetLevels(MaxBrightness, 2.2); err != nil {
		return nil, err
	}
	p.version = 0
	return p, nil
}

// dotMask marks the pixels of a Scale-wide cell that belong to the LED's
// disc, leaving a dark gap between LEDs as on a real panel.
func dotMask(s int) []bool {
	m := make([]bool, s*s)
	if s < 3 {
		for i := range m {
			m[i] = true
		}
		return m
	}
	c := float64(s-1) / 2
	r := 0.42 * float64(s)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			dx, dy := float64(x)-c, float64(y)-c
			m[y*s+x] = dx*dx+dy*dy <= r*r
		}
	}
	return m
}

// Bounds implements display.Panel.
func (p *Panel) Bounds() image.Rectangle { return p.rect }

// Show implements display.Panel: it copies frame, and writes it to DumpDir
// when the dump rules say so.
func (p *Panel) Show(frame *image.RGBA) error {
	if frame == nil {
		return fmt.Errorf("sim: show: nil frame")
	}
	if got := frame.Rect.Size(); got != p.rect.Size() {
		return fmt.Errorf("sim: show: frame is %dx%d, panel is %dx%d", got.X, got.Y, p.rect.Dx(), p.rect.Dy())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	changed := false
	n := 4 * p.rect.Dx()
	for y := 0; y < p.rect.Dy(); y++ {
		dst := p.frame.Pix[y*p.frame.Stride : y*p.frame.Stride+n]
		src := frame.Pix[y*frame.Stride : y*frame.Stride+n]
		if !changed && !bytes.Equal(dst, src) {
			changed = true
		}
		copy(dst, src)
	}
	p.frames++
	if changed {
		p.version++
	}
	if p.cfg.DumpDir == "" {
		return nil
	}
	if (p.cfg.DumpEvery == 0 && changed) || (p.cfg.DumpEvery > 0 && (p.frames-1)%uint64(p.cfg.DumpEvery) == 0) {
		if err := p.dumpLocked(); err != nil {
			return fmt.Errorf("sim: dump frame %d: %w", p.frames, err)
		}
	}
	return nil
}

// dumpLocked writes the current picture as frame-NNNNNN.png, through a
// temporary file so that a watcher never reads half a PNG.
func (p *Panel) dumpLocked() error {
	b, err := p.pngLocked(p.cfg.Scale)
	if err != nil {
		return err
	}
	name := filepath.Join(p.cfg.DumpDir, fmt.Sprintf("frame-%06d.png", p.frames))
	tmp, err := os.CreateTemp(p.cfg.DumpDir, ".frame-*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// SetLevels implements display.Panel. The panel shows what the LEDs would
// emit: light proportional to brightness × (v/255)^gamma, encoded for a
// screen of gamma 2.2. So gamma 2.2 at full brightness shows the frame
// unchanged, lower brightness darkens it, and gamma 1 looks washed out, as
// an uncorrected LED panel does.
func (p *Panel) SetLevels(brightness uint8, gamma float64) error {
	if brightness > MaxBrightness {
		return fmt.Errorf("sim: brightness %d is above %d", brightness, MaxBrightness)
	}
	if math.IsNaN(gamma) || gamma < MinGamma || gamma > MaxGamma {
		return fmt.Errorf("sim: gamma %v is outside %.1f..%.1f", gamma, MinGamma, MaxGamma)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if brightness == p.brightness && gamma == p.gamma {
		return nil
	}
	b := float64(brightness) / MaxBrightness
	for v := range p.lut {
		light := b * math.Pow(float64(v)/255, gamma)
		p.lut[v] = uint8(math.Round(255 * math.Pow(light, 1/screenGamma)))
	}
	p.brightness, p.gamma = brightness, gamma
	p.version++
	return nil
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("sim: panel closed")

// Close implements display.Panel. The last picture stays readable.
func (p *Panel) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	return nil
}

// Frames counts the frames shown.
func (p *Panel) Frames() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames
}

// Version changes whenever what the panel shows changes: a different frame
// or different levels. Showing the same frame again keeps it.
func (p *Panel) Version() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// Levels returns the brightness and gamma in use.
func (p *Panel) Levels() (brightness uint8, gamma float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.brightness, p.gamma
}

// shownLocked returns the frame with levels applied, one colour per LED.
func (p *Panel) shownLocked() *image.RGBA {
	if p.shown != nil && p.shownVersion == p.version {
		return p.shown
	}
	if p.shown == nil {
		p.shown = image.NewRGBA(p.rect)
	}
	for i := 0; i < len(p.frame.Pix); i += 4 {
		p.shown.Pix[i] = p.lut[p.frame.Pix[i]]
		p.shown.Pix[i+1] = p.lut[p.frame.Pix[i+1]]
		p.shown.Pix[i+2] = p.lut[p.frame.Pix[i+2]]
		p.shown.Pix[i+3] = 255
	}
	p.shownVersion = p.version
	return p.shown
}

// Snapshot returns a copy of what the panel shows, one pixel per LED.
func (p *Panel) Snapshot() *image.RGBA {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.shownLocked()
	c := image.NewRGBA(s.Rect)
	copy(c.Pix, s.Pix)
	return c
}

// Colours of the LED picture: the panel between LEDs, and an LED that is off.
var (
	panelColour = color.RGBA{8, 8, 8, 255}
	offColour   = color.RGBA{28, 28, 28, 255}
)

// LEDImage returns the picture as the PNG shows it: Scale pixels per LED,
// each a disc on a dark panel.
func (p *Panel) LEDImage() *image.RGBA {
	p.mu.Lock()
	defer p.mu.Unlock()
	shown := p.shownLocked()
	sc := p.cfg.Scale
	img := image.NewRGBA(image.Rect(0, 0, p.rect.Dx()*sc, p.rect.Dy()*sc))
	p.drawLEDs(sc, p.pngs[0].dot, func(x, y int, row []bool, dy int) {
		c := shown.RGBAAt(x, y)
		if c == (color.RGBA{A: 255}) {
			c = offColour
		}
		line := img.Pix[(y*sc+dy)*img.Stride+4*x*sc:]
		for dx, lit := range row {
			col := panelColour
			if lit {
				col = c
			}
			line[4*dx], line[4*dx+1], line[4*dx+2], line[4*dx+3] = col.R, col.G, col.B, 255
		}
	})
	return img
}

// drawLEDs calls cell for every row dy of every LED's sc-wide cell, with
// that row of the disc mask dot.
func (p *Panel) drawLEDs(sc int, dot []bool, cell func(x, y int, mask []bool, dy int)) {
	for y := 0; y < p.rect.Dy(); y++ {
		for dy := 0; dy < sc; dy++ {
			mask := dot[dy*sc : (dy+1)*sc]
			for x := 0; x < p.rect.Dx(); x++ {
				cell(x, y, mask, dy)
			}
		}
	}
}

// bufPool shares the scaled picture buffers and PNG encoder state among all
// panels, so that hundreds of panels hold only their frames and PNG bytes.
var bufPool = struct {
	paletted, rgba sync.Pool
	enc            pngPool
}{}

type pngPool struct{ p sync.Pool }

// Get implements png.EncoderBufferPool.
func (pp *pngPool) Get() *png.EncoderBuffer {
	b, _ := pp.p.Get().(*png.EncoderBuffer)
	return b
}

// Put implements png.EncoderBufferPool.
func (pp *pngPool) Put(b *png.EncoderBuffer) { pp.p.Put(b) }

// pngLocked returns the PNG of the LED picture at sc pixels per LED,
// encoding it only when the picture changed since the last call at that
// scale. Pictures of up to 255 colours (text on a pole is a few) are
// written paletted, several times faster to encode than true colour;
// others as true colour.
func (p *Panel) pngLocked(sc int) ([]byte, error) {
	c := &p.pngs[0]
	if sc != c.scale {
		c = &p.pngs[1]
		if sc != c.scale {
			*c = pngCache{scale: sc, dot: dotMask(sc)}
		}
	}
	if c.ok && c.version == p.version {
		return c.buf.Bytes(), nil
	}
	shown := p.shownLocked()
	bounds := image.Rect(0, 0, p.rect.Dx()*sc, p.rect.Dy()*sc)
	enc := png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &bufPool.enc}
	c.buf.Reset()
	var err error
	if pal, index, ok := paletteOf(shown); ok {
		img, _ := bufPool.paletted.Get().(*image.Paletted)
		if img == nil || img.Rect != bounds {
			img = image.NewPaletted(bounds, nil)
		}
		// image/png writes palettes of 16 or fewer colours at 4 bits per
		// pixel through a slow per-pixel path; padded past 16, it copies
		// whole rows.
		for len(pal) <= 16 {
			pal = append(pal, panelColour)
		}
		img.Palette = pal
		p.drawLEDs(sc, c.dot, func(x, y int, mask []bool, dy int) {
			line := img.Pix[(y*sc+dy)*img.Stride+x*sc:]
			i := index[y*p.rect.Dx()+x]
			for dx, lit := range mask {
				if lit {
					line[dx] = i
				} else {
					line[dx] = 0
				}
			}
		})
		err = enc.Encode(&c.buf, img)
		img.Palette = nil
		bufPool.paletted.Put(img)
	} else {
		img, _ := bufPool.rgba.Get().(*image.RGBA)
		if img == nil || img.Rect != bounds {
			img = image.NewRGBA(bounds)
		}
		p.drawLEDs(sc, c.dot, func(x, y int, mask []bool, dy int) {
			led := shown.RGBAAt(x, y)
			if led == (color.RGBA{A: 255}) {
				led = offColour
			}
			line := img.Pix[(y*sc+dy)*img.Stride+4*x*sc:]
			for dx, lit := range mask {
				col := panelColour
				if lit {
					col = led
				}
				line[4*dx], line[4*dx+1], line[4*dx+2], line[4*dx+3] = col.R, col.G, col.B, 255
			}
		})
		err = enc.Encode(&c.buf, img)
		bufPool.rgba.Put(img)
	}
	if err != nil {
		c.ok = false
		return nil, fmt.Errorf("sim: encode PNG: %w", err)
	}
	c.version, c.ok = p.version, true
	return c.buf.Bytes(), nil
}

// paletteOf returns a palette for the LED picture of shown: the panel
// colour at index 0, then each LED colour (black as the off colour), and
// each LED's index. It fails past 256 colours.
func paletteOf(shown *image.RGBA) (color.Palette, []uint8, bool) {
	pal := color.Palette{panelColour}
	seen := make(map[color.RGBA]uint8, 16)
	w, h := shown.Rect.Dx(), shown.Rect.Dy()
	index := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := shown.RGBAAt(x, y)
			if c == (color.RGBA{A: 255}) {
				c = offColour
			}
			i, ok := seen[c]
			if !ok {
				if len(pal) == 256 {
					return nil, nil, false
				}
				i = uint8(len(pal))
				pal = append(pal, c)
				seen[c] = i
			}
			index[y*w+x] = i
		}
	}
	return pal, index, true
}

// PNG returns the LED picture as PNG at Config.Scale and the version it
// shows. The bytes are a copy the caller may keep.
func (p *Panel) PNG() ([]byte, uint64, error) { return p.ScaledPNG(p.cfg.Scale) }

// ScaledPNG is PNG at scale pixels per LED (1..MaxScale); scale 1 is a
// plain 64x32 thumbnail, cheap enough for a page of hundreds of poles.
func (p *Panel) ScaledPNG(scale int) ([]byte, uint64, error) {
	if scale < 1 || scale > MaxScale {
		return nil, 0, fmt.Errorf("sim: scale %d is outside 1..%d", scale, MaxScale)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := p.pngLocked(scale)
	if err != nil {
		return nil, 0, err
	}
	return bytes.Clone(b), p.version, nil
}
