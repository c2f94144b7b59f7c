package store

import (
	"bytes"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// RawItem is a record's envelope with made-up bytes, for fixtures too large
// to sign (100,000 records). PutRaw stores it exactly as Put stores a
// signed record: same entry layout, same indexes, same counters.
type RawItem struct {
	Raw        []byte
	Kind       record.Kind
	Tier       record.Tier
	Scope      record.Scope
	Issued     time.Time
	Expires    time.Time
	Origin     string
	Seq        uint64
	Supersedes []record.ID
}

// PutRaw stores items in one transaction and returns their ids.
func (s *Store) PutRaw(items []RawItem, now time.Time) ([]record.ID, error) {
	its := make([]item, len(items))
	ids := make([]record.ID, len(items))
	for i, r := range items {
		ids[i] = record.IDOf(r.Raw)
		its[i] = item{
			id: ids[i], raw: r.Raw, kind: r.Kind, tier: r.Tier, scope: string(r.Scope),
			issued: r.Issued.UnixMilli(), expires: r.Expires.UnixMilli(),
			origin: r.Origin, seq: r.Seq, supersedes: r.Supersedes,
		}
	}
	_, err := s.putItems(its, now, nil)
	return ids, err
}

// DecodeEntryRoundTrip decodes a stored entry and, if it is valid, encodes
// it again; the result must equal v.
func DecodeEntryRoundTrip(v []byte) ([]byte, error) {
	h, err := decodeEntryHeader(v)
	if err != nil {
		return nil, err
	}
	it := item{kind: h.kind, tier: h.tier, scope: h.scope, issued: h.issued, expires: h.expires,
		origin: h.origin, seq: h.seq, raw: v[h.rawOff:]}
	return encodeEntry(it, h.refreshed), nil
}

// MessageRoundTrip parses a reconciliation message and, if it is valid,
// encodes it again; the result must equal b.
func MessageRoundTrip(b []byte) ([]byte, error) {
	m, err := parseMessage(b)
	if err != nil {
		return nil, err
	}
	return appendMessage(nil, m)
}

// CheckMetas runs Open's meta-page check on a file image.
func CheckMetas(b []byte) error {
	_, err := readMetas(bytes.NewReader(b), int64(len(b)))
	return err
}

// WalkPages runs Open's meta-page and page-structure checks on a file
// image.
func WalkPages(b []byte) error {
	ms, err := readMetas(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	return walkPages(bytes.NewReader(b), ms)
}

// CheckFile runs the checks Open runs on the open file.
func (s *Store) CheckFile() error { return s.checkFile() }

// SupClaimRoundTrip decodes a superseded-set entry and, if it is valid,
// encodes it again; the result must equal v.
func SupClaimRoundTrip(v []byte) ([]byte, error) {
	c, err := decodeSupClaim(v)
	if err != nil {
		return nil, err
	}
	return c.encode(), nil
}

// ScopeIndexKey is the key of the scope index for a record.
func ScopeIndexKey(scope string, expires time.Time, id record.ID) []byte {
	return scopeKey(scope, expires.UnixMilli(), id)
}

// PagesWritten is how many pages the store's transactions wrote so far.
func (s *Store) PagesWritten() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
