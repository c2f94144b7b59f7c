package audio

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Limits on the clips this package builds and accepts.
const (
	MinRate = 8000   // lowest sample rate, in Hz, a Clip may have
	MaxRate = 192000 // highest sample rate, in Hz, a Clip may have
)

// ErrBadClip is wrapped by every error that reports a malformed Clip.
var ErrBadClip = errors.New("audio: bad clip")

// A Clip is a piece of 16-bit linear PCM audio held in memory.
//
// Samples are interleaved when Channels is 2 (left, right, left, ...).
// Speech from espeak-ng and the tones from [Tone] are mono. A Clip is
// treated as immutable once built: the Library hands the same *Clip to
// every caller, so never write to Samples of a Clip you did not make.
type Clip struct {
	Rate     int     // samples per second per channel, MinRate..MaxRate
	Channels int     // 1 (mono) or 2 (stereo, interleaved)
	Samples  []int16 // len(Samples) is a multiple of Channels
}

// Validate reports what is wrong with c, or nil if it can be played.
func (c *Clip) Validate() error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: nil clip", ErrBadClip)
	case c.Rate < MinRate || c.Rate > MaxRate:
		return fmt.Errorf("%w: sample rate %d Hz outside %d..%d", ErrBadClip, c.Rate, MinRate, MaxRate)
	case c.Channels != 1 && c.Channels != 2:
		return fmt.Errorf("%w: %d channels, want 1 or 2", ErrBadClip, c.Channels)
	case len(c.Samples)%c.Channels != 0:
		return fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrBadClip, len(c.Samples), c.Channels)
	}
	return nil
}

// Frames returns the number of sample frames (one sample per channel).
func (c *Clip) Frames() int {
	if c == nil || c.Channels <= 0 {
		return 0
	}
	return len(c.Samples) / c.Channels
}

// Duration returns how long c plays.
func (c *Clip) Duration() time.Duration {
	if c == nil || c.Rate <= 0 {
		return 0
	}
	return time.Duration(c.Frames()) * time.Second / time.Duration(c.Rate)
}

// Size returns the memory the samples take, in bytes.
func (c *Clip) Size() int64 {
	if c == nil {
		return 0
	}
	return int64(len(c.Samples)) * 2
}

// Mono returns c mixed down to one channel (c itself when already mono).
func (c *Clip) Mono() *Clip {
	if c.Channels == 1 {
		return c
	}
	out := &Clip{Rate: c.Rate, Channels: 1, Samples: make([]int16, c.Frames())}
	for i := range out.Samples {
		out.Samples[i] = int16((int32(c.Samples[2*i]) + int32(c.Samples[2*i+1])) / 2)
	}
	return out
}

// Resample returns c converted to rate by linear interpolation (c itself
// when the rate already matches). Linear interpolation is enough for
// speech and alert tones played on a street speaker; it is not meant for
// music.
func (c *Clip) Resample(rate int) (*Clip, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("%w: resample to %d Hz: outside %d..%d", ErrBadClip, rate, MinRate, MaxRate)
	}
	if rate == c.Rate {
		return c, nil
	}
	in := c.Frames()
	out := int(int64(in) * int64(rate) / int64(c.Rate))
	ch := c.Channels
	res := &Clip{Rate: rate, Channels: ch, Samples: make([]int16, out*ch)}
	step := float64(c.Rate) / float64(rate)
	for i := 0; i < out; i++ {
		pos := float64(i) * step
		j := int(pos)
		frac := pos - float64(j)
		for k := 0; k < ch; k++ {
			a := float64(c.Samples[j*ch+k])
			b := a
			if j+1 < in {
				b = float64(c.Samples[(j+1)*ch+k])
			}
			res.Samples[i*ch+k] = int16(math.Round(a + (b-a)*frac))
		}
	}
	return res, nil
}

// Silence returns a mono clip of d of silence at rate.
func Silence(rate int, d time.Duration) *Clip {
	n := int(int64(d) * int64(rate) / int64(time.Second))
	if n < 0 {
		n = 0
	}
	return &Clip{Rate: rate, Channels: 1, Samples: make([]int16, n)}
}

// Concat joins clips into one, in order. The result has the rate and
// channel count of the first clip; later clips are resampled and mixed
// down or duplicated to match. Nil clips are skipped.
func Concat(clips ...*Clip) (*Clip, error) {
	var out *Clip
	for i, c := range clips {
		if c == nil {
			continue
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("audio: concat clip %d: %w", i, err)
		}
		if out == nil {
			out = &Clip{Rate: c.Rate, Channels: c.Channels, Samples: make([]int16, 0, len(c.Samples))}
		}
		r, err := c.Resample(out.Rate)
		if err != nil {
			return nil, fmt.Errorf("audio: concat clip %d: %w", i, err)
		}
		switch {
		case r.Channels == out.Channels:
			out.Samples = append(out.Samples, r.Samples...)
		case out.Channels == 1:
			out.Samples = append(out.Samples, r.Mono().Samples...)
		default: // mono into stereo
			for _, s := range r.Samples {
				out.Samples = append(out.Samples, s, s)
			}
		}
	}
	if out == nil {
		return nil, fmt.Errorf("%w: concat of no clips", ErrBadClip)
	}
	return out, nil
}
