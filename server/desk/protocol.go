package desk

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/auth"
)

// ProtocolState is where a protocol is: saved, on the street, or retired.
type ProtocolState string

// The states of a protocol.
const (
	ProtocolDraft     ProtocolState = "draft"     // saved, never published
	ProtocolPublished ProtocolState = "published" // signed; Renew re-signs it every ProtocolRefresh
	ProtocolRetired   ProtocolState = "retired"   // no longer refreshed; its record expires within ProtocolLifetime
)

// Protocol is a pre-approved alert template at the desk: the latest saved
// version, the version on the street and its current record.
type Protocol struct {
	Name    string           `json:"name"` // the template name
	State   ProtocolState    `json:"state"`
	Body    *record.Protocol `json:"body"`
	Version int              `json:"version"`

	Published        *record.Protocol `json:"published,omitempty"`
	PublishedVersion int              `json:"published_version,omitempty"`
	PublishedBy      string           `json:"published_by,omitempty"`
	Record           record.ID        `json:"record,omitzero"` // the newest protocol record; activations name it
	Signed           time.Time        `json:"signed,omitzero"`
	Expires          time.Time        `json:"expires,omitzero"`

	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	Changed   time.Time `json:"changed"`
	ChangedBy string    `json:"changed_by"`
}

func getProtocol(tx *bbolt.Tx, op, name string) (*Protocol, error) {
	p := new(Protocol)
	ok, err := getJSON(tx.Bucket(bucketProtocols), []byte(name), p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Op: op, What: "protocol", ID: name, Kind: ErrNotFound, Detail: "no such protocol"}
	}
	return p, nil
}

