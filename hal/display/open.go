package display

import (
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cityarray/cityarray/hal/display/hub75"
	"github.com/cityarray/cityarray/hal/display/sim"
)

// Options are the dependencies of a Display.
type Options struct {
	// Logger receives fault reports; nil discards them.
	Logger *slog.Logger
	// Now is the clock for Status (frame times and rate); nil uses
	// time.Now. Tests pass a fake.
	Now func() time.Time
}

// Open validates cfg, opens the configured backend and sets its levels. If
// the backend fails to open and cfg.Fallback is set, Open opens the fallback
// instead and returns no error: the fault is logged and stays in Status, so
// the pole runs on with what it still has.
func Open(cfg Config, opts Options) (*Display, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "display")
	p, err := openBackend(cfg.Backend, cfg)
	used := cfg.Backend
	var openErr error
	if err != nil {
		if cfg.Fallback == "" {
			return nil, fmt.Errorf("display: open %s: %w", cfg.Backend, err)
		}
		openErr = err
		log.Error("panel backend failed; using the fallback", "backend", cfg.Backend, "fallback", cfg.Fallback, "err", err)
		p, err = openBackend(cfg.Fallback, cfg)
		if err != nil {
			return nil, fmt.Errorf("display: open %s: %w; fallback %s: %w", cfg.Backend, openErr, cfg.Fallback, err)
		}
		used = cfg.Fallback
	}
	if err := p.SetLevels(cfg.Brightness, cfg.Gamma); err != nil {
		return nil, errors.Join(fmt.Errorf("display: %s: %w", used, err), p.Close())
	}
	d := Wrap(p, used, opts)
	d.configured = cfg.Backend
	d.openErr = openErr
	d.brightness, d.gamma = cfg.Brightness, cfg.Gamma
	return d, nil
}

func openBackend(name string, cfg Config) (Panel, error) {
	switch name {
	case BackendHUB75:
		return hub75.Open(cfg.HUB75)
	case BackendSim:
		return sim.New(cfg.Sim)
	case BackendNone:
		return newNone(Bounds()), nil
	}
	return nil, fmt.Errorf("display: backend %q is not one of %v", name, Backends())
}

// fpsWindow is the number of recent frames Status averages the rate over.
const fpsWindow = 16

// Display is a Panel that keeps the health of the panel behind it: frames
// shown, errors, frame rate and faults, for the edge's health report. It
// is safe for concurrent use.
type Display struct {
	panel      Panel
	backend    string
	configured string
	openErr    error
	now        func() time.Time
	log        *slog.Logger

	mu         sync.Mutex
	frames     uint64
	errs       uint64
	lastErr    error
	failing    bool
	times      [fpsWindow]time.Time
	brightness uint8
	gamma      float64
	closed     bool
}

// Wrap puts health tracking around any panel, named backend in Status.
func Wrap(p Panel, backend string, opts Options) *Display {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Display{
		panel:      p,
		backend:    backend,
		configured: backend,
		now:        now,
		log:        log.With("component", "display", "backend", backend),
		brightness: DefaultBrightness,
		gamma:      DefaultGamma,
	}
}

// Unwrap returns the backend panel, for backend features such as the sim
// panel's HTTP handler.
func (d *Display) Unwrap() Panel { return d.panel }

// Bounds implements Panel.
func (d *Display) Bounds() image.Rectangle { return d.panel.Bounds() }

// Show implements Panel and counts the frame or the error. Errors are
// logged when the panel starts failing and when it recovers, not per frame.
func (d *Display) Show(frame *image.RGBA) error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	err := d.panel.Show(frame)
	t := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.errs++
		d.lastErr = err
		if !d.failing {
			d.failing = true
			d.log.Error("panel failing", "err", err)
		}
		return err
	}
	if d.failing {
		d.failing = false
		d.log.Info("panel recovered", "errors", d.errs)
	}
	d.times[d.frames%fpsWindow] = t
	d.frames++
	return nil
}

// SetLevels implements Panel.
func (d *Display) SetLevels(brightness uint8, gamma float64) error {
	if err := CheckLevels(brightness, gamma); err != nil {
		return err
	}
	if err := d.panel.SetLevels(brightness, gamma); err != nil {
		return err
	}
	d.mu.Lock()
	d.brightness, d.gamma = brightness, gamma
	d.mu.Unlock()
	return nil
}

// Close implements Panel.
func (d *Display) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	d.mu.Unlock()
	return d.panel.Close()
}

// Status is the health of a Display.
type Status struct {
	// Backend is the backend in use.
	Backend string `json:"backend"`
	// Configured is the backend the configuration asked for.
	Configured string `json:"configured"`
	// Fault is empty when the configured panel shows frames; otherwise it
	// says why not: the configured backend did not open, or the last frame
	// failed.
	Fault string `json:"fault,omitempty"`
	// Frames counts Show calls that succeeded.
	Frames uint64 `json:"frames"`
	// Errors counts Show calls that failed.
	Errors uint64 `json:"errors"`
	// LastError is the most recent Show error, even after recovery.
	LastError string `json:"last_error,omitempty"`
	// FPS is the rate of the last frames shown (up to 16), 0 before two.
	FPS float64 `json:"fps"`
	// LastFrame is when the last frame was shown.
	LastFrame time.Time `json:"last_frame,omitzero"`
	// Brightness is the brightness in use, in percent.
	Brightness uint8 `json:"brightness"`
	// Gamma is the gamma in use.
	Gamma float64 `json:"gamma"`
	// Refreshes counts the panel refreshes of a backend that refreshes on
	// its own (hub75); the rate shows that the panel is being driven.
	Refreshes uint64 `json:"refreshes,omitempty"`
}

// OK reports whether there is no fault.
func (s Status) OK() bool { return s.Fault == "" }

// refresher is a panel that counts its own refreshes (hub75.Panel).
type refresher interface{ Refreshes() uint64 }

// Refreshes returns the refresh count of a backend that refreshes on its
// own (hub75), or 0.
func (d *Display) Refreshes() uint64 {
	if r, ok := d.panel.(refresher); ok {
		return r.Refreshes()
	}
	return 0
}

// Status returns the current health.
func (d *Display) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Backend:    d.backend,
		Configured: d.configured,
		Frames:     d.frames,
		Errors:     d.errs,
		Brightness: d.brightness,
		Gamma:      d.gamma,
	}
	if d.lastErr != nil {
		s.LastError = d.lastErr.Error()
	}
	switch {
	case d.openErr != nil:
		s.Fault = fmt.Sprintf("%s panel unavailable, showing on %s: %v", d.configured, d.backend, d.openErr)
	case d.failing:
		s.Fault = "last frame failed: " + d.lastErr.Error()
	}
	if d.frames > 0 {
		s.LastFrame = d.times[(d.frames-1)%fpsWindow]
	}
	if n := min(d.frames, fpsWindow); n >= 2 {
		first := d.times[(d.frames-n)%fpsWindow]
		if span := s.LastFrame.Sub(first); span > 0 {
			s.FPS = float64(n-1) / span.Seconds()
		}
	}
	s.Refreshes = d.Refreshes()
	return s
}
