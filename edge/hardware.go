package edge

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/cityarray/cityarray/edge/render"
	"github.com/cityarray/cityarray/hal/audio"
	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/hal/sensors"
)

// openHardware opens the panel, the renderer, the speaker, speech and the
// sensors. What fails is a fault, never an error: a pole with a dead
// speaker still shows alerts, one with a dead panel still speaks them and
// acks them as failed to display.
func (p *Pole) openHardware() {
	p.panel = p.opts.Panel
	if p.panel == nil {
		d, err := display.Open(p.cfg.Display.Config, display.Options{Logger: p.opts.Logger, Now: p.clock.Now})
		if err != nil {
			p.fault("display", fmt.Sprintf("%v; showing nothing", err))
			d = display.Wrap(noPanel{}, display.BackendNone, display.Options{Logger: p.opts.Logger, Now: p.clock.Now})
		} else if st := d.Status(); st.Fault != "" {
			p.fault("display", fmt.Sprintf("%s; using %s", st.Fault, st.Backend))
		}
		p.disp, p.panel = d, d
		p.closers = append(p.closers, d.Close)
	}

	ro := render.DefaultOptions()
	ro.ScrollSpeed, ro.Dwell, ro.Logger = p.cfg.Display.ScrollSpeed, p.cfg.Languages.Dwell, p.opts.Logger
	r, err := render.New(ro)
	if err != nil {
		// Only invalid options fail New, and the configuration was
		// validated: this is a bug, but the pole must still start.
		p.fault("render", fmt.Sprintf("%v; default options", err))
		r, _ = render.New(render.DefaultOptions())
	}
	for _, f := range r.Faults() {
		p.fault("fonts", f.Error())
	}
	p.renderer = r
	msg := p.cfg.Info.Message
	p.screen = newScreen(r, p.panel, p.cfg.Display.FPS, p.cfg.Languages.Dwell, p.cfg.Languages.For(p.ident.Zone), msg)
	if p.cfg.Info.TimeZone != "" {
		if loc, err := time.LoadLocation(p.cfg.Info.TimeZone); err == nil {
			p.screen.loc = loc
		}
	}

	p.player = p.opts.Player
	if p.player == nil {
		pl, err := audio.Open(audio.PlayerConfig{Kind: p.cfg.Audio.Player, Device: p.cfg.Audio.Device, Logger: p.opts.Logger})
		if err != nil {
			p.fault("audio", fmt.Sprintf("%v; silent", err))
			pl, _ = audio.Open(audio.PlayerConfig{Kind: audio.KindNone})
		}
		p.player = pl
		p.closers = append(p.closers, pl.Close)
	}

	p.tts = p.opts.TTS
	if p.tts != nil {
		p.ttsReady.Store(true)
	} else if p.cfg.Audio.Espeak != "" && p.cfg.Audio.Speak {
		// espeak-ng is probed (two short runs) by Run, off the path to
		// the first frame; until then the pole has no voices.
		ec := audio.DefaultEspeakConfig()
		ec.Binary, ec.Logger = p.cfg.Audio.Espeak, p.opts.Logger
		e, err := audio.NewEspeak(ec)
		if err != nil {
			p.fault("speech", fmt.Sprintf("%v; tones only", err))
		} else {
			p.tts, p.espeak = e, e
		}
	}
	if p.tts != nil {
		p.speech = audio.NewLibrary(audio.LibraryConfig{TTS: p.tts, Logger: p.opts.Logger})
		p.closers = append(p.closers, p.speech.Close)
	}

	p.sensors = p.opts.Sensors
	if p.sensors == nil {
		p.sensors = sensors.New(sensors.Config{StoragePaths: []string{p.cfg.DataDir}})
	}
}

// noPanel stands in for a panel that could not be opened at all.
type noPanel struct{}

var errNoPanel = errors.New("no panel")

func (noPanel) Bounds() image.Rectangle        { return display.Bounds() }
func (noPanel) Show(*image.RGBA) error         { return errNoPanel }
func (noPanel) SetLevels(uint8, float64) error { return nil }
func (noPanel) Close() error                   { return nil }

// initSpeech probes espeak-ng, then tells the loop that speech can be
// prepared.
func (p *Pole) initSpeech(ctx context.Context, ready chan<- struct{}) {
	if err := p.espeak.Init(ctx); err != nil {
		if ctx.Err() == nil {
			p.fault("speech", fmt.Sprintf("%v; tones only", err))
		}
		return
	}
	p.ttsReady.Store(true)
	select {
	case ready <- struct{}{}:
	case <-ctx.Done():
	}
}
