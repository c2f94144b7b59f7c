package trust

import (
	"math/rand/v2"
	"testing"
)

// model is the obvious replay window: every seq seen, and the highest.
type model struct {
	seen map[uint64]bool
	top  uint64
	size uint64
}

func (m *model) fresh(seq uint64) bool {
	if len(m.seen) == 0 || seq > m.top {
		return true
	}
	return m.top-seq < m.size && !m.seen[seq]
}

func (m *model) mark(seq uint64) {
	m.seen[seq] = true
	m.top = max(m.top, seq)
}

func TestWindowMatchesModel(t *testing.T) {
	for _, size := range []int{64, 128, 1024} {
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		m := &model{seen: map[uint64]bool{}, size: uint64(size)}
		var w *window
		seq := uint64(1000)
		for i := range 20000 {
			// Mostly forward, sometimes back within or beyond the window,
			// sometimes a big jump.
			switch r := rng.IntN(100); {
			case r < 60:
				seq += uint64(rng.IntN(5))
			case r < 90:
				seq -= min(seq, uint64(rng.IntN(size+size/2)))
			case r < 99:
				seq += uint64(rng.IntN(3 * size))
			default:
				seq += 1 << 40
			}
			got, want := w.fresh(seq), m.fresh(seq)
			if got != want {
				t.Fatalf("size %d step %d: fresh(%d) = %v, model says %v (top %d)", size, i, seq, got, want, m.top)
			}
			if got {
				if w == nil {
					w = newWindow(size, seq)
				} else {
					w.mark(seq)
				}
				m.mark(seq)
			}
		}
	}
}

func TestWindowMerge(t *testing.T) {
	mk := func(seqs ...uint64) *window {
		w := newWindow(128, seqs[0])
		for _, s := range seqs[1:] {
			w.mark(s)
		}
		return w
	}
	tests := []struct {
		name string
		a, b *window
	}{
		{"b newer", mk(10, 12), mk(300, 250, 11)},
		{"a newer", mk(300, 250, 11), mk(10, 12)},
		{"same top", mk(100, 90), mk(100, 80)},
		{"far apart", mk(5), mk(1 << 30)},
	}
	for _, tt := range tests {
		m := &model{seen: map[uint64]bool{}, size: 128}
		for _, w := range []*window{tt.a, tt.b} {
			for d := uint64(0); d < w.size() && d <= w.top; d++ {
				if !w.fresh(w.top - d) {
					m.mark(w.top - d)
				}
			}
			m.top = max(m.top, w.top)
		}
		tt.a.merge(tt.b)
		for seq := m.top - min(m.top, 200); seq <= m.top+2; seq++ {
			if got, want := tt.a.fresh(seq), m.fresh(seq); got != want {
				t.Errorf("%s: after merge fresh(%d) = %v, want %v", tt.name, seq, got, want)
			}
		}
	}
}
