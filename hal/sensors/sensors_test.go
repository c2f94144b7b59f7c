package sensors_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/hal/sensors"
	"github.com/cityarray/cityarray/hal/sensors/sensorstest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func tree(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := sensorstest.WriteTree(dir, name); err != nil {
		t.Fatal(err)
	}
	return dir
}

// noMailbox is a firmware mailbox that does not exist, as on a Pi whose
// /dev/vcio is absent.
var noMailbox = sensorstest.Mailbox{Err: fmt.Errorf("open /dev/vcio: %w", fs.ErrNotExist)}

func read(t *testing.T, cfg sensors.Config) sensors.Reading {
	t.Helper()
	if cfg.StoragePaths == nil {
		cfg.StoragePaths = []string{}
	}
	r, err := sensors.New(cfg).Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func dur(d time.Duration) *time.Duration { return &d }

func TestReadPi5(t *testing.T) {
	got := read(t, sensors.Config{Root: tree(t, "pi5"), Mailbox: noMailbox})
	fw := "/sys/devices/platform/soc@107c000000/soc@107c000000:firmware"
	want := sensors.Reading{
		Uptime:       dur(86512340 * time.Millisecond),
		CPUTemp:      &sensors.Temperature{Celsius: 47.4, Zone: "thermal_zone0", Type: "cpu-thermal"},
		Throttle:     &sensors.Throttle{Raw: 0, Source: fw + "/get_throttled"},
		UnderVoltage: &sensors.UnderVoltage{Alarm: false, Source: "/sys/class/hwmon/hwmon1/in0_lcrit_alarm"},
		Load:         &sensors.Load{One: 0.42, Five: 0.37, Fifteen: 0.31, Running: 2, Total: 231},
		Memory:       &sensors.Memory{Total: 8245376 * 1024, Available: 7701232 * 1024, SwapTotal: 204784 * 1024, SwapFree: 204784 * 1024},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

func TestReadPi5Brownout(t *testing.T) {
	got := read(t, sensors.Config{Root: tree(t, "pi5-brownout"), Mailbox: noMailbox})
	th := got.Throttle
	if th == nil {
		t.Fatalf("no throttle reading: %+v", got.Unavailable)
	}
	if want := []string{"under-voltage", "throttled"}; !cmp.Equal(th.Active(), want) || !cmp.Equal(th.Occurred(), want) {
		t.Errorf("throttle %v: active %q, occurred %q; want %q for both", th, th.Active(), th.Occurred(), want)
	}
	if s := th.String(); s != "0x50005 (now: under-voltage, throttled; occurred: under-voltage, throttled)" {
		t.Errorf("String = %q", s)
	}
	if !got.UnderVoltage.Alarm || got.CPUTemp.Celsius != 81.25 {
		t.Errorf("under-voltage %+v, temperature %+v; want the alarm set and 81.25 °C", got.UnderVoltage, got.CPUTemp)
	}
}

// TestReadPi5Ubuntu: no get_throttled file, so the word comes from the
// firmware mailbox, or is missing without it.
func TestReadPi5Ubuntu(t *testing.T) {
	root := tree(t, "pi5-ubuntu")
	got := read(t, sensors.Config{Root: root, Mailbox: sensorstest.Mailbox{Value: 0x50000}})
	if got.Throttle == nil || got.Throttle.Raw != 0x50000 || got.Throttle.Source != "mailbox" || got.Throttle.UnderVoltage || !got.Throttle.UnderVoltageOccurred {
		t.Errorf("Throttle = %+v, want 0x50000 from the mailbox", got.Throttle)
	}
	got = read(t, sensors.Config{Root: root, Mailbox: noMailbox})
	if got.Throttle != nil {
		t.Errorf("Throttle = %+v without mailbox or file", got.Throttle)
	}
	want := []sensors.Unavailable{{Sensor: sensors.SensorThrottle, Missing: true,
		Reason: "no firmware mailbox (open /dev/vcio: file does not exist) and no get_throttled under /sys/devices/platform/*/*:firmware: file does not exist"}}
	if diff := cmp.Diff(want, got.Unavailable); diff != "" {
		t.Errorf("Unavailable (-want +got):\n%s", diff)
	}
	// A mailbox that exists but refuses (not root, not in video) is a fault.
	got = read(t, sensors.Config{Root: root, Mailbox: sensorstest.Mailbox{Err: fmt.Errorf("open /dev/vcio: %w", fs.ErrPermission)}})
	if f := got.Faults(); len(f) != 1 || f[0].Sensor != sensors.SensorThrottle || !strings.Contains(f[0].Reason, "permission denied") {
		t.Errorf("Faults = %+v, want the refused mailbox", f)
	}
}

func TestReadPi4(t *testing.T) {
	got := read(t, sensors.Config{Root: tree(t, "pi4"), Mailbox: noMailbox})
	want := &sensors.Throttle{Raw: 0x80008, Source: "/sys/devices/platform/soc/soc:firmware/get_throttled", SoftTempLimit: true, SoftTempLimitOccurred: true}
	if diff := cmp.Diff(want, got.Throttle); diff != "" {
		t.Errorf("Throttle (-want +got):\n%s", diff)
	}
	if len(got.Unavailable) != 0 {
		t.Errorf("Unavailable = %+v", got.Unavailable)
	}
}

func TestReadMailboxFirst(t *testing.T) {
	got := read(t, sensors.Config{Root: tree(t, "pi5"), Mailbox: sensorstest.Mailbox{Value: 0x4}})
	if got.Throttle.Raw != 4 || got.Throttle.Source != "mailbox" || !got.Throttle.Throttled {
		t.Errorf("Throttle = %+v, want the mailbox's 0x4 over the file's 0", got.Throttle)
	}
}

// TestReadDevMachine: a laptop has no Pi firmware; that is missing, not a
// fault, and the CPU zone is picked over ACPI and wifi zones.
func TestReadDevMachine(t *testing.T) {
	got := read(t, sensors.Config{Root: tree(t, "x86"), Mailbox: noMailbox})
	if diff := cmp.Diff(&sensors.Temperature{Celsius: 45, Zone: "thermal_zone2", Type: "x86_pkg_temp"}, got.CPUTemp); diff != "" {
		t.Errorf("CPUTemp (-want +got):\n%s", diff)
	}
	if m := got.Memory; m.Available != (9200000+400000+3000000)*1024 {
		t.Errorf("Memory.Available = %d, want MemFree+Buffers+Cached without MemAvailable", m.Available)
	}
	var names []string
	for _, u := range got.Unavailable {
		names = append(names, u.Sensor)
		if !u.Missing {
			t.Errorf("%s: marked a fault on a dev machine: %s", u.Sensor, u.Reason)
		}
	}
	if want := []string{sensors.SensorThrottle, sensors.SensorUnderVoltage}; !cmp.Equal(names, want) {
		t.Errorf("unavailable %q, want %q", names, want)
	}
	if len(got.Faults()) != 0 {
		t.Errorf("Faults = %+v, want none", got.Faults())
	}
}

func TestReadEmptyRoot(t *testing.T) {
	got := read(t, sensors.Config{Root: t.TempDir(), Mailbox: noMailbox})
	var names []string
	for _, u := range got.Unavailable {
		names = append(names, u.Sensor)
		if !u.Missing {
			t.Errorf("%s: not marked missing: %s", u.Sensor, u.Reason)
		}
	}
	want := []string{"uptime", "cpu_temp", "throttle", "under_voltage", "load", "memory"}
	if !cmp.Equal(names, want) {
		t.Errorf("unavailable %q, want %q", names, want)
	}
	if !strings.Contains(got.Unavailable[0].Reason, "/proc/uptime") {
		t.Errorf("reason %q does not name the file as on the device", got.Unavailable[0].Reason)
	}
}

// TestReadBrokenFiles: files that exist but hold nonsense are faults, and
// each names the file and what is wrong.
func TestReadBrokenFiles(t *testing.T) {
	root := tree(t, "pi5")
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fw := "sys/devices/platform/soc@107c000000/soc@107c000000:firmware"
	write("proc/uptime", "soon\n")
	write("proc/loadavg", "1 2\n")
	write("proc/meminfo", "MemFree: 10 kB\n")
	write("sys/devices/virtual/thermal/thermal_zone0/temp", "hot\n")
	write(fw+"/get_throttled", "0xZZ\n")
	write(fw+"/raspberrypi-hwmon/hwmon/hwmon1/in0_lcrit_alarm", "2\n")
	got := read(t, sensors.Config{Root: root, Mailbox: noMailbox})
	want := []sensors.Unavailable{
		{Sensor: "uptime", Reason: `/proc/uptime: "soon" is not a number of seconds`},
		{Sensor: "cpu_temp", Reason: `/sys/class/thermal/thermal_zone0/temp: temperature "hot" is not a whole number of millidegrees`},
		{Sensor: "throttle", Reason: `firmware mailbox: open /dev/vcio: file does not exist; /` + fw + `/get_throttled: get_throttled "0xZZ" is not a 32-bit hex number`},
		{Sensor: "under_voltage", Reason: `/sys/class/hwmon/hwmon1/in0_lcrit_alarm: "2", want 0 or 1`},
		{Sensor: "load", Reason: `/proc/loadavg has 2 fields, want 5: "1 2"`},
		{Sensor: "memory", Reason: "/proc/meminfo has no MemTotal"},
	}
	if diff := cmp.Diff(want, got.Unavailable); diff != "" {
		t.Errorf("Unavailable (-want +got):\n%s", diff)
	}
	if len(got.Faults()) != len(want) {
		t.Errorf("%d faults, want %d", len(got.Faults()), len(want))
	}
}

func TestReadStorage(t *testing.T) {
	root := tree(t, "pi5")
	if err := os.MkdirAll(filepath.Join(root, "var/lib/cityarray"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := read(t, sensors.Config{Root: root, Mailbox: noMailbox, StoragePaths: []string{"/var/lib/cityarray", "/no/such/dir"}})
	if runtime.GOOS != "linux" {
		for _, u := range got.Unavailable {
			if strings.HasPrefix(u.Sensor, "storage:") && !u.Missing {
				t.Errorf("%s off Linux: %s, want missing (unsupported)", u.Sensor, u.Reason)
			}
		}
		return
	}
	if len(got.Storage) != 1 {
		t.Fatalf("Storage = %+v, want one filesystem", got.Storage)
	}
	s := got.Storage[0]
	if s.Path != "/var/lib/cityarray" || s.Total == 0 || s.Free > s.Total || s.Available > s.Free {
		t.Errorf("Storage = %+v, want a plausible filesystem for the path", s)
	}
	if diff := cmp.Diff([]sensors.Unavailable{{Sensor: "storage:/no/such/dir", Missing: true}}, got.Unavailable, cmpopts.IgnoreFields(sensors.Unavailable{}, "Reason")); diff != "" {
		t.Errorf("Unavailable (-want +got):\n%s", diff)
	}
}

func TestReadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sensors.New(sensors.Config{Root: t.TempDir()}).Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
}

// TestReadThisMachine reads the real / : whatever this machine lacks must
// be reported, never an error.
func TestReadThisMachine(t *testing.T) {
	r, err := sensors.New(sensors.Config{}).Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if runtime.GOOS == "linux" && (r.Uptime == nil || r.Memory == nil || len(r.Storage) != 1) {
		t.Errorf("Linux without uptime, memory or storage: %+v", r)
	}
	for _, u := range r.Unavailable {
		t.Logf("unavailable here: %s (missing=%v): %s", u.Sensor, u.Missing, u.Reason)
	}
}

func TestFakeReader(t *testing.T) {
	f := &sensorstest.Reader{Reading: sensors.Reading{Uptime: dur(time.Hour)}}
	var src interface {
		Read(context.Context) (sensors.Reading, error)
	} = f
	r, err := src.Read(context.Background())
	if err != nil || *r.Uptime != time.Hour || f.Calls() != 1 {
		t.Errorf("fake Read = %+v, %v after %d calls", r, err, f.Calls())
	}
	if got := sensorstest.Trees(); !cmp.Equal(got, []string{"pi4", "pi5", "pi5-brownout", "pi5-ubuntu", "x86"}) {
		t.Errorf("Trees = %q", got)
	}
	if err := sensorstest.WriteTree(t.TempDir(), "pi9"); err == nil || !strings.Contains(err.Error(), "pi5") {
		t.Errorf("WriteTree(pi9) = %v, want the known trees listed", err)
	}
	if err := sensorstest.WriteArchive(t.TempDir(), []byte("-- ../escape --\nx\n")); err == nil {
		t.Error("WriteArchive wrote outside its directory")
	}
}
