package edge

import (
	"fmt"
	"image"
	"time"

	"github.com/cityarray/cityarray/edge/render"
	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/mesh/record"
)

// screen draws what the pole shows onto its panel: the chosen alert,
// rotating through its languages, or the informational screen. It is
// driven by the runtime's loop (one goroutine) and never blocks on more
// than one frame.
type screen struct {
	r     *render.Renderer
	panel display.Panel
	frame *image.RGBA
	fps   int
	dwell time.Duration
	zone  []string       // the zone's languages
	msg   string         // the city's message for the informational screen
	loc   *time.Location // the clock's time zone (nil: the machine's)

	// What is on show.
	item   *Showable // nil: informational content
	langs  []string
	li     int
	scene  *render.Scene
	start  time.Time // when scene went up
	minute time.Time // the minute the clock scene shows

	// Outcomes for the runtime to act on.
	shown   map[record.ID]bool // records that reached the panel this run
	missing map[string][]rune  // language → glyphs the fonts lack
	err     error              // the panel's last error
}

func newScreen(r *render.Renderer, panel display.Panel, fps int, dwell time.Duration, zoneLangs []string, message string) *screen {
	return &screen{r: r, panel: panel, frame: image.NewRGBA(display.Bounds()), fps: fps, dwell: dwell,
		zone: zoneLangs, msg: message, shown: map[record.ID]bool{}, missing: map[string][]rune{}}
}

// set puts item (nil: informational content) on show from now, starting
// with its first language, unless it is already on show.
func (s *screen) set(item *Showable, now time.Time) error {
	switch {
	case item == nil && s.item == nil && s.scene != nil:
		return nil
	case item != nil && s.item != nil && item.ID == s.item.ID:
		s.item = item
		return nil
	}
	s.item, s.li = item, 0
	s.langs = nil
	if item != nil {
		s.langs = Languages(item.Alert, s.zone)
	}
	return s.prepare(now)
}

// prepare makes the scene for the current language.
func (s *screen) prepare(now time.Time) error {
	var c render.Content
	if s.item == nil {
		s.minute = now.Truncate(time.Minute)
		local := now
		if s.loc != nil {
			local = now.In(s.loc)
		}
		c = render.Clock(local, s.msg)
	} else {
		lang := s.langs[s.li%len(s.langs)]
		t := s.item.Alert.Texts[lang]
		c = render.Content{Tier: s.item.Tier, Lang: lang, Text: t.Short, Detail: t.Long, Test: s.item.Alert.IsTest()}
	}
	sc, err := s.r.Prepare(c)
	if err != nil {
		return fmt.Errorf("edge: render %s: %w", c.Lang, err)
	}
	if m := sc.Missing(); len(m) > 0 {
		s.missing[c.Lang] = m
	}
	s.scene, s.start = sc, now
	return nil
}

// draw shows the frame for now and returns when the next one is due.
// It moves to the next language once the scene has had a full pass and
// at least the dwell time, and renews the clock each minute.
func (s *screen) draw(now time.Time) (time.Time, error) {
	if s.scene == nil {
		if err := s.prepare(now); err != nil {
			return now.Add(time.Second), err
		}
	}
	stay := max(s.scene.Period(), s.dwell)
	switch {
	case s.item != nil && len(s.langs) > 1 && now.Sub(s.start) >= stay:
		s.li = (s.li + 1) % len(s.langs)
		if err := s.prepare(now); err != nil {
			return now.Add(time.Second), err
		}
	case s.item == nil && !now.Truncate(time.Minute).Equal(s.minute):
		if err := s.prepare(now); err != nil {
			return now.Add(time.Second), err
		}
	}
	s.scene.Frame(s.frame, now.Sub(s.start))
	if err := s.panel.Show(s.frame); err != nil {
		s.err = err
		return now.Add(time.Second), err
	}
	s.err = nil
	if s.item != nil {
		s.shown[s.item.ID] = true
	}
	if s.scene.Scrolls() {
		return now.Add(time.Second / time.Duration(s.fps)), nil
	}
	// A still scene: the next frame is the language change or the next
	// minute of the clock.
	if s.item != nil {
		if len(s.langs) > 1 {
			return s.start.Add(stay), nil
		}
		return now.Add(time.Minute), nil
	}
	return s.minute.Add(time.Minute), nil
}
