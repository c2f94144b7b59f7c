package desk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
)

// Buckets (see the package doc, "Storage").
var (
	bucketMeta      = []byte("desk.meta")
	bucketSeq       = []byte("desk.seq")
	bucketAlerts    = []byte("desk.alerts")
	bucketByState   = []byte("desk.bystate")
	bucketByCreated = []byte("desk.bycreated")
	bucketHistory   = []byte("desk.history")
	bucketRecords   = []byte("desk.records")
	bucketActive    = []byte("desk.active")
	bucketUnsent    = []byte("desk.unsent")
	bucketProtocols = []byte("desk.protocols")
	bucketOfficers  = []byte("desk.officers")
)

const schemaVersion = "1"

var be = binary.BigEndian

func createBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketSeq, bucketAlerts, bucketByState, bucketByCreated,
		bucketHistory, bucketRecords, bucketActive, bucketUnsent, bucketProtocols, bucketOfficers} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get([]byte("schema")); {
	case v == nil:
		return meta.Put([]byte("schema"), []byte(schemaVersion))
	case string(v) != schemaVersion:
		return fmt.Errorf("schema %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("desk: stored value %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// stateCode orders states in the by-state index.
func stateCode(s State) byte {
	for i, st := range States() {
		if st == s {
			return byte(i + 1)
		}
	}
	return 0
}

// timeKey is t in Unix nanoseconds with the sign bit flipped, big-endian,
// so that byte order is time order.
func timeKey(t time.Time) []byte {
	var k [8]byte
	be.PutUint64(k[:], uint64(t.UnixNano())^(1<<63))
	return k[:]
}

func byStateKey(a *Alert) []byte {
	return append(append([]byte{stateCode(a.State)}, timeKey(a.Created)...), a.ID...)
}

func byCreatedKey(a *Alert) []byte { return append(timeKey(a.Created), a.ID...) }

// seqKey is alertID ‖ 0x00 ‖ n (8 bytes, big-endian): the n-th history entry
// or record of an alert.
func seqKey(id string, n uint64) []byte {
	k := make([]byte, 0, len(id)+9)
	k = append(append(k, id...), 0)
	return be.AppendUint64(k, n)
}

func prefix(id string) []byte { return append([]byte(id), 0) }

func getAlert(tx *bbolt.Tx, op, id string) (*Alert, error) {
	a := new(Alert)
	ok, err := getJSON(tx.Bucket(bucketAlerts), []byte(id), a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, alertErr(op, id, ErrNotFound, "no such alert")
	}
	return a, nil
}

// putAlert stores a, whose stored version was prev (nil for a new alert),
// and keeps the indexes in step.
func putAlert(tx *bbolt.Tx, prev, a *Alert) error {
	bs, bc, ba := tx.Bucket(bucketByState), tx.Bucket(bucketByCreated), tx.Bucket(bucketActive)
	if prev != nil {
		if err := bs.Delete(byStateKey(prev)); err != nil {
			return err
		}
	} else if err := bc.Put(byCreatedKey(a), nil); err != nil {
		return err
	}
	if err := bs.Put(byStateKey(a), nil); err != nil {
		return err
	}
	if a.State == StatePublished {
		if err := ba.Put([]byte(a.ID), nil); err != nil {
			return err
		}
	} else if err := ba.Delete([]byte(a.ID)); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketAlerts), []byte(a.ID), a)
}

// lastOf positions c at the last key of id (alertID ‖ 0x00 ‖ n) and
// returns it, or nil if id has none.
func lastOf(c *bbolt.Cursor, id string) ([]byte, []byte) {
	p := prefix(id)
	k, v := c.Seek(append(prefix(id), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, p) {
		return nil, nil
	}
	return k, v
}

// appendSeq appends v under the next key of id in bucket b.
func appendSeq(b *bbolt.Bucket, id string, v any) error {
	n := uint64(0)
	if k, _ := lastOf(b.Cursor(), id); len(k) == len(id)+9 {
		n = be.Uint64(k[len(id)+1:]) + 1
	}
	return putJSON(b, seqKey(id, n), v)
}

// listSeq decodes every value of id in bucket b, in order.
func listSeq[T any](b *bbolt.Bucket, id string) ([]T, error) {
	var out []T
	p := prefix(id)
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("desk: stored value %q: %w", k, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// supersedeSet returns the ids a cancel or an update of alert id names:
// every record the alert was published as, when there are at most 64
// (the record format's limit); otherwise the original and the newest 63.
// The older renewals it leaves out were each superseded by the next one
// and have timed out on displays.
func supersedeSet(tx *bbolt.Tx, id string) ([]record.ID, error) {
	const max = 64
	b := tx.Bucket(bucketRecords)
	p := prefix(id)
	c := b.Cursor()
	var first record.ID
	k, v := c.Seek(p)
	if k == nil || !bytes.HasPrefix(k, p) {
		return nil, nil
	}
	var ref RecordRef
	if err := json.Unmarshal(v, &ref); err != nil {
		return nil, err
	}
	first = ref.ID
	// Walk back from the end of the alert's records.
	var newest []record.ID
	k, v = lastOf(c, id)
	for ; k != nil && bytes.HasPrefix(k, p) && len(newest) < max-1; k, v = c.Prev() {
		var r RecordRef
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, err
		}
		if r.ID == first {
			break
		}
		newest = append(newest, r.ID)
	}
	out := make([]record.ID, 0, len(newest)+1)
	out = append(out, first)
	for i := len(newest) - 1; i >= 0; i-- {
		out = append(out, newest[i])
	}
	return out, nil
}

// Retrack tells the Tracker again about every record the desk has issued
// for an alert (cancels aside, as deliver does), with the alert's scope and
// first publication. A tracker may keep what it learns in memory for a
// while (the fleet flushes every second); the server calls Retrack at
// start so that a crash loses no alert's tracking. It returns the alerts
// retracked.
func (d *Desk) Retrack() (int, error) {
	if d.opts.Tracker == nil {
		return 0, nil
	}
	type track struct {
		alert     string
		ids       []record.ID
		scope     record.Scope
		published time.Time
	}
	var all []track
	err := d.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, _ := c.First(); k != nil; {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("desk: record key %q has no alert id", k)
			}
			id := string(k[:i])
			a, err := getAlert(tx, "retrack", id)
			if err != nil {
				return err
			}
			refs, err := listSeq[RecordRef](tx.Bucket(bucketRecords), id)
			if err != nil {
				return err
			}
			t := track{alert: id, scope: a.Scope, published: a.PublishedAt}
			for _, r := range refs {
				if r.Kind == record.KindCancel {
					continue
				}
				t.ids = append(t.ids, r.ID)
				if t.published.IsZero() || r.Issued.Before(t.published) {
					t.published = r.Issued
				}
			}
			if len(t.ids) > 0 {
				all = append(all, t)
			}
			k, _ = c.Seek(append(prefix(id), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("desk: retrack: %w", err)
	}
	for _, t := range all {
		d.opts.Tracker.Track(t.alert, t.ids, t.scope, t.published)
	}
	return len(all), nil
}
