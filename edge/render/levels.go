package render

import (
	"errors"
	"fmt"
	"image"
	"math"
	"time"
)

// LevelPoint is a time of day from which the panel takes a brightness and
// a gamma.
type LevelPoint struct {
	Name       string        // for logs: "day", "dusk", "night"…
	At         time.Duration // since local midnight, in [0, 24h)
	Brightness uint8         // percent, 0..100
	Gamma      float64       // exponent applied to each channel, 1..3 in practice
}

// Schedule is a table of LevelPoints over the day. Each point holds until
// the next one (wrapping round midnight); the change into a point is a
// linear ramp of Ramp, so that dusk does not jump.
type Schedule struct {
	Points []LevelPoint
	Ramp   time.Duration
}

// DefaultSchedule returns dawn at 05:30 (50 %), day at 07:00 (100 %), dusk
// at 19:00 (60 %) and night at 21:30 (25 %), with 20-minute ramps. Night
// uses a slightly higher gamma so that dim anti-aliased fringes fade out
// instead of glowing.
func DefaultSchedule() Schedule {
	return Schedule{
		Points: []LevelPoint{
			{Name: "dawn", At: 5*time.Hour + 30*time.Minute, Brightness: 50, Gamma: 2.2},
			{Name: "day", At: 7 * time.Hour, Brightness: 100, Gamma: 2.2},
			{Name: "dusk", At: 19 * time.Hour, Brightness: 60, Gamma: 2.2},
			{Name: "night", At: 21*time.Hour + 30*time.Minute, Brightness: 25, Gamma: 2.4},
		},
		Ramp: 20 * time.Minute,
	}
}

// Validate returns every problem with s: points out of the day or out of
// order, brightness above 100, gamma outside 0.1..5, a ramp longer than the
// shortest interval.
func (s Schedule) Validate() error {
	var errs []error
	if len(s.Points) == 0 {
		errs = append(errs, errors.New("schedule: no points"))
	}
	for i, p := range s.Points {
		if p.At < 0 || p.At >= 24*time.Hour {
			errs = append(errs, fmt.Errorf("schedule point %d (%s): at %v, want 0..24h", i, p.Name, p.At))
		}
		if i > 0 && p.At <= s.Points[i-1].At {
			errs = append(errs, fmt.Errorf("schedule point %d (%s): at %v, not after the point before", i, p.Name, p.At))
		}
		if p.Brightness > 100 {
			errs = append(errs, fmt.Errorf("schedule point %d (%s): brightness %d, want 0..100", i, p.Name, p.Brightness))
		}
		if !(p.Gamma >= 0.1 && p.Gamma <= 5) {
			errs = append(errs, fmt.Errorf("schedule point %d (%s): gamma %g, want 0.1..5", i, p.Name, p.Gamma))
		}
	}
	if s.Ramp < 0 {
		errs = append(errs, fmt.Errorf("schedule: ramp %v is negative", s.Ramp))
	}
	if len(errs) == 0 && len(s.Points) > 1 {
		for i, p := range s.Points {
			next := s.Points[(i+1)%len(s.Points)].At
			if next <= p.At {
				next += 24 * time.Hour
			}
			if s.Ramp > next-p.At {
				errs = append(errs, fmt.Errorf("schedule: ramp %v is longer than the %v from %s to the next point", s.Ramp, next-p.At, p.Name))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Levels returns the brightness (percent) and gamma that s gives at now,
// read on now's own clock (its Location), so a daylight-saving change moves
// dusk with the wall clock. An invalid schedule gives full brightness and
// gamma 2.2 rather than a dark panel.
func Levels(s Schedule, now time.Time) (brightness uint8, gamma float64) {
	if s.Validate() != nil {
		return 100, 2.2
	}
	h, m, sec := now.Clock()
	tod := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second + time.Duration(now.Nanosecond())
	n := len(s.Points)
	// cur is the last point at or before tod, wrapping to yesterday's last.
	cur := n - 1
	for i, p := range s.Points {
		if p.At <= tod {
			cur = i
		}
	}
	p := s.Points[cur]
	since := tod - p.At
	if since < 0 {
		since += 24 * time.Hour
	}
	if n == 1 || s.Ramp <= 0 || since >= s.Ramp {
		return p.Brightness, p.Gamma
	}
	prev := s.Points[(cur+n-1)%n]
	f := float64(since) / float64(s.Ramp)
	b := float64(prev.Brightness) + f*(float64(p.Brightness)-float64(prev.Brightness))
	g := prev.Gamma + f*(p.Gamma-prev.Gamma)
	return uint8(math.Round(b)), g
}

// LUT maps an 8-bit channel to its value at a brightness and gamma:
// out = 255 · (in/255)^gamma · brightness/100, rounded.
type LUT [256]uint8

// NewLUT returns the table for brightness (percent, capped at 100) and
// gamma (values outside 0.1..5 are clamped).
func NewLUT(brightness uint8, gamma float64) LUT {
	var l LUT
	b := float64(min(brightness, 100)) / 100
	if !(gamma >= 0.1) {
		gamma = 0.1
	}
	gamma = min(gamma, 5)
	for i := range l {
		v := 255 * math.Pow(float64(i)/255, gamma) * b
		l[i] = uint8(math.Round(v))
	}
	return l
}

// Apply maps the red, green and blue channels of every pixel of dst
// through l; alpha is left alone.
func (l *LUT) Apply(dst *image.RGBA) {
	r := dst.Rect
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := dst.Pix[dst.PixOffset(r.Min.X, y):dst.PixOffset(r.Max.X, y)]
		for i := 0; i+3 < len(row); i += 4 {
			row[i] = l[row[i]]
			row[i+1] = l[row[i+1]]
			row[i+2] = l[row[i+2]]
		}
	}
}

// ApplyLevels applies brightness and gamma to dst in software, for display
// back ends that cannot do it in hardware. A caller doing it every frame
// should keep a LUT from NewLUT instead; this builds one each call.
func ApplyLevels(dst *image.RGBA, brightness uint8, gamma float64) {
	l := NewLUT(brightness, gamma)
	l.Apply(dst)
}
