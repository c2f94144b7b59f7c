// Package sim is a simulated LED panel for the demo, tests and CI: it keeps
// the last frame and shows it as PNG, as a true-colour terminal preview and
// over HTTP.
//
// # What it shows
//
// The picture is what the LEDs would emit, not the raw frame: brightness
// and gamma are applied in software (see [Panel.SetLevels]), so the demo
// shows a dimmed pole dimmed. The PNG draws each LED as a disc on a dark
// panel, Scale pixels apart; an LED that is off is dark grey.
//
//	frame ──Show──► copy ──(levels LUT)──► shown 64x32 ──► LED picture ──► PNG (cached by version)
//	                                            │
//	                                            └────────► WriteANSI: ▀ per two rows, 64x16
//
// # Cost
//
// Many panels run in one process (40 to 500 poles in the city demo), so a
// panel starts no goroutine, Show is a copy of the frame plus a comparison
// (about 0.2 µs), and a PNG is encoded only when someone asks for it and
// the picture has changed since the last encoding at that scale.
// [Panel.Version] moves only when the picture changes (a new frame or new
// levels); the HTTP handler uses it as the PNG's ETag and in state.json,
// which the page polls. A picture of at most 255 colours (text on a pole)
// is encoded paletted, about 0.3 ms at 8 pixels per LED; a photograph-like
// picture takes about 3 ms. frame.png?scale=1 is a 64x32 thumbnail for an
// overview of many poles. The scaled picture and the PNG compressor are
// pooled across panels, so a panel holds about 20 KB.
//
// # Dumps
//
// With Config.DumpDir set, Show writes frame-NNNNNN.png (N = frame count)
// for every frame that differs from the one before, or for every
// DumpEvery-th frame, through a temporary file and a rename.
package sim
