// Package emu runs a HUB75 word stream through a model of the hardware so
// that tests can check what a panel would show, without a Raspberry Pi.
//
// # The state machine
//
// [SM] is an instruction-level model of one RP2040/RP1 PIO state machine:
// it decodes the real instruction words and the real EXECCTRL, SHIFTCTRL and
// PINCTRL register values (wrap, optional side-set, OUT pin mapping, shift
// direction, autopull threshold), executes JMP and OUT, and reports every
// change of the output pins with its cycle number. The FIFO never runs dry
// until the stream ends, which is the ideal-DMA timing. Other opcodes are
// reported as errors: the stream program does not use them.
//
// # The panel
//
// [Panel] watches those pin changes as a HUB75 panel would: six shift
// registers clocked on CLK rising edges, an output latch loaded on LAT rising
// edges, and a row driver that lights the addressed row pair while OE is low.
// It adds up, for every LED, the cycles it was lit, and records violations
// of the protocol: shifting, latching or changing the address while OE is
// on, or latching a count of clocks other than the row width.
//
//	pins ──► CLK ↑ ──► shift[6][W] ──► LAT ↑ ──► latch[6][W] ──► OE low ──► lit[y][x][rgb] += dt
//	                                                               ▲
//	                                   A..E ───────────────────────┘ (row pair)
package emu
