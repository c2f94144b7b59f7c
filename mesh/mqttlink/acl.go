package mqttlink

import (
	"strings"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// Grants returns the topic filters the holder of id may publish to
// (publish) or subscribe to (!publish): the ACL table of the package doc.
// A '+' level in a grant stands for any valid node id; '#' for anything
// below. Operators and the authorities get nothing: they may not connect.
func Grants(id trust.Identity, publish bool) []string {
	switch id.Role {
	case trust.RoleServer:
		return []string{"#"}
	case trust.RoleDevice:
		if publish {
			return []string{
				DeviceTopic(id.ID, SubStatus),
				DeviceTopic(id.ID, SubTelemetry),
				DeviceTopic(id.ID, SubDetection),
			}
		}
		return []string{
			TopicBroadcast,
			ZoneTopic(id.Zone),
			DeviceAlertTopic(id.ID),
			CommandTopic(id.ID, "#"),
			TopicSystemUpdates,
			ReceiptsTopic(id.ID),
		}
	case trust.RoleGateway:
		if publish {
			return []string{
				DeviceTopic("+", SubStatus),
				DeviceTopic("+", SubTelemetry),
				DeviceTopic("+", SubDetection),
				ZoneTopic(id.Zone),
				TopicSystemHealth,
			}
		}
		return []string{
			TopicBroadcast,
			ZoneTopic(id.Zone),
			DeviceAlertTopic("+"),
			CommandTopic("+", "#"),
			TopicSystemUpdates,
			ReceiptsTopic(id.ID),
		}
	}
	return nil
}

// Allowed reports whether the holder of id may publish to the topic
// filter (publish; then it must be a topic name, without wildcards) or
// subscribe to it. A wildcard filter is allowed only if every topic it
// can match is: a device asking for "#" or "cityarray/alerts/zone/+" is
// refused. Malformed filters are refused.
func Allowed(id trust.Identity, filter string, publish bool) bool {
	if !validFilter(filter, publish) {
		return false
	}
	for _, g := range Grants(id, publish) {
		if covers(g, filter) {
			return true
		}
	}
	return false
}

// SubscriptionsFor returns what a client link with identity id subscribes
// to by default: for a device or gateway, its whole read grant (the
// downlink topics and its receipts); for a server on an external broker,
// the uplink topics and gateway advisories.
func SubscriptionsFor(id trust.Identity) []string {
	switch id.Role {
	case trust.RoleDevice, trust.RoleGateway:
		return Grants(id, false)
	case trust.RoleServer:
		return []string{
			DeviceTopic("+", SubStatus),
			DeviceTopic("+", SubTelemetry),
			DeviceTopic("+", SubDetection),
			ZoneTopic("+"),
			TopicSystemHealth,
		}
	}
	return nil
}

// validFilter checks MQTT filter syntax: '#' only as the whole last
// level, '+' only as a whole level, neither in a topic name; no NUL; not
// empty.
func validFilter(f string, name bool) bool {
	if f == "" || len(f) > 65535 || strings.IndexByte(f, 0) >= 0 {
		return false
	}
	lv := strings.Split(f, "/")
	for i, l := range lv {
		if strings.ContainsAny(l, "+#") {
			if name || (l != "+" && l != "#") || (l == "#" && i != len(lv)-1) {
				return false
			}
		}
	}
	return true
}

// covers reports whether the grant g covers every topic the (valid)
// filter f can match.
func covers(g, f string) bool {
	gl, fl := strings.Split(g, "/"), strings.Split(f, "/")
	for i, p := range gl {
		if p == "#" {
			return true
		}
		if i >= len(fl) {
			return false
		}
		switch l := fl[i]; {
		case l == "#":
			return false
		case p == "+":
			if l != "+" && record.ValidateNodeID(l) != nil {
				return false
			}
		case l != p: // including l == "+" against a literal
			return false
		}
	}
	return len(fl) == len(gl)
}
