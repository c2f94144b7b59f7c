package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

// Buckets (see the package doc, "Storage").
var (
	bucketMeta    = []byte("fleet.meta")
	bucketDevices = []byte("fleet.devices")
	bucketAlerts  = []byte("fleet.alerts")
	bucketAcks    = []byte("fleet.acks")
)

const schemaVersion = "1"

// keyFlushed (in fleet.meta) holds when the last Flush that wrote began,
// RFC 3339: everything observed before it is on disk.
var keyFlushed = []byte("flushed")

func createBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketDevices, bucketAlerts, bucketAcks} {
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

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// alertMeta is what fleet.alerts keeps of a tracked alert.
type alertMeta struct {
	Scope       record.Scope `json:"scope"`
	PublishedAt time.Time    `json:"published_at"`
	Records     []record.ID  `json:"records"`
}

func ackKey(alertID, device string) []byte {
	k := make([]byte, 0, len(alertID)+1+len(device))
	return append(append(append(k, alertID...), 0), device...)
}

// load reads the registry and the delivery state into memory.
func (f *Fleet) load() error {
	return f.db.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			d := new(Device)
			if err := json.Unmarshal(v, d); err != nil {
				return fmt.Errorf("stored device %q: %w", k, err)
			}
			f.devices[d.ID] = d
			if f.byZone[d.Zone] == nil {
				f.byZone[d.Zone] = map[string]struct{}{}
			}
			f.byZone[d.Zone][d.ID] = struct{}{}
			if d.Serial != "" {
				f.bySerial[d.Serial] = d.ID
			}
			if d.Revoked && d.RevokedAt.After(f.lastRevocation) {
				f.lastRevocation = d.RevokedAt
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var m alertMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("stored alert %q: %w", k, err)
			}
			t := newTracked(string(k))
			t.scope, t.publishedAt, t.records = m.Scope, m.PublishedAt, m.Records
			f.alerts[t.id] = t
			for _, id := range m.Records {
				f.byRecord[id] = t
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketAcks).ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("stored ack key %q", k)
			}
			t := f.alerts[string(k[:i])]
			if t == nil {
				return nil // its alert was pruned between transactions
			}
			s := new(ackState)
			if err := json.Unmarshal(v, s); err != nil {
				return fmt.Errorf("stored ack %q: %w", k, err)
			}
			t.acks[string(k[i+1:])] = s
			return nil
		})
	})
}

// Flush writes what changed since the last Flush (acks, tracked alerts,
// health reports) in one bbolt transaction and returns how many values it
// wrote. The server calls it every second; until then changes live in
// memory only. If the write fails, what it held is written by the next
// Flush.
func (f *Fleet) Flush() (int, error) {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	// Everything observed before now is in what this Flush collects.
	at := f.opts.Clock.Now()

	type kv struct {
		bucket []byte
		key    []byte
		val    []byte
	}
	var kvs []kv
	type undo struct {
		t    *tracked
		devs []string
		meta bool
	}
	var undos []undo

	f.tmu.RLock()
	ts := make([]*tracked, 0, len(f.alerts))
	for _, t := range f.alerts {
		ts = append(ts, t)
	}
	f.tmu.RUnlock()
	for _, t := range ts {
		t.mu.Lock()
		if len(t.dirty) == 0 && !t.metaDirty {
			t.mu.Unlock()
			continue
		}
		u := undo{t: t, meta: t.metaDirty}
		if t.metaDirty {
			v, err := json.Marshal(alertMeta{Scope: t.scope, PublishedAt: t.publishedAt, Records: t.records})
			if err != nil {
				t.mu.Unlock()
				return 0, err
			}
			kvs = append(kvs, kv{bucketAlerts, []byte(t.id), v})
			t.metaDirty = false
		}
		for dev := range t.dirty {
			v, err := json.Marshal(t.acks[dev])
			if err != nil {
				t.mu.Unlock()
				return 0, err
			}
			kvs = append(kvs, kv{bucketAcks, ackKey(t.id, dev), v})
			u.devs = append(u.devs, dev)
		}
		clear(t.dirty)
		t.mu.Unlock()
		undos = append(undos, u)
	}

	f.mu.Lock()
	var devs []string
	for id := range f.dirtyDev {
		v, err := json.Marshal(f.devices[id])
		if err != nil {
			f.mu.Unlock()
			return 0, err
		}
		kvs = append(kvs, kv{bucketDevices, []byte(id), v})
		devs = append(devs, id)
	}
	clear(f.dirtyDev)
	f.mu.Unlock()

	if len(kvs) == 0 {
		return 0, nil
	}
	err := f.db.Update(func(tx *bbolt.Tx) error {
		for _, e := range kvs {
			if err := tx.Bucket(e.bucket).Put(e.key, e.val); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFlushed, []byte(at.UTC().Format(time.RFC3339Nano)))
	})
	if err == nil {
		return len(kvs), nil
	}
	// Mark everything dirty again: the next Flush writes the then-current
	// values.
	for _, u := range undos {
		u.t.mu.Lock()
		u.t.metaDirty = u.t.metaDirty || u.meta
		for _, d := range u.devs {
			u.t.dirty[d] = struct{}{}
		}
		u.t.mu.Unlock()
	}
	f.mu.Lock()
	for _, id := range devs {
		f.dirtyDev[id] = struct{}{}
	}
	f.mu.Unlock()
	f.log.Error("flush failed", "values", len(kvs), "err", err)
	return 0, fmt.Errorf("fleet: flush: %w", err)
}

