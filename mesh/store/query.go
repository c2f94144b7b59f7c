package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	bolt "go.etcd.io/bbolt"
)

// Get returns the stored record id, parsed. It fails with ErrNotFound if
// the record is not stored, and with ErrCorrupt if its stored bytes no
// longer hash to id or do not parse.
func (s *Store) Get(id record.ID) (*record.Record, error) {
	e, err := s.entry("get", id)
	if err != nil {
		return nil, err
	}
	r, err := record.Parse(e.Raw)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w: stored bytes do not parse: %w", id.Short(), ErrCorrupt, err)
	}
	return r, nil
}

// GetEntry returns the stored record id without parsing it.
func (s *Store) GetEntry(id record.ID) (Entry, error) {
	return s.entry("get entry", id)
}

func (s *Store) entry(op string, id record.ID) (Entry, error) {
	var e Entry
	err := s.view(func(t *txn) error {
		v := t.rec().Get(id[:])
		if v == nil {
			return ErrNotFound
		}
		var err error
		e, err = decodeEntry(id, v)
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("store: %s %s: %w", op, id.Short(), err)
	}
	if record.IDOf(e.Raw) != id {
		return Entry{}, fmt.Errorf("store: %s %s: %w: stored bytes hash to %s", op, id.Short(), ErrCorrupt, record.IDOf(e.Raw).Short())
	}
	return e, nil
}

// Has reports whether the record id is stored.
func (s *Store) Has(id record.ID) (bool, error) {
	var ok bool
	err := s.view(func(t *txn) error {
		ok = t.rec().Get(id[:]) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: has %s: %w", id.Short(), err)
	}
	return ok, nil
}

// Superseded reports whether id is in the superseded set: a stored cancel
// or update names it, or did until it expired.
func (s *Store) Superseded(id record.ID) (bool, error) {
	var ok bool
	err := s.view(func(t *txn) error {
		ok = t.sup().Get(id[:]) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: superseded %s: %w", id.Short(), err)
	}
	return ok, nil
}

// ByScope returns the stored records for scope, soonest-expiring first,
// including expired records not swept yet. City and zone scopes are
// indexed; a device scope is not (its acks and health reports would make
// every Put slower), so ByScope of a device reads every record's header:
// its cost grows with the store.
func (s *Store) ByScope(scope record.Scope) ([]Entry, error) {
	var es []Entry
	var err error
	if deviceScope(string(scope)) {
		es, err = s.scanScope(string(scope))
	} else {
		es, err = s.prefixed(func(t *txn) *bolt.Bucket { return t.scope() }, scopePrefix(string(scope)))
	}
	if err != nil {
		return nil, fmt.Errorf("store: by scope %q: %w", scope, err)
	}
	return es, nil
}

// ByKind returns the stored records of kind, soonest-expiring first,
// including expired records not swept yet.
func (s *Store) ByKind(kind record.Kind) ([]Entry, error) {
	es, err := s.prefixed(func(t *txn) *bolt.Bucket { return t.kind() }, []byte{byte(kind)})
	if err != nil {
		return nil, fmt.Errorf("store: by kind %s: %w", kind, err)
	}
	return es, nil
}

// PutSince calls fn, in one read transaction, for each stored record of
// kind first put at or after since (Entry.Refreshed; for protocols, the
// last refresh), soonest-expiring first. Only their headers are decoded
// for the others. An error from fn stops the walk and is returned.
func (s *Store) PutSince(kind record.Kind, since time.Time, fn func(Entry) error) error {
	sinceMs := since.UnixMilli()
	err := s.view(func(t *txn) error {
		return t.walk(t.kind(), []byte{byte(kind)}, func(h entryHeader) bool { return h.refreshed >= sinceMs }, fn)
	})
	if err != nil {
		return fmt.Errorf("store: %s put since %v: %w", kind, since.UTC(), err)
	}
	return nil
}

// scanScope returns the records of scope, reading the expiry index and
// every record's header.
func (s *Store) scanScope(scope string) ([]Entry, error) {
	var es []Entry
	err := s.view(func(t *txn) error {
		return t.walk(t.exp(), nil, func(h entryHeader) bool { return h.scope == scope }, func(e Entry) error {
			es = append(es, e)
			return nil
		})
	})
	return es, err
}

// walk calls fn, in index order, with each record whose key in index is
// prefix || expires || id and whose header passes keep (only the header is
// decoded for the others).
func (t *txn) walk(index *bolt.Bucket, prefix []byte, keep func(entryHeader) bool, fn func(Entry) error) error {
	c := index.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+40 {
			return fmt.Errorf("%w: index key of %d bytes under prefix %q", ErrCorrupt, len(k), prefix)
		}
		id := idAt(k, len(prefix)+8)
		v := t.rec().Get(id[:])
		if v == nil {
			return fmt.Errorf("%w: an index names record %s, which is not stored", ErrCorrupt, id.Short())
		}
		h, err := decodeEntryHeader(v)
		if err != nil {
			return fmt.Errorf("record %s: %w", id.Short(), err)
		}
		if !keep(h) {
			continue
		}
		e, err := decodeEntry(id, v)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// prefixed returns the records whose index key is prefix || expires || id.
func (s *Store) prefixed(bucket func(*txn) *bolt.Bucket, prefix []byte) ([]Entry, error) {
	var es []Entry
	err := s.view(func(t *txn) error {
		return t.walk(bucket(t), prefix, func(entryHeader) bool { return true }, func(e Entry) error {
			es = append(es, e)
			return nil
		})
	})
	return es, err
}

// entry returns the stored record id, which an index names.
func (t *txn) entry(id record.ID) (Entry, error) {
	v := t.rec().Get(id[:])
	if v == nil {
		return Entry{}, fmt.Errorf("%w: an index names record %s, which is not stored", ErrCorrupt, id.Short())
	}
	return decodeEntry(id, v)
}

// Active returns the records that can be displayed at now: alerts, updates
// and activations that have not expired and are not superseded (cancelled
// or replaced), highest tier first, then newest issued first, then by id.
//
// It reads only the display index from now on, so its cost grows with the
// number of unexpired displayable records, not with expired ones waiting
// for a sweep. Selecting by scope and resolving activations to their
// protocols is the caller's job.
func (s *Store) Active(now time.Time) ([]Entry, error) {
	var es []Entry
	err := s.view(func(t *txn) error {
		c := t.disp().Cursor()
		// Unexpired at now: expires (ms) > now (ms).
		for k, _ := c.Seek(timeKey(now.UnixMilli()+1, record.ID{})); k != nil; k, _ = c.Next() {
			if len(k) != 40 {
				return fmt.Errorf("%w: display index key of %d bytes", ErrCorrupt, len(k))
			}
			id := idAt(k, 8)
			if t.sup().Get(id[:]) != nil {
				continue
			}
			e, err := t.entry(id)
			if err != nil {
				return err
			}
			es = append(es, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: active: %w", err)
	}
	slices.SortFunc(es, func(a, b Entry) int {
		if c := cmp.Compare(b.Tier, a.Tier); c != 0 {
			return c
		}
		if c := b.Issued.Compare(a.Issued); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return es, nil
}
