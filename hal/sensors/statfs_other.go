//go:build !linux

package sensors

import (
	"errors"
	"fmt"
)

// statFS reports that free-space reading is Linux-only here.
func statFS(path string) (Storage, error) {
	return Storage{}, fmt.Errorf("statfs %s: Linux only: %w", path, errors.ErrUnsupported)
}
