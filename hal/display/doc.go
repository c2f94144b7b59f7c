// Package display is the pole's LED panel: the [Panel] interface that the
// edge draws on, the backends behind it, health reporting, and test
// patterns.
//
// # Panel and backends
//
// A [Panel] takes whole frames (*image.RGBA, 64x32 on a pole) and has a
// brightness and a gamma. [Open] picks the backend by name:
//
//	"hub75"  the real matrix, through the Raspberry Pi 5's RP1 PIO (package hub75)
//	"sim"    a simulated panel: PNG, terminal preview, live HTTP page (package sim)
//	"none"   accepts frames and shows nothing
//
// The backends do not import this package (it imports them), so each stays
// small: they satisfy Panel by shape.
//
// # Health and faults
//
// [Open] returns a [Display], a Panel that counts frames and errors and
// measures the frame rate with an injected clock; [Display.Status] is what
// the edge puts in its health report. HUB75 is an output-only bus, so a
// panel that is unplugged cannot be seen; what can be seen is a pole
// without a working PIO (no /dev/pio0, the device busy, a failing DMA).
// With Config.Fallback set, Open then opens the fallback instead ("none" on
// a pole), logs once, and keeps the fault in Status.Fault, so the runtime
// starts, reports the fault, and goes on with what it still has (audio,
// mesh, sensors). A Show error is logged when the panel starts failing and
// when it recovers, not per frame.
//
//	edge ──frames──► Display ──► hub75.Panel ──► encoder ──► refresh goroutine ──► /dev/pio0
//	                    │   └──► sim.Panel (PNG / ANSI / HTTP)
//	                    └─ Status{Backend, Fault, Frames, Errors, FPS, Refreshes}
//
// # Test patterns
//
// [TestPattern] draws pictures for checking a panel by eye: colour bars, a
// gradient, a two-phase checkerboard and solid colours that together light
// every LED, a row staircase that shows a stuck address line, and corner
// markers for orientation. Each [Pattern] can [Pattern.Describe] what a
// person should see; package displaysmoketest walks through them on a real
// device.
//
// # Tests
//
// Package displaytest has a recording fake Panel and a Playback panel for
// other packages' tests.
package display
