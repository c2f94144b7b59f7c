package desk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/server/auth"
)

// Get returns an alert with its history and its records (alert.read).
// Published alerts are public; drafts are visible to everyone with
// alert.read too, so that supervisors see what zone operators prepare.
func (d *Desk) Get(by *auth.Principal, id string) (*AlertView, error) {
	if err := require(by, "read", "alert", id, auth.PermAlertRead); err != nil {
		return nil, err
	}
	v := new(AlertView)
	err := d.db.View(func(tx *bbolt.Tx) error {
		a, err := getAlert(tx, "read", id)
		if err != nil {
			return err
		}
		v.Alert = *a
		if v.History, err = listSeq[Transition](tx.Bucket(bucketHistory), id); err != nil {
			return err
		}
		v.Records, err = listSeq[RecordRef](tx.Bucket(bucketRecords), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// ListQuery selects alerts: in one state (or any, when State is empty),
// newest first, Limit at a time (default 50, at most 500), continuing
// after Cursor (from the previous page's Next).
type ListQuery struct {
	State  State
	Cursor string
	Limit  int
}

// AlertPage is one page of alerts. Next is empty on the last page.
type AlertPage struct {
	Alerts []Alert `json:"alerts"`
	Next   string  `json:"next,omitempty"`
}

const (
	defaultLimit  = 50
	maxLimit      = 500
	cursorVersion = 1
)

// List returns alerts newest first (alert.read). It walks an index of the
// state asked for (or of all alerts by creation time) from the cursor, so
// a page costs its length, not the table's.
func (d *Desk) List(by *auth.Principal, q ListQuery) (*AlertPage, error) {
	if err := require(by, "list", "alert", "", auth.PermAlertRead); err != nil {
		return nil, err
	}
	var code byte
	if q.State != "" {
		if code = stateCode(q.State); code == 0 {
			return nil, fieldErr("state", "%q is not a state (want one of %v)", q.State, States())
		}
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultLimit
	case limit > maxLimit:
		limit = maxLimit
	}
	var after []byte
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) < 3 || raw[0] != cursorVersion || raw[1] != code || (code != 0 && raw[2] != code) {
			return nil, &Error{Op: "list", Kind: ErrBadCursor, Detail: "the cursor is not from this query"}
		}
		after = raw[2:]
	}
	page := &AlertPage{Alerts: []Alert{}}
	err := d.db.View(func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bucketByCreated)
		var pre []byte
		if code != 0 {
			idx, pre = tx.Bucket(bucketByState), []byte{code}
		}
		alerts := tx.Bucket(bucketAlerts)
		c := idx.Cursor()
		var k []byte
		switch {
		case after != nil:
			if k, _ = c.Seek(after); k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		case code != 0:
			if k, _ = c.Seek([]byte{code + 1}); k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		default:
			k, _ = c.Last()
		}
		for ; k != nil && bytes.HasPrefix(k, pre); k, _ = c.Prev() {
			if len(page.Alerts) == limit {
				page.Next = base64.RawURLEncoding.EncodeToString(append([]byte{cursorVersion, code}, lastKey(page, code)...))
				return nil
			}
			id := k[len(pre)+8:]
			var a Alert
			if err := json.Unmarshal(alerts.Get(id), &a); err != nil {
				return fmt.Errorf("desk: stored alert %q: %w", id, err)
			}
			page.Alerts = append(page.Alerts, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// lastKey is the index key of the page's last alert.
func lastKey(p *AlertPage, code byte) []byte {
	a := &p.Alerts[len(p.Alerts)-1]
	if code != 0 {
		return byStateKey(a)
	}
	return byCreatedKey(a)
}
