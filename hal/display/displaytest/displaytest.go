package displaytest

import (
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/cityarray/cityarray/hal/display"
)

// ErrClosed is returned by the fakes after Close.
var ErrClosed = errors.New("displaytest: panel closed")

// Levels is one SetLevels call.
type Levels struct {
	Brightness uint8   // percent
	Gamma      float64 // exponent
}

// Panel is a recording fake display.Panel: it keeps a copy of every frame
// shown and every level set, and can be told to fail. Set Rect before use
// (New sets 64x32); the rest goes through methods and is safe for
// concurrent use.
type Panel struct {
	// Rect is the panel's bounds.
	Rect image.Rectangle

	mu       sync.Mutex
	frames   []*image.RGBA
	levels   []Levels
	showErr  error
	levelErr error
	closed   bool
	closes   int
}

var _ display.Panel = (*Panel)(nil)

// New returns a recording panel of the pole's size.
func New() *Panel { return &Panel{Rect: display.Bounds()} }

// Bounds implements display.Panel.
func (p *Panel) Bounds() image.Rectangle { return p.Rect }

// Show implements display.Panel: it records a copy of frame, or returns the
// error set with FailShow (recording nothing).
func (p *Panel) Show(frame *image.RGBA) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.showErr != nil {
		return p.showErr
	}
	if frame == nil || frame.Rect.Size() != p.Rect.Size() {
		return fmt.Errorf("displaytest: frame is %v, panel is %v", size(frame), p.Rect.Size())
	}
	p.frames = append(p.frames, clone(frame))
	return nil
}

// SetLevels implements display.Panel: it checks and records the levels, or
// returns the error set with FailLevels.
func (p *Panel) SetLevels(brightness uint8, gamma float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.levelErr != nil {
		return p.levelErr
	}
	if err := display.CheckLevels(brightness, gamma); err != nil {
		return err
	}
	p.levels = append(p.levels, Levels{brightness, gamma})
	return nil
}

// Close implements display.Panel.
func (p *Panel) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closes++
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	return nil
}

// FailShow makes later Show calls return err; nil makes them work again.
func (p *Panel) FailShow(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.showErr = err
}

// FailLevels makes later SetLevels calls return err; nil clears it.
func (p *Panel) FailLevels(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.levelErr = err
}

// Frames returns the frames shown so far, oldest first. They are the
// fake's copies: do not modify them.
func (p *Panel) Frames() []*image.RGBA {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*image.RGBA(nil), p.frames...)
}

// Last returns the last frame shown, or nil.
func (p *Panel) Last() *image.RGBA {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.frames) == 0 {
		return nil
	}
	return p.frames[len(p.frames)-1]
}

// Levels returns the levels set so far, oldest first.
func (p *Panel) Levels() []Levels {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Levels(nil), p.levels...)
}

// Closed reports whether Close was called.
func (p *Panel) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Record wraps a real panel and keeps a copy of every frame that it shows
// without error: a recording to replay with Playback.
type Record struct {
	display.Panel

	mu     sync.Mutex
	frames []*image.RGBA
}

// NewRecord records what goes through p.
func NewRecord(p display.Panel) *Record { return &Record{Panel: p} }

// Show implements display.Panel.
func (r *Record) Show(frame *image.RGBA) error {
	if err := r.Panel.Show(frame); err != nil {
		return err
	}
	r.mu.Lock()
	r.frames = append(r.frames, clone(frame))
	r.mu.Unlock()
	return nil
}

// Frames returns the recorded frames, oldest first.
func (r *Record) Frames() []*image.RGBA {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*image.RGBA(nil), r.frames...)
}

// Playback is a panel that expects a given sequence of frames: Show returns
// an error naming the first differing pixel when a frame is not the next
// expected one, or when there are more frames than expected. Done reports
// frames that were expected and never shown.
type Playback struct {
	// Rect is the panel's bounds; zero means the first expected frame's.
	Rect image.Rectangle

	mu     sync.Mutex
	frames []*image.RGBA
	next   int
}

var _ display.Panel = (*Playback)(nil)

// NewPlayback expects frames, in order.
func NewPlayback(frames ...*image.RGBA) *Playback {
	pb := &Playback{Rect: display.Bounds()}
	for _, f := range frames {
		pb.frames = append(pb.frames, clone(f))
	}
	if len(frames) > 0 {
		pb.Rect = image.Rectangle{Max: frames[0].Rect.Size()}
	}
	return pb
}

// Bounds implements display.Panel.
func (pb *Playback) Bounds() image.Rectangle { return pb.Rect }

// Show implements display.Panel.
func (pb *Playback) Show(frame *image.RGBA) error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.next >= len(pb.frames) {
		return fmt.Errorf("displaytest: playback: frame %d shown, only %d expected", pb.next+1, len(pb.frames))
	}
	want := pb.frames[pb.next]
	if err := Diff(want, frame); err != nil {
		return fmt.Errorf("displaytest: playback: frame %d: %w", pb.next+1, err)
	}
	pb.next++
	return nil
}

// SetLevels implements display.Panel; Playback checks only frames.
func (pb *Playback) SetLevels(brightness uint8, gamma float64) error {
	return display.CheckLevels(brightness, gamma)
}

// Close implements display.Panel.
func (pb *Playback) Close() error { return nil }

// Done reports an error if some expected frames were not shown.
func (pb *Playback) Done() error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.next < len(pb.frames) {
		return fmt.Errorf("displaytest: playback: %d of %d frames shown", pb.next, len(pb.frames))
	}
	return nil
}

// Diff returns nil when the two frames have the same size and pixels
// (wherever their origins are), or an error naming the first difference.
func Diff(want, got *image.RGBA) error {
	if want == nil || got == nil {
		if want == got {
			return nil
		}
		return fmt.Errorf("frame is %v, want %v", size(got), size(want))
	}
	if want.Rect.Size() != got.Rect.Size() {
		return fmt.Errorf("frame is %v, want %v", got.Rect.Size(), want.Rect.Size())
	}
	for y := 0; y < want.Rect.Dy(); y++ {
		for x := 0; x < want.Rect.Dx(); x++ {
			w := want.RGBAAt(want.Rect.Min.X+x, want.Rect.Min.Y+y)
			g := got.RGBAAt(got.Rect.Min.X+x, got.Rect.Min.Y+y)
			if w != g {
				return fmt.Errorf("pixel (%d,%d) is %v, want %v", x, y, g, w)
			}
		}
	}
	return nil
}

func clone(f *image.RGBA) *image.RGBA {
	c := image.NewRGBA(image.Rectangle{Max: f.Rect.Size()})
	for y := 0; y < c.Rect.Dy(); y++ {
		copy(c.Pix[y*c.Stride:(y+1)*c.Stride], f.Pix[y*f.Stride:])
	}
	return c
}

func size(f *image.RGBA) image.Point {
	if f == nil {
		return image.Point{}
	}
	return f.Rect.Size()
}
