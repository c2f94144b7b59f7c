package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// ErrClosed is returned by a Player used after Close.
var ErrClosed = errors.New("audio: player closed")

// A Player sends clips to a speaker.
type Player interface {
	// Play plays c and returns when it has finished, or when ctx is done
	// (the playback is then cut off and the error wraps ctx.Err()). Calls
	// are played one after another, never mixed.
	Play(ctx context.Context, c *Clip) error
	// Close stops any playback and releases the device.
	Close() error
}

// Player kinds for PlayerConfig.Kind.
const (
	KindAuto  = "auto"  // oto when built in and working, else aplay
	KindOto   = "oto"   // oto/v2 on ALSA; needs a Linux build with cgo
	KindAplay = "aplay" // pipe a WAV to `aplay -q -` (alsa-utils); pure Go
	KindNone  = "none"  // no speaker: Play returns at once
)

// PlayerConfig chooses and configures a Player.
type PlayerConfig struct {
	// Kind is one of KindAuto (the default), KindOto, KindAplay, KindNone.
	Kind string
	// Device is the ALSA PCM for aplay -D ("" for aplay's default,
	// "null" to discard). oto always opens ALSA's default device.
	Device string
	// Aplay is the aplay executable. Default "aplay".
	Aplay string
	// Rate is the rate oto's single stream runs at; clips at other rates
	// are resampled. Default 22050, espeak-ng's rate.
	Rate int
	// Logger receives device faults. Default: discard.
	Logger *slog.Logger
}

// Open returns the Player cfg asks for. With KindAuto it tries oto, then
// aplay, and reports both failures if neither works; a pole without a
// working speaker should then run with KindNone and report the fault.
func Open(cfg PlayerConfig) (Player, error) {
	if cfg.Aplay == "" {
		cfg.Aplay = "aplay"
	}
	if cfg.Rate == 0 {
		cfg.Rate = 22050
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rate < MinRate || cfg.Rate > MaxRate {
		return nil, fmt.Errorf("audio: open player: rate %d Hz outside %d..%d", cfg.Rate, MinRate, MaxRate)
	}
	if strings.HasPrefix(cfg.Device, "-") {
		return nil, fmt.Errorf("audio: open player: device %q starts with '-'", cfg.Device)
	}
	switch cfg.Kind {
	case KindNone:
		return &nonePlayer{}, nil
	case KindAplay:
		return openAplay(cfg)
	case KindOto:
		return openOto(cfg)
	case KindAuto, "":
		p, otoErr := openOto(cfg)
		if otoErr == nil {
			return p, nil
		}
		p, aplayErr := openAplay(cfg)
		if aplayErr == nil {
			cfg.Logger.Info("using aplay", "component", "audio", "oto", otoErr)
			return p, nil
		}
		return nil, fmt.Errorf("audio: no player works: %w", errors.Join(otoErr, aplayErr))
	}
	return nil, fmt.Errorf("audio: open player: unknown kind %q (want %s, %s, %s or %s)", cfg.Kind, KindAuto, KindOto, KindAplay, KindNone)
}

// nonePlayer is a Player with no speaker.
type nonePlayer struct{}

func (p *nonePlayer) Play(ctx context.Context, c *Clip) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("audio: play: %w", err)
	}
	return ctx.Err()
}

func (p *nonePlayer) Close() error { return nil }
