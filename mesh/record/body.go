package record

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Text limits, from the Wireless Emergency Alerts rules: a short form fits
// 90 characters and a long form 360 (characters, not bytes).
const (
	MaxShortText = 90
	MaxLongText  = 360
	maxSpeakText = 1000 // text to speak may spell out what the display shortens
	maxLanguages = 32
	maxName      = 64   // ids, template names, classes
	maxReason    = 256  // free-text reasons
	maxParam     = 256  // one activation parameter value
	maxConfig    = 8192 // a config document in a command
)

// Body is the kind-specific part of a record. Each kind has exactly one body
// type, named in the Kind constants.
type Body interface {
	// kind is the record kind the body belongs to.
	kind() Kind
	// validate reports the first problem with the body.
	validate() error
}

// newBody returns an empty body for kind k (for update, an *Alert).
func newBody(k Kind) Body {
	switch k {
	case KindAlert, KindUpdate:
		return new(Alert)
	case KindProtocol:
		return new(Protocol)
	case KindActivation:
		return new(Activation)
	case KindCancel:
		return new(Cancel)
	case KindAck:
		return new(Ack)
	case KindHealth:
		return new(Health)
	case KindTelemetry:
		return new(Telemetry)
	case KindAnomaly:
		return new(Anomaly)
	case KindCommand:
		return new(Command)
	case KindRevocation:
		return new(Revocation)
	case KindUpdateAnnouncement:
		return new(UpdateAnnouncement)
	}
	return nil
}

// NewBody returns an empty body for kind k, to fill from JSON or code.
func NewBody(k Kind) (Body, error) {
	b := newBody(k)
	if b == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(k))
	}
	return b, nil
}

// Millis is a point in time as Unix milliseconds, the wire form of times
// inside bodies. JSON shows it as RFC 3339.
type Millis int64

// MillisOf converts t.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time converts m.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// MarshalText encodes m as RFC 3339 with milliseconds.
func (m Millis) MarshalText() ([]byte, error) {
	return []byte(m.Time().Format("2006-01-02T15:04:05.000Z07:00")), nil
}

// UnmarshalText decodes an RFC 3339 time.
func (m *Millis) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	*m = MillisOf(t)
	return nil
}

// AlertText is an alert in one language.
type AlertText struct {
	Short string `cbor:"1,keyasint" json:"short"`                     // ≤ 90 characters
	Long  string `cbor:"2,keyasint,omitempty" json:"long,omitempty"`  // ≤ 360 characters
	Speak string `cbor:"3,keyasint,omitempty" json:"speak,omitempty"` // what the speaker says
}

