package hub75

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Command is one command of a stream with its pin words.
type Command struct {
	// Index is the position of the command word in the stream.
	Index int
	// Data is true for a data command (words clocked out), false for a hold.
	Data bool
	// Cycles is how long a hold command keeps its word on the pins.
	Cycles int
	// Words are the pin words: n for a data command, one for a hold.
	Words []uint32
}

// ParseStream splits a stream into commands and calls fn for each in order.
// It stops at the first error from fn, or at a command that runs past the
// end of the stream.
func ParseStream(stream []uint32, fn func(Command) error) error {
	for i := 0; i < len(stream); {
		w := stream[i]
		c := Command{Index: i, Data: w&cmdData != 0}
		n := 1
		if c.Data {
			n = int(w&countMask) + 1
		} else {
			c.Cycles = int(w&countMask) + holdOverhead
		}
		if left := len(stream) - i - 1; n > left {
			kind := "hold"
			if c.Data {
				kind = "data"
			}
			return fmt.Errorf("hub75: stream word %d: %s command needs %d words, %d left", i, kind, n, left)
		}
		c.Words = stream[i+1 : i+1+n]
		if err := fn(c); err != nil {
			return err
		}
		i += 1 + n
	}
	return nil
}

// Check verifies that stream is exactly what Encode produces for this
// configuration, whatever the frame: the command sequence and counts, OE off
// while shifting and latching, LAT high only in latch words, CLK never set
// in a word, the right row address throughout, and no bit outside the
// panel's pins. It reports the first violation.
func (e *Encoder) Check(stream []uint32) error {
	cfg := &e.cfg
	if len(stream) != cfg.StreamLen() {
		return fmt.Errorf("hub75: stream has %d words, want %d", len(stream), cfg.StreamLen())
	}
	rgb := uint32(0)
	for _, s := range e.rgbShift {
		rgb |= 1 << s
	}
	addrMask := uint32(0)
	for _, a := range e.addr {
		addrMask |= a
	}
	clk := uint32(1) << cfg.Pins.CLK
	step := 0 // position in the per-row pattern
	perRow := 3*cfg.Planes + 1
	return ParseStream(stream, func(c Command) error {
		row, k := step/perRow, step%perRow
		step++
		plane, phase := k/3, k%3
		fail := func(format string, args ...any) error {
			return fmt.Errorf("hub75: stream word %d (row %d, plane %d): %s", c.Index, row, plane, fmt.Sprintf(format, args...))
		}
		if row >= cfg.RowsPerScan {
			return fail("command past the last row")
		}
		var wantData bool
		var wantLen, wantCycles int
		var wantFixed uint32 // OE and LAT bits the words must have
		switch {
		case k == perRow-1:
			wantCycles, wantFixed = cfg.BlankCycles, e.oe
		case phase == 0:
			wantData, wantLen, wantFixed = true, cfg.Width, e.oe
		case phase == 1:
			wantCycles, wantFixed = cfg.LatchCycles, e.oe|e.lat
		default:
			wantCycles, wantFixed = cfg.LSBCycles<<plane, 0
		}
		if c.Data != wantData {
			return fail("data=%v, want data=%v", c.Data, wantData)
		}
		if wantData && len(c.Words) != wantLen {
			return fail("data command of %d words, want %d", len(c.Words), wantLen)
		}
		if !wantData && c.Cycles != wantCycles {
			return fail("hold of %d cycles, want %d", c.Cycles, wantCycles)
		}
		for j, w := range c.Words {
			if w&clk != 0 {
				return fail("word %d sets CLK", j)
			}
			if got := w & (e.oe | e.lat); got != wantFixed {
				return fail("word %d has OE/LAT %#x, want %#x", j, got, wantFixed)
			}
			if got := w & addrMask; got != e.addr[row] {
				return fail("word %d addresses %#x, want %#x", j, got, e.addr[row])
			}
			if extra := w &^ (rgb | addrMask | e.oe | e.lat); extra != 0 {
				return fail("word %d sets bits %#x outside the panel pins", j, extra)
			}
			if !wantData && w&rgb != 0 {
				return fail("hold word sets colour bits %#x", w&rgb)
			}
		}
		return nil
	})
}

// Disassemble writes stream as text, one word per line with its index and
// hex value, naming pins by this encoder's pin map: for review of golden
// files and for debugging on a device. From testdata/tiny4x4.txt:
//
//	00000 80000003  DATA 4
//	00001 00000030    px   0  R1 .. .. | .. .. ..  row 0  OE off
//	...
//	00005 00000000  HOLD 5
//	00006 00200010    word    .. .. .. | .. .. ..  row 0  OE off  LAT
//	00007 00000000  HOLD 5
//	00008 00000000    word    .. .. .. | .. .. ..  row 0  OE ON
func (e *Encoder) Disassemble(w io.Writer, stream []uint32) error {
	bw := bufio.NewWriter(w)
	err := ParseStream(stream, func(c Command) error {
		if c.Data {
			fmt.Fprintf(bw, "%05d %08x  DATA %d\n", c.Index, stream[c.Index], len(c.Words))
			for x, word := range c.Words {
				fmt.Fprintf(bw, "%05d %08x    px %3d  %s\n", c.Index+1+x, word, x, e.describe(word))
			}
			return nil
		}
		fmt.Fprintf(bw, "%05d %08x  HOLD %d\n", c.Index, stream[c.Index], c.Cycles)
		fmt.Fprintf(bw, "%05d %08x    word    %s\n", c.Index+1, c.Words[0], e.describe(c.Words[0]))
		return nil
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// describe renders one pin word.
func (e *Encoder) describe(w uint32) string {
	var b strings.Builder
	for i, s := range e.rgbShift {
		if i == 3 {
			b.WriteString(" |")
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if w&(1<<s) != 0 {
			b.WriteString(pinNames[i])
		} else {
			b.WriteString("..")
		}
	}
	row := 0
	for line := 0; line < e.cfg.AddrLines(); line++ {
		if w&(1<<e.cfg.Pins.Addr[line]) != 0 {
			row |= 1 << line
		}
	}
	fmt.Fprintf(&b, "  row %d", row)
	if w&e.oe != 0 {
		b.WriteString("  OE off")
	} else {
		b.WriteString("  OE ON")
	}
	if w&e.lat != 0 {
		b.WriteString("  LAT")
	}
	if w&(1<<e.cfg.Pins.CLK) != 0 {
		b.WriteString("  CLK")
	}
	known := e.cfg.Pins.mask(e.cfg.AddrLines())
	if extra := w &^ known; extra != 0 {
		fmt.Fprintf(&b, "  other %#x", extra)
	}
	return b.String()
}
