package emu

import "fmt"

// SM is one PIO state machine. Set the program, registers, PC and initial
// pins, then call Run.
type SM struct {
	Instrs    [32]uint16 // instruction memory
	ExecCtrl  uint32     // SMx_EXECCTRL
	ShiftCtrl uint32     // SMx_SHIFTCTRL
	PinCtrl   uint32     // SMx_PINCTRL
	PC        int        // next instruction
	Pins      uint32     // output levels of GPIO 0..31

	X, Y     uint32 // scratch registers
	osr      uint32
	osrCount int // bits shifted out of osr since the last pull
	pulled   bool
}

// Watch receives the output pins whenever they change, with the cycle from
// which the new levels hold.
type Watch func(cycle int64, pins uint32)

// fields decoded from the config registers.
type fields struct {
	wrapTop, wrapBottom int
	sideEn              bool
	sideCount, sideBase int
	outBase, outCount   int
	outRight, autopull  bool
	pullThreshold       int
}

func (sm *SM) fields() fields {
	f := fields{
		wrapTop:    int(sm.ExecCtrl>>12) & 31,
		wrapBottom: int(sm.ExecCtrl>>7) & 31,
		sideEn:     sm.ExecCtrl>>30&1 != 0,
		sideCount:  int(sm.PinCtrl>>29) & 7,
		sideBase:   int(sm.PinCtrl>>10) & 31,
		outBase:    int(sm.PinCtrl) & 31,
		outCount:   int(sm.PinCtrl>>20) & 63,
		outRight:   sm.ShiftCtrl>>19&1 != 0,
		autopull:   sm.ShiftCtrl>>17&1 != 0,
	}
	f.pullThreshold = int(sm.ShiftCtrl>>25) & 31
	if f.pullThreshold == 0 {
		f.pullThreshold = 32
	}
	return f
}

// Run executes instructions, pulling words from stream, until an OUT needs a
// word after the last one (the state machine would stall there) or maxCycles
// pass. It returns the number of cycles executed.
func (sm *SM) Run(stream []uint32, maxCycles int64, watch Watch) (int64, error) {
	f := sm.fields()
	if f.sideCount > 5 {
		return 0, fmt.Errorf("emu: side-set count %d is above 5", f.sideCount)
	}
	if f.sideEn && f.sideCount == 0 {
		return 0, fmt.Errorf("emu: optional side-set with a side-set count of 0")
	}
	next := 0
	var cycle int64
	if !sm.pulled {
		sm.osrCount = 32 // empty: the first OUT pulls
		sm.pulled = true
	}
	for cycle < maxCycles {
		pc := sm.PC & 31
		in := sm.Instrs[pc]
		op := in >> 13
		field := int(in>>8) & 0x1f
		delayBits := 5 - f.sideCount
		delay := field & (1<<delayBits - 1)
		side, sideOn, sideBits := field>>delayBits, f.sideCount > 0, f.sideCount
		if f.sideEn {
			sideOn = side>>(f.sideCount-1)&1 != 0
			sideBits = f.sideCount - 1
			side &= 1<<sideBits - 1
		}

		// Autopull: an OUT with a spent OSR refills it first, or stalls.
		if op == 0b011 && f.autopull && sm.osrCount >= f.pullThreshold {
			if next >= len(stream) {
				return cycle, nil
			}
			sm.osr, sm.osrCount = stream[next], 0
			next++
		}

		before, start := sm.Pins, cycle
		jumped := false
		operand, low := int(in>>5)&7, int(in)&31
		switch op {
		case 0b000: // JMP
			// A tight "jmp x--/y--, self" loop with no side-set or delay runs
			// register+1 times; step over it in one go.
			if low == pc && delay == 0 && !(sideOn && sideBits > 0) && (operand == 0b010 || operand == 0b100) {
				reg := &sm.X
				if operand == 0b100 {
					reg = &sm.Y
				}
				cycle += int64(*reg) + 1
				*reg = ^uint32(0)
				break
			}
			take := false
			switch operand {
			case 0b000:
				take = true
			case 0b001:
				take = sm.X == 0
			case 0b010:
				take = sm.X != 0
				sm.X--
			case 0b011:
				take = sm.Y == 0
			case 0b100:
				take = sm.Y != 0
				sm.Y--
			case 0b101:
				take = sm.X != sm.Y
			case 0b111:
				take = sm.osrCount < f.pullThreshold
			default:
				return cycle, fmt.Errorf("emu: pc %d: jmp pin is not modelled", pc)
			}
			if take {
				sm.PC, jumped = low, true
			}
			cycle += int64(1 + delay)
		case 0b011: // OUT
			n := low
			if n == 0 {
				n = 32
			}
			var v uint32
			if f.outRight {
				v = sm.osr
				if n < 32 {
					v &= 1<<n - 1
					sm.osr >>= n
				} else {
					sm.osr = 0
				}
			} else {
				if n < 32 {
					v = sm.osr >> (32 - n)
					sm.osr <<= n
				} else {
					v, sm.osr = sm.osr, 0
				}
			}
			sm.osrCount = min(sm.osrCount+n, 32)
			switch operand {
			case 0b000: // PINS
				for i := 0; i < f.outCount; i++ {
					sm.setPin(f.outBase+i, v>>i&1 != 0)
				}
			case 0b001:
				sm.X = v
			case 0b010:
				sm.Y = v
			case 0b011: // NULL
			default:
				return cycle, fmt.Errorf("emu: pc %d: out to destination %d is not modelled", pc, operand)
			}
			cycle += int64(1 + delay)
		default:
			return cycle, fmt.Errorf("emu: pc %d: opcode %d (%#04x) is not modelled", pc, op, in)
		}
		// Side-set wins over OUT PINS on the same pin, so apply it last.
		if sideOn && sideBits > 0 {
			for i := 0; i < sideBits; i++ {
				sm.setPin(f.sideBase+i, side>>i&1 != 0)
			}
		}
		if sm.Pins != before && watch != nil {
			watch(start, sm.Pins)
		}
		if !jumped {
			if pc == f.wrapTop {
				sm.PC = f.wrapBottom
			} else {
				sm.PC = (pc + 1) & 31
			}
		}
	}
	return cycle, fmt.Errorf("emu: still running after %d cycles", maxCycles)
}

func (sm *SM) setPin(p int, high bool) {
	p &= 31
	if high {
		sm.Pins |= 1 << p
	} else {
		sm.Pins &^= 1 << p
	}
}
