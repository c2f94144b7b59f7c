//go:build linux && arm64

package hub75

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenDevice opens the RP1 PIO character device at path (normally
// /dev/pio0, from the rp1-pio kernel driver on a Raspberry Pi 5).
func OpenDevice(path string) (Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("hub75: open %s: %w (no RP1 PIO driver: is this a Raspberry Pi 5 with a recent kernel?)", path, err)
		}
		return nil, fmt.Errorf("hub75: open %s: %w", path, err)
	}
	return &rp1Device{fd: fd, path: path}, nil
}

// rp1Device issues the rp1-pio ioctls on an open /dev/pio0.
type rp1Device struct {
	fd   int
	path string
}

// ioctl passes args to the driver in a buffer as large as the driver's own
// (see rp1ArgBuf) and returns the driver's non-negative result.
func rp1ioctl[T any](d *rp1Device, name string, req uintptr, args T) (int, error) {
	var buf rp1ArgBuf
	p := put(&buf, args)
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), req, uintptr(p))
	runtime.KeepAlive(&buf)
	if errno != 0 {
		// Panel wraps these with what it was doing ("hub75: …: ").
		if errno == unix.ENOTTY {
			return 0, fmt.Errorf("ioctl %s on %s: %w (not an RP1 PIO device)", name, d.path, errno)
		}
		return 0, fmt.Errorf("ioctl %s on %s: %w", name, d.path, errno)
	}
	return int(r), nil
}

// ClaimSM implements Device.
func (d *rp1Device) ClaimSM() (int, error) {
	// A mask of 0 asks the driver for any free state machine; it returns
	// the number it claimed.
	sm, err := rp1ioctl(d, "claim state machine", pioIOCSMClaim, rp1SMClaimArgs{Mask: 0})
	if err != nil {
		return 0, err
	}
	if sm < 0 || sm >= rp1SMCount {
		return 0, fmt.Errorf("ioctl claim state machine on %s: driver returned %d", d.path, sm)
	}
	return sm, nil
}

// UnclaimSM implements Device.
func (d *rp1Device) UnclaimSM(sm int) error {
	_, err := rp1ioctl(d, "unclaim state machine", pioIOCSMUnclaim, rp1SMClaimArgs{Mask: 1 << sm})
	return err
}

// LoadProgram implements Device.
func (d *rp1Device) LoadProgram(instrs []uint16, origin int) error {
	if len(instrs) > rp1MaxInstrs {
		return fmt.Errorf("program of %d instructions exceeds %d", len(instrs), rp1MaxInstrs)
	}
	args := rp1AddProgramArgs{NumInstrs: uint16(len(instrs)), Origin: uint16(origin)}
	copy(args.Instrs[:], instrs)
	at, err := rp1ioctl(d, "add program", pioIOCAddProgram, args)
	if err != nil {
		return err
	}
	if at != origin {
		return fmt.Errorf("ioctl add program on %s: loaded at %d, asked for %d", d.path, at, origin)
	}
	return nil
}

// UnloadProgram implements Device.
func (d *rp1Device) UnloadProgram(n, origin int) error {
	_, err := rp1ioctl(d, "remove program", pioIOCRemoveProgram, rp1RemoveProgramArgs{NumInstrs: uint16(n), Origin: uint16(origin)})
	return err
}

// InitSM implements Device.
func (d *rp1Device) InitSM(sm, pc int, c SMConfig) error {
	if _, err := rp1ioctl(d, "clear FIFOs", pioIOCSMClearFIFOs, rp1SMClearFIFOsArgs{SM: uint16(sm)}); err != nil {
		return err
	}
	_, err := rp1ioctl(d, "init state machine", pioIOCSMInit, rp1SMInitArgs{
		SM:        uint16(sm),
		InitialPC: uint16(pc),
		Config:    rp1SMConfig(c),
	})
	return err
}

// SetPins implements Device.
func (d *rp1Device) SetPins(sm int, values, mask uint32) error {
	_, err := rp1ioctl(d, "set pins", pioIOCSMSetPins, rp1SMSetPinsArgs{SM: uint16(sm), Values: values, Mask: mask})
	return err
}

// SetPinDirs implements Device.
func (d *rp1Device) SetPinDirs(sm int, dirs, mask uint32) error {
	_, err := rp1ioctl(d, "set pin directions", pioIOCSMSetPindirs, rp1SMSetPindirsArgs{SM: uint16(sm), Dirs: dirs, Mask: mask})
	return err
}

// SetPIOFunction implements Device.
func (d *rp1Device) SetPIOFunction(gpio int) error {
	_, err := rp1ioctl(d, fmt.Sprintf("set GPIO %d function", gpio), pioIOCGPIOSetFunction,
		rp1GPIOSetFunctionArgs{GPIO: uint16(gpio), Fn: rp1FuncPIO})
	return err
}

// ConfigXfer implements Device.
func (d *rp1Device) ConfigXfer(sm, bufSize, bufCount int) error {
	_, err := rp1ioctl(d, "configure DMA", pioIOCSMConfigXfer, rp1SMConfigXferArgs{
		SM: uint16(sm), Dir: rp1DirToSM, BufSize: uint16(bufSize), BufCount: uint16(bufCount),
	})
	return err
}

// SetEnabled implements Device.
func (d *rp1Device) SetEnabled(sm int, enabled bool) error {
	var on uint8
	if enabled {
		on = 1
	}
	_, err := rp1ioctl(d, "enable state machine", pioIOCSMSetEnabled, rp1SMSetEnabledArgs{Mask: 1 << sm, Enable: on})
	return err
}

// Xfer sends words in chunks the 16-bit transfer ioctl can describe. The
// driver copies each chunk into its DMA bounce buffers and returns when the
// DMA has finished; the words stay pinned for the call.
func (d *rp1Device) Xfer(sm int, words []uint32) error {
	return xferChunks(words, func(chunk []uint32) error {
		var pin runtime.Pinner
		pin.Pin(&chunk[0])
		defer pin.Unpin()
		_, err := rp1ioctl(d, "transfer", pioIOCSMXferData, rp1SMXferDataArgs{
			SM:        uint16(sm),
			Dir:       rp1DirToSM,
			DataBytes: uint16(4 * len(chunk)),
			Data:      unsafe.Pointer(&chunk[0]),
		})
		return err
	})
}

// Close implements Device.
func (d *rp1Device) Close() error {
	if err := unix.Close(d.fd); err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	return nil
}
