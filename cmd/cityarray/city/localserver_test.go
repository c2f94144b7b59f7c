package city

import (
	"testing"
	"time"
)

// TestSteppedClockStartNextStep checks that every step is new, starts on a
// step boundary, and that the clock stands at it afterwards: a TOTP code
// computed for it is current when the server checks it.
func TestSteppedClockStartNextStep(t *testing.T) {
	const period = 30 * time.Second
	var c SteppedClock
	prev := c.Now().Unix() / 30
	for i := range 5 {
		at := c.StartNextStep(period)
		if at.UnixNano()%int64(period) != 0 {
			t.Fatalf("step %d starts at %v, not on a %v boundary", i, at, period)
		}
		step := at.Unix() / 30
		if step != prev+1 {
			t.Fatalf("step %d is %d after %d", i, step, prev)
		}
		if now := c.Now(); now.Before(at) || now.Sub(at) >= period {
			t.Fatalf("after step %d the clock reads %v, want within [%v, +30s)", i, now, at)
		}
		prev = step
	}
}
