package mqttlink

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindToDevice returns a net.Dialer Control that binds the socket to the
// named interface (SO_BINDTODEVICE), so that it leaves by that interface
// whatever the routing table says.
func bindToDevice(name string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, name)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("binding to interface %q (SO_BINDTODEVICE needs CAP_NET_RAW): %w", name, serr)
		}
		return nil
	}
}
