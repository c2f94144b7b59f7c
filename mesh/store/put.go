package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	bolt "go.etcd.io/bbolt"
)

// sweepBatch bounds the records (and superseded-set entries) one sweep
// transaction deletes, so that a sweep after a long time offline does not
// build one huge transaction or hold the writer lock for long. Larger
// batches rewrite fewer pages in total: 99,000 deletions take about 4 s in
// batches of 1,000 and 2.4 s in batches of 5,000 on the development VM.
const sweepBatch = 5000

// Put stores r, which must be signed (r.Raw and r.ID set) and not expired
// at now (ErrExpired). Put is idempotent by id: storing an id again returns
// added=false and changes nothing, except that a protocol's last refresh
// becomes now, which keeps it ProtocolTTL longer.
//
// A cancel or update puts the ids it supersedes into the superseded set,
// whether or not they are stored, so that they never become active.
//
// When the record does not fit MaxBytes, Put sweeps expired records, then
// evicts records of a lower tier than r (lowest tier first, then the ones
// expiring soonest); if that is not enough it fails with ErrFull.
func (s *Store) Put(r *record.Record, now time.Time) (added bool, err error) {
	it, err := itemOf(r)
	if err != nil {
		return false, fmt.Errorf("store: put: %w", err)
	}
	res, err := s.putItems([]item{it}, now, nil)
	if err != nil {
		return false, fmt.Errorf("store: put %s: %w", it.id.Short(), err)
	}
	return res[0], nil
}

// PutBatch stores rs in one transaction (one fsync), as Put would one by
// one, and reports for each whether it was added. It is all or nothing: if
// any record is invalid, expired or does not fit, nothing is stored and the
// error names the record.
func (s *Store) PutBatch(rs []*record.Record, now time.Time) ([]bool, error) {
	return s.PutBatchQueued(rs, now, nil)
}

// PutBatchQueued is PutBatch that also puts each record it adds and queue
// names into the outbox (as that class), in the same transaction: a node
// that forwards what it stores through the outbox (a gateway bridging its
// poles' acks to the server) can then confirm a record to its sender as
// soon as it is stored, with no instant at which a crash leaves it stored
// but not queued. A record already stored is not queued again.
func (s *Store) PutBatchQueued(rs []*record.Record, now time.Time, queue func(*record.Record) (OutboxClass, bool)) ([]bool, error) {
	its := make([]item, len(rs))
	for i, r := range rs {
		it, err := itemOf(r)
		if err != nil {
			return nil, fmt.Errorf("store: put batch: record %d: %w", i, err)
		}
		its[i] = it
	}
	var queued func(t *txn, i int) (bool, error)
	if queue != nil {
		queued = func(t *txn, i int) (bool, error) {
			class, ok := queue(rs[i])
			if !ok {
				return false, nil
			}
			if _, _, err := t.enqueue(class, its[i].raw, s.opts.MaxOutbox); err != nil {
				return false, fmt.Errorf("queueing %s: %w", its[i].id.Short(), err)
			}
			return true, nil
		}
	}
	res, err := s.putItems(its, now, queued)
	if err != nil {
		return nil, fmt.Errorf("store: put batch: %w", err)
	}
	return res, nil
}

// putItems stores its in one transaction. If they do not fit, it sweeps
// and tries again, evicting lower tiers this time.
//
// queued, if set, is called in the transaction for each item added, and
// says whether it put it in the outbox too.
func (s *Store) putItems(its []item, now time.Time, queued func(t *txn, i int) (bool, error)) ([]bool, error) {
	nowMs := now.UnixMilli()
	for i, it := range its {
		if it.expires <= nowMs {
			err := fmt.Errorf("%w: it expired at %v, now is %v", ErrExpired, msTime(it.expires), now.UTC())
			if len(its) > 1 {
				err = fmt.Errorf("record %d (%s): %w", i, it.id.Short(), err)
			}
			return nil, err
		}
	}
	added := make([]bool, len(its))
	anyQueued := false
	do := func(evict bool) error {
		return s.update(func(t *txn) error {
			anyQueued = false
			fresh := map[record.ID]bool{} // added in this transaction: never evicted by it
			for i, it := range its {
				a, err := s.putTx(t, it, nowMs, evict, fresh)
				if err != nil {
					if len(its) > 1 {
						err = fmt.Errorf("record %d (%s): %w", i, it.id.Short(), err)
					}
					return err
				}
				added[i] = a
				if a {
					fresh[it.id] = true
					if queued != nil {
						q, err := queued(t, i)
						if err != nil {
							return err
						}
						anyQueued = anyQueued || q
					}
				}
			}
			return nil
		})
	}
	err := do(false)
	if errors.Is(err, errNeedRoom) {
		if _, serr := s.Sweep(now); serr != nil {
			return nil, serr
		}
		err = do(true)
	}
	if err != nil {
		return nil, err
	}
	if anyQueued {
		s.notifyOutbox()
	}
	return added, nil
}

