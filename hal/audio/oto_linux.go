//go:build linux && cgo

package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hajimehoshi/oto/v2"
)

// oto/v2 keeps one ALSA context per process (driver_unix.go stores it in
// a package variable and never closes it), so every oto Player shares
// one context, opened on first use at the first Player's rate. This is
// the only package-level state in hal/audio, and it mirrors oto's own.
var shared struct {
	mu   sync.Mutex
	ctx  *oto.Context
	rate int
	err  error // a failed open; oto cannot retry in the same process
}

// otoContext returns the process's oto context, opening it on first use.
// oto reports ALSA failures (no sound card, device busy) only through
// Context.Err after its ready channel closes (hal.md §5), so both are
// checked here.
func otoContext(rate int) (*oto.Context, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.err != nil {
		return nil, shared.err
	}
	if shared.ctx != nil {
		if shared.rate != rate {
			return nil, fmt.Errorf("audio: oto: the process's context runs at %d Hz; cannot open another at %d Hz", shared.rate, rate)
		}
		if err := shared.ctx.Err(); err != nil {
			return nil, fmt.Errorf("audio: oto: %w", err)
		}
		return shared.ctx, nil
	}
	c, ready, err := oto.NewContext(rate, 1, oto.FormatSignedInt16LE)
	if err != nil {
		shared.err = fmt.Errorf("audio: oto: %w", err)
		return nil, shared.err
	}
	<-ready
	if err := c.Err(); err != nil {
		shared.err = fmt.Errorf("audio: oto: %w (restart the process to retry)", err)
		return nil, shared.err
	}
	shared.ctx, shared.rate = c, rate
	return c, nil
}

// otoPlayer plays clips through oto/v2 (ALSA, via cgo).
type otoPlayer struct {
	ctx  *oto.Context
	rate int
	turn chan struct{}
	done chan struct{}
	once sync.Once
}

func openOto(cfg PlayerConfig) (Player, error) {
	c, err := otoContext(cfg.Rate)
	if err != nil {
		return nil, err
	}
	return &otoPlayer{ctx: c, rate: cfg.Rate, turn: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Play resamples c to the context's rate, mixes it to mono and plays it,
// polling oto until the stream has drained. oto keeps reporting
// IsPlaying on a dead device, so the wait is also bounded by the clip's
// length plus a second, and Context.Err is checked on every poll.
func (p *otoPlayer) Play(ctx context.Context, c *Clip) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("audio: oto: %w", err)
	}
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("audio: oto: waiting to play: %w", ctx.Err())
	case <-p.done:
		return ErrClosed
	}
	defer func() { <-p.turn }()

	r, err := c.Mono().Resample(p.rate)
	if err != nil {
		return fmt.Errorf("audio: oto: %w", err)
	}
	pcm := make([]byte, 0, len(r.Samples)*2)
	for _, s := range r.Samples {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(s))
	}
	pl := p.ctx.NewPlayer(bytes.NewReader(pcm))
	defer pl.Close()
	pl.Play()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(r.Duration() + time.Second)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			pl.Pause()
			return fmt.Errorf("audio: oto: playback cut off: %w", ctx.Err())
		case <-p.done:
			pl.Pause()
			return ErrClosed
		case <-limit.C:
			return fmt.Errorf("audio: oto: %v clip still playing after %v; is the device stalled?", r.Duration(), r.Duration()+time.Second)
		case <-tick.C:
			if err := p.ctx.Err(); err != nil {
				return fmt.Errorf("audio: oto: %w", err)
			}
			if err := pl.Err(); err != nil {
				return fmt.Errorf("audio: oto: %w", err)
			}
			if !pl.IsPlaying() {
				return nil
			}
		}
	}
}

// Close cuts off playback and makes later Play calls fail. The shared
// ALSA context stays open: oto/v2 cannot close it.
func (p *otoPlayer) Close() error {
	p.once.Do(func() { close(p.done) })
	p.turn <- struct{}{}
	<-p.turn
	return nil
}
