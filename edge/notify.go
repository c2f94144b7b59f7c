package edge

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify tells the service manager state ("READY=1", "WATCHDOG=1",
// "STOPPING=1"): Options.Notify, or systemd's sd_notify when the pole runs
// under systemd (NOTIFY_SOCKET set; elsewhere it does nothing).
func (p *Pole) notify(state string) {
	if p.opts.Notify != nil {
		if err := p.opts.Notify(state); err != nil {
			p.log.Warn("service manager notification failed", "state", state, "err", err)
		}
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		p.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// watchdogEvery is how often the loop pings the watchdog: Options, or half
// of systemd's WatchdogSec, or never (0).
func (p *Pole) watchdogEvery() time.Duration {
	if p.opts.WatchdogEvery > 0 {
		return p.opts.WatchdogEvery
	}
	if p.opts.Notify != nil {
		return 0
	}
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}
