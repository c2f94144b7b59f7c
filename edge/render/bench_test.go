package render

import (
	"testing"
	"time"
)

// frameStep is the time between frames in the benchmarks: 60 Hz.
const frameStep = time.Second / 60

// BenchmarkFrame is one frame of a scrolling 15-language alert: the scenes
// are prepared once, outside the timer, and each iteration draws the next
// frame of the next language, so the offsets advance across all of them.
func BenchmarkFrame(b *testing.B) {
	r := newTestRenderer(b)
	scenes := make([]*Scene, len(samples))
	for i, s := range samples {
		scenes[i] = mustPrepare(b, r, sampleContent(s))
	}
	img := newFrame()
	elapsed := time.Duration(0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		scenes[i%len(scenes)].Frame(img, elapsed)
		elapsed += frameStep
		i++
	}
}

// BenchmarkFrameReshape is the baseline BenchmarkFrame is measured
// against: a renderer that sanitises, shapes and rasterises the text again
// for every frame.
func BenchmarkFrameReshape(b *testing.B) {
	r := newTestRenderer(b)
	for _, s := range samples { // parse the Noto faces outside the timer
		mustPrepare(b, r, sampleContent(s))
	}
	img := newFrame()
	elapsed := time.Duration(0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s, err := r.Prepare(sampleContent(samples[i%len(samples)]))
		if err != nil {
			b.Fatal(err)
		}
		s.Frame(img, elapsed)
		elapsed += frameStep
		i++
	}
}

// BenchmarkPrepare prepares each language's scene.
func BenchmarkPrepare(b *testing.B) {
	r := newTestRenderer(b)
	for _, s := range samples {
		mustPrepare(b, r, sampleContent(s)) // parse the Noto faces first
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Prepare(sampleContent(s)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew is the font cost of a cold start.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstScene is New plus the first scene of each language, each
// time on a fresh renderer: the cold-start cost including the lazy parse
// of a Noto face for Arabic, Hindi and Bengali.
func BenchmarkFirstScene(b *testing.B) {
	for _, s := range samples {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := New(Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Prepare(sampleContent(s)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
