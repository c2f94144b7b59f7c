// Package show decides what a pole shows (DESIGN §4, §5): of the records
// in its store, those for its scope that the tier table lets it display,
// highest tier first, then newest, with the warning's display timeout and
// activations filled from cached protocols. The pole (package edge) shows
// what it chooses; a zone gateway runs the same choice for each of its
// poles to tell whether a pole shows what it should.
package show

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

// WarningTimeout is how long a warning stays on a display after it was
// issued unless a renewal replaces it (DESIGN §4): the server renews
// active warnings every few minutes, so a warning whose server has gone
// quiet leaves the street by itself.
const WarningTimeout = 5 * time.Minute

// Item is a record the pole may put on its display: an alert or an
// update, or an activation with its protocol's texts filled in.
type Item struct {
	ID      record.ID // the record shown (for an activation, the activation)
	Kind    record.Kind
	Tier    record.Tier
	Scope   record.Scope
	Issued  time.Time
	Expires time.Time
	Alert   *record.Alert // texts and CAP fields
}

// Until is when s leaves the display by itself: its expiry or, for a
// warning, WarningTimeout after it was issued, whichever is sooner.
func (s *Item) Until() time.Time {
	if s.Tier == record.TierWarning {
		if t := s.Issued.Add(WarningTimeout); t.Before(s.Expires) {
			return t
		}
	}
	return s.Expires
}

// InScope reports whether scope names this pole: the city, its zone or
// the pole itself.
func InScope(scope record.Scope, device, zone string) bool {
	switch k, id := scope.Split(); k {
	case record.ScopeCity:
		return true
	case record.ScopeZone:
		return id == zone
	case record.ScopeDevice:
		return id == device
	}
	return false
}

// Refusal is an active record in scope that the pole cannot show, and why
// (an activation whose protocol is not cached, or whose parameters do not
// fit it). The pole acks it as failed.
type Refusal struct {
	ID     record.ID
	Reason string
}

// Candidates turns the store's active records (store.Active: unexpired,
// not superseded, highest tier first, then newest) into what this pole
// may show, in the same order: records of other scopes are left out, and
// so are warnings past their display timeout. Activations are resolved
// against the protocols the pole has cached (protocol looks one up by
// id); those it cannot resolve come back as refusals. Records are parsed
// through parsed, if not nil, so that a caller choosing again and again
// parses each record once.
func Candidates(active []store.Entry, device, zone string, now time.Time, protocol func(record.ID) (*record.Record, error), parsed *Parsed) ([]Item, []Refusal) {
	var out []Item
	var refused []Refusal
	for _, e := range active {
		if !InScope(e.Scope, device, zone) {
			continue
		}
		rec, err := parsed.Parse(e)
		if err != nil {
			refused = append(refused, Refusal{ID: e.ID, Reason: fmt.Sprintf("stored record does not parse: %v", err)})
			continue
		}
		s := Item{ID: e.ID, Kind: rec.Kind, Tier: rec.Tier, Scope: rec.Scope, Issued: rec.Issued, Expires: rec.Expires}
		switch b := rec.Body.(type) {
		case *record.Alert:
			s.Alert = b
		case *record.Activation:
			a, why := activate(b, protocol, now)
			if why != "" {
				refused = append(refused, Refusal{ID: e.ID, Reason: why})
				continue
			}
			s.Alert = a
		default:
			continue
		}
		if !now.Before(s.Until()) {
			continue
		}
		out = append(out, s)
	}
	return out, refused
}

// Parsed keeps parsed records by id for Candidates: a pole chooses again
// on every change, and a gateway for each pole of its zone, mostly from
// the same few active records, whose bytes never change under their id.
// It holds at most about twice parsedMax records (two generations: when
// the current one fills, it becomes the old one). The zero value is ready;
// a nil *Parsed parses every time. Safe for concurrent use.
type Parsed struct {
	mu       sync.Mutex
	cur, old map[record.ID]*record.Record
}

const parsedMax = 256

