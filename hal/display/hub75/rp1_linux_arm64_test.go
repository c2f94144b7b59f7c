//go:build linux && arm64

package hub75

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRP1DeviceOnRegularFile drives the real ioctl code against a fake
// device file: every ioctl reaches the kernel and comes back ENOTTY (or
// ENOSYS under qemu-user, which refuses ioctls it cannot translate), which
// must surface as a clear error from each method and from Open, with the
// argument buffers and the pinned transfer taking the real syscall path.
func TestRP1DeviceOnRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pio0")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dev, err := OpenDevice(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	calls := map[string]error{}
	_, calls["ClaimSM"] = dev.ClaimSM()
	calls["UnclaimSM"] = dev.UnclaimSM(0)
	calls["LoadProgram"] = dev.LoadProgram(StreamProgram().Instrs, 0)
	calls["UnloadProgram"] = dev.UnloadProgram(7, 0)
	calls["InitSM"] = dev.InitSM(0, 2, SMConfig{})
	calls["SetPins"] = dev.SetPins(0, 1, 1)
	calls["SetPinDirs"] = dev.SetPinDirs(0, 1, 1)
	calls["SetPIOFunction"] = dev.SetPIOFunction(4)
	calls["ConfigXfer"] = dev.ConfigXfer(0, rp1MaxXfer, rp1XferBufs)
	calls["SetEnabled"] = dev.SetEnabled(0, true)
	calls["Xfer"] = dev.Xfer(0, make([]uint32, DefaultConfig().StreamLen()))
	for name, err := range calls {
		switch {
		case errors.Is(err, unix.ENOTTY):
			if !strings.Contains(err.Error(), "not an RP1 PIO device") {
				t.Errorf("%s = %v, want it to say this is not an RP1 PIO device", name, err)
			}
		case errors.Is(err, unix.ENOSYS): // qemu-user
		default:
			t.Errorf("%s = %v, want ENOTTY", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Errorf("%s = %v, want it to name %s", name, err, path)
		}
	}
	if err := dev.LoadProgram(make([]uint16, 33), 0); err == nil {
		t.Error("LoadProgram accepted 33 instructions")
	}

	cfg := DefaultConfig()
	cfg.DevicePath = path
	p, err := Open(cfg)
	if err == nil {
		p.Close()
		t.Fatal("Open succeeded on a regular file")
	}
	if want := "hub75: claim a PIO state machine: ioctl claim state machine on " + path; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open = %v, want it to start %q", err, want)
	}
}
