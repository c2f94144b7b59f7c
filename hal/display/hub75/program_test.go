package hub75

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProgramEncoding pins the assembled instructions. The encodings were
// checked against pioasm output for the same instructions in Piomatter's
// protomatter.pio.h (out x,1 = 6021; out y,31 = 605f; out pins,32 = 6000;
// jmp !x = 002x; jmp y-- = 008x; side 1 with an optional 1-bit side-set
// sets bits 12 and 11 = 18xx).
func TestProgramEncoding(t *testing.T) {
	p := StreamProgram()
	want := []uint16{0x6000, 0x0081, 0x6021, 0x605f, 0x0020, 0x6000, 0x1885}
	if diff := cmp.Diff(want, p.Instrs); diff != "" {
		t.Errorf("instructions (-want +got):\n%s", diff)
	}
	listing := strings.Join([]string{
		" 0 6000  out pins, 32",
		" 1 0081  jmp y--, 1",
		" 2 6021  out x, 1",
		" 3 605f  out y, 31",
		" 4 0020  jmp !x, 0",
		" 5 6000  out pins, 32",
		" 6 1885  jmp y--, 5 side 1",
		"",
	}, "\n")
	if diff := cmp.Diff(listing, p.String()); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}
	if p.Origin != 0 || p.Entry != 2 || p.WrapTarget != 2 || p.Wrap != 6 {
		t.Errorf("origin %d entry %d wrap %d..%d, want 0, 2, 2..6", p.Origin, p.Entry, p.WrapTarget, p.Wrap)
	}
	if len(p.Instrs) > rp1MaxInstrs {
		t.Errorf("%d instructions do not fit in %d", len(p.Instrs), rp1MaxInstrs)
	}
}

func TestDisassembleOthers(t *testing.T) {
	tests := map[uint16]string{
		0xa042: "op 5",                  // mov y, y (nop) is not in our dialect
		0x0000: "jmp 0",                 // jmp always
		0x6703: "out pins, 3 [7]",       // delay 7 without side-set
		0x1000: "jmp 0 side 0",          // side-set enabled, value 0
		0x60e0: "out exec, 32",          //
		0x00e5: "jmp !osre, 5",          //
		0x6061: "out null, 1",           //
		0x0045: "jmp x--, 5",            //
		0x1c85: "jmp y--, 5 side 1 [4]", //
	}
	for in, want := range tests {
		if got := Disassemble(in); got != want {
			t.Errorf("Disassemble(%#04x) = %q, want %q", in, got, want)
		}
	}
}

// TestSMConfig pins the register values, worked out by hand from the
// RP2040 datasheet field layout (piolib proc_pio.h for the RP1).
func TestSMConfig(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want SMConfig
	}{
		{"default", nil, SMConfig{
			ClkDiv:    8 << 16,                        // 200 MHz / 25 MHz = 8.0
			ExecCtrl:  1<<30 | 6<<12 | 2<<7,           // SIDE_EN, WRAP_TOP 6, WRAP_BOTTOM 2
			ShiftCtrl: 1<<30 | 1<<18 | 1<<17,          // FJOIN_TX, IN right (unused), AUTOPULL; OUT left, threshold 32 = 0
			PinCtrl:   2<<29 | 28<<20 | 17<<10 | 0<<0, // SIDESET_COUNT 2, OUT_COUNT 28, SIDESET_BASE CLK 17, OUT_BASE 0
		}},
		{"27 MHz, CLK on 11", func(c *Config) { c.PIOClockHz = 27_000_000; c.Pins.CLK = 11 }, SMConfig{
			ClkDiv:    7<<16 | 104<<8, // 7.407 = 7 + 104/256
			ExecCtrl:  0x40006100,
			ShiftCtrl: 0x40060000,
			PinCtrl:   2<<29 | 28<<20 | 11<<10,
		}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		if tt.mut != nil {
			tt.mut(&cfg)
		}
		got, err := cfg.SMConfig()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: SMConfig = %+x, want %+x", tt.name, got, tt.want)
		}
	}
	bad := DefaultConfig()
	bad.Planes = 0
	if _, err := bad.SMConfig(); err == nil {
		t.Error("SMConfig accepted an invalid config")
	}
}
