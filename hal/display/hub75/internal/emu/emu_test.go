package emu

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type change struct {
	t    int64
	pins uint32
}

func record(changes *[]change) Watch {
	return func(t int64, pins uint32) { *changes = append(*changes, change{t, pins}) }
}

// TestShiftRightAutopull: "out pins, 8" with right shift, autopull at 8
// bits... of a 32-bit word: the state machine pulls a word, then sends its
// bytes low first, one per cycle, onto pins 4..11.
func TestShiftRightAutopull(t *testing.T) {
	sm := &SM{
		ExecCtrl:  0<<12 | 0<<7,          // wrap 0..0
		ShiftCtrl: 1<<19 | 1<<17 | 0<<25, // OUT right, autopull, threshold 32
		PinCtrl:   8<<20 | 4,             // OUT_COUNT 8, OUT_BASE 4
	}
	sm.Instrs[0] = 0x6008 // out pins, 8
	var got []change
	cycles, err := sm.Run([]uint32{0x04030201}, 100, record(&got))
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{0, 0x01 << 4}, {1, 0x02 << 4}, {2, 0x03 << 4}, {3, 0x04 << 4}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(change{})); diff != "" {
		t.Errorf("pin changes (-want +got):\n%s", diff)
	}
	if cycles != 4 {
		t.Errorf("ran %d cycles, want 4 then a stall", cycles)
	}
}

// TestSideSetAndDelay: a mandatory two-bit side-set with delay bits.
func TestSideSetAndDelay(t *testing.T) {
	sm := &SM{
		ExecCtrl:  3 << 12,               // wrap 0..3
		ShiftCtrl: 1 << 17,               // autopull, left shift, threshold 32
		PinCtrl:   2<<29 | 6<<10 | 4<<20, // SIDESET_COUNT 2 (bits 12:11), base GPIO 6
	}
	sm.Instrs[0] = 0x6020                // out x, 32
	sm.Instrs[1] = 0x0041 | 2<<11        // jmp x--, 1 side 2 (no fast path: it side-sets)
	sm.Instrs[2] = 0x6040                // out y, 32
	sm.Instrs[3] = 0x0000 | 1<<11 | 3<<8 // jmp 0 side 1 [3]
	var got []change
	cycles, err := sm.Run([]uint32{2, 0}, 1000, record(&got))
	if err != nil {
		t.Fatal(err)
	}
	// 0 out x; 1..3 jmp x-- side 2 (x = 2, 1, 0); 4 out y, whose side-set
	// field is 0 and, the side-set not being optional, drives 0; 5..8 jmp
	// 0 side 1 [3]; 9 out x stalls. (Instruction 0 drives 0 too, no change.)
	want := []change{{1, 2 << 6}, {4, 0}, {5, 1 << 6}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(change{})); diff != "" {
		t.Errorf("pin changes (-want +got):\n%s", diff)
	}
	if cycles != 9 {
		t.Errorf("ran %d cycles, want 9", cycles)
	}
}

func TestFastLoopMatchesSteps(t *testing.T) {
	for _, y := range []uint32{0, 1, 7, 1000} {
		sm := &SM{ExecCtrl: 2 << 12, ShiftCtrl: 1 << 17}
		sm.Instrs[0] = 0x6040 // out y, 32
		sm.Instrs[1] = 0x0081 // jmp y--, 1
		sm.Instrs[2] = 0x6060 // out null, 32
		cycles, err := sm.Run([]uint32{y, 0}, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(1 + y + 1 + 1); cycles != want {
			t.Errorf("y=%d: %d cycles, want %d", y, cycles, want)
		}
	}
}

func TestUnmodelled(t *testing.T) {
	sm := &SM{ExecCtrl: 0}
	sm.Instrs[0] = 0xa042 // mov y, y
	if _, err := sm.Run(nil, 10, nil); err == nil || !strings.Contains(err.Error(), "opcode 5") {
		t.Errorf("mov: %v", err)
	}
	sm = &SM{}
	sm.Instrs[0] = 0x0000 // jmp 0 forever
	if _, err := sm.Run(nil, 10, nil); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("endless loop: %v", err)
	}
	sm = &SM{ExecCtrl: 1 << 30}
	if _, err := sm.Run(nil, 10, nil); err == nil {
		t.Error("optional side-set with no side-set bits accepted")
	}
}

// TestPanelViolations drives the panel model by hand.
func TestPanelViolations(t *testing.T) {
	const (
		r1, clk, lat, oe, a = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4
	)
	p := &Panel{Width: 2, Rows: 2, RGB: [6]int{0, 10, 11, 12, 13, 14}, Addr: []int{4}, OE: 3, CLK: 1, LAT: 2}
	p.Start(oe)
	p.Watch(1, oe|r1)     // data 1
	p.Watch(2, oe|r1|clk) // clock it in
	p.Watch(3, oe)        // data 0
	p.Watch(4, oe|clk)    // clock it in
	p.Watch(5, oe|lat)    // latch: x=0 gets the first bit (1), x=1 the second (0)
	p.Watch(6, 0)         // OE on, row 0
	p.Watch(16, oe)       // off after 10 cycles
	if len(p.Violations) != 0 {
		t.Fatalf("clean sequence: %v", p.Violations)
	}
	if p.At(0, 0, 0) != 10 || p.At(1, 0, 0) != 0 || p.Latches != 1 {
		t.Errorf("lit (0,0) %d (1,0) %d latches %d, want 10 0 1", p.At(0, 0, 0), p.At(1, 0, 0), p.Latches)
	}
	p.Watch(17, 0)     // OE on
	p.Watch(18, a)     // address change while on
	p.Watch(19, a|clk) // clock while on
	p.Watch(20, a|lat) // latch while on, after 1 clock
	p.Finish(25)
	want := []string{
		"cycle 18: address changed from 0 to 1 while OE was on",
		"cycle 19: CLK rose while OE was on",
		"cycle 20: LAT rose while OE was on",
		"cycle 20: latched after 1 clocks, want 2",
		"cycle 20: OE on while LAT high",
	}
	if diff := cmp.Diff(want, p.Violations); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
