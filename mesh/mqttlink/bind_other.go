//go:build !linux

package mqttlink

import (
	"errors"
	"fmt"
	"syscall"
)

// bindToDevice fails: binding a connection to an interface is done here
// only on Linux.
func bindToDevice(name string) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return fmt.Errorf("binding to interface %q: %w", name, errors.ErrUnsupported)
	}
}