// putTx stores one item in t. Without evict, it returns errNeedRoom when
// the item does not fit.
func (s *Store) putTx(t *txn, it item, nowMs int64, evict bool, fresh map[record.ID]bool) (bool, error) {
	if v := t.rec().Get(it.id[:]); v != nil {
		if it.kind != record.KindProtocol {
			return false, nil
		}
		return false, s.refresh(t, it.id, v, nowMs)
	}
	size := int64(len(it.raw))
	if size > s.opts.MaxBytes {
		return false, fmt.Errorf("%w: the record is %d bytes, more than the whole budget of %d", ErrFull, size, s.opts.MaxBytes)
	}
	used := int64(t.counter(kBytes))
	if used+size > s.opts.MaxBytes {
		if !evict {
			return false, errNeedRoom
		}
		need := used + size - s.opts.MaxBytes
		freed, n, err := s.evict(t, need, it.tier, fresh)
		if err != nil {
			return false, err
		}
		if freed < need {
			return false, fmt.Errorf("%w: a %d-byte %s record needs %d bytes more than the budget of %d has free (%d used), and records of lower tiers hold only %d",
				ErrFull, size, it.tier, need, s.opts.MaxBytes, used, freed)
		}
		s.log.Info("evicted records to make room", "count", n, "bytes", freed, "for", it.id.Short(), "tier", it.tier)
		if err := s.deleteIDs(t, n, it.tier, fresh); err != nil {
			return false, err
		}
	}
	if err := s.insert(t, it, nowMs); err != nil {
		return false, err
	}
	return true, nil
}

// insert writes a new record and its index entries.
func (s *Store) insert(t *txn, it item, nowMs int64) error {
	id := it.id
	if err := t.rec().Put(id[:], encodeEntry(it, nowMs)); err != nil {
		return err
	}
	for _, x := range t.indexEntries(id, it.kind, it.tier, it.scope, it.expires, nowMs) {
		if err := x.b.Put(x.k, nil); err != nil {
			return err
		}
	}
	if err := t.addCounter(kCount, 1); err != nil {
		return err
	}
	if err := t.addCounter(kBytes, int64(len(it.raw))); err != nil {
		return err
	}
	// A cancel or update: what it supersedes stays superseded at least as
	// long as it and the superseded record live, if it may supersede it.
	for _, sid := range it.supersedes {
		until := it.expires
		if v := t.rec().Get(sid[:]); v != nil {
			h, err := decodeEntryHeader(v)
			if err != nil {
				return fmt.Errorf("record %s: %w", sid.Short(), err)
			}
			if why := mayOverride(it.tier, it.scope, h.tier, h.scope); why != "" {
				s.refuseSupersede(t, it.id, sid, why)
				continue
			}
			until = max(until, h.expires)
		}
		if err := setSuperseded(t, sid, until, &claimant{tier: it.tier, scope: it.scope}); err != nil {
			return err
		}
	}
	// A record that arrives after what superseded it stays superseded
	// until it expires, if what superseded it had the right to; a claim
	// it had not is void.
	if v := t.sup().Get(id[:]); v != nil {
		c, err := decodeSupClaim(v)
		if err != nil {
			return fmt.Errorf("superseded-set entry %s: %w", id.Short(), err)
		}
		if why := c.covers(it.tier, it.scope); why != "" {
			s.refuseSupersede(t, record.ID{}, id, why)
			return deleteSuperseded(t, id, c.until)
		}
		return setSuperseded(t, id, it.expires, nil)
	}
	return nil
}

