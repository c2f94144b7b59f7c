package display

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// The pole's panel: one 64x32 HUB75 matrix.
const (
	Width  = 64
	Height = 32
)

// Bounds is the frame rectangle of the pole's panel.
func Bounds() image.Rectangle { return image.Rect(0, 0, Width, Height) }

// Level limits and defaults. Brightness is a percentage; gamma is the
// exponent from an 8-bit value to LED on-time (1 is linear).
const (
	MaxBrightness     = 100
	MinGamma          = 1.0
	MaxGamma          = 3.0
	DefaultBrightness = 100
	DefaultGamma      = 2.2
)

// Panel is a matrix that shows whole frames. Implementations are safe for
// concurrent use.
type Panel interface {
	// Bounds is the frame size the panel takes.
	Bounds() image.Rectangle
	// Show puts frame on the panel. It copies or encodes frame before it
	// returns, so the caller may reuse the buffer. A frame of another size
	// is refused.
	Show(frame *image.RGBA) error
	// SetLevels sets brightness (0..MaxBrightness) and gamma
	// (MinGamma..MaxGamma); the frame on show changes at once.
	SetLevels(brightness uint8, gamma float64) error
	// Close turns the panel off and releases it.
	Close() error
}

// ErrClosed is returned by Display methods after Close.
var ErrClosed = errors.New("display: closed")

// CheckLevels reports whether brightness and gamma are in range.
func CheckLevels(brightness uint8, gamma float64) error {
	var errs []error
	if brightness > MaxBrightness {
		errs = append(errs, fmt.Errorf("display: brightness %d is above %d", brightness, MaxBrightness))
	}
	if math.IsNaN(gamma) || gamma < MinGamma || gamma > MaxGamma {
		errs = append(errs, fmt.Errorf("display: gamma %v is outside %.1f..%.1f", gamma, MinGamma, MaxGamma))
	}
	return errors.Join(errs...)
}