func protoErr(op, name string, kind error, format string, args ...any) *Error {
	return &Error{Op: op, What: "protocol", ID: name, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// SaveProtocol creates a protocol or saves a new version of it, named by
// body.Template (protocol.manage). A new version of a published protocol
// goes on the street only when PublishProtocol is called again.
func (d *Desk) SaveProtocol(by *auth.Principal, body *record.Protocol) (*Protocol, error) {
	const op = "save"
	now := d.now()
	name := ""
	if body != nil {
		name = body.Template
	}
	var out *Protocol
	err := d.db.Update(func(tx *bbolt.Tx) error {
		if err := require(by, op, "protocol", name, auth.PermProtocolManage); err != nil {
			return err
		}
		if body == nil {
			return fieldErr("", "no protocol")
		}
		r := &record.Record{Kind: record.KindProtocol, Tier: record.TierWarning, Scope: record.City,
			Issued: now, Expires: now.Add(d.opts.ProtocolLifetime), Origin: d.opts.ServerID, Body: body}
		if err := r.Validate(); err != nil {
			return fieldErr("protocol", "%s", trimRecord(err))
		}
		p := new(Protocol)
		ok, err := getJSON(tx.Bucket(bucketProtocols), []byte(name), p)
		if err != nil {
			return err
		}
		if !ok {
			p = &Protocol{Name: name, State: ProtocolDraft, Created: now, CreatedBy: by.UserID()}
		}
		p.Body, p.Version, p.Changed, p.ChangedBy = body, p.Version+1, now, by.UserID()
		out = p
		return putJSON(tx.Bucket(bucketProtocols), []byte(name), p)
	})
	if err != nil {
		return nil, d.refused(by, "protocol", op, name, err)
	}
	_ = d.audit(entry(by, "protocol.save", name, "ok", map[string]string{"version": strconv.Itoa(out.Version)}))
	return out, nil
}

// PublishProtocol signs the protocol's latest version as a protocol record
// (warning tier, city scope, lifetime ProtocolLifetime) and hands it to the
// publisher (protocol.manage). Renew re-signs it every ProtocolRefresh so
// that caches keep it; alerts drafted from it from then on use this
// version.
func (d *Desk) PublishProtocol(ctx context.Context, by *auth.Principal, name string) (*Protocol, error) {
	const op = "publish"
	d.signMu.Lock()
	defer d.signMu.Unlock()
	now := d.now()
	var out *Protocol
	var pd *pending
	err := d.db.Update(func(tx *bbolt.Tx) error {
		if err := require(by, op, "protocol", name, auth.PermProtocolManage); err != nil {
			return err
		}
		prev, err := getProtocol(tx, op, name)
		if err != nil {
			return err
		}
		p := *prev
		p.Published, p.PublishedVersion, p.PublishedBy, p.State = p.Body, p.Version, by.UserID(), ProtocolPublished
		rec, err := d.signProtocol(tx, op, &p, now)
		if err != nil {
			return err
		}
		out = &p
		pd = &pending{op: op, actor: by, protocol: name, prevProto: prev, rec: rec}
		return nil
	})
	if err != nil {
		return nil, d.refused(by, "protocol", op, name, err)
	}
	_ = d.audit(entry(by, "protocol.publish", name, "ok", map[string]string{
		"version": strconv.Itoa(out.PublishedVersion), "record": pd.rec.ID().String(), "seq": strconv.FormatUint(pd.rec.Seq, 10)}))
	return handOver(ctx, d, pd, out)
}

// signProtocol signs p.Published as a protocol record at now and records
// it in p, which it stores.
func (d *Desk) signProtocol(tx *bbolt.Tx, op string, p *Protocol, now time.Time) (*record.Record, error) {
	issued := now.UTC().Truncate(time.Millisecond)
	r := &record.Record{Kind: record.KindProtocol, Tier: record.TierWarning, Scope: record.City,
		Issued: issued, Expires: issued.Add(d.opts.ProtocolLifetime), Body: p.Published}
	rec, _, err := d.signIn(tx, op, p.Name, r, nil, now)
	if err != nil {
		return nil, err
	}
	p.Record, p.Signed, p.Expires = rec.ID(), rec.Issued.UTC(), rec.Expires.UTC()
	return rec, putJSON(tx.Bucket(bucketProtocols), []byte(p.Name), p)
}

// RetireProtocol stops refreshing a protocol (protocol.manage): its last
// record expires within ProtocolLifetime, and no new alert may use it.
func (d *Desk) RetireProtocol(by *auth.Principal, name string) (*Protocol, error) {
	const op = "retire"
	now := d.now()
	var out *Protocol
	err := d.db.Update(func(tx *bbolt.Tx) error {
		if err := require(by, op, "protocol", name, auth.PermProtocolManage); err != nil {
			return err
		}
		p, err := getProtocol(tx, op, name)
		if err != nil {
			return err
		}
		if p.State == ProtocolRetired {
			return protoErr(op, name, ErrState, "already retired")
		}
		p.State, p.Changed, p.ChangedBy = ProtocolRetired, now, by.UserID()
		out = p
		return putJSON(tx.Bucket(bucketProtocols), []byte(name), p)
	})
	if err != nil {
		return nil, d.refused(by, "protocol", op, name, err)
	}
	_ = d.audit(entry(by, "protocol.retire", name, "ok", nil))
	return out, nil
}

// GetProtocol returns one protocol (protocol.read).
func (d *Desk) GetProtocol(by *auth.Principal, name string) (*Protocol, error) {
	if err := require(by, "read", "protocol", name, auth.PermProtocolRead); err != nil {
		return nil, err
	}
	var p *Protocol
	err := d.db.View(func(tx *bbolt.Tx) error {
		var err error
		p, err = getProtocol(tx, "read", name)
		return err
	})
	return p, err
}

// Protocols returns every protocol, by name (protocol.read). Cities keep
// tens of them, so there is no paging.
func (d *Desk) Protocols(by *auth.Principal) ([]Protocol, error) {
	if err := require(by, "list", "protocol", "", auth.PermProtocolRead); err != nil {
		return nil, err
	}
	var out []Protocol
	err := d.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketProtocols).ForEach(func(k, v []byte) error {
			var p Protocol
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("desk: stored protocol %q: %w", k, err)
			}
			out = append(out, p)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}
