package audio

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// goertzel returns the power of frequency f in s (at rate), Hann-windowed
// to keep a strong neighbour from leaking in, normalised so a full-scale
// sine gives about 1.
func goertzel(s []int16, rate int, f float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	w := 2 * math.Pi * f / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for i, x := range s {
		hann := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		s0 := hann*float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / (float64(n) * float64(n) / 16) // Hann's coherent gain is 1/2
}

// window returns the samples of c between from and to seconds.
func window(c *Clip, from, to float64) []int16 {
	a, b := int(from*float64(c.Rate)), int(to*float64(c.Rate))
	return c.Samples[a:b]
}

func peak(s []int16) int {
	m := 0
	for _, x := range s {
		if v := int(math.Abs(float64(x))); v > m {
			m = v
		}
	}
	return m
}

// dominates reports whether f carries at least ratio times the power of
// every frequency in others within s.
func dominates(t *testing.T, what string, s []int16, rate int, f float64, ratio float64, others ...float64) {
	t.Helper()
	pf := goertzel(s, rate, f)
	for _, o := range others {
		if po := goertzel(s, rate, o); pf < ratio*po {
			t.Errorf("%s: %v Hz power %.3g is not %v× the %v Hz power %.3g", what, f, pf, ratio, o, po)
		}
	}
}

func TestTierNumbersMatchRecord(t *testing.T) {
	for _, tt := range []struct {
		audio int
		rec   record.Tier
	}{
		{TierInformational, record.TierInformational},
		{TierAdvisory, record.TierAdvisory},
		{TierWarning, record.TierWarning},
		{TierEmergency, record.TierEmergency},
		{TierIPAWS, record.TierIPAWS},
	} {
		if tt.audio != int(tt.rec) {
			t.Errorf("audio tier %d, record says %s is %d", tt.audio, tt.rec, tt.rec)
		}
	}
}

func TestToneSignals(t *testing.T) {
	const rate = 22050
	tones := map[int]*Clip{}
	for tier := TierInformational; tier <= TierIPAWS; tier++ {
		c, err := Tone(tier, rate)
		if err != nil {
			t.Fatalf("Tone(%d): %v", tier, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Tone(%d): %v", tier, err)
		}
		tones[tier] = c
	}
	const lo, hi = attentionLow, attentionHigh

	info := tones[TierInformational]
	dominates(t, "informational", info.Samples, rate, 880, 100, lo, hi, 523.25, 659.25, 1200)

	adv := tones[TierAdvisory]
	dominates(t, "advisory first note", window(adv, 0, 0.45), rate, 659.25, 30, 523.25, lo, hi)
	dominates(t, "advisory second note", window(adv, 0.5, 1.2), rate, 523.25, 30, 659.25, lo, hi)

	warn := tones[TierWarning]
	burst := window(warn, 0, 0.4)
	dominates(t, "warning burst", burst, rate, lo, 100, 523.25, 659.25, 1200, 700)
	dominates(t, "warning burst", burst, rate, hi, 100, 523.25, 659.25, 1200, 700)
	if r := goertzel(burst, rate, lo) / goertzel(burst, rate, hi); r < 0.8 || r > 1.25 {
		t.Errorf("warning: 853 and 960 Hz out of balance, power ratio %.2f", r)
	}
	if g := peak(window(warn, 0.45, 0.55)); g != 0 {
		t.Errorf("warning: gap between bursts peaks at %d, want silence", g)
	}

	em := tones[TierEmergency]
	sweep := window(em, 0, 0.9)
	dominates(t, "emergency sweep, first third", sweep[:len(sweep)/3], rate, 700, 10, 1300)
	dominates(t, "emergency sweep, last third", sweep[2*len(sweep)/3:], rate, 1300, 10, 700)
	wea := window(em, 2.3, 4.3)
	dominates(t, "emergency WEA long tone", wea, rate, lo, 100, 700, 1300, 523.25)
	dominates(t, "emergency WEA long tone", wea, rate, hi, 100, 700, 1300, 523.25)

	ipaws := tones[TierIPAWS]
	// The WEA cadence of 47 CFR 10.520(a): 2 s on, 0.5 off, 1 on, 0.5 off, 1 on.
	for _, seg := range []struct {
		from, to float64
		on       bool
	}{{0.05, 1.95, true}, {2.05, 2.45, false}, {2.55, 3.45, true}, {3.55, 3.95, false}, {4.05, 4.95, true}} {
		w := window(ipaws, seg.from, seg.to)
		if seg.on {
			dominates(t, "ipaws tone", w, rate, lo, 100, 700, 1300)
			dominates(t, "ipaws tone", w, rate, hi, 100, 700, 1300)
		} else if g := peak(w); g != 0 {
			t.Errorf("ipaws: %.2f–%.2f s peaks at %d, want silence", seg.from, seg.to, g)
		}
	}

	// Urgency rises with the tier: longer and louder.
	wantDur := map[int]time.Duration{
		TierInformational: 800 * time.Millisecond, TierAdvisory: 1200 * time.Millisecond,
		TierWarning: 2200 * time.Millisecond, TierEmergency: 7300 * time.Millisecond, TierIPAWS: 5 * time.Second,
	}
	for tier, c := range tones {
		if d := c.Duration(); (d - wantDur[tier]).Abs() > time.Millisecond {
			t.Errorf("tier %d lasts %v, want %v", tier, d, wantDur[tier])
		}
	}
	if !(peak(info.Samples) < peak(adv.Samples) && peak(adv.Samples) < peak(warn.Samples) && peak(warn.Samples) < peak(em.Samples)) {
		t.Errorf("peaks %d, %d, %d, %d do not rise with the tier", peak(info.Samples), peak(adv.Samples), peak(warn.Samples), peak(em.Samples))
	}
}

// TestToneNoClicks checks that every tone starts and ends at zero and never
// jumps by more than its highest frequency allows: a cut-off sine would
// jump by up to its full amplitude.
func TestToneNoClicks(t *testing.T) {
	for _, rate := range []int{8000, 22050, 48000} {
		for tier := TierInformational; tier <= TierIPAWS; tier++ {
			c, err := Tone(tier, rate)
			if err != nil {
				t.Fatal(err)
			}
			s := c.Samples
			if s[0] != 0 || s[len(s)-1] != 0 {
				t.Errorf("tier %d at %d Hz: starts at %d, ends at %d; want 0", tier, rate, s[0], s[len(s)-1])
			}
			// Largest step of a sine of amplitude A and frequency f, plus
			// the fade: 2πfA/rate with f the highest partial (1760 Hz).
			limit := 2 * math.Pi * 1760 * 32767 / float64(rate) * 1.05
			for i := 1; i < len(s); i++ {
				if d := math.Abs(float64(s[i]) - float64(s[i-1])); d > limit {
					t.Errorf("tier %d at %d Hz: jump of %.0f at sample %d (limit %.0f)", tier, rate, d, i, limit)
					break
				}
			}
		}
	}
}

func TestToneRejects(t *testing.T) {
	if _, err := Tone(0, 22050); !errors.Is(err, ErrUnknownTier) {
		t.Errorf("Tone(0) = %v, want ErrUnknownTier", err)
	}
	if _, err := Tone(6, 22050); !errors.Is(err, ErrUnknownTier) {
		t.Errorf("Tone(6) = %v, want ErrUnknownTier", err)
	}
	if _, err := Tone(TierWarning, 100); !errors.Is(err, ErrBadClip) {
		t.Errorf("Tone(rate 100) = %v, want ErrBadClip", err)
	}
}

func TestToneDeterministic(t *testing.T) {
	a, _ := Tone(TierEmergency, 22050)
	b, _ := Tone(TierEmergency, 22050)
	for i := range a.Samples {
		if a.Samples[i] != b.Samples[i] {
			t.Fatalf("two emergency tones differ at sample %d", i)
		}
	}
}

func BenchmarkTone(b *testing.B) {
	for _, tier := range []int{TierInformational, TierWarning, TierEmergency} {
		b.Run(map[int]string{1: "informational", 3: "warning", 4: "emergency"}[tier], func(b *testing.B) {
			for b.Loop() {
				if _, err := Tone(tier, 22050); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