// mayOverride reports why a record of tier and scope may not supersede one
// of target tier and scope ("" if it may). The tier table (DESIGN §4)
// decides what a signer may publish; supersession must not let it take
// down more: a record never supersedes one of a higher tier (a gateway's
// advisory cancel cannot withdraw a server warning, a server-only warning
// cannot withdraw an emergency that needed an officer), and below warning,
// where signers are bound to their own zone or device, only a record of
// the same scope.
func mayOverride(tier record.Tier, scope string, targetTier record.Tier, targetScope string) string {
	if tier < targetTier {
		return fmt.Sprintf("a %s record may not supersede a %s one", tier, targetTier)
	}
	if tier < record.TierWarning && scope != targetScope {
		return fmt.Sprintf("a %s record for %s may not supersede one for %s", tier, scope, targetScope)
	}
	return ""
}

// supClaim is a superseded-set entry: the id stays superseded until the
// given time, by the records that named it, each kept as its tier and
// scope so that the record named, should it arrive later, is checked
// against them. A claim from schema 1, which did not keep them, is legacy:
// it covers anything (what schema 1 did).
type supClaim struct {
	until  int64
	by     []claimant
	legacy bool
}

// claimant is the tier and scope of a record that superseded an id.
type claimant struct {
	tier  record.Tier
	scope string
}

// maxClaimants bounds the distinct (tier, scope) pairs kept per id; past
// it, a new claimant replaces the weakest if it is stronger.
const maxClaimants = 8

// Stored form: until (uint64 ms, big-endian), then per claimant its tier
// (1 byte), the scope's length (1 byte) and the scope. A schema 1 entry is
// the 8 bytes of until alone.
func (c supClaim) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.until))
	if c.legacy {
		return b
	}
	for _, w := range c.by {
		b = append(b, byte(w.tier), byte(len(w.scope)))
		b = append(b, w.scope...)
	}
	return b
}

func decodeSupClaim(v []byte) (supClaim, error) {
	if len(v) < 8 {
		return supClaim{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(v))
	}
	c := supClaim{until: int64(binary.BigEndian.Uint64(v)), legacy: len(v) == 8}
	for rest := v[8:]; len(rest) > 0; {
		if len(rest) < 2 || len(rest) < 2+int(rest[1]) || rest[1] == 0 {
			return supClaim{}, fmt.Errorf("%w: claimant %d cut short", ErrCorrupt, len(c.by))
		}
		w := claimant{tier: record.Tier(rest[0]), scope: string(rest[2 : 2+int(rest[1])])}
		if !w.tier.Valid() {
			return supClaim{}, fmt.Errorf("%w: claimant %d has unknown tier %d", ErrCorrupt, len(c.by), rest[0])
		}
		c.by = append(c.by, w)
		rest = rest[2+int(rest[1]):]
	}
	if len(c.by) > maxClaimants {
		return supClaim{}, fmt.Errorf("%w: %d claimants, at most %d", ErrCorrupt, len(c.by), maxClaimants)
	}
	return c, nil
}

// covers reports why no claimant may supersede a record of tier and scope
// ("" if one may).
func (c supClaim) covers(tier record.Tier, scope string) string {
	if c.legacy {
		return ""
	}
	why := "no claimant"
	for _, w := range c.by {
		if why = mayOverride(w.tier, w.scope, tier, scope); why == "" {
			return ""
		}
	}
	return why
}

// add merges claimant w into c.
func (c *supClaim) add(w claimant) {
	if c.legacy {
		return
	}
	weakest := -1
	for i, x := range c.by {
		if x == w {
			return
		}
		if weakest < 0 || x.tier < c.by[weakest].tier {
			weakest = i
		}
	}
	if len(c.by) < maxClaimants {
		c.by = append(c.by, w)
	} else if w.tier > c.by[weakest].tier {
		c.by[weakest] = w
	}
}

