package audio

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// Tiers, numbered as mesh/record numbers them (a test holds the two
// together); hal/audio does not import the record package.
const (
	TierInformational = 1
	TierAdvisory      = 2
	TierWarning       = 3
	TierEmergency     = 4
	TierIPAWS         = 5
)

// ErrUnknownTier is returned by Tone for a tier it has no signal for.
var ErrUnknownTier = errors.New("audio: unknown tier")

// The two fundamentals of the EAS attention signal (47 CFR 11.31) and of
// the WEA audio attention signal (47 CFR 10.520(b)), sounded together.
const (
	attentionLow  = 853.0
	attentionHigh = 960.0
)

// fade is the raised-cosine ramp at both ends of every sounding segment,
// long enough that no segment starts or stops with a click.
const fade = 0.010 // seconds

// A segment is a stretch of a tone: silence when amp is 0.
type segment struct {
	secs    float64
	freqs   []float64 // partials sounded together
	weights []float64 // relative level of each partial; nil means equal
	sweepTo float64   // when non-zero, the first partial glides linearly to this
	amp     float64   // peak level as a fraction of full scale
	decay   float64   // time constant of an exponential decay, in seconds; 0 for none
}

func silence(secs float64) segment { return segment{secs: secs} }

// wea returns one WEA attention-signal sequence (47 CFR 10.520(a)): a
// 2 s tone, then two 1 s tones, with 0.5 s between tones.
func wea(amp float64) []segment {
	pair := []float64{attentionLow, attentionHigh}
	return []segment{
		{secs: 2, freqs: pair, amp: amp},
		silence(0.5),
		{secs: 1, freqs: pair, amp: amp},
		silence(0.5),
		{secs: 1, freqs: pair, amp: amp},
	}
}

// toneSegments is the attention signal of each tier. Each is distinct in
// pitch, rhythm, length and level, and rises in urgency with the tier.
func toneSegments(tier int) ([]segment, error) {
	switch tier {
	case TierInformational:
		// One soft chime: A5 with a quiet octave, decaying. 0.8 s.
		return []segment{{secs: 0.8, freqs: []float64{880, 1760}, weights: []float64{1, 0.25}, amp: 0.3, decay: 0.25}}, nil
	case TierAdvisory:
		// A two-note "ding-dong", E5 then C5. 1.2 s.
		return []segment{
			{secs: 0.45, freqs: []float64{659.25, 1318.5}, weights: []float64{1, 0.2}, amp: 0.45, decay: 0.3},
			silence(0.05),
			{secs: 0.7, freqs: []float64{523.25, 1046.5}, weights: []float64{1, 0.2}, amp: 0.45, decay: 0.35},
		}, nil
	case TierWarning:
		// Four short bursts of the 853+960 Hz pair. 2.2 s.
		var s []segment
		for i := 0; i < 4; i++ {
			if i > 0 {
				s = append(s, silence(0.2))
			}
			s = append(s, segment{secs: 0.4, freqs: []float64{attentionLow, attentionHigh}, amp: 0.7})
		}
		return s, nil
	case TierEmergency:
		// Two rising sweeps, 600 to 1400 Hz, then one WEA sequence,
		// loudest of all. 7.3 s.
		s := []segment{
			{secs: 0.9, freqs: []float64{600}, sweepTo: 1400, amp: 0.9},
			silence(0.1),
			{secs: 0.9, freqs: []float64{600}, sweepTo: 1400, amp: 0.9},
			silence(0.4),
		}
		return append(s, wea(0.9)...), nil
	case TierIPAWS:
		// One WEA sequence, the signal the public knows from phones.
		// 5 s: 10.520(a) repeats it, shortened here so speech follows.
		return wea(0.85), nil
	}
	return nil, fmt.Errorf("%w: %d (want %d..%d)", ErrUnknownTier, tier, TierInformational, TierIPAWS)
}

// toneCache holds the tones made so far, by tier and rate: a city of
// simulated poles (or one pole, alert after alert) makes each once.
var toneCache sync.Map // [2]int{tier, rate} → *Clip

// Tone returns the attention signal for tier at rate as 16-bit mono. See
// toneSegments for each tier's pattern. Each is synthesised once per
// process and shared: callers must not modify its samples.
func Tone(tier, rate int) (*Clip, error) {
	key := [2]int{tier, rate}
	if c, ok := toneCache.Load(key); ok {
		return c.(*Clip), nil
	}
	c, err := synthTone(tier, rate)
	if err != nil {
		return nil, err
	}
	shared, _ := toneCache.LoadOrStore(key, c)
	return shared.(*Clip), nil
}

// synthTone makes tier's tone at rate.
func synthTone(tier, rate int) (*Clip, error) {
	if rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("%w: tone at %d Hz: outside %d..%d", ErrBadClip, rate, MinRate, MaxRate)
	}
	segs, err := toneSegments(tier)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, s := range segs {
		n += int(math.Round(s.secs * float64(rate)))
	}
	out := make([]int16, 0, n)
	for _, s := range segs {
		out = appendSegment(out, s, rate)
	}
	return &Clip{Rate: rate, Channels: 1, Samples: out}, nil
}

// appendSegment renders s at rate onto out.
func appendSegment(out []int16, s segment, rate int) []int16 {
	n := int(math.Round(s.secs * float64(rate)))
	if s.amp == 0 || len(s.freqs) == 0 {
		return append(out, make([]int16, n)...)
	}
	total := 0.0
	w := make([]float64, len(s.freqs))
	for i := range s.freqs {
		w[i] = 1
		if s.weights != nil {
			w[i] = s.weights[i]
		}
		total += w[i]
	}
	phase := make([]float64, len(s.freqs))
	ramp := fade * float64(rate)
	dt := 1 / float64(rate)
	for i := 0; i < n; i++ {
		t := float64(i) * dt
		env := 1.0
		if s.decay > 0 {
			env = math.Exp(-t / s.decay)
		}
		// Raised-cosine ramps in and out, so the segment starts and ends
		// at zero whatever its phase.
		if x := float64(i); x < ramp {
			env *= 0.5 - 0.5*math.Cos(math.Pi*x/ramp)
		}
		if x := float64(n - 1 - i); x < ramp {
			env *= 0.5 - 0.5*math.Cos(math.Pi*x/ramp)
		}
		v := 0.0
		for k, f := range s.freqs {
			if k == 0 && s.sweepTo != 0 {
				f += (s.sweepTo - f) * float64(i) / float64(n)
			}
			v += w[k] * math.Sin(phase[k])
			phase[k] += 2 * math.Pi * f * dt
			if phase[k] > 2*math.Pi {
				phase[k] -= 2 * math.Pi
			}
		}
		out = append(out, int16(math.Round(32767*s.amp*env*v/total)))
	}
	return out
}
