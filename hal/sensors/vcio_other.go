//go:build !linux

package sensors

import (
	"context"
	"errors"
	"fmt"
)

// Throttled reports that the firmware mailbox is Linux-only.
func (v VCIO) Throttled(context.Context) (uint32, error) {
	return 0, fmt.Errorf("firmware mailbox %s: Linux only: %w", v.Path, errors.ErrUnsupported)
}