// setSuperseded records that id is superseded until at least until, by a
// record of claimant w (nil: keep the claimants as they are).
func setSuperseded(t *txn, id record.ID, until int64, w *claimant) error {
	c := supClaim{until: until}
	if v := t.sup().Get(id[:]); v != nil {
		old, err := decodeSupClaim(v)
		if err != nil {
			return fmt.Errorf("superseded-set entry %s: %w", id.Short(), err)
		}
		c = old
		c.until = max(old.until, until)
		if c.until != old.until {
			if err := t.supexp().Delete(timeKey(old.until, id)); err != nil {
				return err
			}
		}
	}
	if w != nil {
		c.add(*w)
	}
	if err := t.sup().Put(id[:], c.encode()); err != nil {
		return err
	}
	return t.supexp().Put(timeKey(c.until, id), nil)
}

// deleteSuperseded removes id's superseded-set entry, which lasts until.
func deleteSuperseded(t *txn, id record.ID, until int64) error {
	if err := t.sup().Delete(id[:]); err != nil {
		return err
	}
	return t.supexp().Delete(timeKey(until, id))
}

// refuseSupersede logs and counts, once t commits, a supersession refused
// by mayOverride: by names the superseding record (zero if it is not at
// hand), target the record it named.
func (s *Store) refuseSupersede(t *txn, by, target record.ID, why string) {
	t.tx.OnCommit(func() {
		s.supRefused.Add(1)
		if by == (record.ID{}) {
			s.log.Warn("a record arrived that a stored record superseded without the right to; it stays active", "record", target.Short(), "reason", why)
			return
		}
		s.log.Warn("refused a supersession", "record", by.Short(), "supersedes", target.Short(), "reason", why)
	})
}

// refresh makes nowMs the last refresh of the stored protocol id.
func (s *Store) refresh(t *txn, id record.ID, v []byte, nowMs int64) error {
	h, err := decodeEntryHeader(v)
	if err != nil {
		return fmt.Errorf("record %s: %w", id.Short(), err)
	}
	if nowMs <= h.refreshed {
		return nil
	}
	nv := append([]byte(nil), v...)
	binary.BigEndian.PutUint64(nv[offRefreshed:], uint64(nowMs))
	if err := t.proto().Delete(timeKey(h.refreshed, id)); err != nil {
		return err
	}
	if err := t.proto().Put(timeKey(nowMs, id), nil); err != nil {
		return err
	}
	return t.rec().Put(id[:], nv)
}

// evict finds the records to evict to free need bytes: those of a tier
// below tier, lowest tier first, soonest-expiring first, skipping the ids
// in keep. It returns the bytes they hold and how many they are (the first
// n in that order), without deleting them.
func (s *Store) evict(t *txn, need int64, tier record.Tier, keep map[record.ID]bool) (freed int64, n int, err error) {
	c := t.tier().Cursor()
	for k, _ := c.First(); k != nil && record.Tier(k[0]) < tier && freed < need; k, _ = c.Next() {
		if len(k) != 1+8+32 {
			return 0, 0, fmt.Errorf("%w: tier index key of %d bytes", ErrCorrupt, len(k))
		}
		id := idAt(k, 9)
		if keep[id] {
			continue
		}
		v := t.rec().Get(id[:])
		if v == nil {
			return 0, 0, fmt.Errorf("%w: tier index names record %s, which is not stored", ErrCorrupt, id.Short())
		}
		h, err := decodeEntryHeader(v)
		if err != nil {
			return 0, 0, fmt.Errorf("record %s: %w", id.Short(), err)
		}
		freed += int64(h.rawLen)
		n++
	}
	return freed, n, nil
}

