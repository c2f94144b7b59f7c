package record

import "fmt"

// Kind is what a record is. Its number is the wire encoding; never reuse one.
type Kind uint8

// The kinds of record.
const (
	KindAlert              Kind = 1  // a message to show and speak: body *Alert
	KindProtocol           Kind = 2  // a pre-approved template: body *Protocol
	KindActivation         Kind = 3  // turn a cached protocol on: body *Activation
	KindCancel             Kind = 4  // withdraw the records it supersedes: body *Cancel
	KindUpdate             Kind = 5  // replace the records it supersedes: body *Alert
	KindAck                Kind = 6  // a device's delivery report: body *Ack
	KindHealth             Kind = 7  // a node's health: body *Health
	KindTelemetry          Kind = 8  // aggregate counts: body *Telemetry
	KindAnomaly            Kind = 9  // something unusual seen: body *Anomaly
	KindCommand            Kind = 10 // display, audio or config command: body *Command
	KindRevocation         Kind = 11 // certificate serials no longer trusted: body *Revocation
	KindUpdateAnnouncement Kind = 12 // new firmware available: body *UpdateAnnouncement
)

var kindNames = [...]string{
	KindAlert:              "alert",
	KindProtocol:           "protocol",
	KindActivation:         "activation",
	KindCancel:             "cancel",
	KindUpdate:             "update",
	KindAck:                "ack",
	KindHealth:             "health",
	KindTelemetry:          "telemetry",
	KindAnomaly:            "anomaly",
	KindCommand:            "command",
	KindRevocation:         "revocation",
	KindUpdateAnnouncement: "update-announcement",
}

// Kinds lists every kind in wire order.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(kindNames)-1)
	for k := KindAlert; int(k) < len(kindNames); k++ {
		ks = append(ks, k)
	}
	return ks
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k > 0 && int(k) < len(kindNames) }

// String returns the kind's name, as used in JSON and on the command line.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownKind, s, Kinds())
}

// MarshalText encodes the kind's name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(b []byte) (err error) {
	*k, err = ParseKind(string(b))
	return err
}

// Displayable reports whether records of this kind can put something on a
// display: alerts, updates and activations.
func (k Kind) Displayable() bool {
	return k == KindAlert || k == KindUpdate || k == KindActivation
}

// Uplink reports whether records of this kind travel from a device up to
// its gateway and the server (acks, health, telemetry, anomalies) rather
// than down and across the mesh. The mesh does not replicate them: a node
// keeps the ones it must deliver or relay, and gossip anti-entropy leaves
// them out, so a city's acks are not copied onto every pole.
func (k Kind) Uplink() bool {
	switch k {
	case KindAck, KindHealth, KindTelemetry, KindAnomaly:
		return true
	}
	return false
}

// Tier is how much a record matters and so who may sign it (DESIGN §4).
// Higher tiers outrank lower ones; the number is the wire encoding.
type Tier uint8

// The trust tiers, lowest first.
const (
	TierInformational Tier = 1 // signed by the device itself, for itself
	TierAdvisory      Tier = 2 // signed by a zone gateway, for its zone
	TierWarning       Tier = 3 // signed by the control server
	TierEmergency     Tier = 4 // signed by the server and an officer
	TierIPAWS         Tier = 5 // a FEMA CAP alert re-signed by the server
)

var tierNames = [...]string{
	TierInformational: "informational",
	TierAdvisory:      "advisory",
	TierWarning:       "warning",
	TierEmergency:     "emergency",
	TierIPAWS:         "ipaws",
}

// Tiers lists every tier, lowest first.
func Tiers() []Tier {
	return []Tier{TierInformational, TierAdvisory, TierWarning, TierEmergency, TierIPAWS}
}

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t > 0 && int(t) < len(tierNames) }

// String returns the tier's name.
func (t Tier) String() string {
	if t.Valid() {
		return tierNames[t]
	}
	return fmt.Sprintf("tier(%d)", uint8(t))
}

// ParseTier returns the tier named s.
func ParseTier(s string) (Tier, error) {
	for _, t := range Tiers() {
		if tierNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownTier, s, Tiers())
}

// MarshalText encodes the tier's name.
func (t Tier) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownTier, uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText decodes a tier's name.
func (t *Tier) UnmarshalText(b []byte) (err error) {
	*t, err = ParseTier(string(b))
	return err
}
