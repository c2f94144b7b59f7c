package record

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// recordJSON is the readable form of a record: what `cityarray record
// inspect` prints and `record sign --json` reads.
type recordJSON struct {
	ID         string          `json:"id,omitempty"`
	Size       int             `json:"size,omitempty"`
	Kind       Kind            `json:"kind"`
	Tier       Tier            `json:"tier"`
	Scope      Scope           `json:"scope"`
	Issued     time.Time       `json:"issued"`
	Expires    time.Time       `json:"expires"`
	Origin     string          `json:"origin"`
	Seq        uint64          `json:"seq,omitempty"`
	Supersedes []ID            `json:"supersedes,omitempty"`
	Body       json.RawMessage `json:"body"`
	Signatures []signatureJSON `json:"signatures,omitempty"`
}

type signatureJSON struct {
	KID   string   `json:"kid"`
	Chain []string `json:"x5chain,omitempty"` // base64 DER
}

// MarshalJSON encodes the record readably, with its id, size and
// signatures when it has been signed.
func (r *Record) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(r.Body)
	if err != nil {
		return nil, err
	}
	j := recordJSON{
		Kind: r.Kind, Tier: r.Tier, Scope: r.Scope,
		Issued: r.Issued.UTC(), Expires: r.Expires.UTC(),
		Origin: r.Origin, Seq: r.Seq, Supersedes: r.Supersedes, Body: body,
	}
	if len(r.raw) > 0 {
		j.ID, j.Size = r.id.String(), len(r.raw)
	}
	for _, s := range r.sigs {
		sj := signatureJSON{KID: hex.EncodeToString(s.KID)}
		for _, c := range s.Chain {
			sj.Chain = append(sj.Chain, base64.StdEncoding.EncodeToString(c))
		}
		j.Signatures = append(j.Signatures, sj)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes an unsigned record from its readable form, strictly:
// unknown fields are errors. Id, size and signatures are ignored; Sign makes
// them.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := decodeJSONStrict(b, &j); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if !j.Kind.Valid() {
		return fmt.Errorf("%w: missing", ErrUnknownKind)
	}
	body := newBody(j.Kind)
	if len(j.Body) == 0 {
		return fmt.Errorf("%w: %s has no body", ErrBadBody, j.Kind)
	}
	if err := decodeJSONStrict(j.Body, body); err != nil {
		return fmt.Errorf("%w: %s body: %v", ErrBadBody, j.Kind, err)
	}
	*r = Record{
		Kind: j.Kind, Tier: j.Tier, Scope: j.Scope, Issued: j.Issued, Expires: j.Expires,
		Origin: j.Origin, Seq: j.Seq, Supersedes: j.Supersedes, Body: body,
	}
	return nil
}

func decodeJSONStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
