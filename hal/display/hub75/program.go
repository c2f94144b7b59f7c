package hub75

import (
	"fmt"
	"strings"
)

// PIO instruction encoding (RP2040 datasheet §3.4, which the RP1 PIO block
// shares): bits 15:13 opcode, 12:8 delay and side-set, 7:0 operands.
const (
	opJMP = 0b000 << 13
	opOUT = 0b011 << 13

	// JMP conditions (bits 7:5).
	jmpAlways = 0b000
	jmpNotX   = 0b001
	jmpYDec   = 0b100

	// OUT destinations (bits 7:5).
	outPins = 0b000
	outX    = 0b001
	outY    = 0b010
)

// sideSetBits is the side-set field width: one enable bit (the side-set is
// optional) plus one value bit for CLK. It leaves 3 bits of delay.
const sideSetBits = 2

// pioJMP encodes "jmp cond, addr".
func pioJMP(cond, addr int) uint16 { return uint16(opJMP | cond<<5 | addr&0x1f) }

// pioOUT encodes "out dest, bits"; 32 bits encode as 0.
func pioOUT(dest, nbits int) uint16 { return uint16(opOUT | dest<<5 | nbits&0x1f) }

// withSide adds an optional side-set of value to instr: bit 12 enables it,
// bit 11 carries the value.
func withSide(instr uint16, value int) uint16 {
	return instr | 1<<12 | uint16(value&1)<<11
}

// Program is the PIO program that clocks the word stream out, assembled for
// a fixed load address.
//
//	0 hold:  out pins, 32          ; a hold command's pin word
//	1 spin:  jmp y--, spin         ; ... kept for y+1 cycles
//	2 top:   out x, 1              ; .wrap_target: bit 31 = command kind
//	3        out y, 31             ; bits 30..0 = count
//	4        jmp !x, hold          ; 0 = hold command
//	5 shift: out pins, 32          ; data word, CLK low
//	6        jmp y--, shift side 1 ; CLK high; .wrap back to top
//
// OUT shifts left with autopull at 32 bits, so each command takes exactly
// one FIFO word and every pin word another. The side-set is optional, so
// only instruction 6 touches CLK through it; OUT PINS writes CLK low again
// because no stream word ever has the CLK bit set.
type Program struct {
	// Instrs are the encoded instructions.
	Instrs []uint16
	// Origin is the instruction memory address the program must load at.
	// The jump targets are absolute, so the program asks for address 0
	// rather than rely on the loader relocating them.
	Origin int
	// Entry, WrapTarget and Wrap are relative to Origin.
	Entry, WrapTarget, Wrap int
}

// Program addresses, relative to the origin.
const (
	pcHold  = 0
	pcSpin  = 1
	pcTop   = 2
	pcShift = 5
	pcWrap  = 6
)

// holdOverhead is the number of cycles a hold command adds to its count y:
// the word stays on the pins from its OUT PINS (cycle 0) through y+1 spins
// and the next command's three decode instructions, so for y+5 cycles.
const holdOverhead = 5

// dataOverhead is the number of cycles a data command of n words adds to its
// 2n: the next command's three decode instructions run before the next OUT
// PINS.
const dataOverhead = 3

// StreamProgram returns the HUB75 stream program for load address 0.
func StreamProgram() Program {
	const origin = 0
	return Program{
		Instrs: []uint16{
			pcHold:    pioOUT(outPins, 32),
			pcSpin:    pioJMP(jmpYDec, origin+pcSpin),
			pcTop:     pioOUT(outX, 1),
			pcTop + 1: pioOUT(outY, 31),
			pcTop + 2: pioJMP(jmpNotX, origin+pcHold),
			pcShift:   pioOUT(outPins, 32),
			pcWrap:    withSide(pioJMP(jmpYDec, origin+pcShift), 1),
		},
		Origin:     origin,
		Entry:      pcTop,
		WrapTarget: pcTop,
		Wrap:       pcWrap,
	}
}

