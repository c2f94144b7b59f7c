package netsim

import "time"

// Clock is the time source of the scheduler and of dial delays. The zero
// Config uses the real clock; tests inject a fake to step time by hand.
// memberlist itself always runs on the real clock, so a Network that carries
// memberlist traffic must use the real clock too.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that netsim uses. Reset and Stop follow
// the Go 1.23 semantics: no stale value is received after either returns.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }
