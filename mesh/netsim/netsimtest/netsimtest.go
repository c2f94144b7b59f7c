// Package netsimtest holds test helpers for code that runs memberlist on
// the simulated network.
package netsimtest

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

// VerifyTestMain runs the tests, waits for memberlist's goroutines to end,
// then checks for leaked goroutines with goleak. A probe in flight outlives
// Memberlist.Shutdown by up to a probe interval (it waits for its ack
// handler to time out), which is longer than goleak's own retries.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(settled{m}, opts...)
}

type settled struct{ m *testing.M }

func (s settled) Run() int {
	code := s.m.Run()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for MemberlistRunning() && time.Now().Before(deadline) {
		<-tick.C
	}
	return code
}

// MemberlistRunning reports whether any goroutine is in memberlist code.
func MemberlistRunning() bool {
	buf := make([]byte, 1<<20)
	for {
		k := runtime.Stack(buf, true)
		if k < len(buf) {
			return bytes.Contains(buf[:k], []byte("hashicorp/memberlist."))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// FastMemberlist is memberlist's Local preset with the failure detector
// shortened so that suspicion, death and forgetting take a second or two
// and push/pull runs every second: partitions show in tests that last
// seconds. Compression is off (LZW dominates the CPU profile otherwise).
func FastMemberlist() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.GossipInterval = 50 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.TCPTimeout = 500 * time.Millisecond
	c.PushPullInterval = time.Second
	c.GossipToTheDeadTime = time.Second
	c.EnableCompression = false
	return c
}
