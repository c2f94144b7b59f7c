package mqttlink_test

import (
	"runtime"
	"testing"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
)

// TestInterface: a link bound to the loopback interface reaches a broker
// on loopback; bound to an interface that does not exist it never
// connects, and says which interface.
func TestInterface(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Fatal("bind_linux_test.go runs only on Linux")
	}
	c := newCity(t)
	n := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-1", "z1"))
	l := startLinkConfig(t, n, mqttlink.Config{Brokers: []string{c.broker.URL()}, Interface: "lo"})
	mqtttest.Eventually(t, wait, "the link bound to lo connected", l.Connected)

	n2 := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-2", "z1"))
	bad := startLinkConfig(t, n2, mqttlink.Config{Brokers: []string{c.broker.URL()}, Interface: "nosuch0"})
	mqtttest.Eventually(t, wait, "two refused attempts", func() bool { return bad.Stats().ConnectFailures >= 2 })
	if bad.Connected() {
		t.Error("a link bound to a missing interface connected")
	}
}
