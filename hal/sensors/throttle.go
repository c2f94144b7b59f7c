package sensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bits of the firmware's get_throttled word, as documented for
// `vcgencmd get_throttled` (raspberrypi/documentation, the vcgencmd page;
// improved in raspberrypi/documentation#1341), unchanged on the BCM2712
// of the Pi 5 (raspberrypi/documentation#3257).
const (
	bitUnderVoltage      = 1 << 0  // under-voltage detected now
	bitFreqCapped        = 1 << 1  // ARM frequency capped now
	bitThrottled         = 1 << 2  // throttled now
	bitSoftTempLimit     = 1 << 3  // soft temperature limit active now
	bitUnderVoltageSince = 1 << 16 // under-voltage has occurred
	bitFreqCappedSince   = 1 << 17 // ARM frequency capping has occurred
	bitThrottledSince    = 1 << 18 // throttling has occurred
	bitSoftTempSince     = 1 << 19 // soft temperature limit has occurred
)

// Throttle is the decoded get_throttled word of the Raspberry Pi firmware.
//
// The "Occurred" flags are sticky: the firmware sets them when the
// condition first happens and keeps them until boot or until asked to
// clear them. Raspberry Pi OS's raspberrypi-hwmon driver asks the firmware
// to clear them on every 2 s poll (drivers/hwmon/raspberrypi-hwmon.c
// sends 0xffff), so under that driver "occurred" can mean "within the
// last poll"; on a Pi 5 under Ubuntu's kernel they were seen to stay set
// from a brown-out at boot. Report them, but do not alarm on them alone.
type Throttle struct {
	Raw    uint32 `json:"raw"`    // the word as the firmware gave it
	Source string `json:"source"` // where the word came from

	UnderVoltage  bool `json:"under_voltage"`   // supply below about 4.63 V now
	FreqCapped    bool `json:"freq_capped"`     // ARM frequency capped now
	Throttled     bool `json:"throttled"`       // throttled now
	SoftTempLimit bool `json:"soft_temp_limit"` // soft temperature limit active now

	UnderVoltageOccurred  bool `json:"under_voltage_occurred"`   // sticky: under-voltage has occurred
	FreqCappedOccurred    bool `json:"freq_capped_occurred"`     // sticky: capping has occurred
	ThrottledOccurred     bool `json:"throttled_occurred"`       // sticky: throttling has occurred
	SoftTempLimitOccurred bool `json:"soft_temp_limit_occurred"` // sticky: the soft limit has been reached
}

// DecodeThrottled decodes a get_throttled word.
func DecodeThrottled(raw uint32, source string) Throttle {
	return Throttle{
		Raw:                   raw,
		Source:                source,
		UnderVoltage:          raw&bitUnderVoltage != 0,
		FreqCapped:            raw&bitFreqCapped != 0,
		Throttled:             raw&bitThrottled != 0,
		SoftTempLimit:         raw&bitSoftTempLimit != 0,
		UnderVoltageOccurred:  raw&bitUnderVoltageSince != 0,
		FreqCappedOccurred:    raw&bitFreqCappedSince != 0,
		ThrottledOccurred:     raw&bitThrottledSince != 0,
		SoftTempLimitOccurred: raw&bitSoftTempSince != 0,
	}
}

// Active lists the conditions in force now, by name, for health.
func (t Throttle) Active() []string {
	return flags(t.UnderVoltage, "under-voltage", t.FreqCapped, "frequency capped", t.Throttled, "throttled", t.SoftTempLimit, "soft temperature limit")
}

// Occurred lists the sticky conditions, by name, for health.
func (t Throttle) Occurred() []string {
	return flags(t.UnderVoltageOccurred, "under-voltage", t.FreqCappedOccurred, "frequency capped", t.ThrottledOccurred, "throttled", t.SoftTempLimitOccurred, "soft temperature limit")
}

func flags(pairs ...any) []string {
	var out []string
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i].(bool) {
			out = append(out, pairs[i+1].(string))
		}
	}
	return out
}

// String describes t the way vcgencmd users read it:
// "0x50005 (now: under-voltage, throttled; occurred: under-voltage, throttled)".
func (t Throttle) String() string {
	now, past := strings.Join(t.Active(), ", "), strings.Join(t.Occurred(), ", ")
	if now == "" {
		now = "none"
	}
	if past == "" {
		past = "none"
	}
	return fmt.Sprintf("0x%x (now: %s; occurred: %s)", t.Raw, now, past)
}

// ParseThrottled parses the text of the get_throttled sysfs file, which
// the firmware driver prints as bare hex ("50005\n",
// drivers/firmware/raspberrypi.c get_throttled_show). A "0x" prefix, as
// vcgencmd prints, is accepted too.
func ParseThrottled(s string) (uint32, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	if t == "" {
		return 0, errors.New("get_throttled is empty")
	}
	v, err := strconv.ParseUint(t, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("get_throttled %q is not a 32-bit hex number", strings.TrimSpace(s))
	}
	return uint32(v), nil
}

// The mailbox property interface (raspberrypi/firmware wiki,
// "Mailbox property interface"; include/soc/bcm2835/raspberrypi-firmware.h).
const (
	tagGetThrottled = 0x00030046
	statusRequest   = 0x00000000
	statusSuccess   = 0x80000000
	respBit         = 0x80000000
	throttledMsgLen = 28 // size, code, tag, value size, req/resp, value, end tag
)

// throttledRequest returns the property message that asks the firmware
// for get_throttled without clearing its sticky bits (a non-zero request
// value would clear them; raspberrypi/documentation#1341).
func throttledRequest() []byte {
	b := make([]byte, throttledMsgLen)
	le := binary.LittleEndian
	le.PutUint32(b[0:], throttledMsgLen)
	le.PutUint32(b[4:], statusRequest)
	le.PutUint32(b[8:], tagGetThrottled)
	le.PutUint32(b[12:], 4) // value buffer size
	le.PutUint32(b[16:], 0) // request: no data
	le.PutUint32(b[20:], 0) // clear no sticky bits
	le.PutUint32(b[24:], 0) // end tag
	return b
}

// parseThrottledResponse checks the firmware's answer to throttledRequest
// and returns the word.
func parseThrottledResponse(b []byte) (uint32, error) {
	if len(b) < throttledMsgLen {
		return 0, fmt.Errorf("mailbox response is %d bytes, want %d", len(b), throttledMsgLen)
	}
	le := binary.LittleEndian
	if code := le.Uint32(b[4:]); code != statusSuccess {
		return 0, fmt.Errorf("mailbox response code 0x%08x, want 0x%08x (success)", code, uint32(statusSuccess))
	}
	if tag := le.Uint32(b[8:]); tag != tagGetThrottled {
		return 0, fmt.Errorf("mailbox answered tag 0x%08x, want 0x%08x", tag, uint32(tagGetThrottled))
	}
	rr := le.Uint32(b[16:])
	if rr&respBit == 0 {
		return 0, fmt.Errorf("firmware did not answer the get_throttled tag (0x%08x)", rr)
	}
	if n := rr &^ respBit; n < 4 {
		return 0, fmt.Errorf("firmware answered get_throttled with %d bytes, want 4", n)
	}
	return le.Uint32(b[20:]), nil
}
