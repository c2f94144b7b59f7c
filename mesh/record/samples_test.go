package record

import (
	"fmt"
	"time"
)

// languages are the 15 languages of the size benchmark.
var languages = []string{"en", "es", "zh-Hant", "vi", "tl", "ko", "ru", "ar", "fa", "hi", "pa", "ja", "fr", "pt", "so"}

func sampleProtocol(n int) *Protocol {
	p := &Protocol{
		Template: "flood-evacuation", Params: []string{"shelter"},
		Texts:    map[string]AlertText{},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Likely", Category: "Met", Icon: "flood",
		AutoTier: TierAdvisory,
		Triggers: []Trigger{{Event: "water-level", Min: 3, Window: 600}},
		Actions:  []Action{{Do: "display"}, {Do: "speak"}, {Do: "tone", Arg: "alert-1"}},
	}
	for _, l := range languages[:n] {
		p.Texts[l] = AlertText{
			Short: fmt.Sprintf("[%s] Flood: go to {shelter} now", l),
			Long:  fmt.Sprintf("[%s] The river is flooding. Leave low ground and go to {shelter} now. Take medicines and documents. Do not walk or drive through water; 15 cm of moving water can knock you down.", l),
			Speak: fmt.Sprintf("[%s] Flood. Go to {shelter} now.", l),
		}
	}
	return p
}

// sampleRecords has one valid record of every kind.
func sampleRecords() []*Record {
	at := Millis(t0.UnixMilli())
	env := func(k Kind, tier Tier, scope Scope, origin string, b Body) *Record {
		return &Record{Kind: k, Tier: tier, Scope: scope, Issued: t0, Expires: t0.Add(time.Hour), Origin: origin, Seq: 42, Body: b}
	}
	target := ID{1, 2, 3}
	upd := env(KindUpdate, TierWarning, ZoneScope("z1"), "server-1", warningAlert().Body)
	upd.Supersedes = []ID{target}
	cancel := env(KindCancel, TierWarning, ZoneScope("z1"), "server-1", &Cancel{Reason: "all clear"})
	cancel.Supersedes = []ID{target, {4}}
	return []*Record{
		warningAlert(),
		env(KindProtocol, TierWarning, City, "server-1", sampleProtocol(2)),
		env(KindActivation, TierWarning, ZoneScope("z1"), "server-1", &Activation{Protocol: target, Params: map[string]string{"shelter": "Lincoln High School"}}),
		cancel,
		upd,
		env(KindAck, TierInformational, DeviceScope("pole-0042"), "pole-0042", &Ack{Record: target, Device: "pole-0042", State: AckFailed, Reason: "speaker fault", At: at}),
		env(KindHealth, TierInformational, DeviceScope("pole-0042"), "pole-0042", &Health{Uptime: 86400, CPUTemp: 51200, Throttled: 0x50000, FreeBytes: 1 << 30, Rung: "mesh", LastUpstream: at, CacheAge: 60, OutboxDepth: 3, Version: "1.0.0"}),
		env(KindTelemetry, TierInformational, DeviceScope("pole-0042"), "pole-0042", &Telemetry{From: at - 60000, To: at, Counts: map[string]uint32{"person": 12, "bicycle": 2}, Occupancy: 250}),
		env(KindAnomaly, TierInformational, DeviceScope("pole-0042"), "pole-0042", &Anomaly{Class: "crowd-surge", Score: 870, Detail: "count tripled in 30 s", At: at}),
		env(KindCommand, TierWarning, DeviceScope("pole-0042"), "server-1", &Command{Action: "brightness", Value: 40}),
		env(KindRevocation, TierWarning, City, "city-ca", &Revocation{Serials: [][]byte{{0x01, 0x02}, {0x7f}}, Reason: "stolen pole"}),
		env(KindUpdateAnnouncement, TierWarning, City, "server-1", &UpdateAnnouncement{Version: "1.2.0", Channel: "stable", URL: "https://updates.example/1.2.0", SHA256: make32(), Size: 123456}),
	}
}

func make32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
