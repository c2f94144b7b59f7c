package sensors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sensor names, as used in Unavailable.
const (
	SensorUptime       = "uptime"
	SensorCPUTemp      = "cpu_temp"
	SensorThrottle     = "throttle"
	SensorUnderVoltage = "under_voltage"
	SensorLoad         = "load"
	SensorMemory       = "memory"
	SensorStorage      = "storage" // reported as "storage:<path>"
)

// Config says where a Reader looks.
type Config struct {
	// Root is the filesystem root the sysfs and procfs paths are read
	// under. Default "/". Tests point it at a fake tree.
	Root string
	// StoragePaths are the paths whose filesystems' free space is
	// reported. Default {"/"}. Each is resolved under Root.
	StoragePaths []string
	// Mailbox asks the firmware for get_throttled. Default: the
	// /dev/vcio mailbox under Root (Linux only).
	Mailbox Mailbox
}

// A Mailbox asks the Raspberry Pi firmware for its get_throttled word.
// [VCIO] is the real one; sensorstest.Mailbox is a fake.
type Mailbox interface {
	Throttled(ctx context.Context) (uint32, error)
}

// Temperature is a thermal zone's reading.
type Temperature struct {
	Celsius float64 `json:"celsius"` // degrees Celsius
	Zone    string  `json:"zone"`    // "thermal_zone0"
	Type    string  `json:"type"`    // "cpu-thermal"
}

// UnderVoltage is the rpi_volt hwmon alarm (drivers/hwmon/raspberrypi-hwmon.c).
// It shows the firmware's under-voltage sticky bit as of the driver's
// last 2 s poll; it chatters on a marginal supply, so act on it over
// several readings.
type UnderVoltage struct {
	Alarm  bool   `json:"alarm"`  // under-voltage seen at the last poll
	Source string `json:"source"` // "/sys/class/hwmon/hwmon1/in0_lcrit_alarm"
}

// Storage is the free space of the filesystem holding Path.
type Storage struct {
	Path      string `json:"path"`      // as configured, not under Root
	Total     uint64 `json:"total"`     // bytes
	Free      uint64 `json:"free"`      // bytes free, including those reserved for root
	Available uint64 `json:"available"` // bytes free to unprivileged users
}

// Unavailable says why a sensor has no reading.
type Unavailable struct {
	Sensor string `json:"sensor"` // a Sensor* name, or "storage:<path>"
	// Missing is set when the source does not exist on this machine (a
	// development box has no Pi firmware): expected, not a fault.
	Missing bool   `json:"missing"`
	Reason  string `json:"reason"` // what was tried and what went wrong
}

// Reading is one pass over the sensors. A nil field has no reading; its
// sensor is listed in Unavailable with the reason.
type Reading struct {
	Uptime       *time.Duration `json:"uptime,omitempty"`        // time since boot
	CPUTemp      *Temperature   `json:"cpu_temp,omitempty"`      // the CPU's thermal zone
	Throttle     *Throttle      `json:"throttle,omitempty"`      // the firmware's get_throttled word
	UnderVoltage *UnderVoltage  `json:"under_voltage,omitempty"` // the rpi_volt hwmon alarm
	Load         *Load          `json:"load,omitempty"`          // load averages
	Memory       *Memory        `json:"memory,omitempty"`        // RAM and swap
	Storage      []Storage      `json:"storage,omitempty"`       // one per readable configured path
	Unavailable  []Unavailable  `json:"unavailable,omitempty"`   // sensors without a reading, and why
}

// Faults returns the unavailable sensors that are broken rather than
// absent: what health should flag.
func (r Reading) Faults() []Unavailable {
	var out []Unavailable
	for _, u := range r.Unavailable {
		if !u.Missing {
			out = append(out, u)
		}
	}
	return out
}

// A Reader reads the pole's health sensors from sysfs, procfs, statfs
// and the firmware mailbox. It keeps no state between reads and is safe
// for concurrent use.
type Reader struct {
	root    string
	storage []string
	mailbox Mailbox
}

// New returns a Reader for cfg.
func New(cfg Config) *Reader {
	r := &Reader{root: cfg.Root, storage: cfg.StoragePaths, mailbox: cfg.Mailbox}
	if r.root == "" {
		r.root = "/"
	}
	if r.storage == nil {
		r.storage = []string{"/"}
	}
	if r.mailbox == nil {
		r.mailbox = VCIO{Path: filepath.Join(r.root, "dev/vcio")}
	}
	return r
}

