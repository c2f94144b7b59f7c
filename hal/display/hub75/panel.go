package hub75

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
)

// Device is the part of an RP1 PIO block that Panel drives. OpenDevice
// returns the real one (/dev/pio0 on linux/arm64); hub75test.Device records
// calls and transfers for tests.
type Device interface {
	// ClaimSM claims any free state machine and returns its number.
	ClaimSM() (int, error)
	// UnclaimSM releases a claimed state machine.
	UnclaimSM(sm int) error
	// LoadProgram loads instructions at origin.
	LoadProgram(instrs []uint16, origin int) error
	// UnloadProgram frees n instructions at origin.
	UnloadProgram(n, origin int) error
	// InitSM configures sm and points it at pc, disabled.
	InitSM(sm, pc int, c SMConfig) error
	// SetPins drives the masked pins of sm to values.
	SetPins(sm int, values, mask uint32) error
	// SetPinDirs sets the masked pins of sm to output where dirs is 1.
	SetPinDirs(sm int, dirs, mask uint32) error
	// SetPIOFunction hands a GPIO to the PIO block.
	SetPIOFunction(gpio int) error
	// ConfigXfer sets up DMA into sm's TX FIFO with bufCount bounce
	// buffers of bufSize bytes.
	ConfigXfer(sm, bufSize, bufCount int) error
	// SetEnabled starts or stops sm.
	SetEnabled(sm int, enabled bool) error
	// Xfer sends words to sm's TX FIFO and returns once DMA has taken them
	// all (a frame takes a few milliseconds).
	Xfer(sm int, words []uint32) error
	// Close releases the device; the driver frees what the handle claimed.
	Close() error
}

// ErrClosed is returned by Panel methods after Close.
var ErrClosed = errors.New("hub75: panel closed")

// Panel drives a HUB75 chain through a Device: Show encodes a frame, and a
// refresh goroutine sends the newest encoded frame again and again, since
// the panel only shows what is being clocked into it. It is safe for
// concurrent use.
type Panel struct {
	dev  Device
	sm   int
	prog Program
	pins uint32

	showMu sync.Mutex // serialises Show and SetLevels
	enc    *Encoder   // guarded by showMu
	last   *image.RGBA

	mu      sync.Mutex // guards the fields below
	spare   [][]uint32
	pending []uint32
	loopErr error
	closed  bool

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	refreshes atomic.Uint64
}

// Open opens the RP1 PIO device at cfg.DevicePath and starts driving the
// panel; the panel is dark until the first Show. On machines without an RP1
// the error wraps errors.ErrUnsupported.
func Open(cfg Config) (*Panel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path := cfg.DevicePath
	if path == "" {
		path = DefaultDevicePath
	}
	dev, err := OpenDevice(path)
	if err != nil {
		return nil, err
	}
	p, err := New(dev, cfg)
	if err != nil {
		return nil, errors.Join(err, dev.Close())
	}
	return p, nil
}

// New sets up a state machine on dev and starts the refresh goroutine. On
// error it releases what it claimed; the caller still owns dev.
func New(dev Device, cfg Config) (*Panel, error) {
	enc, err := NewEncoder(cfg)
	if err != nil {
		return nil, err
	}
	smc, err := cfg.SMConfig()
	if err != nil {
		return nil, err
	}
	p := &Panel{
		dev:  dev,
		prog: StreamProgram(),
		pins: cfg.Pins.mask(cfg.AddrLines()),
		enc:  enc,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range 3 { // one refreshing, one pending, one being encoded
		p.spare = append(p.spare, make([]uint32, 0, cfg.StreamLen()))
	}
	if err := p.setup(smc); err != nil {
		return nil, err
	}
	go p.loop()
	return p, nil
}

// setup claims a state machine, loads the program and hands the pins over,
// undoing its steps if one fails.
func (p *Panel) setup(smc SMConfig) (err error) {
	var undo []func() error
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				err = errors.Join(err, undo[i]())
			}
		}
	}()
	sm, err := p.dev.ClaimSM()
	if err != nil {
		return fmt.Errorf("hub75: claim a PIO state machine: %w", err)
	}
	p.sm = sm
	undo = append(undo, func() error { return p.dev.UnclaimSM(sm) })
	if err := p.dev.ConfigXfer(sm, rp1MaxXfer, rp1XferBufs); err != nil {
		return fmt.Errorf("hub75: set up DMA for state machine %d: %w", sm, err)
	}
	if err := p.dev.LoadProgram(p.prog.Instrs, p.prog.Origin); err != nil {
		return fmt.Errorf("hub75: load the %d-instruction PIO program at %d (another PIO user may hold that memory): %w",
			len(p.prog.Instrs), p.prog.Origin, err)
	}
	undo = append(undo, func() error { return p.dev.UnloadProgram(len(p.prog.Instrs), p.prog.Origin) })
	if err := p.dev.InitSM(sm, p.prog.Origin+p.prog.Entry, smc); err != nil {
		return fmt.Errorf("hub75: init state machine %d: %w", sm, err)
	}
	// OE high (LEDs off) before the pins become outputs.
	oe := uint32(1) << p.enc.cfg.Pins.OE
	if err := p.dev.SetPins(sm, oe, p.pins); err != nil {
		return fmt.Errorf("hub75: set initial pin levels: %w", err)
	}
	if err := p.dev.SetPinDirs(sm, p.pins, p.pins); err != nil {
		return fmt.Errorf("hub75: set pin directions: %w", err)
	}
	for g := 0; g <= MaxGPIO; g++ {
		if p.pins&(1<<g) == 0 {
			continue
		}
		if err := p.dev.SetPIOFunction(g); err != nil {
			return fmt.Errorf("hub75: hand GPIO %d to the PIO: %w", g, err)
		}
	}
	if err := p.dev.SetEnabled(sm, true); err != nil {
		return fmt.Errorf("hub75: start state machine %d: %w", sm, err)
	}
	return nil
}