// Parse returns e's record, parsed once.
func (p *Parsed) Parse(e store.Entry) (*record.Record, error) {
	if p == nil {
		return e.Parse()
	}
	p.mu.Lock()
	r, ok := p.cur[e.ID]
	if !ok {
		if r, ok = p.old[e.ID]; ok {
			p.keepLocked(e.ID, r)
		}
	}
	p.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := e.Parse()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.keepLocked(e.ID, r)
	p.mu.Unlock()
	return r, nil
}

func (p *Parsed) keepLocked(id record.ID, r *record.Record) {
	if len(p.cur) >= parsedMax {
		p.old, p.cur = p.cur, nil
	}
	if p.cur == nil {
		p.cur = make(map[record.ID]*record.Record)
	}
	p.cur[id] = r
}

// activate fills the protocol an activation names with its parameters, or
// says why it cannot.
func activate(a *record.Activation, protocol func(record.ID) (*record.Record, error), now time.Time) (*record.Alert, string) {
	pr, err := protocol(a.Protocol)
	if err != nil || pr == nil {
		return nil, fmt.Sprintf("protocol %s is not cached here", a.Protocol.Short())
	}
	p, ok := pr.Body.(*record.Protocol)
	if !ok || pr.Kind != record.KindProtocol {
		return nil, fmt.Sprintf("record %s is a %s, not a protocol", a.Protocol.Short(), pr.Kind)
	}
	if !now.Before(pr.Expires) {
		return nil, fmt.Sprintf("protocol %s expired at %s", p.Template, pr.Expires.UTC().Format(time.RFC3339))
	}
	if err := p.CheckParams(a.Params); err != nil {
		return nil, err.Error()
	}
	return p.Alert(a.Params), ""
}

// Choose returns what to show: the first candidate (Candidates keeps the
// store's order: highest tier, then newest), or nil for informational
// content.
func Choose(cands []Item) *Item {
	if len(cands) == 0 {
		return nil
	}
	return &cands[0]
}

// NextChange returns the earliest time a choice made from cands at now
// changes by itself (a display timeout or an expiry); zero if none.
func NextChange(cands []Item) time.Time {
	var t time.Time
	for i := range cands {
		if u := cands[i].Until(); t.IsZero() || u.Before(t) {
			t = u
		}
	}
	return t
}

// digestKinds are the kinds a cache digest covers: what decides what a
// pole shows.
var digestKinds = map[record.Kind]bool{
	record.KindAlert: true, record.KindUpdate: true, record.KindCancel: true,
	record.KindActivation: true, record.KindProtocol: true, record.KindCommand: true,
}

// Digest summarises the records of es that a pole (device in zone) uses
// to decide what it shows at now: the unexpired alerts, updates, cancels,
// activations, protocols and commands of its scope, by id. A pole reports
// it in its health; its gateway computes the same from its own cache, and
// equal digests mean they hold the same.
func Digest(es []store.Entry, device, zone string, now time.Time) [16]byte {
	var ids []record.ID
	for _, e := range es {
		if digestKinds[e.Kind] && now.Before(e.Expires) && InScope(e.Scope, device, zone) {
			ids = append(ids, e.ID)
		}
	}
	slices.SortFunc(ids, func(a, b record.ID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write(id[:])
	}
	var d [16]byte
	copy(d[:], h.Sum(nil))
	return d
}

// ScopeEntries returns the records st holds for device in zone that
// Digest looks at: the city's and the zone's (indexed by scope), and the
// device's own of the digest's kinds (by kind: a device scope is not
// indexed, and a gateway's store holds its poles' acks by the thousand).
func ScopeEntries(st *store.Store, device, zone string) ([]store.Entry, error) {
	var all []store.Entry
	for _, sc := range []record.Scope{record.City, record.ZoneScope(zone)} {
		es, err := st.ByScope(sc)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	own := record.DeviceScope(device)
	for _, k := range []record.Kind{record.KindAlert, record.KindUpdate, record.KindCancel, record.KindActivation, record.KindProtocol, record.KindCommand} {
		es, err := st.ByKind(k)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Scope == own {
				all = append(all, e)
			}
		}
	}
	return all, nil
}