// Read returns what the sensors say now, with every sensor that could not
// be read listed in Unavailable. Missing files are not errors: a
// development machine has no Pi firmware. The error is only for ctx.
func (r *Reader) Read(ctx context.Context) (Reading, error) {
	var out Reading
	steps := []func(context.Context, *Reading){
		r.readUptime, r.readCPUTemp, r.readThrottle, r.readUnderVoltage, r.readLoad, r.readMemory, r.readStorage,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return Reading{}, fmt.Errorf("sensors: read: %w", err)
		}
		step(ctx, &out)
	}
	return out, nil
}

// path returns p (an absolute path such as "/proc/uptime") under the root.
func (r *Reader) path(p string) string { return filepath.Join(r.root, p) }

// display returns the path as it is on the device, for reasons.
func (r *Reader) display(full string) string {
	rel, err := filepath.Rel(r.root, full)
	if err != nil {
		return full
	}
	return "/" + filepath.ToSlash(rel)
}

func unavailable(out *Reading, sensor string, err error) {
	out.Unavailable = append(out.Unavailable, Unavailable{Sensor: sensor, Missing: errors.Is(err, fs.ErrNotExist) || errors.Is(err, errors.ErrUnsupported), Reason: err.Error()})
}

// readText reads a small sysfs or procfs file, naming it as it is on the
// device in errors.
func (r *Reader) readText(full string) (string, error) {
	b, err := os.ReadFile(full)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %w", r.display(full), pe.Err)
		}
		return "", err
	}
	return string(b), nil
}

func (r *Reader) readUptime(_ context.Context, out *Reading) {
	s, err := r.readText(r.path("/proc/uptime"))
	if err == nil {
		var d time.Duration
		if d, err = ParseUptime(s); err == nil {
			out.Uptime = &d
			return
		}
	}
	unavailable(out, SensorUptime, err)
}

func (r *Reader) readLoad(_ context.Context, out *Reading) {
	s, err := r.readText(r.path("/proc/loadavg"))
	if err == nil {
		var l Load
		if l, err = ParseLoadavg(s); err == nil {
			out.Load = &l
			return
		}
	}
	unavailable(out, SensorLoad, err)
}

func (r *Reader) readMemory(_ context.Context, out *Reading) {
	s, err := r.readText(r.path("/proc/meminfo"))
	if err == nil {
		var m Memory
		if m, err = ParseMeminfo(s); err == nil {
			out.Memory = &m
			return
		}
	}
	unavailable(out, SensorMemory, err)
}

// cpuZoneRank orders thermal zone types by how surely they are the CPU:
// the Pi's "cpu-thermal" (hwmon name cpu_thermal) first; x86's package
// sensor and other CPU or SoC zones next. Other zones (acpitz, wifi) are
// not the CPU and are never reported as it.
func cpuZoneRank(typ string) (int, bool) {
	switch t := strings.ToLower(typ); {
	case t == "cpu-thermal":
		return 0, true
	case t == "cpu_thermal":
		return 1, true
	case t == "x86_pkg_temp", strings.Contains(t, "cpu"), strings.Contains(t, "soc"):
		return 2, true
	}
	return 0, false
}

func zoneIndex(dir string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "thermal_zone"))
	if err != nil {
		return 1 << 30
	}
	return n
}

