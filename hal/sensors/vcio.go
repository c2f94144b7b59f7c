package sensors

// VCIO is the firmware mailbox at a /dev/vcio character device, the
// interface `vcgencmd` uses (drivers/char/broadcom/vcio.c, ioctl
// IOCTL_MBOX_PROPERTY). Opening it needs root or, on Raspberry Pi OS,
// membership of the video group. It works on Linux only; elsewhere
// Throttled returns an error wrapping errors.ErrUnsupported.
type VCIO struct {
	Path string // default "/dev/vcio"
}
