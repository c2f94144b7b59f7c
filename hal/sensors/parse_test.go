package sensors

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeThrottled(t *testing.T) {
	for _, tt := range []struct {
		raw            uint32
		active, occurs []string
	}{
		{0, nil, nil},
		{0x50005, []string{"under-voltage", "throttled"}, []string{"under-voltage", "throttled"}},
		{0x50000, nil, []string{"under-voltage", "throttled"}},
		{0x20002, []string{"frequency capped"}, []string{"frequency capped"}},
		{0x80008, []string{"soft temperature limit"}, []string{"soft temperature limit"}},
		{0xF000F, []string{"under-voltage", "frequency capped", "throttled", "soft temperature limit"}, []string{"under-voltage", "frequency capped", "throttled", "soft temperature limit"}},
	} {
		th := DecodeThrottled(tt.raw, "test")
		if !cmp.Equal(th.Active(), tt.active) || !cmp.Equal(th.Occurred(), tt.occurs) {
			t.Errorf("0x%x: active %q occurred %q; want %q, %q", tt.raw, th.Active(), th.Occurred(), tt.active, tt.occurs)
		}
	}
	if s := DecodeThrottled(0, "x").String(); s != "0x0 (now: none; occurred: none)" {
		t.Errorf("String = %q", s)
	}
}

func TestParseThrottled(t *testing.T) {
	for in, want := range map[string]uint32{"0\n": 0, "50005\n": 0x50005, "0x80008": 0x80008, " e0000 ": 0xe0000} {
		if got, err := ParseThrottled(in); err != nil || got != want {
			t.Errorf("ParseThrottled(%q) = 0x%x, %v; want 0x%x", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"": "empty", "\n": "empty", "zz": `"zz" is not`, "100000000": "32-bit", "-1": "not a 32-bit"} {
		if _, err := ParseThrottled(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseThrottled(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// TestMailboxMessage checks the property message against the layout of
// the firmware's mailbox interface and a response as the firmware writes
// it (code 0x80000000, bit 31 of the request/response word set).
func TestMailboxMessage(t *testing.T) {
	req := throttledRequest()
	le := binary.LittleEndian
	want := []uint32{28, 0, 0x00030046, 4, 0, 0, 0}
	for i, w := range want {
		if got := le.Uint32(req[4*i:]); got != w {
			t.Errorf("request word %d = 0x%x, want 0x%x", i, got, w)
		}
	}
	resp := append([]byte(nil), req...)
	le.PutUint32(resp[4:], 0x80000000)
	le.PutUint32(resp[16:], 0x80000004)
	le.PutUint32(resp[20:], 0x50005)
	if v, err := parseThrottledResponse(resp); err != nil || v != 0x50005 {
		t.Errorf("parse = 0x%x, %v; want 0x50005", v, err)
	}
	for _, tt := range []struct {
		word, val uint32
		want      string
	}{
		{1, 0x80000001, "response code 0x80000001"},
		{4, 0x00000004, "did not answer"},
		{4, 0x80000002, "with 2 bytes"},
	} {
		bad := append([]byte(nil), resp...)
		le.PutUint32(bad[4*tt.word:], tt.val)
		if _, err := parseThrottledResponse(bad); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("word %d = 0x%x: %v, want an error containing %q", tt.word, tt.val, err, tt.want)
		}
	}
	if _, err := parseThrottledResponse(resp[:20]); err == nil {
		t.Error("a short response parsed")
	}
}

func TestParseProc(t *testing.T) {
	if d, err := ParseUptime("350.02 1390.11\n"); err != nil || d != 350020*time.Millisecond {
		t.Errorf("ParseUptime = %v, %v", d, err)
	}
	for _, bad := range []string{"", "x 1", "-5 1", "NaN 1", "1e300 1"} {
		if _, err := ParseUptime(bad); err == nil {
			t.Errorf("ParseUptime(%q) accepted", bad)
		}
	}
	l, err := ParseLoadavg("1.02 0.61 0.25 1/187 912\n")
	if err != nil || l != (Load{1.02, 0.61, 0.25, 1, 187}) {
		t.Errorf("ParseLoadavg = %+v, %v", l, err)
	}
	for _, bad := range []string{"1 2 3", "a 1 1 1/2 3", "1 1 1 12 3", "1 1 1 x/2 3", "1 -1 1 1/2 3"} {
		if _, err := ParseLoadavg(bad); err == nil {
			t.Errorf("ParseLoadavg(%q) accepted", bad)
		}
	}
	m, err := ParseMeminfo("MemTotal: 4 kB\nMemAvailable: 2 kB\nHugePages_Total: 0\nSwapTotal: 1 kB\nSwapFree: 1 kB\n")
	if err != nil || m != (Memory{4096, 2048, 1024, 1024}) {
		t.Errorf("ParseMeminfo = %+v, %v", m, err)
	}
	for in, want := range map[string]string{
		"MemFree: 1 kB\n":                "no MemTotal",
		"MemTotal: x kB\n":               `"x" is not a number`,
		"MemTotal: 1 MB\n":               `unit "MB"`,
		"MemTotal: 99999999999999999 kB": "overflows",
	} {
		if _, err := ParseMeminfo(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMeminfo(%q) = %v, want %q", in, err, want)
		}
	}
	for in, want := range map[string]float64{"47400\n": 47.4, "-5000": -5, "0": 0} {
		if c, err := parseMilliCelsius(in); err != nil || c != want {
			t.Errorf("parseMilliCelsius(%q) = %v, %v; want %v", in, c, err, want)
		}
	}
	for _, bad := range []string{"", "47.4", "99999999", "-300000"} {
		if _, err := parseMilliCelsius(bad); err == nil {
			t.Errorf("parseMilliCelsius(%q) accepted", bad)
		}
	}
}

// The fuzz targets check that no input makes a parser panic and that what
// they accept is sane.

func FuzzParseThrottled(f *testing.F) {
	for _, s := range []string{"0\n", "50005\n", "0x80008", "ffffffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseThrottled(s)
		if err == nil && DecodeThrottled(v, "").Raw != v {
			t.Fatal("decode lost the raw word")
		}
	})
}

func FuzzParseProc(f *testing.F) {
	f.Add("86512.34 340211.87\n", "0.42 0.37 0.31 2/231 4187\n", "MemTotal: 8245376 kB\nMemAvailable: 7701232 kB\n")
	f.Fuzz(func(t *testing.T, up, load, mem string) {
		if d, err := ParseUptime(up); err == nil && d < 0 {
			t.Fatalf("negative uptime %v", d)
		}
		if l, err := ParseLoadavg(load); err == nil && (l.One < 0 || l.Running < 0) {
			t.Fatalf("negative load %+v", l)
		}
		ParseMeminfo(mem)
		parseMilliCelsius(up)
	})
}

func FuzzThrottledResponse(f *testing.F) {
	resp := throttledRequest()
	binary.LittleEndian.PutUint32(resp[4:], statusSuccess)
	binary.LittleEndian.PutUint32(resp[16:], 0x80000004)
	f.Add(resp)
	f.Fuzz(func(t *testing.T, b []byte) {
		parseThrottledResponse(b)
	})
}
