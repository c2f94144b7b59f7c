package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/veraison/go-cose"
)

// MaxSize is the largest encoded record Parse accepts, in bytes.
const MaxSize = 64 << 10

// ContentType is the COSE content type of every record payload. It names the
// payload schema version: a change to the payload layout gets a new one.
const ContentType = "application/cityarray.v1+cbor"

// ID identifies a record: the SHA-256 of its complete signed bytes.
type ID [32]byte

// IDOf returns the id of the signed bytes b.
func IDOf(b []byte) ID { return sha256.Sum256(b) }

// String returns the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits of the id, for logs.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is all zero bytes.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the id as hex (used by JSON).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a 64-digit hex id.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID decodes a 64-digit hex id.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("record: id %q: want 64 hex digits, have %d", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("record: id %q: %v", s, err)
	}
	return id, nil
}

// Record is one signed record: the envelope fields every kind shares, the
// kind's body, and (once signed or parsed) its bytes, id and signatures.
//
// A Record returned by Parse or Sign is immutable: its Raw bytes are the
// record, and changing a field does not change them.
type Record struct {
	Kind       Kind
	Tier       Tier
	Scope      Scope
	Issued     time.Time // millisecond precision on the wire
	Expires    time.Time
	Origin     string // the signer's node id; (Origin, Seq) is unique
	Seq        uint64 // per origin, increasing; defeats replay after restore
	Supersedes []ID   // for update and cancel: the ids they replace
	Body       Body   // the kind's body: *Alert, *Protocol, … (see Kind)

	raw     []byte
	id      ID
	payload []byte
	sigs    []Signature
	sign1   *cose.Sign1Message
	multi   *cose.SignMessage
}

// ID returns the record's id (zero for a record that was never signed).
func (r *Record) ID() ID { return r.id }

// Raw returns the signed bytes. The caller must not modify them.
func (r *Record) Raw() []byte { return r.raw }

// Signatures returns the record's signatures in wire order. The caller must
// not modify them.
func (r *Record) Signatures() []Signature { return r.sigs }

// Expired reports whether the record has expired at now.
func (r *Record) Expired(now time.Time) bool { return !now.Before(r.Expires) }

// String describes the record in one line, for logs.
func (r *Record) String() string {
	return fmt.Sprintf("%s %s %s %s origin=%s seq=%d", r.id.Short(), r.Kind, r.Tier, r.Scope, r.Origin, r.Seq)
}

// Scope names the devices a record is for: "city", "zone:<id>" or
// "device:<id>".
type Scope string

// City is the scope of every device in the city.
const City Scope = "city"

// ZoneScope returns the scope "zone:<id>".
func ZoneScope(id string) Scope { return Scope("zone:" + id) }

// DeviceScope returns the scope "device:<id>".
func DeviceScope(id string) Scope { return Scope("device:" + id) }

// ScopeKind is the kind of a scope: city, zone or device.
type ScopeKind int

// Scope kinds.
const (
	ScopeInvalid ScopeKind = iota
	ScopeCity
	ScopeZone
	ScopeDevice
)

// Split returns the scope's kind and, for zone and device scopes, the id.
func (s Scope) Split() (ScopeKind, string) {
	switch {
	case s == City:
		return ScopeCity, ""
	case strings.HasPrefix(string(s), "zone:"):
		return ScopeZone, string(s[len("zone:"):])
	case strings.HasPrefix(string(s), "device:"):
		return ScopeDevice, string(s[len("device:"):])
	}
	return ScopeInvalid, ""
}

// ParseScope checks s and returns it as a Scope.
func ParseScope(s string) (Scope, error) {
	sc := Scope(s)
	return sc, sc.Validate()
}

// Validate reports whether s is a well-formed scope.
func (s Scope) Validate() error {
	k, id := s.Split()
	switch k {
	case ScopeCity:
		return nil
	case ScopeInvalid:
		return fmt.Errorf("%w: %q: want city, zone:<id> or device:<id>", ErrBadScope, string(s))
	}
	if err := ValidateNodeID(id); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadScope, string(s), err)
	}
	return nil
}

// ValidateNodeID checks a zone, device or node id: 1 to 64 characters of
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func ValidateNodeID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if len(id) > 64 {
		return fmt.Errorf("id %.20q… is %d bytes, more than 64", id, len(id))
	}
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return fmt.Errorf("id %q: character %q at %d is not allowed", id, c, i)
		}
	}
	return nil
}
