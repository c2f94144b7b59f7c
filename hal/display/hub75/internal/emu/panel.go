package emu

import "fmt"

// Panel models a HUB75 panel of Width columns and 2*Rows rows watching the
// GPIO levels. Fill in the geometry and pins, then pass Panel.Watch to
// SM.Run and call Finish with the cycle count Run returned.
type Panel struct {
	Width int    // columns
	Rows  int    // row pairs (rows per scan)
	RGB   [6]int // GPIO of R1 G1 B1 R2 G2 B2
	Addr  []int  // GPIO of the address lines in use, A first
	OE    int    // GPIO of OE (active low)
	CLK   int    // GPIO of CLK
	LAT   int    // GPIO of LAT

	// Lit holds, for y, x and colour c (0 R, 1 G, 2 B), the cycles that LED
	// was on, at Lit[(y*Width+x)*3+c].
	Lit []int64
	// Latches counts LAT rising edges.
	Latches int
	// Violations lists protocol violations, at most MaxViolations of them.
	Violations []string

	shift, latch [6][]bool
	clocks       int
	prev         uint32
	prevT        int64
	started      bool
}

// MaxViolations bounds Panel.Violations.
const MaxViolations = 20

func (p *Panel) init(pins uint32) {
	for i := range p.shift {
		p.shift[i] = make([]bool, p.Width)
		p.latch[i] = make([]bool, p.Width)
	}
	p.Lit = make([]int64, 2*p.Rows*p.Width*3)
	p.prev = pins
	p.started = true
}

// Start sets the pin levels before the first instruction runs.
func (p *Panel) Start(pins uint32) { p.init(pins) }

func (p *Panel) bit(pins uint32, pin int) bool { return pins>>pin&1 != 0 }

// oeOn reports whether LEDs are lit at these levels (OE is active low).
func (p *Panel) oeOn(pins uint32) bool { return !p.bit(pins, p.OE) }

func (p *Panel) row(pins uint32) int {
	r := 0
	for i, a := range p.Addr {
		if p.bit(pins, a) {
			r |= 1 << i
		}
	}
	return r
}

func (p *Panel) violate(t int64, format string, args ...any) {
	if len(p.Violations) < MaxViolations {
		p.Violations = append(p.Violations, fmt.Sprintf("cycle %d: ", t)+fmt.Sprintf(format, args...))
	}
}

// accumulate lights the latched row pair for the interval up to t.
func (p *Panel) accumulate(t int64) {
	dt := t - p.prevT
	if dt <= 0 || !p.oeOn(p.prev) {
		return
	}
	r := p.row(p.prev)
	for half := 0; half < 2; half++ {
		y := r + half*p.Rows
		for x := 0; x < p.Width; x++ {
			base := (y*p.Width + x) * 3
			for c := 0; c < 3; c++ {
				if p.latch[half*3+c][x] {
					p.Lit[base+c] += dt
				}
			}
		}
	}
}

// Watch takes one change of the pin levels; pass it to SM.Run.
func (p *Panel) Watch(t int64, pins uint32) {
	if !p.started {
		p.init(0)
	}
	p.accumulate(t)
	prev := p.prev
	on := p.oeOn(pins) || p.oeOn(prev)
	if p.row(pins) != p.row(prev) && on {
		p.violate(t, "address changed from %d to %d while OE was on", p.row(prev), p.row(pins))
	}
	if !p.bit(prev, p.CLK) && p.bit(pins, p.CLK) {
		if p.oeOn(pins) {
			p.violate(t, "CLK rose while OE was on")
		}
		for i, pin := range p.RGB {
			copy(p.shift[i][1:], p.shift[i][:p.Width-1])
			p.shift[i][0] = p.bit(pins, pin)
		}
		p.clocks++
	}
	if !p.bit(prev, p.LAT) && p.bit(pins, p.LAT) {
		if p.oeOn(pins) {
			p.violate(t, "LAT rose while OE was on")
		}
		if p.clocks != p.Width {
			p.violate(t, "latched after %d clocks, want %d", p.clocks, p.Width)
		}
		// The first pixel clocked in has moved to the far end of the chain:
		// column 0 of the picture.
		for i := range p.shift {
			for x := 0; x < p.Width; x++ {
				p.latch[i][x] = p.shift[i][p.Width-1-x]
			}
		}
		p.clocks = 0
		p.Latches++
	}
	if p.oeOn(pins) && p.bit(pins, p.LAT) {
		p.violate(t, "OE on while LAT high")
	}
	p.prev, p.prevT = pins, t
}

// Finish accounts for the time up to cycle t, where the state machine
// stalled.
func (p *Panel) Finish(t int64) {
	if !p.started {
		p.init(0)
	}
	p.accumulate(t)
	p.prevT = t
}

// At returns the lit cycles of LED (x, y) for colour c.
func (p *Panel) At(x, y, c int) int64 { return p.Lit[(y*p.Width+x)*3+c] }
