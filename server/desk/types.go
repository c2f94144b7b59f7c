package desk

import (
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// State is where an alert is in its lifecycle (see the package doc).
type State string

// The states of an alert.
const (
	StateDraft     State = "draft"     // being written; editable by its author
	StateSubmitted State = "submitted" // waiting for approval
	StateApproved  State = "approved"  // approved, not yet signed
	StatePublished State = "published" // signed and on the street (updates keep it here)
	StateCancelled State = "cancelled" // withdrawn: by a cancel record if it was published
	StateExpired   State = "expired"   // its lifetime ended (recorded by Renew)
)

// States returns every state, in lifecycle order.
func States() []State {
	return []State{StateDraft, StateSubmitted, StateApproved, StatePublished, StateCancelled, StateExpired}
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool { return stateCode(s) != 0 }

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == StateCancelled || s == StateExpired }

// Duration is a time.Duration that JSON shows as "1h30m0s".
type Duration time.Duration

// MarshalText encodes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText decodes what time.ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a Go duration such as \"90m\" or \"2h\"", b)
	}
	*d = Duration(v)
	return nil
}

// Alert is one alert at the desk: what was asked for, who moved it where,
// and, once published, what is on the street. It holds no secrets and is
// stored as JSON.
type Alert struct {
	ID    string       `json:"id"`
	State State        `json:"state"`
	Tier  record.Tier  `json:"tier"`
	Scope record.Scope `json:"scope"`

	// Content is the message: written by the author, or for an alert
	// drafted from a protocol, the protocol's texts with Params filled in
	// (rendered again from the published protocol at publication).
	Content  *record.Alert     `json:"content"`
	Protocol string            `json:"protocol,omitempty"`
	Params   map[string]string `json:"params,omitempty"`

	// Expires (absolute) or Lifetime (from publication): exactly one is
	// set while unpublished.
	Expires  time.Time `json:"expires,omitzero"`
	Lifetime Duration  `json:"lifetime,omitempty"`

	Author    string `json:"author"`
	Submitter string `json:"submitter,omitempty"`
	Approver  string `json:"approver,omitempty"`
	Publisher string `json:"publisher,omitempty"`
	// Rejection is the reason of the last rejection, until resubmitted.
	Rejection string `json:"rejection,omitempty"`

	Created time.Time `json:"created"`
	Changed time.Time `json:"changed"`

	// Set at publication.
	PublishedAt time.Time `json:"published_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"` // the lifetime of what is on the street
	LastIssued  time.Time `json:"last_issued,omitzero"`
	Current     record.ID `json:"current,omitzero"`         // the newest record (the one a renewal supersedes)
	ProtocolRec record.ID `json:"protocol_record,omitzero"` // the protocol record an activation names
	Records     int       `json:"records,omitempty"`        // records issued, renewals included
}

// Transition is one entry of an alert's history: who did what, when, from
// which state to which, why, and the record it issued, if any.
type Transition struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // user id, or "system" (Renew)
	Role   string    `json:"role,omitempty"`
	Action string    `json:"action"` // "alert.submit", … as in the audit log
	From   State     `json:"from,omitempty"`
	To     State     `json:"to"`
	Reason string    `json:"reason,omitempty"`
	Record record.ID `json:"record,omitzero"`
}

// RecordRef is one record issued for an alert.
type RecordRef struct {
	ID         record.ID   `json:"id"`
	Kind       record.Kind `json:"kind"`
	Tier       record.Tier `json:"tier"`
	Seq        uint64      `json:"seq"`
	Issued     time.Time   `json:"issued"`
	Expires    time.Time   `json:"expires"`
	Why        string      `json:"why"` // publish, renew, update, cancel
	Supersedes int         `json:"supersedes,omitempty"`
	Size       int         `json:"size"`
	Officer    string      `json:"officer,omitempty"` // the co-signing officer of an emergency record
}

// AlertView is an alert with its history and its records, as Get returns it.
type AlertView struct {
	Alert   Alert        `json:"alert"`
	History []Transition `json:"history"`
	Records []RecordRef  `json:"records"`
}

// expiresFrom is the expiry of what would go on the street if a were
// published at now.
func (a *Alert) expiresFrom(now time.Time) time.Time {
	if !a.Expires.IsZero() {
		return a.Expires
	}
	return now.Add(time.Duration(a.Lifetime))
}
