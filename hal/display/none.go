package display

import (
	"fmt"
	"image"
	"sync"
)

// none is the "none" backend: it checks and drops frames. A pole whose
// panel is missing runs on with it while the fault shows in Status.
type none struct {
	rect   image.Rectangle
	mu     sync.Mutex
	closed bool
}

func newNone(r image.Rectangle) *none { return &none{rect: r} }

// Bounds implements Panel.
func (n *none) Bounds() image.Rectangle { return n.rect }

// Show implements Panel.
func (n *none) Show(frame *image.RGBA) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if frame == nil || frame.Rect.Size() != n.rect.Size() {
		return fmt.Errorf("display: none: frame is %v, panel is %v", sizeOf(frame), n.rect.Size())
	}
	return nil
}

// SetLevels implements Panel.
func (n *none) SetLevels(brightness uint8, gamma float64) error {
	return CheckLevels(brightness, gamma)
}

// Close implements Panel.
func (n *none) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.closed = true
	return nil
}

func sizeOf(frame *image.RGBA) image.Point {
	if frame == nil {
		return image.Point{}
	}
	return frame.Rect.Size()
}
