package mqttlink

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cityarray/cityarray/mesh/record"
)

// The topic tree (DESIGN §5 and the package doc). Every topic starts with
// Prefix; ids and zones are record.ValidateNodeID ids, so they never hold
// a '/', '+' or '#'.
const (
	Prefix = "cityarray/"

	TopicBroadcast     = Prefix + "alerts/broadcast"
	TopicSystemHealth  = Prefix + "system/health"
	TopicSystemUpdates = Prefix + "system/updates"
)

// The last level of a device topic (cityarray/devices/{id}/…) and of a
// command topic (cityarray/commands/{id}/…).
const (
	SubStatus    = "status"    // acks and health
	SubTelemetry = "telemetry" // aggregate counts
	SubDetection = "detection" // anomalies
	SubReceipts  = "receipts"  // ids of records the receiver holds (see the package doc)

	SubDisplay = "display" // test pattern, brightness
	SubAudio   = "audio"   // volume
	SubConfig  = "config"  // config documents, reboot
)

// ErrTopic is wrapped by every topic error.
var ErrTopic = errors.New("mqttlink: topic")

// ZoneTopic returns cityarray/alerts/zone/{zone}.
func ZoneTopic(zone string) string { return Prefix + "alerts/zone/" + zone }

// DeviceAlertTopic returns cityarray/alerts/device/{id}.
func DeviceAlertTopic(id string) string { return Prefix + "alerts/device/" + id }

// DeviceTopic returns cityarray/devices/{id}/{sub}.
func DeviceTopic(id, sub string) string { return Prefix + "devices/" + id + "/" + sub }

// CommandTopic returns cityarray/commands/{id}/{sub}.
func CommandTopic(id, sub string) string { return Prefix + "commands/" + id + "/" + sub }

// ReceiptsTopic returns cityarray/devices/{id}/receipts, where the node id
// receives the receipts for what it published.
func ReceiptsTopic(id string) string { return DeviceTopic(id, SubReceipts) }

// uplinkSub is the device topic level an uplink kind travels on.
func uplinkSub(k record.Kind) string {
	switch k {
	case record.KindAck, record.KindHealth:
		return SubStatus
	case record.KindTelemetry:
		return SubTelemetry
	case record.KindAnomaly:
		return SubDetection
	}
	return ""
}

// CommandSub returns the command topic level for a command action:
// display for test-pattern and brightness, audio for volume, config for
// config and reboot.
func CommandSub(action string) (string, error) {
	switch action {
	case "test-pattern", "brightness":
		return SubDisplay, nil
	case "volume":
		return SubAudio, nil
	case "config", "reboot":
		return SubConfig, nil
	}
	return "", fmt.Errorf("%w: command action %q has no topic", ErrTopic, action)
}

// TopicFor returns the topic a record is published on (see the package
// doc for the table). Uplink kinds go on the device topics of the device
// their scope names, which the tier table makes their signer.
func TopicFor(r *record.Record) (string, error) {
	sk, id := r.Scope.Split()
	if sk == record.ScopeInvalid || (sk != record.ScopeCity && record.ValidateNodeID(id) != nil) {
		return "", fmt.Errorf("%w: record %s: bad scope %q", ErrTopic, r.ID().Short(), r.Scope)
	}
	scoped := func() string {
		switch sk {
		case record.ScopeZone:
			return ZoneTopic(id)
		case record.ScopeDevice:
			return DeviceAlertTopic(id)
		}
		return TopicBroadcast
	}
	switch r.Kind {
	case record.KindAlert, record.KindUpdate, record.KindCancel, record.KindActivation,
		record.KindProtocol, record.KindRevocation:
		return scoped(), nil
	case record.KindCommand:
		c, ok := r.Body.(*record.Command)
		if !ok {
			return "", fmt.Errorf("%w: command %s has a %T body", ErrTopic, r.ID().Short(), r.Body)
		}
		if sk != record.ScopeDevice {
			// A command for a zone or the whole city goes where every
			// device it is for listens: the alert topic of its scope.
			return scoped(), nil
		}
		sub, err := CommandSub(c.Action)
		if err != nil {
			return "", err
		}
		return CommandTopic(id, sub), nil
	case record.KindUpdateAnnouncement:
		return TopicSystemUpdates, nil
	case record.KindAck, record.KindHealth, record.KindTelemetry, record.KindAnomaly:
		if sk != record.ScopeDevice {
			return "", fmt.Errorf("%w: %s %s has scope %s, want device:<id>", ErrTopic, r.Kind, r.ID().Short(), r.Scope)
		}
		return DeviceTopic(id, uplinkSub(r.Kind)), nil
	}
	return "", fmt.Errorf("%w: record %s: kind %s has no topic", ErrTopic, r.ID().Short(), r.Kind)
}