// deleteIDs deletes the first n records evict would pick.
func (s *Store) deleteIDs(t *txn, n int, tier record.Tier, keep map[record.ID]bool) error {
	var ids []record.ID
	c := t.tier().Cursor()
	for k, _ := c.First(); k != nil && record.Tier(k[0]) < tier && len(ids) < n; k, _ = c.Next() {
		if id := idAt(k, 9); !keep[id] {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if err := deleteRecord(t, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteRecord deletes a stored record and its index entries. Its
// superseded-set entries stay until they expire.
func deleteRecord(t *txn, id record.ID) error {
	v := t.rec().Get(id[:])
	if v == nil {
		return nil
	}
	h, err := decodeEntryHeader(v)
	if err != nil {
		return fmt.Errorf("record %s: %w", id.Short(), err)
	}
	dels := append(t.indexEntries(id, h.kind, h.tier, h.scope, h.expires, h.refreshed),
		indexEntry{t.rec(), id[:], "rec"}) // last: h was decoded from its value
	for _, d := range dels {
		if err := d.b.Delete(d.k); err != nil {
			return err
		}
	}
	if err := t.addCounter(kCount, -1); err != nil {
		return err
	}
	return t.addCounter(kBytes, -int64(h.rawLen))
}

// Sweep deletes what has run out at now: records that have expired,
// protocols not refreshed for ProtocolTTL, and superseded-set entries whose
// superseding record (and the superseded record) have expired. It works in
// transactions of at most 5,000 deletions and returns how many records
// it deleted.
func (s *Store) Sweep(now time.Time) (removed int, err error) {
	nowMs := now.UnixMilli()
	staleMs := now.Add(-s.opts.ProtocolTTL).UnixMilli()
	for {
		n, more := 0, false
		err := s.update(func(t *txn) error {
			n, more = 0, false
			seen := map[record.ID]bool{}
			var ids []record.ID
			collect := func(b *bolt.Bucket, limitMs int64) error {
				c := b.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if len(k) != 40 {
						return fmt.Errorf("%w: index key of %d bytes", ErrCorrupt, len(k))
					}
					if getMs(k) > limitMs {
						return nil
					}
					if len(ids) >= sweepBatch {
						more = true
						return nil
					}
					if id := idAt(k, 8); !seen[id] {
						seen[id] = true
						ids = append(ids, id)
					}
				}
				return nil
			}
			if err := collect(t.exp(), nowMs); err != nil {
				return err
			}
			if err := collect(t.proto(), staleMs); err != nil {
				return err
			}
			for _, id := range ids {
				if err := deleteRecord(t, id); err != nil {
					return err
				}
			}
			n = len(ids)
			var sups [][]byte
			c := t.supexp().Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if len(k) != 40 {
					return fmt.Errorf("%w: superseded-set key of %d bytes", ErrCorrupt, len(k))
				}
				if getMs(k) > nowMs {
					break
				}
				if len(sups) >= sweepBatch {
					more = true
					break
				}
				sups = append(sups, append([]byte(nil), k...))
			}
			for _, k := range sups {
				if err := t.supexp().Delete(k); err != nil {
					return err
				}
				if err := t.sup().Delete(k[8:]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("store: sweep: %w", err)
		}
		removed += n
		if !more {
			break
		}
	}
	if removed > 0 {
		s.log.Debug("swept records", "count", removed)
	}
	return removed, nil
}

// indexEntry is one index key of a stored record.
type indexEntry struct {
	b    *bolt.Bucket
	k    []byte
	name string
}

// indexEntries returns the index keys a record with these fields has: the
// one list that insert, delete and the open-time check share. Device
// scopes are not in the scope index (schema 2).
func (t *txn) indexEntries(id record.ID, kind record.Kind, tier record.Tier, scope string, expires, refreshed int64) []indexEntry {
	es := []indexEntry{
		{t.exp(), timeKey(expires, id), "exp"},
		{t.kind(), kindKey(kind, expires, id), "kind"},
		{t.tier(), tierKey(tier, expires, id), "tier"},
	}
	if t.deviceScopes() || !deviceScope(scope) {
		es = append(es, indexEntry{t.scope(), scopeKey(scope, expires, id), "scope"})
	}
	if kind.Displayable() {
		es = append(es, indexEntry{t.disp(), timeKey(expires, id), "disp"})
	}
	if kind == record.KindProtocol {
		es = append(es, indexEntry{t.proto(), timeKey(refreshed, id), "proto"})
	}
	return es
}

// deviceScope reports whether scope is a device's.
func deviceScope(scope string) bool { return strings.HasPrefix(scope, "device:") }
