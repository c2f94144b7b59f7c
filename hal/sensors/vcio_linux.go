package sensors

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlMboxProperty is _IOWR(100, 0, char *): the size field is that of
// a pointer, so the number differs between 64- and 32-bit userlands.
const ioctlMboxProperty = 0xC0006400 | uintptr(unsafe.Sizeof(uintptr(0)))<<16

// Throttled asks the firmware for get_throttled without clearing its
// sticky bits.
func (v VCIO) Throttled(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path := v.Path
	if path == "" {
		path = "/dev/vcio"
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return 0, fmt.Errorf("%s is not a character device (mode %v)", path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	msg := throttledRequest()
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var errno unix.Errno
	ctlErr := sc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, ioctlMboxProperty, uintptr(unsafe.Pointer(&msg[0])))
	})
	if ctlErr != nil {
		return 0, ctlErr
	}
	if errno != 0 {
		return 0, fmt.Errorf("%s: mailbox ioctl: %w", path, errno)
	}
	raw, err := parseThrottledResponse(msg)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}
