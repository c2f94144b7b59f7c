package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/cityarray/cityarray/mesh/record"
	bolt "go.etcd.io/bbolt"
)

// Bound is a point in the anti-entropy key space: records are ordered by
// (expiry, id), and ranges are half-open [lo, hi).
type Bound struct {
	Expires int64 // unix milliseconds
	ID      record.ID
}

// MinBound is below every record. MaxBound is above every record that can
// exist (an expiry in the year 292,278,994), and stands for infinity.
var (
	MinBound = Bound{Expires: math.MinInt64}
	MaxBound = Bound{Expires: math.MaxInt64, ID: record.ID{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	}}
)

// Compare orders bounds by expiry, then id.
func (b Bound) Compare(o Bound) int {
	if c := cmp.Compare(b.Expires, o.Expires); c != 0 {
		return c
	}
	return bytes.Compare(b.ID[:], o.ID[:])
}

func (b Bound) key() []byte { return timeKey(b.Expires, b.ID) }

func boundOf(k []byte) Bound { return Bound{Expires: getMs(k), ID: idAt(k, 8)} }

// Fingerprint returns the fingerprint and the number of stored records in
// [lo, hi), expired or not. The fingerprint is the first 16 bytes of
// SHA-256(sum || count), where sum is the sum of the records' ids read as
// 256-bit little-endian numbers, modulo 2^256 (32 bytes, little-endian),
// and count is a uvarint: the range fingerprint of Negentropy (NIP-77). It
// reads the range once.
func (s *Store) Fingerprint(lo, hi Bound) (fp [16]byte, count int, err error) {
	return s.fingerprint(lo, hi, func(t *txn, lo, hi Bound, fn func(Bound) bool) error { return scanRange(t.exp(), lo, hi, fn) })
}

// fingerprint is the fingerprint and count of what scan yields in [lo, hi).
func (s *Store) fingerprint(lo, hi Bound, scan func(t *txn, lo, hi Bound, fn func(Bound) bool) error) (fp [16]byte, count int, err error) {
	err = s.view(func(t *txn) error {
		var acc accumulator
		if err := scan(t, lo, hi, func(b Bound) bool { acc.add(b.ID); return true }); err != nil {
			return err
		}
		fp, count = acc.fingerprint(), acc.n
		return nil
	})
	if err != nil {
		return fp, 0, fmt.Errorf("store: fingerprint: %w", err)
	}
	return fp, count, nil
}

// SharedFingerprint is Fingerprint over the records the mesh replicates:
// every kind but the uplink ones (record.Kind.Uplink), which travel up to
// the server and are not copied onto every node. Gossip anti-entropy
// compares these.
func (s *Store) SharedFingerprint(lo, hi Bound) (fp [16]byte, count int, err error) {
	return s.fingerprint(lo, hi, walkShared)
}

