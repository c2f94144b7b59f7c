package edge

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/edge/render"
	"github.com/cityarray/cityarray/hal/display/displaytest"
	"github.com/cityarray/cityarray/mesh/record"
)

func newTestScreen(t *testing.T, zone []string, message string) (*screen, *displaytest.Panel) {
	t.Helper()
	r, err := render.New(render.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := displaytest.New()
	return newScreen(r, p, 30, 6*time.Second, zone, message), p
}

func same(a, b []byte) bool { return bytes.Equal(a, b) }

// TestScreenRotatesLanguages: an alert in three languages, two of them in
// the zone's list, rotates through those two in the list's order, each
// staying at least the dwell time.
func TestScreenRotatesLanguages(t *testing.T) {
	s, p := newTestScreen(t, []string{"es", "en"}, "")
	item := &Showable{ID: record.IDOf([]byte("a")), Tier: record.TierWarning,
		Alert: alertBody("en=Flood", "es=Riada", "fr=Crue")}
	if err := s.set(item, t0); err != nil {
		t.Fatal(err)
	}
	var seen []string
	now := t0
	for range 3 {
		next, err := s.draw(now)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, s.langs[s.li])
		if d := next.Sub(now); d < 6*time.Second {
			t.Errorf("a still scene in %s asks for its next frame after %v, want the dwell", s.langs[s.li], d)
		}
		now = next
	}
	if want := []string{"es", "en", "es"}; !equalStrings(seen, want) {
		t.Errorf("languages shown %v, want %v", seen, want)
	}
	if !s.shown[item.ID] {
		t.Error("the alert is not marked shown")
	}
	frames := p.Frames()
	if len(frames) != 3 || same(frames[0].Pix, frames[1].Pix) || !same(frames[0].Pix, frames[2].Pix) {
		t.Errorf("%d frames; Spanish and English frames must differ and Spanish come back the same", len(frames))
	}
}

// TestScreenScrollsAndInfo: long text asks for frames at the frame rate;
// no alert shows the clock, which is redrawn each minute.
func TestScreenScrollsAndInfo(t *testing.T) {
	s, p := newTestScreen(t, []string{"en"}, "")
	long := &Showable{ID: record.IDOf([]byte("b")), Tier: record.TierEmergency,
		Alert: alertBody("en=Evacuate the river district now and go to the high school on Hill Road")}
	if err := s.set(long, t0); err != nil {
		t.Fatal(err)
	}
	next, err := s.draw(t0)
	if err != nil {
		t.Fatal(err)
	}
	if d := next.Sub(t0); d != time.Second/30 {
		t.Errorf("scrolling text asks for its next frame after %v, want 1/30 s", d)
	}
	// Back to nothing: the clock.
	if err := s.set(nil, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(10 * time.Second) // 12:00:10
	next, err = s.draw(at)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("the clock asks for its next frame at %v, want the next minute", next)
	}
	before := p.Last()
	if _, err := s.draw(next); err != nil {
		t.Fatal(err)
	}
	if same(before.Pix, p.Last().Pix) {
		t.Error("the clock did not change at the minute")
	}
}

// TestScreenPanelFault: a panel that fails is reported, and the screen
// keeps trying once a second.
func TestScreenPanelFault(t *testing.T) {
	s, p := newTestScreen(t, []string{"en"}, "Welcome to Testville")
	p.FailShow(errors.New("pio0: DMA timeout"))
	next, err := s.draw(t0)
	if err == nil || s.err == nil {
		t.Fatal("a failing panel reported no error")
	}
	if !next.Equal(t0.Add(time.Second)) {
		t.Errorf("retry at %v, want in 1 s", next)
	}
	p.FailShow(nil)
	if _, err := s.draw(next); err != nil || s.err != nil {
		t.Errorf("after the panel recovered: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestScreenHostileText: text a record may carry (bidi overrides,
// combining-mark floods, text at the record's limit) and text no record
// may carry (10,000 characters, control characters, from a protocol's
// parameters or a configured message) goes on the panel without a crash
// and without stalling the loop.
func TestScreenHostileText(t *testing.T) {
	s, p := newTestScreen(t, []string{"en"}, strings.Repeat("Welcome ", 2000))
	for _, text := range []string{
		"\u202eFlood warning\u202c: move \u2066up\u2069",
		"F" + strings.Repeat("\u0301", 89),
		strings.Repeat("洪水", 45),
		strings.Repeat("x", 10000),
		"line\x00one\x1b[2J\ttwo\r\n",
	} {
		item := &Showable{ID: record.IDOf([]byte(text)), Tier: record.TierWarning, Alert: alertBody("en=" + text)}
		if err := s.set(item, t0); err != nil {
			t.Fatalf("%q: %v", text[:min(len(text), 20)], err)
		}
		for i := range 50 {
			if _, err := s.draw(t0.Add(time.Duration(i) * 100 * time.Millisecond)); err != nil {
				t.Fatalf("%q: %v", text[:min(len(text), 20)], err)
			}
		}
	}
	// The informational screen with a 16,000-character message.
	if err := s.set(nil, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.draw(t0); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Frames()); n != 5*50+1 {
		t.Errorf("%d frames shown, want %d", n, 5*50+1)
	}
}
