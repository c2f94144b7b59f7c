package mqttlink

import (
	"errors"
	"testing"

	"github.com/cityarray/cityarray/mesh/record"
)

func TestTopicFor(t *testing.T) {
	cmd := func(action string) *record.Command { return &record.Command{Action: action} }
	cases := []struct {
		kind  record.Kind
		scope record.Scope
		body  record.Body
		want  string // "" means an error
	}{
		{record.KindAlert, record.City, nil, "cityarray/alerts/broadcast"},
		{record.KindAlert, record.ZoneScope("z1"), nil, "cityarray/alerts/zone/z1"},
		{record.KindAlert, record.DeviceScope("pole-1"), nil, "cityarray/alerts/device/pole-1"},
		{record.KindUpdate, record.ZoneScope("z1"), nil, "cityarray/alerts/zone/z1"},
		{record.KindCancel, record.City, nil, "cityarray/alerts/broadcast"},
		{record.KindActivation, record.DeviceScope("pole-1"), nil, "cityarray/alerts/device/pole-1"},
		{record.KindProtocol, record.ZoneScope("z2"), nil, "cityarray/alerts/zone/z2"},
		{record.KindRevocation, record.City, nil, "cityarray/alerts/broadcast"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("test-pattern"), "cityarray/commands/pole-1/display"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("brightness"), "cityarray/commands/pole-1/display"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("volume"), "cityarray/commands/pole-1/audio"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("config"), "cityarray/commands/pole-1/config"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("reboot"), "cityarray/commands/pole-1/config"},
		{record.KindCommand, record.DeviceScope("pole-1"), cmd("dance"), ""},
		{record.KindCommand, record.ZoneScope("z1"), cmd("volume"), "cityarray/alerts/zone/z1"},
		{record.KindCommand, record.City, cmd("reboot"), "cityarray/alerts/broadcast"},
		{record.KindCommand, record.DeviceScope("pole-1"), &record.Alert{}, ""},
		{record.KindUpdateAnnouncement, record.City, nil, "cityarray/system/updates"},
		{record.KindUpdateAnnouncement, record.ZoneScope("z1"), nil, "cityarray/system/updates"},
		{record.KindAck, record.DeviceScope("pole-1"), nil, "cityarray/devices/pole-1/status"},
		{record.KindHealth, record.DeviceScope("gw-1"), nil, "cityarray/devices/gw-1/status"},
		{record.KindTelemetry, record.DeviceScope("pole-1"), nil, "cityarray/devices/pole-1/telemetry"},
		{record.KindAnomaly, record.DeviceScope("pole-1"), nil, "cityarray/devices/pole-1/detection"},
		{record.KindAck, record.ZoneScope("z1"), nil, ""},
		{record.KindAlert, record.Scope("zone:"), nil, ""},
		{record.KindAlert, record.Scope("zone:a/b"), nil, ""},
		{record.KindAlert, record.Scope("street:1"), nil, ""},
		{record.Kind(99), record.City, nil, ""},
	}
	for _, c := range cases {
		got, err := TopicFor(&record.Record{Kind: c.kind, Scope: c.scope, Body: c.body})
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s %s: got %q, want an error", c.kind, c.scope, got)
		case c.want == "" && !errors.Is(err, ErrTopic):
			t.Errorf("%s %s: error %v does not wrap ErrTopic", c.kind, c.scope, err)
		case c.want != "" && (err != nil || got != c.want):
			t.Errorf("%s %s: got %q, %v; want %q", c.kind, c.scope, got, err, c.want)
		}
		if c.want == "" {
			continue
		}
		p, err := ParseTopic(got)
		if err != nil || p.String() != got {
			t.Errorf("ParseTopic(%q) = %+v, %v; does not round-trip", got, p, err)
		}
	}
}

func TestParseTopic(t *testing.T) {
	good := map[string]Topic{
		"cityarray/alerts/broadcast":        {Kind: TopicAlertCity},
		"cityarray/alerts/zone/z1":          {Kind: TopicAlertZone, ID: "z1"},
		"cityarray/alerts/device/pole-1":    {Kind: TopicAlertDevice, ID: "pole-1"},
		"cityarray/devices/pole-1/status":   {Kind: TopicDevice, ID: "pole-1", Sub: "status"},
		"cityarray/devices/pole-1/receipts": {Kind: TopicDevice, ID: "pole-1", Sub: "receipts"},
		"cityarray/commands/pole-1/audio":   {Kind: TopicCommand, ID: "pole-1", Sub: "audio"},
		"cityarray/system/health":           {Kind: TopicHealth},
		"cityarray/system/updates":          {Kind: TopicUpdates},
	}
	for s, want := range good {
		got, err := ParseTopic(s)
		if err != nil || got != want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	if !good["cityarray/devices/pole-1/receipts"].IsReceipts() || good["cityarray/devices/pole-1/status"].IsReceipts() {
		t.Error("IsReceipts is wrong")
	}
	for _, s := range []string{
		"", "cityarray", "cityarray/", "cityarray/alerts", "cityarray/alerts/zone", "cityarray/alerts/zone/",
		"cityarray/alerts/zone/z1/x", "cityarray/alerts/zone/+", "cityarray/devices/pole-1/video",
		"cityarray/devices/-x/status", "cityarray/commands/pole-1/status", "cityarray/system/other",
		"other/alerts/broadcast", "cityarray/alerts/device/a b",
	} {
		if got, err := ParseTopic(s); err == nil {
			t.Errorf("ParseTopic(%q) = %+v, want an error", s, got)
		}
	}
}

// FuzzParseTopic checks that ParseTopic never panics, that what it
// accepts prints back as the same topic, and that the ACL agrees with it
// about device topics: a device may publish a topic only if it is one of
// its own device topics.
func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"cityarray/alerts/broadcast", "cityarray/devices/pole-1/status",
		"cityarray/commands/pole-1/#", "#", "cityarray/alerts/zone/+", "cityarray//x", "cityarray/devices/pole-1/receipts"} {
		f.Add(s)
	}
	dev := trustDevice("pole-1", "z1")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseTopic(s)
		if err == nil && p.String() != s {
			t.Fatalf("ParseTopic(%q) = %+v, prints as %q", s, p, p.String())
		}
		if Allowed(dev, s, true) {
			if err != nil || p.Kind != TopicDevice || p.ID != "pole-1" || p.IsReceipts() {
				t.Fatalf("device may publish %q (%+v, %v)", s, p, err)
			}
		}
		_ = Allowed(dev, s, false)
	})
}
