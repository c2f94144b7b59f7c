package mqttlink

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	b := NewBackoff(100*time.Millisecond, 2*time.Second, 1)
	var ceilings []time.Duration
	for n := 1; n <= 7; n++ {
		ceilings = append(ceilings, b.Ceiling(n))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	if diff := cmp.Diff(want, ceilings); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	// Full jitter: every wait is within [0, ceiling], they spread over
	// the range, and the same seed gives the same waits.
	a, c := NewBackoff(100*time.Millisecond, 2*time.Second, 7), NewBackoff(100*time.Millisecond, 2*time.Second, 7)
	var lo, hi int
	for i := range 1000 {
		n := 1 + i%8
		w := a.Wait(n)
		if w != c.Wait(n) {
			t.Fatal("same seed, different waits")
		}
		if w < 0 || w > a.Ceiling(n) {
			t.Fatalf("wait %v outside [0, %v]", w, a.Ceiling(n))
		}
		if w < a.Ceiling(n)/4 {
			lo++
		}
		if w > a.Ceiling(n)*3/4 {
			hi++
		}
	}
	if lo < 150 || hi < 150 {
		t.Errorf("waits are not spread over the range: %d in the lowest quarter, %d in the highest", lo, hi)
	}
	if w := NewBackoff(0, 0, 1).Wait(3); w != 0 {
		t.Errorf("zero backoff waits %v", w)
	}
}