// Prune stops tracking alerts first published before before, in memory
// and on disk, and returns how many it dropped. The server calls it now
// and then with a retention horizon (say a week ago).
func (f *Fleet) Prune(before time.Time) (int, error) {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.tmu.Lock()
	var gone []*tracked
	for id, t := range f.alerts {
		t.mu.Lock()
		old := t.publishedAt.Before(before)
		recs := t.records
		t.mu.Unlock()
		if !old {
			continue
		}
		delete(f.alerts, id)
		for _, r := range recs {
			if f.byRecord[r] == t {
				delete(f.byRecord, r)
			}
		}
		gone = append(gone, t)
	}
	f.tmu.Unlock()
	if len(gone) == 0 {
		return 0, nil
	}
	err := f.db.Update(func(tx *bbolt.Tx) error {
		acks := tx.Bucket(bucketAcks)
		for _, t := range gone {
			if err := tx.Bucket(bucketAlerts).Delete([]byte(t.id)); err != nil {
				return err
			}
			p := ackKey(t.id, "")
			c := acks.Cursor()
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Seek(p) {
				if err := acks.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fleet: prune: %w", err)
	}
	return len(gone), nil
}

// ReplayMargin is how far before the last Flush Replay starts: a record is
// stored by the mesh a moment before the fleet observes it, so one stored
// just before a Flush may have been observed just after it.
const ReplayMargin = 10 * time.Second

// Replay observes again the records of st of the kinds the fleet follows
// (acks, health reports, revocations) that the mesh stored since the last
// Flush, less ReplayMargin: what a crash took from memory before it reached
// the fleet's buckets. Observing a record twice changes nothing (an ack
// state keeps its latest time, an older health report is ignored), and a
// replayed ack does not count in Counters. A health report's time of
// receipt is when the mesh stored it. The server calls Replay at start,
// after the desk's Retrack (so that acks find their alerts) and before its
// mesh node runs; it returns how many records it observed.
func (f *Fleet) Replay(st *store.Store) (int, error) {
	var since time.Time
	err := f.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyFlushed)
		if v == nil {
			return nil // never flushed: replay everything
		}
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return fmt.Errorf("stored flush time %q: %w", v, err)
		}
		since = t.Add(-ReplayMargin)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fleet: replay: %w", err)
	}
	n := 0
	for _, k := range []record.Kind{record.KindRevocation, record.KindHealth, record.KindAck} {
		err := st.PutSince(k, since, func(e store.Entry) error {
			rec, err := e.Parse()
			if err != nil {
				// The store holds only what the mesh verified; a record
				// it cannot parse is the store's problem, not ours.
				f.log.Warn("replay: stored record does not parse", "record", e.ID.Short(), "err", err)
				return nil
			}
			f.observe(rec, e.Refreshed, false)
			n++
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("fleet: replay: %w", err)
		}
	}
	f.log.Info("replayed records stored since the last flush", "since", since, "records", n)
	return n, nil
}
