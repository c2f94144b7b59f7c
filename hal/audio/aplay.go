package audio

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// aplayPlayer plays each clip by piping it as a WAV to `aplay -q -`
// (alsa-utils). It needs no cgo, so it is the player of the release
// build (CGO_ENABLED=0).
type aplayPlayer struct {
	path   string
	device string

	turn chan struct{} // a slot held by the playing call
	done chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	stop   context.CancelFunc // cuts off the current playback

	// started, when set (by tests), is called once aplay is running.
	started func()
}

func openAplay(cfg PlayerConfig) (Player, error) {
	path, err := exec.LookPath(cfg.Aplay)
	if err != nil {
		return nil, fmt.Errorf("audio: aplay: %w", err)
	}
	return &aplayPlayer{path: path, device: cfg.Device, turn: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

func (p *aplayPlayer) args() []string {
	args := []string{"-q", "-t", "wav"}
	if p.device != "" {
		args = append(args, "-D", p.device)
	}
	return append(args, "-")
}

// Play pipes c to a new aplay process and waits for it to exit. When ctx
// is done the process is killed.
func (p *aplayPlayer) Play(ctx context.Context, c *Clip) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("audio: aplay: %w", err)
	}
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("audio: aplay: waiting to play: %w", ctx.Err())
	case <-p.done:
		return ErrClosed
	}
	defer func() { <-p.turn }()

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	pctx, cancel := context.WithCancel(ctx)
	p.stop = cancel
	p.mu.Unlock()
	defer cancel()

	cmd := exec.CommandContext(pctx, p.path, p.args()...)
	cmd.Stdin = bytes.NewReader(c.AppendWAV(nil))
	stderr := &capBuffer{max: 1024}
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("audio: aplay: %w", err)
	}
	if p.started != nil {
		p.started()
	}
	err := cmd.Wait()

	p.mu.Lock()
	p.stop = nil
	closed := p.closed
	p.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("audio: aplay: playback cut off: %w", ctx.Err())
	case closed && pctx.Err() != nil:
		return ErrClosed
	case err != nil:
		dev := p.device
		if dev == "" {
			dev = "default"
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("audio: aplay on device %s: %w: %s", dev, err, msg)
		}
		return fmt.Errorf("audio: aplay on device %s: %w", dev, err)
	}
	return nil
}

// Close cuts off any playback, waits for it to end and makes later Play
// calls fail with ErrClosed.
func (p *aplayPlayer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	if p.stop != nil {
		p.stop()
	}
	p.mu.Unlock()
	p.turn <- struct{}{} // wait for a playing call to return
	<-p.turn
	return nil
}
