package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Entry is a stored record's envelope and bytes, as the indexes need them,
// so that callers can select records without parsing them. Raw is a copy
// the caller owns.
type Entry struct {
	ID        record.ID
	Kind      record.Kind
	Tier      record.Tier
	Scope     record.Scope
	Issued    time.Time // UTC, millisecond precision
	Expires   time.Time
	Refreshed time.Time // the last Put of this id (for protocols, the last refresh)
	Origin    string
	Seq       uint64
	Raw       []byte
}

// Parse parses e.Raw.
func (e Entry) Parse() (*record.Record, error) { return record.Parse(e.Raw) }

// Stored entry layout (the value of the "rec" bucket, keyed by id):
//
//	off  size  field
//	0    1     layout version (entryVersion)
//	1    1     kind
//	2    1     tier
//	3    1     flags, reserved: 0
//	4    8     issued, unix ms, int64 big-endian
//	12   8     expires, unix ms
//	20   8     refreshed (the last Put), unix ms
//	28   8     seq, uint64 big-endian
//	36   …     origin: uvarint length, bytes
//	…    …     scope: uvarint length, bytes
//	…    rest  the signed record bytes (at least one byte)
const (
	entryVersion   = 1
	entryFixedSize = 36
	offRefreshed   = 20
	maxEntryString = 255
)

// entryHeader is an entry without its record bytes.
type entryHeader struct {
	kind      record.Kind
	tier      record.Tier
	issued    int64
	expires   int64
	refreshed int64
	seq       uint64
	origin    string
	scope     string
	rawOff    int // where the record bytes start
	rawLen    int
}

// item is what putTx stores: a record's envelope and bytes.
type item struct {
	id         record.ID
	raw        []byte
	kind       record.Kind
	tier       record.Tier
	scope      string
	issued     int64
	expires    int64
	origin     string
	seq        uint64
	supersedes []record.ID
}

func itemOf(r *record.Record) (item, error) {
	if r == nil {
		return item{}, fmt.Errorf("%w: nil record", ErrInvalid)
	}
	raw := r.Raw()
	switch {
	case len(raw) == 0:
		return item{}, fmt.Errorf("%w: record was never signed (no bytes)", ErrInvalid)
	case record.IDOf(raw) != r.ID():
		return item{}, fmt.Errorf("%w: record %s: id does not match its bytes", ErrInvalid, r.ID().Short())
	case !r.Kind.Valid():
		return item{}, fmt.Errorf("%w: record %s: unknown kind %d", ErrInvalid, r.ID().Short(), uint8(r.Kind))
	case !r.Tier.Valid():
		return item{}, fmt.Errorf("%w: record %s: unknown tier %d", ErrInvalid, r.ID().Short(), uint8(r.Tier))
	case r.Scope == "" || len(r.Scope) > maxEntryString || len(r.Origin) > maxEntryString:
		return item{}, fmt.Errorf("%w: record %s: scope %q or origin %q empty or too long", ErrInvalid, r.ID().Short(), r.Scope, r.Origin)
	}
	return item{
		id:         r.ID(),
		raw:        raw,
		kind:       r.Kind,
		tier:       r.Tier,
		scope:      string(r.Scope),
		issued:     r.Issued.UnixMilli(),
		expires:    r.Expires.UnixMilli(),
		origin:     r.Origin,
		seq:        r.Seq,
		supersedes: r.Supersedes,
	}, nil
}

// encodeEntry returns the stored form of it, refreshed at the given time.
func encodeEntry(it item, refreshed int64) []byte {
	b := make([]byte, entryFixedSize, entryFixedSize+2*binary.MaxVarintLen16+len(it.origin)+len(it.scope)+len(it.raw))
	b[0] = entryVersion
	b[1] = byte(it.kind)
	b[2] = byte(it.tier)
	b[3] = 0
	binary.BigEndian.PutUint64(b[4:], uint64(it.issued))
	binary.BigEndian.PutUint64(b[12:], uint64(it.expires))
	binary.BigEndian.PutUint64(b[20:], uint64(refreshed))
	binary.BigEndian.PutUint64(b[28:], it.seq)
	b = binary.AppendUvarint(b, uint64(len(it.origin)))
	b = append(b, it.origin...)
	b = binary.AppendUvarint(b, uint64(len(it.scope)))
	b = append(b, it.scope...)
	return append(b, it.raw...)
}

