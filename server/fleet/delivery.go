package fleet

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// DeliveryState is where one device in an alert's scope is with it.
type DeliveryState string

// The delivery states. They partition the devices in scope: "not reached"
// (nothing heard) and "failed" (the device said it could not show it) are
// different problems with different fixes.
const (
	NotReached DeliveryState = "not-reached" // no ack for any of the alert's records
	Received   DeliveryState = "received"    // acked received (or played), not displayed
	Displayed  DeliveryState = "displayed"   // acked displayed, and no failure since
	Failed     DeliveryState = "failed"      // its latest display outcome is a failed ack
)

// DeliveryStates lists the states in the order a dashboard shows them.
func DeliveryStates() []DeliveryState {
	return []DeliveryState{NotReached, Received, Displayed, Failed}
}

// ackState is what one device acked for one alert, over all its records.
type ackState struct {
	Flags  uint8    `json:"flags"` // bit 1<<record.AckState for each state acked
	At     [5]int64 `json:"at"`    // latest ack time (Unix ms) per record.AckState
	First  int64    `json:"first"` // first ack time
	Reason string   `json:"reason,omitempty"`
}

// has reports whether the device acked st. Every state implies received
// (a pole sends "displayed" alone for an alert it shows at once).
func (s *ackState) has(st record.AckState) bool {
	if st == record.AckReceived {
		return s != nil && s.Flags != 0
	}
	return s != nil && s.Flags&(1<<st) != 0
}

func (s *ackState) add(a *record.Ack) {
	if a.State < record.AckReceived || a.State > record.AckFailed {
		return
	}
	at := int64(a.At)
	s.Flags |= 1 << a.State
	if at >= s.At[a.State] {
		s.At[a.State] = at
		if a.State == record.AckFailed {
			s.Reason = a.Reason
		}
	}
	if s.First == 0 || at < s.First {
		s.First = at
	}
}

func (s *ackState) state() DeliveryState {
	switch {
	case s == nil || s.Flags == 0:
		return NotReached
	case s.has(record.AckFailed) && (!s.has(record.AckDisplayed) || s.At[record.AckFailed] > s.At[record.AckDisplayed]):
		return Failed
	case s.has(record.AckDisplayed):
		return Displayed
	}
	return Received
}

// since is when the device entered its state.
func (s *ackState) since(published time.Time) time.Time {
	switch s.state() {
	case NotReached:
		return published
	case Failed:
		return time.UnixMilli(s.At[record.AckFailed]).UTC()
	case Displayed:
		return time.UnixMilli(s.At[record.AckDisplayed]).UTC()
	}
	return time.UnixMilli(s.First).UTC()
}

// tracked is one alert's delivery: its records, its scope and every
// device's acks. Its lock is taken for each ack.
type tracked struct {
	id string

	mu          sync.Mutex
	scope       record.Scope
	publishedAt time.Time
	records     []record.ID
	acks        map[string]*ackState
	dirty       map[string]struct{} // devices whose acks changed since Flush
	metaDirty   bool
}

func newTracked(id string) *tracked {
	return &tracked{id: id, acks: map[string]*ackState{}, dirty: map[string]struct{}{}}
}

func (t *tracked) observe(a *record.Ack) {
	t.mu.Lock()
	s := t.acks[a.Device]
	if s == nil {
		s = &ackState{}
		t.acks[a.Device] = s
	}
	s.add(a)
	t.dirty[a.Device] = struct{}{}
	t.mu.Unlock()
}

// Track tells the fleet that recordIDs belong to alertID, an alert for
// scope first published at publishedAt (the desk calls it with each record
// it issues, before handing the record to the mesh). It adds to what was
// tracked before: acks of any of the alert's records count for it.
func (f *Fleet) Track(alertID string, recordIDs []record.ID, scope record.Scope, publishedAt time.Time) {
	f.tmu.Lock()
	t := f.alerts[alertID]
	if t == nil {
		t = newTracked(alertID)
		f.alerts[alertID] = t
	}
	for _, id := range recordIDs {
		f.byRecord[id] = t
	}
	f.tmu.Unlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scope != scope {
		t.scope, t.metaDirty = scope, true
	}
	if t.publishedAt.IsZero() || publishedAt.Before(t.publishedAt) {
		t.publishedAt, t.metaDirty = publishedAt.UTC(), true
	}
	for _, id := range recordIDs {
		if !slices.Contains(t.records, id) {
			t.records, t.metaDirty = append(t.records, id), true
		}
	}
}

// DeliveryStatus is an alert's delivery at a glance. InScope counts the
// unrevoked devices its scope names now (city: every device, zone:Z the
// zone's, device:D one). The Acked counts are devices in scope whose acks
// include that state; States partitions the devices in scope.
type DeliveryStatus struct {
	Alert       string       `json:"alert"`
	Scope       record.Scope `json:"scope"`
	PublishedAt time.Time    `json:"published_at"`
	Records     int          `json:"records"`

	InScope   int `json:"in_scope"`
	Reached   int `json:"reached"`  // any ack
	Received  int `json:"received"` // any ack: every state implies received
	Displayed int `json:"displayed"`
	Played    int `json:"played"`
	Failed    int `json:"failed"`

	States map[DeliveryState]int `json:"states"`
	// NotReachedSince is how long the devices not reached have been
	// waiting: since publication.
	NotReachedSince time.Time `json:"not_reached_since,omitzero"`
	// OutOfScope counts devices outside the scope that acked anyway (a
	// device moved to another zone, or a registry that lags).
	OutOfScope int `json:"out_of_scope"`
}