// CAP enumerations (OASIS CAP 1.2 §3.2.2), kept as their CAP spelling.
var (
	severities  = []string{"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
	urgencies   = []string{"Immediate", "Expected", "Future", "Past", "Unknown"}
	certainties = []string{"Observed", "Likely", "Possible", "Unlikely", "Unknown"}
	categories  = []string{"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"}
)

// Severities returns the values Alert.Severity takes, in CAP's order (a
// new slice each call; so do the three below).
func Severities() []string { return slices.Clone(severities) }

// Urgencies returns the values Alert.Urgency takes.
func Urgencies() []string { return slices.Clone(urgencies) }

// Certainties returns the values Alert.Certainty takes.
func Certainties() []string { return slices.Clone(certainties) }

// Categories returns the values Alert.Category takes.
func Categories() []string { return slices.Clone(categories) }

// Alert is the body of an alert or an update: the message in each language
// and its CAP classification.
type Alert struct {
	Texts     map[string]AlertText `cbor:"1,keyasint" json:"texts"` // by BCP 47 tag
	Severity  string               `cbor:"2,keyasint" json:"severity"`
	Urgency   string               `cbor:"3,keyasint" json:"urgency"`
	Certainty string               `cbor:"4,keyasint" json:"certainty"`
	Category  string               `cbor:"5,keyasint" json:"category"`
	Icon      string               `cbor:"6,keyasint,omitempty" json:"icon,omitempty"` // icon id
	// Status is the CAP status: empty for Actual, or Exercise, System or
	// Test, which displays mark clearly as a test.
	Status string `cbor:"7,keyasint,omitempty" json:"status,omitempty"`
}

// Headline is the alert's short text in English, else in its language
// first in sort order; empty if it has none.
func (a *Alert) Headline() string {
	if a == nil || len(a.Texts) == 0 {
		return ""
	}
	if t, ok := a.Texts["en"]; ok {
		return t.Short
	}
	return a.Texts[slices.Min(slices.Collect(maps.Keys(a.Texts)))].Short
}

// IsTest reports whether the alert is an exercise, a system message or a
// test, not a real alert: a display marks it so.
func (a *Alert) IsTest() bool { return a.Status != "" }

// statuses are the CAP statuses an alert may carry besides Actual (CAP's
// Draft is never published).
var statuses = []string{"Exercise", "System", "Test"}

func (*Alert) kind() Kind { return KindAlert }

func (a *Alert) validate() error {
	if err := validateTexts(a.Texts, nil); err != nil {
		return err
	}
	if a.Status != "" && !oneOf(a.Status, statuses) {
		return fmt.Errorf("%w: status %q (want one of %s, or none for Actual)", ErrBadBody, a.Status, strings.Join(statuses, ", "))
	}
	return validateCAP(a.Severity, a.Urgency, a.Certainty, a.Category, a.Icon)
}

// Protocol is a pre-approved alert template: texts in many languages with
// named parameters written {name}, distributed ahead of time and cached, so
// that a small activation can turn it on. Triggers and actions let a pole
// activate it itself on a local detection while offline, at most at
// AutoTier (never emergency).
type Protocol struct {
	Template  string               `cbor:"1,keyasint" json:"template"`
	Params    []string             `cbor:"2,keyasint,omitempty" json:"params,omitempty"`
	Texts     map[string]AlertText `cbor:"3,keyasint" json:"texts"`
	Severity  string               `cbor:"4,keyasint" json:"severity"`
	Urgency   string               `cbor:"5,keyasint" json:"urgency"`
	Certainty string               `cbor:"6,keyasint" json:"certainty"`
	Category  string               `cbor:"7,keyasint" json:"category"`
	Icon      string               `cbor:"8,keyasint,omitempty" json:"icon,omitempty"`
	AutoTier  Tier                 `cbor:"9,keyasint,omitempty" json:"auto_tier,omitempty"`
	Triggers  []Trigger            `cbor:"10,keyasint,omitempty" json:"triggers,omitempty"`
	Actions   []Action             `cbor:"11,keyasint,omitempty" json:"actions,omitempty"`
}

// Trigger is a local condition that may activate a protocol: at least Min
// detections of Event within Window seconds.
type Trigger struct {
	Event  string `cbor:"1,keyasint" json:"event"`
	Min    uint32 `cbor:"2,keyasint,omitempty" json:"min,omitempty"`
	Window uint32 `cbor:"3,keyasint,omitempty" json:"window,omitempty"`
}

// Action is one step a protocol's activation performs, in order.
type Action struct {
	Do  string `cbor:"1,keyasint" json:"do"` // display, speak, tone, flash
	Arg string `cbor:"2,keyasint,omitempty" json:"arg,omitempty"`
}

var actions = []string{"display", "speak", "tone", "flash"}

func (*Protocol) kind() Kind { return KindProtocol }

func (p *Protocol) validate() error {
	if err := validateName("template", p.Template); err != nil {
		return err
	}
	declared := make(map[string]bool, len(p.Params))
	for _, name := range p.Params {
		if err := validateName("param", name); err != nil {
			return err
		}
		if declared[name] {
			return fmt.Errorf("%w: param %q declared twice", ErrBadBody, name)
		}
		declared[name] = true
	}
	if err := validateTexts(p.Texts, declared); err != nil {
		return err
	}
	if err := validateCAP(p.Severity, p.Urgency, p.Certainty, p.Category, p.Icon); err != nil {
		return err
	}
	if p.AutoTier != 0 && (!p.AutoTier.Valid() || p.AutoTier >= TierEmergency) {
		return fmt.Errorf("%w: auto_tier %s: a pole may self-activate at most at warning", ErrBadBody, p.AutoTier)
	}
	if len(p.Triggers) > 16 || len(p.Actions) > 16 {
		return fmt.Errorf("%w: more than 16 triggers or actions", ErrBadBody)
	}
	for _, t := range p.Triggers {
		if err := validateName("trigger event", t.Event); err != nil {
			return err
		}
	}
	for _, a := range p.Actions {
		if !oneOf(a.Do, actions) {
			return fmt.Errorf("%w: action %q (want one of %v)", ErrBadBody, a.Do, actions)
		}
		if err := validateFree("action arg", a.Arg, maxParam); err != nil {
			return err
		}
	}
	return nil
}

// Activation turns a cached protocol on for the record's scope until the
// record expires.
type Activation struct {
	Protocol ID                `cbor:"1,keyasint" json:"protocol"`
	Params   map[string]string `cbor:"2,keyasint,omitempty" json:"params,omitempty"`
}

func (*Activation) kind() Kind { return KindActivation }

func (a *Activation) validate() error {
	if a.Protocol.IsZero() {
		return fmt.Errorf("%w: activation names no protocol", ErrBadBody)
	}
	if len(a.Params) > 32 {
		return fmt.Errorf("%w: %d params, at most 32", ErrBadBody, len(a.Params))
	}
	for k, v := range a.Params {
		if err := validateName("param", k); err != nil {
			return err
		}
		if v == "" {
			return fmt.Errorf("%w: param %q is empty: leave it out", ErrBadBody, k)
		}
		if err := validateFree("param "+k, v, maxParam); err != nil {
			return err
		}
	}
	return nil
}

// Cancel withdraws the records named in the envelope's Supersedes.
type Cancel struct {
	Reason string `cbor:"1,keyasint,omitempty" json:"reason,omitempty"`
}

func (*Cancel) kind() Kind { return KindCancel }

func (c *Cancel) validate() error { return validateFree("reason", c.Reason, maxReason) }

// AckState is what a device reports about a record. Every state implies
// AckReceived: a device that shows (or fails to show) a record as it
// receives it sends that state alone.
type AckState uint8

// Ack states.
const (
	AckReceived  AckState = 1
	AckDisplayed AckState = 2
	AckPlayed    AckState = 3
	AckFailed    AckState = 4 // with a reason
)

var ackStateNames = [...]string{AckReceived: "received", AckDisplayed: "displayed", AckPlayed: "played", AckFailed: "failed"}

// String returns the state's name.
func (s AckState) String() string {
	if s > 0 && int(s) < len(ackStateNames) {
		return ackStateNames[s]
	}
	return fmt.Sprintf("ack-state(%d)", uint8(s))
}

// MarshalText encodes the state's name.
func (s AckState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state's name.
func (s *AckState) UnmarshalText(b []byte) error {
	for i, n := range ackStateNames {
		if i > 0 && n == string(b) {
			*s = AckState(i)
			return nil
		}
	}
	return fmt.Errorf("%w: ack state %q", ErrBadBody, b)
}

// Ack is a device's report on one record.
type Ack struct {
	Record ID       `cbor:"1,keyasint" json:"record"`
	Device string   `cbor:"2,keyasint" json:"device"`
	State  AckState `cbor:"3,keyasint" json:"state"`
	Reason string   `cbor:"4,keyasint,omitempty" json:"reason,omitempty"` // for failed
	At     Millis   `cbor:"5,keyasint" json:"at"`
}

func (*Ack) kind() Kind { return KindAck }

func (a *Ack) validate() error {
	if a.Record.IsZero() {
		return fmt.Errorf("%w: ack names no record", ErrBadBody)
	}
	if err := ValidateNodeID(a.Device); err != nil {
		return fmt.Errorf("%w: ack device: %v", ErrBadBody, err)
	}
	if a.State < AckReceived || a.State > AckFailed {
		return fmt.Errorf("%w: ack state %d", ErrBadBody, a.State)
	}
	if (a.State == AckFailed) != (a.Reason != "") {
		return fmt.Errorf("%w: ack: a reason is required for failed and only for failed", ErrBadBody)
	}
	if a.At <= 0 {
		return fmt.Errorf("%w: ack has no time", ErrBadBody)
	}
	return validateFree("reason", a.Reason, maxReason)
}

// Rungs of the edge connectivity ladder (DESIGN §5), best first.
var rungs = []string{"ethernet", "wifi", "mesh", "lora", "cellular", "offline"}

// Health is a node's periodic health report.
type Health struct {
	Uptime       uint64 `cbor:"1,keyasint,omitempty" json:"uptime_s"`
	CPUTemp      int32  `cbor:"2,keyasint,omitempty" json:"cpu_temp_mc,omitempty"` // milli °C
	Throttled    uint32 `cbor:"3,keyasint,omitempty" json:"throttled,omitempty"`   // firmware get_throttled bits
	FreeBytes    uint64 `cbor:"4,keyasint,omitempty" json:"free_bytes,omitempty"`
	Rung         string `cbor:"5,keyasint" json:"rung"`
	LastUpstream Millis `cbor:"6,keyasint,omitempty" json:"last_upstream,omitempty"`
	CacheAge     uint32 `cbor:"7,keyasint,omitempty" json:"cache_age_s,omitempty"`
	OutboxDepth  uint32 `cbor:"8,keyasint,omitempty" json:"outbox_depth,omitempty"`
	Version      string `cbor:"9,keyasint,omitempty" json:"version,omitempty"`
	// Displayed is the record on the display (zero: informational content
	// or nothing).
	Displayed ID `cbor:"10,keyasint,omitempty" json:"displayed,omitzero"`
	// Faults are what does not work and what the node does instead
	// ("display: no panel", "speech: no voice for tl, spoke en").
	Faults []string `cbor:"11,keyasint,omitempty" json:"faults,omitempty"`
	// Refused counts the records and commands the node refused since it
	// started (unsigned, out of scope, forged).
	Refused uint32 `cbor:"12,keyasint,omitempty" json:"refused,omitempty"`
	// CacheDigest summarises the records the node holds for its scope
	// (show.Digest), so that its gateway can tell whether they agree.
	CacheDigest []byte `cbor:"13,keyasint,omitempty" json:"cache_digest,omitempty"`
}

// maxFaults bounds Health.Faults.
const maxFaults = 16

func (*Health) kind() Kind { return KindHealth }

func (h *Health) validate() error {
	if !oneOf(h.Rung, rungs) {
		return fmt.Errorf("%w: health rung %q (want one of %v)", ErrBadBody, h.Rung, rungs)
	}
	if len(h.CacheDigest) != 0 && len(h.CacheDigest) != 16 {
		return fmt.Errorf("%w: cache digest of %d bytes, want 16", ErrBadBody, len(h.CacheDigest))
	}
	if len(h.Faults) > maxFaults {
		return fmt.Errorf("%w: %d faults, at most %d", ErrBadBody, len(h.Faults), maxFaults)
	}
	for _, f := range h.Faults {
		if f == "" {
			return fmt.Errorf("%w: an empty fault", ErrBadBody)
		}
		if err := validateFree("fault", f, maxReason); err != nil {
			return err
		}
	}
	return validateFree("version", h.Version, maxName)
}

// Telemetry is an aggregate of local detections over a window: counts by
// class, never images or audio.
type Telemetry struct {
	From      Millis            `cbor:"1,keyasint" json:"from"`
	To        Millis            `cbor:"2,keyasint" json:"to"`
	Counts    map[string]uint32 `cbor:"3,keyasint,omitempty" json:"counts,omitempty"`
	Occupancy uint16            `cbor:"4,keyasint,omitempty" json:"occupancy_permille,omitempty"`
}

func (*Telemetry) kind() Kind { return KindTelemetry }

func (t *Telemetry) validate() error {
	if t.From <= 0 || t.To < t.From {
		return fmt.Errorf("%w: telemetry window %d..%d", ErrBadBody, t.From, t.To)
	}
	if t.Occupancy > 1000 {
		return fmt.Errorf("%w: occupancy %d‰ over 1000", ErrBadBody, t.Occupancy)
	}
	if len(t.Counts) > 64 {
		return fmt.Errorf("%w: %d count classes, at most 64", ErrBadBody, len(t.Counts))
	}
	for k, n := range t.Counts {
		if err := validateName("class", k); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: count of %q is 0: leave zero counts out", ErrBadBody, k)
		}
	}
	return nil
}

// Anomaly reports something unusual a node saw.
type Anomaly struct {
	Class  string `cbor:"1,keyasint" json:"class"`
	Score  uint16 `cbor:"2,keyasint,omitempty" json:"score_permille,omitempty"`
	Detail string `cbor:"3,keyasint,omitempty" json:"detail,omitempty"`
	At     Millis `cbor:"4,keyasint" json:"at"`
}

func (*Anomaly) kind() Kind { return KindAnomaly }

func (a *Anomaly) validate() error {
	if err := validateName("class", a.Class); err != nil {
		return err
	}
	if a.Score > 1000 || a.At <= 0 {
		return fmt.Errorf("%w: anomaly score %d‰ or time %d out of range", ErrBadBody, a.Score, a.At)
	}
	return validateFree("detail", a.Detail, maxReason)
}

var commandActions = []string{"test-pattern", "brightness", "volume", "config", "reboot"}

// Command tells devices to do something: show a test pattern, set
// brightness or volume (Value, 0–100), apply a config document.
type Command struct {
	Action string `cbor:"1,keyasint" json:"action"`
	Value  int32  `cbor:"2,keyasint,omitempty" json:"value,omitempty"`
	Config []byte `cbor:"3,keyasint,omitempty" json:"config,omitempty"`
}

func (*Command) kind() Kind { return KindCommand }

func (c *Command) validate() error {
	if !oneOf(c.Action, commandActions) {
		return fmt.Errorf("%w: command %q (want one of %v)", ErrBadBody, c.Action, commandActions)
	}
	if c.Value < 0 || c.Value > 100 {
		return fmt.Errorf("%w: command value %d outside 0–100", ErrBadBody, c.Value)
	}
	if (c.Action == "config") != (len(c.Config) > 0) || len(c.Config) > maxConfig {
		return fmt.Errorf("%w: a config document (≤ %d bytes) is required for config and only for config", ErrBadBody, maxConfig)
	}
	return nil
}

// Revocation lists certificate serials (big-endian, unsigned) that are no
// longer trusted. Only the city CA may sign one.
type Revocation struct {
	Serials [][]byte `cbor:"1,keyasint" json:"serials"`
	Reason  string   `cbor:"2,keyasint,omitempty" json:"reason,omitempty"`
}

func (*Revocation) kind() Kind { return KindRevocation }

func (r *Revocation) validate() error {
	if len(r.Serials) == 0 || len(r.Serials) > 1024 {
		return fmt.Errorf("%w: revocation lists %d serials (want 1–1024)", ErrBadBody, len(r.Serials))
	}
	for _, s := range r.Serials {
		if len(s) == 0 || len(s) > 20 || s[0] == 0 {
			return fmt.Errorf("%w: serial %x: want 1–20 bytes, no leading zero", ErrBadBody, s)
		}
	}
	return validateFree("reason", r.Reason, maxReason)
}

// UpdateAnnouncement tells devices that firmware Version is available.
type UpdateAnnouncement struct {
	Version string `cbor:"1,keyasint" json:"version"`
	Channel string `cbor:"2,keyasint,omitempty" json:"channel,omitempty"`
	URL     string `cbor:"3,keyasint,omitempty" json:"url,omitempty"`
	SHA256  []byte `cbor:"4,keyasint" json:"sha256"`
	Size    uint64 `cbor:"5,keyasint" json:"size"`
}

func (*UpdateAnnouncement) kind() Kind { return KindUpdateAnnouncement }

func (u *UpdateAnnouncement) validate() error {
	if err := validateName("version", u.Version); err != nil {
		return err
	}
	if len(u.SHA256) != 32 || u.Size == 0 {
		return fmt.Errorf("%w: update needs a 32-byte sha256 and a size", ErrBadBody)
	}
	if err := validateFree("channel", u.Channel, maxName); err != nil {
		return err
	}
	return validateFree("url", u.URL, 512)
}

// validateTexts checks per-language texts. With params non-nil, the texts
// are templates and every {name} must be a declared parameter.
func validateTexts(texts map[string]AlertText, params map[string]bool) error {
	if len(texts) == 0 {
		return fmt.Errorf("%w: no texts", ErrBadBody)
	}
	if len(texts) > maxLanguages {
		return fmt.Errorf("%w: %d languages, at most %d", ErrBadBody, len(texts), maxLanguages)
	}
	for tag, t := range texts {
		if err := validateLanguage(tag); err != nil {
			return err
		}
		if t.Short == "" {
			return fmt.Errorf("%w: %s: empty short text", ErrBadBody, tag)
		}
		for _, f := range []struct {
			name string
			s    string
			max  int
		}{{"short", t.Short, MaxShortText}, {"long", t.Long, MaxLongText}, {"speak", t.Speak, maxSpeakText}} {
			if err := validateFree(tag+" "+f.name+" text", f.s, f.max); err != nil {
				return err
			}
			if params == nil {
				continue
			}
			for _, m := range placeholder.FindAllStringSubmatch(f.s, -1) {
				if !params[m[1]] {
					return fmt.Errorf("%w: %s %s text uses {%s}, which is not a declared param", ErrBadBody, tag, f.name, m[1])
				}
			}
		}
	}
	return nil
}

var placeholder = regexp.MustCompile(`\{([A-Za-z0-9_.-]+)\}`)

// CheckParams reports the first problem with params for p: a declared
// parameter missing or empty (ErrMissingParam), or one p does not declare
// (ErrUnknownParam). Both errors name the parameter.
func (p *Protocol) CheckParams(params map[string]string) error {
	declared := make(map[string]bool, len(p.Params))
	for _, name := range p.Params {
		declared[name] = true
		if params[name] == "" {
			return &ParamError{Name: name, Err: ErrMissingParam, Template: p.Template, Params: p.Params}
		}
	}
	for name := range params {
		if !declared[name] {
			return &ParamError{Name: name, Err: ErrUnknownParam, Template: p.Template, Params: p.Params}
		}
	}
	return nil
}

// Errors of CheckParams.
var (
	ErrMissingParam = errors.New("required by the protocol")
	ErrUnknownParam = errors.New("the protocol has no such parameter")
)

// ParamError is a problem with one parameter of a protocol.
type ParamError struct {
	Name     string
	Err      error // ErrMissingParam or ErrUnknownParam
	Template string
	Params   []string // what the protocol declares
}

func (e *ParamError) Error() string {
	if e.Err == ErrUnknownParam {
		return fmt.Sprintf("param %s: protocol %s has no such parameter (it takes %v)", e.Name, e.Template, e.Params)
	}
	return fmt.Sprintf("param %s: required by protocol %s", e.Name, e.Template)
}

func (e *ParamError) Unwrap() error { return e.Err }

// Alert returns the alert p describes with params filled in: every {name}
// in its texts replaced by params[name] (a name params lacks stays as it
// is; CheckParams first).
func (p *Protocol) Alert(params map[string]string) *Alert {
	fill := func(s string) string {
		if s == "" || !strings.Contains(s, "{") {
			return s
		}
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := params[m[1:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	a := &Alert{Texts: make(map[string]AlertText, len(p.Texts)),
		Severity: p.Severity, Urgency: p.Urgency, Certainty: p.Certainty, Category: p.Category, Icon: p.Icon}
	for lang, t := range p.Texts {
		a.Texts[lang] = AlertText{Short: fill(t.Short), Long: fill(t.Long), Speak: fill(t.Speak)}
	}
	return a
}

// Placeholders returns the {name} parameters used in s, in order.
func Placeholders(s string) []string {
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

// ValidateLanguage requires a well-formed BCP 47 tag in canonical case
// ("en", "es-MX", "zh-Hant"), so that one language has one key: the rule
// for the keys of an alert's texts, and for configured language lists.
func ValidateLanguage(tag string) error {
	if _, ok := knownLanguages.Load(tag); ok {
		return nil
	}
	t, err := language.Raw.Parse(tag)
	if err != nil {
		return fmt.Errorf("language %q is not a BCP 47 tag: %v", tag, err)
	}
	if t.String() != tag || tag == "und" {
		return fmt.Errorf("language %q: write it %q", tag, t.String())
	}
	if knownCount.Add(1) <= maxKnownLanguages {
		knownLanguages.Store(tag, true)
	}
	return nil
}

func validateLanguage(tag string) error {
	if err := ValidateLanguage(tag); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	return nil
}

// knownLanguages remembers tags that passed validateLanguage, since a city
// uses a few dozen and parsing a tag costs more than the rest of a text's
// checks. It is bounded so that a flood of odd tags cannot grow it.
var (
	knownLanguages sync.Map
	knownCount     atomic.Int64
)

const maxKnownLanguages = 1024

func validateCAP(sev, urg, cert, cat, icon string) error {
	for _, f := range []struct {
		name, v string
		set     []string
	}{{"severity", sev, severities}, {"urgency", urg, urgencies}, {"certainty", cert, certainties}, {"category", cat, categories}} {
		if !oneOf(f.v, f.set) {
			return fmt.Errorf("%w: %s %q (want one of %s)", ErrBadBody, f.name, f.v, strings.Join(f.set, ", "))
		}
	}
	if icon != "" {
		return validateName("icon", icon)
	}
	return nil
}

func validateName(what, s string) error {
	if err := ValidateNodeID(s); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadBody, what, err)
	}
	return nil
}

// validateFree checks free text: valid UTF-8, no control characters (C0
// but newline, DEL, C1), at most max characters. It is on the hot path of
// Parse, so it works on bytes: UTF-8 is checked once by ValidString, then
// characters are counted as bytes that do not continue a sequence.
func validateFree(what, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadBody, what)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c&0xc0 != 0x80 {
			n++
		}
		switch {
		case c < 0x20 && c != '\n', c == 0x7f:
			return fmt.Errorf("%w: %s has a control character at byte %d", ErrBadBody, what, i)
		case c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0: // U+0080–U+009F
			return fmt.Errorf("%w: %s has a control character at byte %d", ErrBadBody, what, i)
		}
	}
	if n > max {
		return fmt.Errorf("%w: %s is %d characters, at most %d", ErrBadBody, what, n, max)
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}
