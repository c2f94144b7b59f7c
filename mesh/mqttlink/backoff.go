package mqttlink

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect waits: exponential growth with full jitter
// (each wait uniformly random between zero and the ceiling), so that a
// thousand poles that lost the same gateway do not come back in step.
// It is deterministic for a seed. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	rng      *rand.Rand
}

// NewBackoff returns a backoff whose ceiling starts at min and doubles
// after each consecutive failure up to max, drawing from a PCG seeded
// with seed.
func NewBackoff(min, max time.Duration, seed uint64) *Backoff {
	if max < min {
		max = min
	}
	return &Backoff{Min: min, Max: max, rng: rand.New(rand.NewPCG(seed, 0xc17a))}
}

// Ceiling returns the most the wait after the n-th consecutive failure
// (n ≥ 1) can be: min(Max, Min·2^(n-1)).
func (b *Backoff) Ceiling(n int) time.Duration {
	c := b.Min
	for i := 1; i < n && c < b.Max; i++ {
		c *= 2
	}
	return min(c, b.Max)
}

// Wait returns the wait after the n-th consecutive failure: uniform in
// [0, Ceiling(n)].
func (b *Backoff) Wait(n int) time.Duration {
	c := b.Ceiling(n)
	if c <= 0 {
		return 0
	}
	return time.Duration(b.rng.Int64N(int64(c) + 1))
}
