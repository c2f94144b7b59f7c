package netsim

import "github.com/cityarray/cityarray/mesh/clock"

// Clock is the time source of the scheduler and of dial delays. The zero
// Config uses the real clock; tests inject a fake (clocktest.Clock) to
// step time by hand. memberlist itself always runs on the real clock, so
// a Network that carries memberlist traffic must use the real clock too.
type Clock = clock.Clock

// Timer is the part of *time.Timer that netsim uses (clock.Timer).
type Timer = clock.Timer