// Keys returns the (expiry, id) keys of the stored records in [lo, hi), in
// order, at most limit of them (all if limit ≤ 0).
func (s *Store) Keys(lo, hi Bound, limit int) ([]Bound, error) {
	var ks []Bound
	err := s.view(func(t *txn) error {
		return scanRange(t.exp(), lo, hi, func(b Bound) bool {
			ks = append(ks, b)
			return limit <= 0 || len(ks) < limit
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	return ks, nil
}

// scanRange calls fn for each key of the exp bucket in [lo, hi) until it
// returns false.
func scanRange(b *bolt.Bucket, lo, hi Bound, fn func(Bound) bool) error {
	if lo.Compare(hi) >= 0 {
		return nil
	}
	c := b.Cursor()
	hk := hi.key()
	for k, _ := c.Seek(lo.key()); k != nil && bytes.Compare(k, hk) < 0; k, _ = c.Next() {
		if len(k) != 40 {
			return fmt.Errorf("%w: expiry index key of %d bytes", ErrCorrupt, len(k))
		}
		if !fn(boundOf(k)) {
			return nil
		}
	}
	return nil
}

// sharedKinds are the kinds the mesh replicates, in kind order.
var sharedKinds = func() []record.Kind {
	var ks []record.Kind
	for k := record.Kind(1); k.Valid(); k++ {
		if !k.Uplink() {
			ks = append(ks, k)
		}
	}
	return ks
}()

// sharedSeek is the kind index key where kind's range from lo starts.
func sharedSeek(kind record.Kind, lo Bound) []byte {
	return append([]byte{byte(kind)}, lo.key()...)
}

// sharedKey decodes k, a kind index key (kind || expires || id) reached by
// a cursor walking kind's range below hk: ok is false once k is past it.
func sharedKey(k []byte, kind record.Kind, hk []byte) (b Bound, ok bool, err error) {
	if k == nil || k[0] != byte(kind) || bytes.Compare(k[1:], hk) >= 0 {
		return Bound{}, false, nil
	}
	if len(k) != 41 {
		return Bound{}, false, fmt.Errorf("%w: kind index key of %d bytes", ErrCorrupt, len(k))
	}
	return boundOf(k[1:]), true, nil
}

// scanShared calls fn with the keys in [lo, hi) of the records of the
// shared kinds, in (expiry, id) order, until it returns false: a merge of
// their ranges of the kind index. walkShared is cheaper where the order
// does not matter.
func scanShared(t *txn, lo, hi Bound, fn func(Bound) bool) error {
	if lo.Compare(hi) >= 0 {
		return nil
	}
	type head struct {
		c    *bolt.Cursor
		kind record.Kind
		b    Bound
		ok   bool
	}
	hk := hi.key()
	heads := make([]head, 0, len(sharedKinds))
	for _, kind := range sharedKinds {
		h := head{c: t.kind().Cursor(), kind: kind}
		k, _ := h.c.Seek(sharedSeek(kind, lo))
		var err error
		if h.b, h.ok, err = sharedKey(k, kind, hk); err != nil {
			return err
		}
		heads = append(heads, h)
	}
	for {
		min := -1
		for i := range heads {
			if heads[i].ok && (min < 0 || heads[i].b.Compare(heads[min].b) < 0) {
				min = i
			}
		}
		if min < 0 {
			return nil
		}
		if !fn(heads[min].b) {
			return nil
		}
		h := &heads[min]
		k, _ := h.c.Next()
		var err error
		if h.b, h.ok, err = sharedKey(k, h.kind, hk); err != nil {
			return err
		}
	}
}

// walkShared calls fn with the same keys as scanShared, until it returns
// false, but kind by kind, each kind's in order: for sums and counts, which
// do not need the merge.
func walkShared(t *txn, lo, hi Bound, fn func(Bound) bool) error {
	if lo.Compare(hi) >= 0 {
		return nil
	}
	hk := hi.key()
	c := t.kind().Cursor()
	for _, kind := range sharedKinds {
		for k, _ := c.Seek(sharedSeek(kind, lo)); ; k, _ = c.Next() {
			b, ok, err := sharedKey(k, kind, hk)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if !fn(b) {
				return nil
			}
		}
	}
	return nil
}

// accumulator sums ids modulo 2^256 and counts them.
type accumulator struct {
	sum [4]uint64 // little-endian limbs
	n   int
}

func (a *accumulator) add(id record.ID) {
	var carry uint64
	for i := range a.sum {
		a.sum[i], carry = bits.Add64(a.sum[i], binary.LittleEndian.Uint64(id[8*i:]), carry)
	}
	a.n++
}

func (a *accumulator) fingerprint() (fp [16]byte) {
	var buf [32 + binary.MaxVarintLen64]byte
	for i, l := range a.sum {
		binary.LittleEndian.PutUint64(buf[8*i:], l)
	}
	n := binary.PutUvarint(buf[32:], uint64(a.n))
	h := sha256.Sum256(buf[:32+n])
	copy(fp[:], h[:16])
	return fp
}