func (r *Reader) readCPUTemp(_ context.Context, out *Reading) {
	dirs, _ := filepath.Glob(r.path("/sys/class/thermal/thermal_zone*"))
	if len(dirs) == 0 {
		unavailable(out, SensorCPUTemp, fmt.Errorf("no thermal zones under /sys/class/thermal: %w", fs.ErrNotExist))
		return
	}
	type zone struct {
		dir, typ string
		rank     int
	}
	var cands []zone
	var others []string
	for _, d := range dirs {
		t, err := r.readText(filepath.Join(d, "type"))
		typ := strings.TrimSpace(t)
		if err != nil {
			continue
		}
		if rank, ok := cpuZoneRank(typ); ok {
			cands = append(cands, zone{d, typ, rank})
		} else {
			others = append(others, typ)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].rank != cands[j].rank {
			return cands[i].rank < cands[j].rank
		}
		return zoneIndex(cands[i].dir) < zoneIndex(cands[j].dir)
	})
	if len(cands) == 0 {
		unavailable(out, SensorCPUTemp, fmt.Errorf("no CPU thermal zone (zone types: %s): %w", strings.Join(others, ", "), fs.ErrNotExist))
		return
	}
	var firstErr error
	for _, z := range cands {
		s, err := r.readText(filepath.Join(z.dir, "temp"))
		if err == nil {
			var c float64
			if c, err = parseMilliCelsius(s); err == nil {
				out.CPUTemp = &Temperature{Celsius: c, Zone: filepath.Base(z.dir), Type: z.typ}
				return
			}
			err = fmt.Errorf("%s: %w", r.display(filepath.Join(z.dir, "temp")), err)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	// The zones exist but none reads: a fault, whatever the error.
	unavailable(out, SensorCPUTemp, errors.New(firstErr.Error()))
}

// readThrottle asks the firmware mailbox first (a fresh answer, and no
// kernel warning), then the get_throttled sysfs file, which the firmware
// driver fills from its last call and marks deprecated with a one-time
// kernel warning (drivers/firmware/raspberrypi.c). The sysfs file sits
// under the firmware node: soc/soc:firmware on a Pi 4,
// soc@107c000000/soc@107c000000:firmware on a Pi 5; some kernels (Ubuntu
// raspi on a Pi 5) do not create it at all.
func (r *Reader) readThrottle(ctx context.Context, out *Reading) {
	raw, mbErr := r.mailbox.Throttled(ctx)
	if mbErr == nil {
		src := "mailbox"
		if v, ok := r.mailbox.(VCIO); ok {
			src = "mailbox " + r.display(v.Path)
		}
		t := DecodeThrottled(raw, src)
		out.Throttle = &t
		return
	}
	files, _ := filepath.Glob(r.path("/sys/devices/platform/*/*:firmware/get_throttled"))
	if len(files) == 0 {
		if errors.Is(mbErr, fs.ErrNotExist) || errors.Is(mbErr, errors.ErrUnsupported) {
			unavailable(out, SensorThrottle, fmt.Errorf("no firmware mailbox (%v) and no get_throttled under /sys/devices/platform/*/*:firmware: %w", mbErr, fs.ErrNotExist))
			return
		}
		unavailable(out, SensorThrottle, fmt.Errorf("firmware mailbox: %v; no get_throttled under /sys/devices/platform/*/*:firmware", mbErr))
		return
	}
	s, err := r.readText(files[0])
	if err == nil {
		var v uint32
		if v, err = ParseThrottled(s); err == nil {
			t := DecodeThrottled(v, r.display(files[0]))
			out.Throttle = &t
			return
		}
		err = fmt.Errorf("%s: %w", r.display(files[0]), err)
	}
	unavailable(out, SensorThrottle, fmt.Errorf("firmware mailbox: %v; %v", mbErr, err))
}

func (r *Reader) readUnderVoltage(_ context.Context, out *Reading) {
	names, _ := filepath.Glob(r.path("/sys/class/hwmon/hwmon*/name"))
	for _, n := range names {
		s, err := r.readText(n)
		if err != nil || strings.TrimSpace(s) != "rpi_volt" {
			continue
		}
		f := filepath.Join(filepath.Dir(n), "in0_lcrit_alarm")
		s, err = r.readText(f)
		if err == nil {
			switch strings.TrimSpace(s) {
			case "0":
				out.UnderVoltage = &UnderVoltage{Alarm: false, Source: r.display(f)}
				return
			case "1":
				out.UnderVoltage = &UnderVoltage{Alarm: true, Source: r.display(f)}
				return
			}
			err = fmt.Errorf("%s: %q, want 0 or 1", r.display(f), strings.TrimSpace(s))
		}
		unavailable(out, SensorUnderVoltage, errors.New(err.Error()))
		return
	}
	unavailable(out, SensorUnderVoltage, fmt.Errorf("no rpi_volt hwmon under /sys/class/hwmon: %w", fs.ErrNotExist))
}

func (r *Reader) readStorage(_ context.Context, out *Reading) {
	for _, p := range r.storage {
		st, err := statFS(r.path(p))
		if err != nil {
			unavailable(out, SensorStorage+":"+p, err)
			continue
		}
		st.Path = p
		out.Storage = append(out.Storage, st)
	}
}
