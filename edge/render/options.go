package render

import (
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// The panel the renderer draws for.
const (
	Width  = 64 // pixels
	Height = 32 // pixels
)

// TierStyle is how a tier looks: the colour of the band at the left of the
// panel (which carries the icon) and the colour of the text.
type TierStyle struct {
	Band color.RGBA
	Text color.RGBA
}

// Options configures a Renderer. The zero value of every field means its
// default (DefaultOptions); New rejects values that are out of range.
type Options struct {
	// Tiers overrides the style of some tiers; the others keep their
	// defaults.
	Tiers map[record.Tier]TierStyle
	// ScrollSpeed is how fast text that does not fit moves, in pixels per
	// second. Default 32 (four Latin letters a second).
	ScrollSpeed float64
	// Hold is how long scrolling text stands still at its start before it
	// moves, so the first words can be read. Default 1.5 s.
	Hold time.Duration
	// Gap is the blank space, in pixels, between the end of a scrolling
	// text and its start coming round again. Default: the width of the text
	// area, so one pass ends when the last letter has left the panel and
	// the first is back in place.
	Gap int
	// Dwell is the Period of a scene whose text stands still. Default 5 s.
	Dwell time.Duration
	// MaxRunes caps each line's text; longer text is cut and ends with "…".
	// Default 400 (alert long texts are at most 360 characters).
	MaxRunes int
	// MaxMarks caps the combining marks after one base character. Default 4.
	MaxMarks int
	// Schedule gives brightness and gamma by time of day (see Levels).
	// Default DefaultSchedule().
	Schedule Schedule
	// Fonts, when not nil, is where the font assets are read from instead
	// of the copies embedded in the binary, under the names in
	// fonts/README.md. Missing or corrupt assets are faults, not errors:
	// the renderer starts and draws with what it has.
	Fonts fs.FS
	// Logger receives font faults. Default: discard.
	Logger *slog.Logger
}

// DefaultTierStyles returns the default colours: blue for informational,
// yellow for advisory, orange for warning and red for emergency and IPAWS.
// Text is white, yellow, amber or light red, bright enough to read at a
// distance and distinct from the band.
func DefaultTierStyles() map[record.Tier]TierStyle {
	return map[record.Tier]TierStyle{
		record.TierInformational: {Band: color.RGBA{0, 100, 255, 255}, Text: color.RGBA{255, 255, 255, 255}},
		record.TierAdvisory:      {Band: color.RGBA{255, 200, 0, 255}, Text: color.RGBA{255, 220, 0, 255}},
		record.TierWarning:       {Band: color.RGBA{255, 100, 0, 255}, Text: color.RGBA{255, 150, 0, 255}},
		record.TierEmergency:     {Band: color.RGBA{255, 0, 0, 255}, Text: color.RGBA{255, 60, 60, 255}},
		record.TierIPAWS:         {Band: color.RGBA{255, 0, 0, 255}, Text: color.RGBA{255, 60, 60, 255}},
	}
}

// DefaultOptions returns the defaults every zero field of Options takes.
func DefaultOptions() Options {
	return Options{
		Tiers:       DefaultTierStyles(),
		ScrollSpeed: 32,
		Hold:        1500 * time.Millisecond,
		Gap:         textWidth,
		Dwell:       5 * time.Second,
		MaxRunes:    400,
		MaxMarks:    4,
		Schedule:    DefaultSchedule(),
	}
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	tiers := d.Tiers
	for t, s := range o.Tiers {
		tiers[t] = s
	}
	o.Tiers = tiers
	if o.ScrollSpeed == 0 {
		o.ScrollSpeed = d.ScrollSpeed
	}
	if o.Hold == 0 {
		o.Hold = d.Hold
	}
	if o.Gap == 0 {
		o.Gap = d.Gap
	}
	if o.Dwell == 0 {
		o.Dwell = d.Dwell
	}
	if o.MaxRunes == 0 {
		o.MaxRunes = d.MaxRunes
	}
	if o.MaxMarks == 0 {
		o.MaxMarks = d.MaxMarks
	}
	if len(o.Schedule.Points) == 0 {
		o.Schedule = d.Schedule
	}
	o.Schedule.Points = slices.Clone(o.Schedule.Points)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// validate returns every problem with o (after withDefaults).
func (o Options) validate() error {
	var errs []error
	if o.ScrollSpeed < 1 || o.ScrollSpeed > 1000 {
		errs = append(errs, fmt.Errorf("scroll speed %g px/s: want 1..1000", o.ScrollSpeed))
	}
	if o.Hold < 0 || o.Hold > time.Minute {
		errs = append(errs, fmt.Errorf("hold %v: want 0..1m", o.Hold))
	}
	if o.Gap < 0 || o.Gap > 4*Width {
		errs = append(errs, fmt.Errorf("gap %d px: want 0..%d", o.Gap, 4*Width))
	}
	if o.Dwell <= 0 || o.Dwell > time.Hour {
		errs = append(errs, fmt.Errorf("dwell %v: want more than 0 and at most 1h", o.Dwell))
	}
	if o.MaxRunes < 8 || o.MaxRunes > 4000 {
		errs = append(errs, fmt.Errorf("max runes %d: want 8..4000", o.MaxRunes))
	}
	if o.MaxMarks < 1 || o.MaxMarks > preMarks {
		errs = append(errs, fmt.Errorf("max marks %d: want 1..%d", o.MaxMarks, preMarks))
	}
	for t := range o.Tiers {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("tier style for unknown tier %d", uint8(t)))
		}
	}
	if err := o.Schedule.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("render: options: %w", errors.Join(errs...))
	}
	return nil
}
