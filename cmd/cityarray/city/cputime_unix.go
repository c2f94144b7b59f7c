//go:build unix

package city

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used, user and
// system; ok is false if the system does not say.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
