// Package displaysmoketest checks a real panel on a pole, with a person
// watching: [Run] shows every test pattern with what it should look like,
// steps brightness and gamma, measures the frame rate (and the refresh rate
// of a hub75 panel), and leaves the panel dark.
//
// # On a device
//
//	d, err := display.Open(display.DefaultConfig(), display.Options{})
//	...
//	err = displaysmoketest.Run(ctx, d, os.Stdout, displaysmoketest.Options{Confirm: os.Stdin})
//
// Without Confirm the run is unattended and only panel errors fail it. The
// package's own test drives Run against a recording fake and against the
// hub75 panel on a fake PIO device; on a Raspberry Pi 5 set CITYARRAY_INTEG=1
// to run it against /dev/pio0.
package displaysmoketest
