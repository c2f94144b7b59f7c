package mqttlink

import "github.com/cityarray/cityarray/mesh/clock"

// Clock is the links' time source: Now for contact times, certificate
// checks and expiry; NewTimer for backoff, resend and sweep waits. Tests
// and the simulator may inject their own (clocktest.Clock); the zero
// Config uses SystemClock.
type Clock = clock.Clock

// Timer is the part of *time.Timer the links use (clock.Timer).
type Timer = clock.Timer

// SystemClock is the machine's clock.
type SystemClock = clock.System
