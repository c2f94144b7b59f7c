package render

import (
	"image"
	"image/color"
	"strings"
	"testing"
	"time"
)

func TestLevels(t *testing.T) {
	s := DefaultSchedule()
	for _, tc := range []struct {
		hh, mm     int
		brightness uint8
		gamma      float64
	}{
		{0, 0, 25, 2.4},   // night, across midnight
		{5, 29, 25, 2.4},  // just before dawn
		{5, 30, 25, 2.4},  // dawn starts its ramp from night
		{5, 40, 38, 2.3},  // half way through the 20-minute ramp
		{5, 50, 50, 2.2},  // dawn
		{7, 10, 75, 2.2},  // half way to day
		{12, 0, 100, 2.2}, // day
		{19, 20, 60, 2.2}, // dusk
		{21, 40, 43, 2.3}, // half way to night
		{23, 59, 25, 2.4}, // night
	} {
		b, g := Levels(s, testTime(tc.hh, tc.mm))
		if b != tc.brightness || g < tc.gamma-0.001 || g > tc.gamma+0.001 {
			t.Errorf("%02d:%02d: %d %%, gamma %.3f; want %d %%, %.3f", tc.hh, tc.mm, b, g, tc.brightness, tc.gamma)
		}
	}
	// The wall clock of the time's own zone counts.
	tz := time.FixedZone("UTC-5", -5*3600)
	if b, _ := Levels(s, time.Date(2026, 3, 2, 12, 0, 0, 0, tz)); b != 100 {
		t.Errorf("noon at UTC-5: %d %%, want 100", b)
	}
	// No ramp: steps.
	s.Ramp = 0
	if b, _ := Levels(s, testTime(19, 0)); b != 60 {
		t.Errorf("19:00 without a ramp: %d %%, want 60", b)
	}
	// A single point holds all day.
	one := Schedule{Points: []LevelPoint{{Name: "always", At: 0, Brightness: 70, Gamma: 1.8}}, Ramp: time.Hour}
	if b, g := Levels(one, testTime(3, 0)); b != 70 || g != 1.8 {
		t.Errorf("single point: %d, %g", b, g)
	}
	// An invalid schedule lights the panel rather than blacking it out.
	if b, g := Levels(Schedule{}, testTime(3, 0)); b != 100 || g != 2.2 {
		t.Errorf("empty schedule: %d, %g; want 100, 2.2", b, g)
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Schedule
		want string
	}{
		{"empty", Schedule{}, "no points"},
		{"order", Schedule{Points: []LevelPoint{{At: 2 * time.Hour, Gamma: 2}, {At: time.Hour, Gamma: 2}}}, "not after"},
		{"ramp", Schedule{Points: []LevelPoint{{At: 0, Gamma: 2}, {At: time.Hour, Gamma: 2}}, Ramp: 2 * time.Hour}, "ramp 2h0m0s is longer"},
		{"brightness", Schedule{Points: []LevelPoint{{Brightness: 120, Gamma: 2}}}, "brightness 120"},
		{"negative ramp", Schedule{Points: []LevelPoint{{Gamma: 2}}, Ramp: -1}, "negative"},
	} {
		err := tc.s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if err := DefaultSchedule().Validate(); err != nil {
		t.Errorf("default schedule: %v", err)
	}
}

func TestLUT(t *testing.T) {
	id := NewLUT(100, 1)
	for i := range id {
		if id[i] != uint8(i) {
			t.Fatalf("brightness 100, gamma 1: %d -> %d", i, id[i])
		}
	}
	off := NewLUT(0, 2.2)
	if off[255] != 0 {
		t.Errorf("brightness 0: 255 -> %d", off[255])
	}
	g := NewLUT(100, 2.2)
	if g[0] != 0 || g[255] != 255 || g[128] != 56 {
		t.Errorf("gamma 2.2: 0->%d 128->%d 255->%d; want 0, 56, 255", g[0], g[128], g[255])
	}
	half := NewLUT(50, 1)
	if half[255] != 128 || half[100] != 50 {
		t.Errorf("brightness 50: 255->%d 100->%d", half[255], half[100])
	}

	img := image.NewRGBA(image.Rect(2, 3, 5, 6))
	img.SetRGBA(3, 4, color.RGBA{255, 128, 0, 200})
	ApplyLevels(img, 50, 1)
	if got := img.RGBAAt(3, 4); got != (color.RGBA{128, 64, 0, 200}) {
		t.Errorf("ApplyLevels: %v", got)
	}
}

// TestRendererLevels uses the options' schedule.
func TestRendererLevels(t *testing.T) {
	r, err := New(Options{Schedule: Schedule{Points: []LevelPoint{{At: 0, Brightness: 42, Gamma: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	if b, g := r.Levels(testTime(12, 0)); b != 42 || g != 2 {
		t.Errorf("Levels = %d, %g", b, g)
	}
}

func BenchmarkApplyLevels(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	l := NewLUT(60, 2.2)
	b.ReportAllocs()
	for b.Loop() {
		l.Apply(img)
	}
}