// loop sends the newest frame to the device until Close.
func (p *Panel) loop() {
	defer close(p.done)
	var cur []uint32
	for {
		p.mu.Lock()
		if p.pending != nil {
			if cur != nil {
				p.spare = append(p.spare, cur)
			}
			cur, p.pending = p.pending, nil
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		if cur == nil {
			p.waitWake()
			continue
		}
		if err := p.dev.Xfer(p.sm, cur); err != nil {
			p.mu.Lock()
			p.loopErr = err
			p.mu.Unlock()
			// Retry on the next Show, not in a tight loop.
			p.waitWake()
			continue
		}
		p.refreshes.Add(1)
	}
}

func (p *Panel) waitWake() {
	select {
	case <-p.wake:
	case <-p.stop:
	}
}

// Bounds is the panel size, 64x32 for the default configuration.
func (p *Panel) Bounds() image.Rectangle { return p.enc.Bounds() }

// Show encodes frame and makes it the one the refresh goroutine sends; it
// does not keep frame. If the last transfer failed, Show still queues the
// frame and returns that error.
func (p *Panel) Show(frame *image.RGBA) error {
	p.showMu.Lock()
	defer p.showMu.Unlock()
	if err := p.encodeAndQueue(frame); err != nil {
		return err
	}
	if p.last == nil {
		p.last = image.NewRGBA(p.enc.Bounds())
	}
	for y := 0; y < p.last.Rect.Dy(); y++ {
		copy(p.last.Pix[y*p.last.Stride:(y+1)*p.last.Stride], frame.Pix[y*frame.Stride:])
	}
	p.mu.Lock()
	err := p.loopErr
	p.loopErr = nil
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("hub75: refresh: %w", err)
	}
	return nil
}

// encodeAndQueue encodes frame into a spare buffer and publishes it.
// Callers hold showMu.
func (p *Panel) encodeAndQueue(frame *image.RGBA) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	buf := p.spare[len(p.spare)-1]
	p.spare = p.spare[:len(p.spare)-1]
	p.mu.Unlock()

	buf, err := p.enc.Encode(buf[:0], frame)

	p.mu.Lock()
	if err != nil {
		p.spare = append(p.spare, buf)
	} else {
		if p.pending != nil {
			p.spare = append(p.spare, p.pending)
		}
		p.pending = buf
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// SetLevels sets brightness (0..100) and gamma (1.0..3.0) and re-encodes the
// frame on show, so the change is visible at once.
func (p *Panel) SetLevels(brightness uint8, gamma float64) error {
	p.showMu.Lock()
	defer p.showMu.Unlock()
	if err := p.enc.SetLevels(brightness, gamma); err != nil {
		return err
	}
	if p.last == nil {
		return nil
	}
	return p.encodeAndQueue(p.last)
}

// Refreshes counts the frames sent to the panel, a measure of refresh rate.
func (p *Panel) Refreshes() uint64 { return p.refreshes.Load() }

// Close stops refreshing, sends one dark frame so the panel goes off,
// stops the state machine and releases the device.
func (p *Panel) Close() error {
	p.showMu.Lock()
	defer p.showMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done

	var errs []error
	dark, err := p.enc.Encode(nil, image.NewRGBA(p.enc.Bounds()))
	if err == nil {
		err = p.dev.Xfer(p.sm, dark)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("hub75: blank the panel: %w", err))
	}
	if err := p.dev.SetEnabled(p.sm, false); err != nil {
		errs = append(errs, fmt.Errorf("hub75: stop state machine %d: %w", p.sm, err))
	}
	if err := p.dev.UnloadProgram(len(p.prog.Instrs), p.prog.Origin); err != nil {
		errs = append(errs, fmt.Errorf("hub75: unload program: %w", err))
	}
	if err := p.dev.UnclaimSM(p.sm); err != nil {
		errs = append(errs, fmt.Errorf("hub75: release state machine %d: %w", p.sm, err))
	}
	if err := p.dev.Close(); err != nil {
		errs = append(errs, fmt.Errorf("hub75: close device: %w", err))
	}
	return errors.Join(errs...)
}
