// Package clock is the time source that the mesh's I/O layers share: the
// MQTT links (mesh/mqttlink, mesh/mqttbroker) and the simulated network
// (mesh/netsim) read the time and arm their timers through a Clock, so
// that tests and the simulator can step time by hand (STYLE rule 7).
// clocktest holds the fake.
//
// Packages that only read the time declare their own one-method interface
// instead (mesh.Clock, auth.Clock, …).
package clock

import "time"

// Clock reads the time and makes timers.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the mesh uses. Reset and Stop follow
// the Go 1.23 semantics: no stale value is received after either returns.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// System is the machine's clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (System) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time   { return s.t.C }
func (s sysTimer) Reset(d time.Duration) { s.t.Reset(d) }
func (s sysTimer) Stop()                 { s.t.Stop() }
