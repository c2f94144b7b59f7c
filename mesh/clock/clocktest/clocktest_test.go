package clocktest

import (
	"testing"
	"time"
)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestTimer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(t0)
	tm := c.NewTimer(time.Second)
	c.Advance(999 * time.Millisecond)
	if fired(tm.C()) {
		t.Fatal("fired early")
	}
	c.Advance(time.Millisecond)
	if !c.Now().Equal(t0.Add(time.Second)) {
		t.Fatalf("Now = %v", c.Now())
	}
	if !fired(tm.C()) {
		t.Fatal("did not fire when due")
	}
	tm.Reset(time.Second)
	c.Advance(time.Second) // fires, unread
	tm.Reset(time.Second)  // drains the stale value
	if fired(tm.C()) {
		t.Fatal("stale value after Reset")
	}
	tm.Stop()
	c.Advance(time.Hour)
	if fired(tm.C()) {
		t.Fatal("fired after Stop")
	}
	tm.Reset(0)
	if !fired(tm.C()) {
		t.Fatal("Reset(0) did not fire at once")
	}
}
