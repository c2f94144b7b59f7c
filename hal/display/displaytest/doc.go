// Package displaytest provides fakes of display.Panel for other packages'
// tests, in the manner of periph's conntest:
//
//	Panel     records every frame (a copy) and every SetLevels; can be told to fail
//	Record    wraps a real panel and records what it shows
//	Playback  expects a given sequence of frames and names the first wrong pixel
//
// A renderer test draws through a Panel and compares Last() with a golden
// frame; a Playback replays frames recorded from a run.
package displaytest
