//go:build !(linux && arm64)

package hub75

import (
	"errors"
	"fmt"
	"runtime"
)

// OpenDevice opens the RP1 PIO device at path. The RP1 exists only on the
// Raspberry Pi 5 (linux/arm64); here it returns an error wrapping
// errors.ErrUnsupported.
func OpenDevice(path string) (Device, error) {
	return nil, fmt.Errorf("hub75: open %s: RP1 PIO needs linux/arm64 (Raspberry Pi 5), this is %s/%s: %w",
		path, runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}
