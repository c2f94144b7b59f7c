package hub75

import "unsafe"

// The RP1 PIO driver's user API, from the Raspberry Pi kernel's
// include/uapi/misc/rp1_pio_if.h (magic 102, the structs below) and
// drivers/misc/rp1-pio.c (which checks each ioctl's encoded size against its
// struct, copies the struct in, and copies a positive return value's worth
// of bytes back out). The layouts are those of a 64-bit kernel; uapi_test.go
// checks their sizes and offsets. These definitions build everywhere so that
// the numbers are tested on any machine; only rp1_linux_arm64.go issues them.

const (
	pioIOCMagic   = 102
	rp1DirToSM    = 0
	rp1FuncPIO    = 7     // RP1_GPIO_FUNC_PIO
	rp1MaxInstrs  = 32    // RP1_PIO_INSTRUCTION_COUNT
	rp1SMCount    = 4     // RP1_PIO_SM_COUNT
	rp1MaxXfer    = 65532 // largest multiple of 4 a 16-bit data_bytes holds
	rp1XferBufs   = 3     // DMA bounce buffers, as Piomatter uses
	rp1MaxArgSize = 256   // the driver's argument buffer (MAX_ARG_SIZE)
)

// Linux asm-generic ioctl encoding (arm64 and amd64): dir<<30 | size<<16 |
// type<<8 | nr.
const iocWrite = 1

func ioc(dir, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | pioIOCMagic<<8 | nr
}

func iow[T any](nr uintptr) uintptr {
	var v T
	return ioc(iocWrite, nr, unsafe.Sizeof(v))
}

// rp1SMConfig is rp1_pio_sm_config; it matches SMConfig field for field.
type rp1SMConfig struct {
	ClkDiv    uint32
	ExecCtrl  uint32
	ShiftCtrl uint32
	PinCtrl   uint32
}

type rp1AddProgramArgs struct {
	NumInstrs uint16
	Origin    uint16
	Instrs    [rp1MaxInstrs]uint16
}

type rp1RemoveProgramArgs struct {
	NumInstrs uint16
	Origin    uint16
}

type rp1SMClaimArgs struct {
	Mask uint16
}

type rp1SMInitArgs struct {
	SM        uint16
	InitialPC uint16
	Config    rp1SMConfig
}

type rp1SMSetPinsArgs struct {
	SM     uint16
	Rsvd   uint16
	Values uint32
	Mask   uint32
}

type rp1SMSetPindirsArgs struct {
	SM   uint16
	Rsvd uint16
	Dirs uint32
	Mask uint32
}

type rp1SMSetEnabledArgs struct {
	Mask   uint16
	Enable uint8
	Rsvd   uint8
}

type rp1SMClearFIFOsArgs struct {
	SM uint16
}

type rp1GPIOSetFunctionArgs struct {
	GPIO uint16
	Fn   uint16
}

type rp1SMConfigXferArgs struct {
	SM       uint16
	Dir      uint16
	BufSize  uint16
	BufCount uint16
}

type rp1SMXferDataArgs struct {
	SM        uint16
	Dir       uint16
	DataBytes uint16
	_         uint16 // C pads here to align the pointer
	Data      unsafe.Pointer
}

// Ioctl request numbers (ioctl_test.go pins each to its value).
var (
	pioIOCSMConfigXfer    = iow[rp1SMConfigXferArgs](0)
	pioIOCSMXferData      = iow[rp1SMXferDataArgs](1)
	pioIOCAddProgram      = iow[rp1AddProgramArgs](11)
	pioIOCRemoveProgram   = iow[rp1RemoveProgramArgs](12)
	pioIOCSMClaim         = iow[rp1SMClaimArgs](20)
	pioIOCSMUnclaim       = iow[rp1SMClaimArgs](21)
	pioIOCSMInit          = iow[rp1SMInitArgs](30)
	pioIOCSMClearFIFOs    = iow[rp1SMClearFIFOsArgs](33)
	pioIOCSMSetPins       = iow[rp1SMSetPinsArgs](35)
	pioIOCSMSetPindirs    = iow[rp1SMSetPindirsArgs](36)
	pioIOCSMSetEnabled    = iow[rp1SMSetEnabledArgs](37)
	pioIOCGPIOSetFunction = iow[rp1GPIOSetFunctionArgs](51)
)

// rp1ArgBuf is what every ioctl argument is passed in: the driver copies a
// positive return value's worth of bytes back (rp1_pio_ioctl), so claiming
// state machine 3 writes 3 bytes over a 2-byte struct. A buffer the size of
// the driver's own keeps any such copy inside our memory.
type rp1ArgBuf [rp1MaxArgSize / 8]uint64

// put copies args into the buffer and returns its address.
func put[T any](b *rp1ArgBuf, args T) unsafe.Pointer {
	p := unsafe.Pointer(b)
	*(*T)(p) = args
	return p
}

// xferChunks splits a stream of words into transfers of at most rp1MaxXfer
// bytes, calling fn with each.
func xferChunks(words []uint32, fn func(chunk []uint32) error) error {
	const maxWords = rp1MaxXfer / 4
	for len(words) > 0 {
		n := min(len(words), maxWords)
		if err := fn(words[:n]); err != nil {
			return err
		}
		words = words[n:]
	}
	return nil
}
