package mqttbroker

import (
	"errors"
	"net"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/trust"
)

// TestHook drives the hook directly, as mochi does: the ACL for a device,
// a gateway and a client that never authenticated; the no-local flag;
// what OnPublish lets mochi pass on; and refusal of a non-TLS connection.
func TestHook(t *testing.T) {
	pki := mqtttest.NewPKI(t, "testville")
	n := mqtttest.StartNode(t, pki, t.TempDir(), pki.Server(t, "server-1"))
	b, err := New(Config{Node: n.Node, Address: "127.0.0.1:0", Certificate: n.Leaf.TLS, Verifier: n.Verifier, Logger: mqtttest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := b.hook
	h.ids["pole-1"] = trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}
	h.ids["gw-1"] = trust.Identity{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"}
	pole, gw, stranger := &mqtt.Client{ID: "pole-1"}, &mqtt.Client{ID: "gw-1"}, &mqtt.Client{ID: "pole-2"}
	cases := []struct {
		cl    *mqtt.Client
		topic string
		write bool
		want  bool
	}{
		{pole, "#", false, false},
		{pole, "cityarray/alerts/zone/+", false, false},
		{pole, "cityarray/alerts/zone/z1", false, true},
		{pole, "cityarray/devices/pole-2/status", true, false},
		{pole, "cityarray/devices/pole-1/status", true, true},
		{pole, "cityarray/devices/pole-1/receipts", true, false},
		{gw, "cityarray/devices/pole-2/status", true, true},
		{gw, "cityarray/commands/+/#", false, true},
		{gw, "cityarray/alerts/zone/z2", true, false},
		{stranger, "cityarray/alerts/broadcast", false, false},
	}
	for _, c := range cases {
		if got := h.OnACLCheck(c.cl, c.topic, c.write); got != c.want {
			t.Errorf("%s %q write=%t: %t, want %t", c.cl.ID, c.topic, c.write, got, c.want)
		}
	}
	if got := b.link.Stats().Refused; got != 6 {
		t.Errorf("refusals counted: %d, want 6", got)
	}

	pk := h.OnSubscribe(pole, packets.Packet{Filters: packets.Subscriptions{{Filter: "cityarray/alerts/zone/z1"}}})
	if !pk.Filters[0].NoLocal {
		t.Error("subscription not marked no-local")
	}

	_, err = h.OnPublish(pole, packets.Packet{TopicName: "cityarray/devices/pole-1/status", Payload: []byte("x")})
	if !errors.Is(err, packets.CodeSuccessIgnore) {
		t.Errorf("OnPublish of a record: %v, want the unverified copy ignored", err)
	}
	srv := &mqtt.Client{ID: "server-2"}
	if _, err := h.OnPublish(srv, packets.Packet{TopicName: mqttlink.ReceiptsTopic("pole-1"), Payload: make([]byte, 32)}); err != nil {
		t.Errorf("OnPublish of receipts: %v, want it passed on", err)
	}

	a, c := net.Pipe()
	defer a.Close()
	defer c.Close()
	plain := &mqtt.Client{ID: "pole-1", Net: mqtt.ClientConnection{Conn: a}}
	if h.OnConnectAuthenticate(plain, packets.Packet{}) {
		t.Error("a client on a plain connection was admitted")
	}
}
