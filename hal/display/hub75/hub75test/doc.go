// Package hub75test provides a fake RP1 PIO device for testing hub75.Panel
// without a Raspberry Pi.
//
// [Device] records every call in order ("SetPinDirs(sm=0, dirs=…, mask=…)"),
// can be told to fail any method, and hands each transfer to the test,
// which decides when it completes:
//
//	panel refresh goroutine ──Xfer(words)──► Device ──► Next(ctx) in the test
//	                                            └─────► RecordTo(file): the byte stream the DMA would send
//
// So a test drives the whole hardware path (Show, encode, buffer swap,
// refresh loop, transfer) deterministically, with no sleeps, and checks the
// words against the encoder or a recording.
package hub75test