// TopicKind is the branch of the topic tree a topic is on.
type TopicKind uint8

// Topic kinds.
const (
	TopicInvalid     TopicKind = iota
	TopicAlertCity             // cityarray/alerts/broadcast
	TopicAlertZone             // cityarray/alerts/zone/{zone}
	TopicAlertDevice           // cityarray/alerts/device/{id}
	TopicDevice                // cityarray/devices/{id}/{status|telemetry|detection|receipts}
	TopicCommand               // cityarray/commands/{id}/{display|audio|config}
	TopicHealth                // cityarray/system/health
	TopicUpdates               // cityarray/system/updates
)

// Topic is a parsed topic name.
type Topic struct {
	Kind TopicKind
	ID   string // the zone or device id, for the kinds that have one
	Sub  string // the last level, for device and command topics
}

// IsReceipts reports whether t is a receipts topic.
func (t Topic) IsReceipts() bool { return t.Kind == TopicDevice && t.Sub == SubReceipts }

// String returns the topic name.
func (t Topic) String() string {
	switch t.Kind {
	case TopicAlertCity:
		return TopicBroadcast
	case TopicAlertZone:
		return ZoneTopic(t.ID)
	case TopicAlertDevice:
		return DeviceAlertTopic(t.ID)
	case TopicDevice:
		return DeviceTopic(t.ID, t.Sub)
	case TopicCommand:
		return CommandTopic(t.ID, t.Sub)
	case TopicHealth:
		return TopicSystemHealth
	case TopicUpdates:
		return TopicSystemUpdates
	}
	return ""
}

// ParseTopic parses a topic name (no wildcards) of the tree. Anything
// else, including a topic with an id that is not a valid node id, is an
// error.
func ParseTopic(s string) (Topic, error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q is not under %s", ErrTopic, s, Prefix)
	}
	lv := strings.Split(rest, "/")
	bad := func() (Topic, error) { return Topic{}, fmt.Errorf("%w: %q is not in the topic tree", ErrTopic, s) }
	withID := func(k TopicKind, id, sub string) (Topic, error) {
		if err := record.ValidateNodeID(id); err != nil {
			return Topic{}, fmt.Errorf("%w: %q: %v", ErrTopic, s, err)
		}
		return Topic{Kind: k, ID: id, Sub: sub}, nil
	}
	switch {
	case len(lv) == 2 && lv[0] == "alerts" && lv[1] == "broadcast":
		return Topic{Kind: TopicAlertCity}, nil
	case len(lv) == 3 && lv[0] == "alerts" && lv[1] == "zone":
		return withID(TopicAlertZone, lv[2], "")
	case len(lv) == 3 && lv[0] == "alerts" && lv[1] == "device":
		return withID(TopicAlertDevice, lv[2], "")
	case len(lv) == 3 && lv[0] == "devices":
		switch lv[2] {
		case SubStatus, SubTelemetry, SubDetection, SubReceipts:
			return withID(TopicDevice, lv[1], lv[2])
		}
	case len(lv) == 3 && lv[0] == "commands":
		switch lv[2] {
		case SubDisplay, SubAudio, SubConfig:
			return withID(TopicCommand, lv[1], lv[2])
		}
	case len(lv) == 2 && lv[0] == "system" && lv[1] == "health":
		return Topic{Kind: TopicHealth}, nil
	case len(lv) == 2 && lv[0] == "system" && lv[1] == "updates":
		return Topic{Kind: TopicUpdates}, nil
	}
	return bad()
}
