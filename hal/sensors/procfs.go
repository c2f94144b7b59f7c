package sensors

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseUptime parses /proc/uptime ("12345.67 45678.90\n": seconds up, then
// seconds idle summed over CPUs; proc(5)) and returns the first.
func ParseUptime(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, errors.New("/proc/uptime is empty")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil || secs < 0 || math.IsInf(secs, 0) || math.IsNaN(secs) || secs > 1e10 {
		return 0, fmt.Errorf("/proc/uptime: %q is not a number of seconds", f[0])
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// Load is the system load average (/proc/loadavg).
type Load struct {
	One     float64 `json:"one"`     // 1-minute load average
	Five    float64 `json:"five"`    // 5-minute
	Fifteen float64 `json:"fifteen"` // 15-minute
	Running int     `json:"running"` // runnable scheduling entities now
	Total   int     `json:"total"`   // scheduling entities that exist
}

// ParseLoadavg parses /proc/loadavg ("0.52 0.58 0.59 1/234 5678\n"; proc(5)).
func ParseLoadavg(s string) (Load, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return Load{}, fmt.Errorf("/proc/loadavg has %d fields, want 5: %q", len(f), strings.TrimSpace(s))
	}
	var l Load
	for i, p := range []*float64{&l.One, &l.Five, &l.Fifteen} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return Load{}, fmt.Errorf("/proc/loadavg: load %q is not a number", f[i])
		}
		*p = v
	}
	run, total, ok := strings.Cut(f[3], "/")
	r, err1 := strconv.Atoi(run)
	t, err2 := strconv.Atoi(total)
	if !ok || err1 != nil || err2 != nil || r < 0 || t < 0 {
		return Load{}, fmt.Errorf("/proc/loadavg: %q is not running/total", f[3])
	}
	l.Running, l.Total = r, t
	return l, nil
}

// Memory is the system's memory (/proc/meminfo), in bytes.
type Memory struct {
	Total     uint64 `json:"total"`      // MemTotal: usable RAM
	Available uint64 `json:"available"`  // MemAvailable: what can be allocated without swapping
	SwapTotal uint64 `json:"swap_total"` // SwapTotal
	SwapFree  uint64 `json:"swap_free"`  // SwapFree
}

// ParseMeminfo parses /proc/meminfo ("MemTotal:  8245216 kB" lines;
// proc(5)). MemAvailable (Linux 3.14 and later) is estimated as
// MemFree + Buffers + Cached on kernels without it.
func ParseMeminfo(s string) (Memory, error) {
	vals := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/meminfo: %s: %q is not a number", name, f[0])
		}
		if len(f) > 1 {
			if f[1] != "kB" {
				return Memory{}, fmt.Errorf("/proc/meminfo: %s: unit %q, want kB", name, f[1])
			}
			if v > math.MaxUint64/1024 {
				return Memory{}, fmt.Errorf("/proc/meminfo: %s: %d kB overflows", name, v)
			}
			v *= 1024
		}
		vals[name] = v
	}
	total, ok := vals["MemTotal"]
	if !ok {
		return Memory{}, errors.New("/proc/meminfo has no MemTotal")
	}
	m := Memory{Total: total, SwapTotal: vals["SwapTotal"], SwapFree: vals["SwapFree"]}
	if a, ok := vals["MemAvailable"]; ok {
		m.Available = a
	} else {
		m.Available = vals["MemFree"] + vals["Buffers"] + vals["Cached"]
	}
	return m, nil
}

// parseMilliCelsius parses a thermal zone's temp file ("47400\n", in
// millidegrees Celsius; Documentation/driver-api/thermal/sysfs-api.rst).
func parseMilliCelsius(s string) (float64, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("temperature %q is not a whole number of millidegrees", t)
	}
	c := float64(v) / 1000
	if c < -273.15 || c > 1000 {
		return 0, fmt.Errorf("temperature %.3f °C is not plausible", c)
	}
	return c, nil
}
