package hub75

import (
	"errors"
	"testing"
	"unsafe"
)

// TestUAPILayout checks the Go structs against the C layouts of
// include/uapi/misc/rp1_pio_if.h on a 64-bit kernel, worked out by hand:
// uint16 fields pack, uint32 align to 4, the pointer aligns to 8.
func TestUAPILayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layouts are those of a 64-bit kernel; this is not a 64-bit platform (the driver runs on arm64 hardware)")
	}
	sizes := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"rp1_pio_sm_config", unsafe.Sizeof(rp1SMConfig{}), 16},
		{"rp1_pio_add_program_args", unsafe.Sizeof(rp1AddProgramArgs{}), 2 + 2 + 32*2},
		{"rp1_pio_remove_program_args", unsafe.Sizeof(rp1RemoveProgramArgs{}), 4},
		{"rp1_pio_sm_claim_args", unsafe.Sizeof(rp1SMClaimArgs{}), 2},
		{"rp1_pio_sm_init_args", unsafe.Sizeof(rp1SMInitArgs{}), 2 + 2 + 16},
		{"rp1_pio_sm_set_pins_args", unsafe.Sizeof(rp1SMSetPinsArgs{}), 12},
		{"rp1_pio_sm_set_pindirs_args", unsafe.Sizeof(rp1SMSetPindirsArgs{}), 12},
		{"rp1_pio_sm_set_enabled_args", unsafe.Sizeof(rp1SMSetEnabledArgs{}), 4},
		{"rp1_pio_sm_clear_fifos_args", unsafe.Sizeof(rp1SMClearFIFOsArgs{}), 2},
		{"rp1_gpio_set_function_args", unsafe.Sizeof(rp1GPIOSetFunctionArgs{}), 4},
		{"rp1_pio_sm_config_xfer_args", unsafe.Sizeof(rp1SMConfigXferArgs{}), 8},
		{"rp1_pio_sm_xfer_data_args", unsafe.Sizeof(rp1SMXferDataArgs{}), 16},
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("sizeof(%s) = %d, want %d", s.name, s.got, s.want)
		}
	}
	var x rp1SMXferDataArgs
	if off := unsafe.Offsetof(x.Data); off != 8 {
		t.Errorf("rp1_pio_sm_xfer_data_args.data at %d, want 8", off)
	}
	if off := unsafe.Offsetof(x.DataBytes); off != 4 {
		t.Errorf("rp1_pio_sm_xfer_data_args.data_bytes at %d, want 4", off)
	}
	var in rp1SMInitArgs
	if off := unsafe.Offsetof(in.Config); off != 4 {
		t.Errorf("rp1_pio_sm_init_args.config at %d, want 4", off)
	}
	var pins rp1SMSetPinsArgs
	if off := unsafe.Offsetof(pins.Values); off != 4 {
		t.Errorf("rp1_pio_sm_set_pins_args.values at %d, want 4", off)
	}
	if unsafe.Sizeof(rp1ArgBuf{}) != rp1MaxArgSize {
		t.Errorf("argument buffer is %d bytes, want %d", unsafe.Sizeof(rp1ArgBuf{}), rp1MaxArgSize)
	}
}

// TestIoctlNumbers pins each request to _IOW(102, nr, size) computed by hand
// (asm-generic: 1<<30 | size<<16 | 'f'<<8 | nr, and 102 = 0x66 = 'f').
func TestIoctlNumbers(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("request numbers embed 64-bit struct sizes; this is not a 64-bit platform (the driver runs on arm64 hardware)")
	}
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"PIO_IOC_SM_CONFIG_XFER", pioIOCSMConfigXfer, 0x40086600},
		{"PIO_IOC_SM_XFER_DATA", pioIOCSMXferData, 0x40106601},
		{"PIO_IOC_ADD_PROGRAM", pioIOCAddProgram, 0x4044660b},
		{"PIO_IOC_REMOVE_PROGRAM", pioIOCRemoveProgram, 0x4004660c},
		{"PIO_IOC_SM_CLAIM", pioIOCSMClaim, 0x40026614},
		{"PIO_IOC_SM_UNCLAIM", pioIOCSMUnclaim, 0x40026615},
		{"PIO_IOC_SM_INIT", pioIOCSMInit, 0x4014661e},
		{"PIO_IOC_SM_CLEAR_FIFOS", pioIOCSMClearFIFOs, 0x40026621},
		{"PIO_IOC_SM_SET_PINS", pioIOCSMSetPins, 0x400c6623},
		{"PIO_IOC_SM_SET_PINDIRS", pioIOCSMSetPindirs, 0x400c6624},
		{"PIO_IOC_SM_SET_ENABLED", pioIOCSMSetEnabled, 0x40046625},
		{"PIO_IOC_GPIO_SET_FUNCTION", pioIOCGPIOSetFunction, 0x40046633},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

func TestArgBufferHoldsArgs(t *testing.T) {
	var b rp1ArgBuf
	p := put(&b, rp1SMInitArgs{SM: 3, InitialPC: 2, Config: rp1SMConfig{ClkDiv: 0x80000, PinCtrl: 0x41c04400}})
	got := *(*rp1SMInitArgs)(p)
	if got.SM != 3 || got.InitialPC != 2 || got.Config.ClkDiv != 0x80000 || got.Config.PinCtrl != 0x41c04400 {
		t.Errorf("round trip through the argument buffer = %+v", got)
	}
}

func TestXferChunks(t *testing.T) {
	words := make([]uint32, 2*16383+5)
	var sizes []int
	if err := xferChunks(words, func(c []uint32) error {
		sizes = append(sizes, 4*len(c))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 3 || sizes[0] != 65532 || sizes[1] != 65532 || sizes[2] != 20 {
		t.Errorf("chunk sizes %v, want [65532 65532 20]", sizes)
	}
	// The default frame goes in one transfer.
	n := 0
	xferChunks(make([]uint32, DefaultConfig().StreamLen()), func([]uint32) error { n++; return nil })
	if n != 1 {
		t.Errorf("default frame takes %d transfers, want 1", n)
	}
	stop := errors.New("stop")
	if err := xferChunks(words, func([]uint32) error { return stop }); err != stop {
		t.Errorf("xferChunks did not pass the error back: %v", err)
	}
}