// SMConfig holds the four state machine registers in the layout that the
// RP1 firmware takes (rp1_pio_sm_config in linux include/uapi/misc/rp1_pio_if.h).
type SMConfig struct {
	ClkDiv    uint32 // SMx_CLKDIV: integer divider 31:16, fraction 15:8
	ExecCtrl  uint32 // SMx_EXECCTRL: side-set enable, wrap top and bottom
	ShiftCtrl uint32 // SMx_SHIFTCTRL: FIFO join, pull threshold, shift direction, autopull
	PinCtrl   uint32 // SMx_PINCTRL: side-set count and base, OUT count and base
}

// Register fields (RP2040 datasheet PIO SMx_* registers; piolib
// include/hardware/regs/proc_pio.h for the RP1).
const (
	clkdivIntLSB  = 16
	clkdivFracLSB = 8

	execSideEn        = 1 << 30
	execWrapTopLSB    = 12
	execWrapBottomLSB = 7

	shiftFJoinTX    = 1 << 30
	shiftPullThrLSB = 25
	shiftOutRight   = 1 << 19
	shiftInRight    = 1 << 18
	shiftAutopull   = 1 << 17

	pinSideCountLSB = 29
	pinOutCountLSB  = 20
	pinSideBaseLSB  = 10
	pinOutBaseLSB   = 0

	outPinCount     = MaxGPIO + 1
	pullThreshold32 = 0 // a threshold of 32 encodes as 0
)

// SMConfig computes the state machine registers for the stream program
// loaded at its origin: clock divider from PIOClockHz, wrap, optional
// one-bit side-set on CLK, OUT PINS over GPIO 0..27 (the words carry pins at
// their GPIO positions), left shift with autopull at 32 bits, and the RX FIFO
// joined to TX (8 deep) to ride out DMA latency.
func (c Config) SMConfig() (SMConfig, error) {
	if err := c.Validate(); err != nil {
		return SMConfig{}, err
	}
	p := StreamProgram()
	i, f := c.clockDivider()
	return SMConfig{
		ClkDiv:    i<<clkdivIntLSB | f<<clkdivFracLSB,
		ExecCtrl:  execSideEn | uint32(p.Origin+p.Wrap)<<execWrapTopLSB | uint32(p.Origin+p.WrapTarget)<<execWrapBottomLSB,
		ShiftCtrl: shiftFJoinTX | pullThreshold32<<shiftPullThrLSB | shiftInRight | shiftAutopull,
		PinCtrl:   sideSetBits<<pinSideCountLSB | outPinCount<<pinOutCountLSB | uint32(c.Pins.CLK)<<pinSideBaseLSB | 0<<pinOutBaseLSB,
	}, nil
}

// String disassembles the program, one instruction per line.
func (p Program) String() string {
	var b strings.Builder
	for i, in := range p.Instrs {
		fmt.Fprintf(&b, "%2d %04x  %s\n", p.Origin+i, in, Disassemble(in))
	}
	return b.String()
}

// Disassemble returns the assembly text of one instruction of this program's
// dialect (optional one-bit side-set). It knows JMP and OUT, the two opcodes
// the program uses, and shows others as "op N".
func Disassemble(in uint16) string {
	var s string
	operand := int(in>>5) & 7
	low := int(in) & 0x1f
	switch in >> 13 {
	case opJMP >> 13:
		conds := [...]string{"", "!x, ", "x--, ", "!y, ", "y--, ", "x!=y, ", "pin, ", "!osre, "}
		s = fmt.Sprintf("jmp %s%d", conds[operand], low)
	case opOUT >> 13:
		dests := [...]string{"pins", "x", "y", "null", "pindirs", "pc", "isr", "exec"}
		n := low
		if n == 0 {
			n = 32
		}
		s = fmt.Sprintf("out %s, %d", dests[operand], n)
	default:
		s = fmt.Sprintf("op %d", in>>13)
	}
	field := int(in>>8) & 0x1f
	if field&0x10 != 0 {
		s += fmt.Sprintf(" side %d", field>>3&1)
	}
	if d := field & 0x7; d != 0 {
		s += fmt.Sprintf(" [%d]", d)
	}
	return s
}
