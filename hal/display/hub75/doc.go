// Package hub75 drives a HUB75 RGB LED matrix from a Raspberry Pi 5: a
// pure-Go [Encoder] turns an RGBA frame into a stream of 32-bit words, and a
// [Panel] streams them by DMA into an RP1 PIO state machine through
// /dev/pio0, which clocks them onto the GPIOs.
//
// # The panel
//
// A 64x32 panel is 1/16 scan: R1 G1 B1 drive rows 0..15 and R2 G2 B2 rows
// 16..31 at once, and the address lines A..D choose the row pair. For each
// row pair the controller shifts 64 pixels in on CLK rising edges, pulses LAT
// to move them to the output latch, then pulls OE low to light them. Each
// LED is only on or off, so colour depth comes from binary-coded modulation:
// bit plane p of every channel is shown for LSBCycles<<p, and the eye adds
// the planes up.
//
// # The word stream
//
// A stream is a sequence of commands. A command word is followed by pin
// words, whose bit n is the level of GPIO n:
//
//	bit 31   30 ........................ 0
//	┌───┬─────────────────────────────────┐
//	│ 1 │ n-1                             │ DATA: the next n words are clocked out
//	├───┼─────────────────────────────────┤       (CLK low with the word, then high)
//	│ 0 │ h-5                             │ HOLD: the next word stays on the pins
//	└───┴─────────────────────────────────┘       for h PIO cycles (h >= 5)
//
// One frame, for each row pair r and each plane p from 0 up:
//
//	DATA(W)  px0 px1 ... pxW-1      address r, OE off, R1..B2 = bit p of (x,r) and (x,r+16)
//	HOLD(L)  latch word             address r, OE off, LAT high
//	HOLD(T)  show word              address r, OE on (low), for T = LSBCycles<<p
//
// and after the last plane of the row, HOLD(B) with OE off (blank):
//
//	  row r, plane 0          row r, plane 1                  row r, last   blank
//	┌───────────┬──┬──────┐┌───────────┬──┬───────────┐     ┌──────┬───┐
//	│ shift 64px│LA│ OE 1T││ shift 64px│LA│   OE 2T   │ ... │OE 2^pT│OFF│ → row r+1
//	└───────────┴──┴──────┘└───────────┴──┴───────────┘     └──────┴───┘
//
// The stream length in words is
//
//	RowsPerScan × (Planes × (Width + 5) + 2)
//
// 11,072 words (44,288 bytes) for 64x32 with 10 planes. The stream ends with
// OE off, so the gap between two transfers of it is dark.
//
// OE is never on while pixels shift, unlike Piomatter, which overlaps the
// shift of one plane with the display of the previous. That costs about a
// fifth of the duty cycle but makes brightness exact whatever the DMA rate:
// DMA stalls can only stretch the shift phases, which are dark, while every
// lit period is a single HOLD that the PIO times by itself. The address
// changes only after the blank hold, and then the shift of a whole row
// (2W+3 cycles) passes before OE comes on, so there is no ghosting from a
// late address. Brightness scales the codes (see [Encoder.SetLevels]), not
// the OE times, so the refresh rate never changes.
//
// # The PIO program
//
// [StreamProgram] is seven instructions of our own (see [Program]): two
// OUTs read a command's kind and count, a data command loops OUT PINS / JMP
// with CLK as an optional side-set (two cycles per pixel), and a hold does
// one OUT PINS then spins on Y. The state machine shifts left with autopull
// at 32 bits, OUT PINS covers GPIO 0..27, and the TX FIFO is joined to 8
// words. At the default 25 MHz PIO clock the pixel clock is 12.5 MHz and a
// 64x32 10-plane frame takes [Config.FrameCycles] = 104,000 cycles, about
// 240 Hz refresh with DMA keeping up.
//
// # The device
//
// [Open] uses the rp1-pio driver's ioctls (linux include/uapi/misc/rp1_pio_if.h):
// claim a state machine, configure DMA, add the program at address 0,
// init the state machine, drive OE high, make the pins outputs, give them
// to the PIO, enable. A goroutine then transfers the newest encoded frame
// over and over (SM_XFER_DATA, in chunks of at most 65,532 bytes); Show
// encodes into one of three buffers and swaps it in. The ioctls are in
// rp1_linux_arm64.go; everywhere else [OpenDevice] returns an error wrapping
// errors.ErrUnsupported, and the rest of the package builds and is tested
// on any machine: the tests run the stream through the real program in an
// instruction-level PIO model and a HUB75 panel model (internal/emu), and
// [New] accepts any [Device], such as hub75test.Device.
package hub75

//go:generate go test -run=^TestGolden -update .