// decodeEntryHeader decodes a stored entry, strictly: an unknown version,
// kind or tier, non-zero reserved flags, a string running past the end or
// longer than 255 bytes, or a missing record is an error.
func decodeEntryHeader(v []byte) (entryHeader, error) {
	var h entryHeader
	if len(v) < entryFixedSize {
		return h, fmt.Errorf("%w: stored entry is %d bytes, shorter than its %d-byte header", ErrCorrupt, len(v), entryFixedSize)
	}
	if v[0] != entryVersion {
		return h, fmt.Errorf("%w: stored entry layout version %d, want %d", ErrCorrupt, v[0], entryVersion)
	}
	h.kind, h.tier = record.Kind(v[1]), record.Tier(v[2])
	if !h.kind.Valid() || !h.tier.Valid() {
		return h, fmt.Errorf("%w: stored entry has kind %d, tier %d", ErrCorrupt, v[1], v[2])
	}
	if v[3] != 0 {
		return h, fmt.Errorf("%w: stored entry has flags %#x, want 0", ErrCorrupt, v[3])
	}
	h.issued = int64(binary.BigEndian.Uint64(v[4:]))
	h.expires = int64(binary.BigEndian.Uint64(v[12:]))
	h.refreshed = int64(binary.BigEndian.Uint64(v[20:]))
	h.seq = binary.BigEndian.Uint64(v[28:])
	off := entryFixedSize
	str := func(what string) (string, error) {
		n, w := binary.Uvarint(v[off:])
		if w <= 0 || w != uvarintLen(n) || n > maxEntryString || uint64(len(v)-off-w) < n {
			return "", fmt.Errorf("%w: stored entry's %s length is bad or runs past the end", ErrCorrupt, what)
		}
		off += w
		s := string(v[off : off+int(n)])
		off += int(n)
		return s, nil
	}
	var err error
	if h.origin, err = str("origin"); err != nil {
		return h, err
	}
	if h.scope, err = str("scope"); err != nil {
		return h, err
	}
	if off >= len(v) {
		return h, fmt.Errorf("%w: stored entry holds no record bytes", ErrCorrupt)
	}
	h.rawOff, h.rawLen = off, len(v)-off
	return h, nil
}

// decodeEntry decodes a stored entry into an Entry that owns its bytes.
func decodeEntry(id record.ID, v []byte) (Entry, error) {
	h, err := decodeEntryHeader(v)
	if err != nil {
		return Entry{}, fmt.Errorf("record %s: %w", id.Short(), err)
	}
	return Entry{
		ID:        id,
		Kind:      h.kind,
		Tier:      h.tier,
		Scope:     record.Scope(h.scope),
		Issued:    msTime(h.issued),
		Expires:   msTime(h.expires),
		Refreshed: msTime(h.refreshed),
		Origin:    h.origin,
		Seq:       h.seq,
		Raw:       append([]byte(nil), v[h.rawOff:]...),
	}, nil
}

// uvarintLen is the length of the shortest uvarint encoding of n; the
// decoders accept only that one, so that every value has one encoding.
func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Index keys. Times are unix milliseconds with the sign bit flipped and
// stored big-endian, so that byte order is time order.

func putMs(b []byte, ms int64) { binary.BigEndian.PutUint64(b, uint64(ms)^(1<<63)) }

func getMs(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// timeKey is (ms, id): the key of the exp, disp, proto and supexp buckets.
func timeKey(ms int64, id record.ID) []byte {
	k := make([]byte, 8+len(id))
	putMs(k, ms)
	copy(k[8:], id[:])
	return k
}

// tierKey is (tier, expires, id): the key of the tier bucket, in eviction
// order.
func tierKey(tier record.Tier, expires int64, id record.ID) []byte {
	k := make([]byte, 1+8+len(id))
	k[0] = byte(tier)
	putMs(k[1:], expires)
	copy(k[9:], id[:])
	return k
}

// kindKey is (kind, expires, id). The expiry in the middle keeps
// insertions local: records arriving together mostly expire at nearby
// times, so a batch dirties a few pages of the index instead of one per
// record, as a random id would.
func kindKey(kind record.Kind, expires int64, id record.ID) []byte {
	return append([]byte{byte(kind)}, timeKey(expires, id)...)
}

// scopePrefix is uvarint(len(scope)) || scope; the scope bucket's key is
// scopePrefix || expires || id, for the same reason as kindKey.
func scopePrefix(scope string) []byte {
	p := binary.AppendUvarint(nil, uint64(len(scope)))
	return append(p, scope...)
}

func scopeKey(scope string, expires int64, id record.ID) []byte {
	return append(scopePrefix(scope), timeKey(expires, id)...)
}

func idAt(k []byte, off int) (id record.ID) {
	copy(id[:], k[off:])
	return id
}