// Status returns the delivery of an alert the fleet tracks.
func (f *Fleet) Status(alertID string) (DeliveryStatus, error) {
	t := f.tracked(alertID)
	if t == nil {
		return DeliveryStatus{}, fmt.Errorf("fleet: status of alert %s: %w: not tracked", alertID, ErrNotFound)
	}
	t.mu.Lock()
	scope := t.scope
	t.mu.Unlock()
	ids := f.inScope(scope)

	t.mu.Lock()
	defer t.mu.Unlock()
	st := DeliveryStatus{Alert: alertID, Scope: t.scope, PublishedAt: t.publishedAt, Records: len(t.records),
		InScope: len(ids), States: map[DeliveryState]int{}}
	for _, s := range DeliveryStates() {
		st.States[s] = 0
	}
	for _, id := range ids {
		s := t.acks[id]
		st.States[s.state()]++
		if s == nil || s.Flags == 0 {
			continue
		}
		st.Reached++
		for _, c := range []struct {
			n  *int
			as record.AckState
		}{{&st.Received, record.AckReceived}, {&st.Displayed, record.AckDisplayed}, {&st.Played, record.AckPlayed}, {&st.Failed, record.AckFailed}} {
			if s.has(c.as) {
				*c.n++
			}
		}
	}
	st.OutOfScope = len(t.acks)
	for _, id := range ids {
		if _, ok := t.acks[id]; ok {
			st.OutOfScope--
		}
	}
	if st.States[NotReached] > 0 {
		st.NotReachedSince = t.publishedAt
	}
	return st, nil
}

func (f *Fleet) tracked(alertID string) *tracked {
	f.tmu.RLock()
	defer f.tmu.RUnlock()
	return f.alerts[alertID]
}

// DeliveryQuery selects the devices of an alert's scope: in one state (or
// all, when State is empty), by device id, Limit at a time (default 100,
// at most 1000), after Cursor (the previous page's Next).
type DeliveryQuery struct {
	State  DeliveryState
	Cursor string
	Limit  int
}

// DeviceDelivery is one device's delivery of one alert.
type DeviceDelivery struct {
	Device    string        `json:"device"`
	Zone      string        `json:"zone,omitempty"`
	State     DeliveryState `json:"state"`
	Received  bool          `json:"received,omitempty"`
	Displayed bool          `json:"displayed,omitempty"`
	Played    bool          `json:"played,omitempty"`
	Failed    bool          `json:"failed,omitempty"`
	Reason    string        `json:"reason,omitempty"` // of the latest failed ack
	FirstAck  time.Time     `json:"first_ack,omitzero"`
	// Since is when the device entered its state (publication, for a
	// device not reached).
	Since time.Time `json:"since"`
	// LastHeard is the device's latest health report, which tells an
	// offline pole from one that ignores the alert.
	LastHeard time.Time `json:"last_heard,omitzero"`
}

// DeliveryPage is one page of devices. Next is empty on the last page.
type DeliveryPage struct {
	Devices []DeviceDelivery `json:"devices"`
	Next    string           `json:"next,omitempty"`
}

// Deliveries lists the devices in an alert's scope with their delivery,
// ordered by device id.
func (f *Fleet) Deliveries(alertID string, q DeliveryQuery) (*DeliveryPage, error) {
	t := f.tracked(alertID)
	if t == nil {
		return nil, fmt.Errorf("fleet: deliveries of alert %s: %w: not tracked", alertID, ErrNotFound)
	}
	if q.State != "" && !slices.Contains(DeliveryStates(), q.State) {
		return nil, fmt.Errorf("fleet: deliveries: %w: state %q (want one of %v)", ErrInvalid, q.State, DeliveryStates())
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	after := ""
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || record.ValidateNodeID(string(b)) != nil {
			return nil, fmt.Errorf("fleet: deliveries: %w: bad cursor", ErrInvalid)
		}
		after = string(b)
	}
	t.mu.Lock()
	scope := t.scope
	t.mu.Unlock()
	ids := f.inScope(scope)
	start := sort.SearchStrings(ids, after)
	if start < len(ids) && ids[start] == after {
		start++
	}
	ids = ids[start:]

	page := &DeliveryPage{Devices: []DeviceDelivery{}}
	var rows []DeviceDelivery
	t.mu.Lock()
	for _, id := range ids {
		s := t.acks[id]
		state := s.state()
		if q.State != "" && state != q.State {
			continue
		}
		if len(rows) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString([]byte(rows[len(rows)-1].Device))
			break
		}
		row := DeviceDelivery{Device: id, State: state, Since: s.since(t.publishedAt),
			Received: s.has(record.AckReceived), Displayed: s.has(record.AckDisplayed), Played: s.has(record.AckPlayed), Failed: s.has(record.AckFailed)}
		if s != nil {
			row.Reason = s.Reason
			if s.First != 0 {
				row.FirstAck = time.UnixMilli(s.First).UTC()
			}
		}
		rows = append(rows, row)
	}
	t.mu.Unlock()
	names := make([]string, len(rows))
	for i := range rows {
		names[i] = rows[i].Device
	}
	heard, zones := f.deviceInfo(names)
	for i := range rows {
		rows[i].LastHeard, rows[i].Zone = heard[i], zones[i]
	}
	page.Devices = append(page.Devices, rows...)
	return page, nil
}
