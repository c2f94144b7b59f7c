// Package sensors reads the pole's health: uptime, CPU temperature, the
// Raspberry Pi firmware's throttling and under-voltage flags, load,
// memory and free storage. The edge puts a [Reading] in its scheduled
// health and telemetry records.
//
// # Sources
//
// Everything is read under a configurable root (default "/"), so tests
// and the simulator point a [Reader] at a fake tree (sensorstest):
//
//	reading          where                                             notes
//	uptime           /proc/uptime                                      proc(5)
//	load             /proc/loadavg                                     proc(5)
//	memory           /proc/meminfo                                     MemAvailable, or MemFree+Buffers+Cached
//	CPU temperature  /sys/class/thermal/thermal_zone*/{type,temp}      type cpu-thermal on a Pi; millidegrees
//	throttling       /dev/vcio mailbox, tag GET_THROTTLED 0x00030046   fresh; needs root or the video group
//	                 /sys/devices/platform/*/*:firmware/get_throttled  Pi 4: soc/soc:firmware; Pi 5: soc@107c000000/soc@107c000000:firmware
//	under-voltage    /sys/class/hwmon/hwmon*/in0_lcrit_alarm           the hwmon named rpi_volt
//	storage          statfs(2) of each configured path                 Linux only
//
// # Throttling
//
// The firmware's get_throttled word has bits for under-voltage, ARM
// frequency capping, throttling and the soft temperature limit, each
// "now" (bits 0–3) and "has occurred" (bits 16–19); [Throttle] decodes
// it. The mailbox ([VCIO], the ioctl vcgencmd uses) is asked first and
// asked not to clear the sticky bits; the sysfs file is the fallback. It
// exists only on Raspberry Pi kernels, holds the value of the firmware
// driver's last call (the rpi_volt poll, every 2 s), and its first read
// after boot logs a one-time "deprecated, use hwmon sysfs instead" kernel
// warning (raspberrypi/linux drivers/firmware/raspberrypi.c). Ubuntu's
// raspi kernel on a Pi 5 has no such file, so there only the mailbox
// works.
//
// # Missing is not broken
//
// A development machine has no Pi firmware and maybe no CPU thermal zone.
// Read never fails for that: each sensor without a reading is listed in
// [Reading].Unavailable with its reason, marked Missing when its source
// does not exist here, and [Reading.Faults] returns only the ones that
// exist but cannot be read, which health should flag.
package sensors
