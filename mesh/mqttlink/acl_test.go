package mqttlink

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/trust"
)

// TestACL checks every role against every kind of topic and filter, for
// publish and subscribe. The pole is pole-1 in zone z1, the gateway gw-1
// in z1; pole-2 and z2 are someone else's.
func TestACL(t *testing.T) {
	var (
		device   = trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}
		gateway  = trust.Identity{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"}
		server   = trust.Identity{Role: trust.RoleServer, ID: "server-1"}
		operator = trust.Identity{Role: trust.RoleOperator, ID: "op-1"}
		ca       = trust.Identity{Role: trust.RoleCA, ID: "testville"}
	)
	type want struct{ devPub, devSub, gwPub, gwSub bool }
	const T, F = true, false
	table := []struct {
		topic string
		want  want
	}{
		{"cityarray/alerts/broadcast", want{F, T, F, T}},
		{"cityarray/alerts/zone/z1", want{F, T, T, T}},
		{"cityarray/alerts/zone/z2", want{F, F, F, F}},
		{"cityarray/alerts/zone/+", want{F, F, F, F}},
		{"cityarray/alerts/zone/z1/#", want{F, F, F, F}},
		{"cityarray/alerts/device/pole-1", want{F, T, F, T}},
		{"cityarray/alerts/device/pole-2", want{F, F, F, T}},
		{"cityarray/alerts/device/+", want{F, F, F, T}},
		{"cityarray/alerts/device/bad id", want{F, F, F, F}},
		{"cityarray/alerts/#", want{F, F, F, F}},
		{"cityarray/alerts/+", want{F, F, F, F}},
		{"cityarray/devices/pole-1/status", want{T, F, T, F}},
		{"cityarray/devices/pole-1/telemetry", want{T, F, T, F}},
		{"cityarray/devices/pole-1/detection", want{T, F, T, F}},
		{"cityarray/devices/pole-1/receipts", want{F, T, F, F}},
		{"cityarray/devices/pole-1/status/extra", want{F, F, F, F}},
		{"cityarray/devices/pole-1/#", want{F, F, F, F}},
		{"cityarray/devices/pole-1/+", want{F, F, F, F}},
		{"cityarray/devices/pole-2/status", want{F, F, T, F}},
		{"cityarray/devices/pole-2/telemetry", want{F, F, T, F}},
		{"cityarray/devices/pole-2/receipts", want{F, F, F, F}},
		{"cityarray/devices/gw-1/status", want{F, F, T, F}},
		{"cityarray/devices/gw-1/receipts", want{F, F, F, T}},
		{"cityarray/devices/+/status", want{F, F, F, F}},
		{"cityarray/devices/+/receipts", want{F, F, F, F}},
		{"cityarray/devices/#", want{F, F, F, F}},
		{"cityarray/commands/pole-1/display", want{F, T, F, T}},
		{"cityarray/commands/pole-1/audio", want{F, T, F, T}},
		{"cityarray/commands/pole-1/config", want{F, T, F, T}},
		{"cityarray/commands/pole-1/#", want{F, T, F, T}},
		{"cityarray/commands/pole-1/+", want{F, T, F, T}},
		{"cityarray/commands/pole-2/audio", want{F, F, F, T}},
		{"cityarray/commands/+/#", want{F, F, F, T}},
		{"cityarray/commands/+/config", want{F, F, F, T}},
		{"cityarray/commands/#", want{F, F, F, F}},
		{"cityarray/system/health", want{F, F, T, F}},
		{"cityarray/system/updates", want{F, T, F, T}},
		{"cityarray/system/+", want{F, F, F, F}},
		{"cityarray/system/#", want{F, F, F, F}},
		{"cityarray/#", want{F, F, F, F}},
		{"#", want{F, F, F, F}},
		{"+/alerts/broadcast", want{F, F, F, F}},
		{"$SYS/broker/uptime", want{F, F, F, F}},
		{"other/topic", want{F, F, F, F}},
		// Malformed: refused for everyone, the server included.
		{"", want{F, F, F, F}},
		{"cityarray/alerts/zone/z1#", want{F, F, F, F}},
		{"cityarray/#/broadcast", want{F, F, F, F}},
		{"cityarray/alerts/zone/z+", want{F, F, F, F}},
		{"cityarray/alerts/broadcast\x00", want{F, F, F, F}},
	}
	type got struct{ devPub, devSub, gwPub, gwSub, srvPub, srvSub, opPub, opSub, caPub, caSub bool }
	for _, c := range table {
		w := got{
			devPub: c.want.devPub, devSub: c.want.devSub, gwPub: c.want.gwPub, gwSub: c.want.gwSub,
			// A server may do anything well-formed; operators and CAs nothing.
			srvPub: validFilter(c.topic, true), srvSub: validFilter(c.topic, false),
		}
		g := got{
			devPub: Allowed(device, c.topic, true), devSub: Allowed(device, c.topic, false),
			gwPub: Allowed(gateway, c.topic, true), gwSub: Allowed(gateway, c.topic, false),
			srvPub: Allowed(server, c.topic, true), srvSub: Allowed(server, c.topic, false),
			opPub: Allowed(operator, c.topic, true), opSub: Allowed(operator, c.topic, false),
			caPub: Allowed(ca, c.topic, true), caSub: Allowed(ca, c.topic, false),
		}
		if diff := cmp.Diff(w, g, cmp.AllowUnexported(got{})); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.topic, diff)
		}
	}
}

// TestACLEveryRecordTopic checks that each role may publish the topics its
// own records go on, and that its default subscriptions are granted.
func TestACLDefaultSubscriptionsGranted(t *testing.T) {
	for _, id := range []trust.Identity{
		{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"},
		{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"},
		{Role: trust.RoleServer, ID: "server-1"},
	} {
		for _, f := range SubscriptionsFor(id) {
			if !Allowed(id, f, false) {
				t.Errorf("%s: default subscription %q is not granted", id, f)
			}
		}
	}
}
