package hub75test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cityarray/cityarray/hal/display/hub75"
)

// ErrClosed is returned by Device methods after Close.
var ErrClosed = errors.New("hub75test: device closed")

// Device is a fake hub75.Device. Xfer blocks until the test takes the
// transfer with Next, or until Release; the zero value is not usable, call
// New.
type Device struct {
	mu       sync.Mutex
	calls    []string
	fail     map[string]error
	sm       int
	released bool
	closed   bool
	last     []uint32
	record   io.Writer

	xfers   chan []uint32
	release chan struct{}
}

var _ hub75.Device = (*Device)(nil)

// New returns a fake device whose ClaimSM hands out state machine 0.
func New() *Device {
	return &Device{
		fail:    map[string]error{},
		xfers:   make(chan []uint32),
		release: make(chan struct{}),
	}
}

// Fail makes every later call of the named method ("ClaimSM", "Xfer", …)
// return err; a nil err clears it.
func (d *Device) Fail(method string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.fail, method)
		return
	}
	d.fail[method] = err
}

// RecordTo makes every completed transfer also be written to w as
// little-endian words: a recording of the byte stream the DMA would send.
func (d *Device) RecordTo(w io.Writer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record = w
}

// Calls returns the calls so far, one line each, such as
// "SetPinDirs(sm=0, dirs=0x1f, mask=0x1f)".
func (d *Device) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// Last returns a copy of the most recent completed transfer.
func (d *Device) Last() []uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.last)
}

// Next waits for the next transfer, lets it complete and returns a copy of
// its words.
func (d *Device) Next(ctx context.Context) ([]uint32, error) {
	select {
	case w := <-d.xfers:
		return w, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Release stops gating: from now on transfers complete at once without
// waiting for Next. Call it before closing a panel that is refreshing.
func (d *Device) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.released {
		d.released = true
		close(d.release)
	}
}

// call logs a call and returns the error injected for method, if any.
func (d *Device) call(method, format string, args ...any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	line := method + "(" + fmt.Sprintf(format, args...) + ")"
	if d.closed {
		d.calls = append(d.calls, line+" after close")
		return ErrClosed
	}
	if err := d.fail[method]; err != nil {
		d.calls = append(d.calls, line+" failed")
		return err
	}
	d.calls = append(d.calls, line)
	return nil
}

// ClaimSM implements hub75.Device.
func (d *Device) ClaimSM() (int, error) {
	if err := d.call("ClaimSM", ""); err != nil {
		return 0, err
	}
	return d.sm, nil
}

// UnclaimSM implements hub75.Device.
func (d *Device) UnclaimSM(sm int) error { return d.call("UnclaimSM", "sm=%d", sm) }

// LoadProgram implements hub75.Device.
func (d *Device) LoadProgram(instrs []uint16, origin int) error {
	return d.call("LoadProgram", "%04x, origin=%d", instrs, origin)
}

// UnloadProgram implements hub75.Device.
func (d *Device) UnloadProgram(n, origin int) error {
	return d.call("UnloadProgram", "n=%d, origin=%d", n, origin)
}

// InitSM implements hub75.Device.
func (d *Device) InitSM(sm, pc int, c hub75.SMConfig) error {
	return d.call("InitSM", "sm=%d, pc=%d, clkdiv=0x%08x, execctrl=0x%08x, shiftctrl=0x%08x, pinctrl=0x%08x",
		sm, pc, c.ClkDiv, c.ExecCtrl, c.ShiftCtrl, c.PinCtrl)
}

// SetPins implements hub75.Device.
func (d *Device) SetPins(sm int, values, mask uint32) error {
	return d.call("SetPins", "sm=%d, values=%#x, mask=%#x", sm, values, mask)
}

// SetPinDirs implements hub75.Device.
func (d *Device) SetPinDirs(sm int, dirs, mask uint32) error {
	return d.call("SetPinDirs", "sm=%d, dirs=%#x, mask=%#x", sm, dirs, mask)
}

// SetPIOFunction implements hub75.Device.
func (d *Device) SetPIOFunction(gpio int) error { return d.call("SetPIOFunction", "gpio=%d", gpio) }

// ConfigXfer implements hub75.Device.
func (d *Device) ConfigXfer(sm, bufSize, bufCount int) error {
	return d.call("ConfigXfer", "sm=%d, size=%d, count=%d", sm, bufSize, bufCount)
}

// SetEnabled implements hub75.Device.
func (d *Device) SetEnabled(sm int, enabled bool) error {
	return d.call("SetEnabled", "sm=%d, %v", sm, enabled)
}

// Xfer implements hub75.Device. Transfers are not logged in Calls (the
// refresh loop makes many); take them with Next or Last. A transfer made to
// fail with Fail("Xfer", err) still waits for Next, then returns err.
func (d *Device) Xfer(sm int, words []uint32) error {
	d.mu.Lock()
	err, closed, w := d.fail["Xfer"], d.closed, d.record
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	cp := slices.Clone(words)
	select {
	case d.xfers <- cp:
	case <-d.release:
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.last = cp
	d.mu.Unlock()
	if w != nil {
		buf := make([]byte, 4*len(cp))
		for i, v := range cp {
			buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("hub75test: record transfer: %w", err)
		}
	}
	return nil
}

// Close implements hub75.Device.
func (d *Device) Close() error {
	if err := d.call("Close", ""); err != nil {
		return err
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}
