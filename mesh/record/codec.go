package record

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// maxLifetime bounds expires − issued, so that a mistyped expiry cannot pin
// a record on every pole for decades.
const maxLifetime = 10 * 366 * 24 * time.Hour

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyQuiet, // checkCanonical rejects duplicates first
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       4096,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// payload is the wire form of the envelope, the COSE payload.
type payload struct {
	Kind       Kind            `cbor:"1,keyasint"`
	Tier       Tier            `cbor:"2,keyasint"`
	Scope      string          `cbor:"3,keyasint"`
	Issued     int64           `cbor:"4,keyasint"`
	Expires    int64           `cbor:"5,keyasint"`
	Origin     string          `cbor:"6,keyasint"`
	Seq        uint64          `cbor:"7,keyasint,omitempty"`
	Supersedes []ID            `cbor:"8,keyasint,omitempty"`
	Body       cbor.RawMessage `cbor:"9,keyasint"`
}

// MarshalCBOR encodes an id as a 32-byte string.
func (id ID) MarshalCBOR() ([]byte, error) { return encMode.Marshal(id[:]) }

// UnmarshalCBOR decodes a 32-byte string, and nothing else, into id.
func (id *ID) UnmarshalCBOR(b []byte) error {
	var s []byte
	if err := decMode.Unmarshal(b, &s); err != nil {
		return err
	}
	if len(s) != len(id) {
		return fmt.Errorf("%w: id is %d bytes, want %d", ErrBadEnvelope, len(s), len(id))
	}
	copy(id[:], s)
	return nil
}

// header is the wire form of a protected header: the envelope's own (for
// COSE_Sign1: all of it) or one signature's (for COSE_Sign).
type header struct {
	Alg         int64           `cbor:"1,keyasint,omitempty"`
	ContentType string          `cbor:"3,keyasint,omitempty"`
	KID         []byte          `cbor:"4,keyasint,omitempty"`
	X5Chain     cbor.RawMessage `cbor:"33,keyasint,omitempty"`
}

// Validate checks the envelope and body of r without signing it.
func (r *Record) Validate() error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownKind, uint8(r.Kind))
	}
	if !r.Tier.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownTier, uint8(r.Tier))
	}
	if err := r.Scope.Validate(); err != nil {
		return err
	}
	if r.Issued.UnixMilli() <= 0 {
		return fmt.Errorf("%w: issued %v is not after 1970", ErrBadEnvelope, r.Issued)
	}
	if !r.Expires.After(r.Issued) {
		return fmt.Errorf("%w: expires %v is not after issued %v", ErrBadEnvelope, r.Expires, r.Issued)
	}
	if r.Expires.Sub(r.Issued) > maxLifetime {
		return fmt.Errorf("%w: lifetime %v is longer than %v", ErrBadEnvelope, r.Expires.Sub(r.Issued), maxLifetime)
	}
	if err := ValidateNodeID(r.Origin); err != nil {
		return fmt.Errorf("%w: origin: %v", ErrBadEnvelope, err)
	}
	needSupersedes := r.Kind == KindCancel || r.Kind == KindUpdate
	if needSupersedes != (len(r.Supersedes) > 0) {
		return fmt.Errorf("%w: %s: supersedes is required for cancel and update and only for them", ErrBadEnvelope, r.Kind)
	}
	if len(r.Supersedes) > 64 {
		return fmt.Errorf("%w: supersedes %d records, at most 64", ErrBadEnvelope, len(r.Supersedes))
	}
	if r.Body == nil {
		return fmt.Errorf("%w: %s has no body", ErrBadBody, r.Kind)
	}
	want := r.Kind
	if want == KindUpdate {
		want = KindAlert // an update carries the alert that replaces
	}
	if r.Body.kind() != want {
		return fmt.Errorf("%w: %s needs a %T body, have %T", ErrBadBody, r.Kind, newBody(r.Kind), r.Body)
	}
	if err := r.Body.validate(); err != nil {
		return fmt.Errorf("%s: %w", r.Kind, err)
	}
	return nil
}

// encodePayload returns the canonical payload of r.
func (r *Record) encodePayload() ([]byte, error) {
	body, err := encMode.Marshal(r.Body)
	if err != nil {
		return nil, fmt.Errorf("record: encode body: %w", err)
	}
	p, err := encMode.Marshal(payload{
		Kind:       r.Kind,
		Tier:       r.Tier,
		Scope:      string(r.Scope),
		Issued:     r.Issued.UnixMilli(),
		Expires:    r.Expires.UnixMilli(),
		Origin:     r.Origin,
		Seq:        r.Seq,
		Supersedes: r.Supersedes,
		Body:       body,
	})
	if err != nil {
		return nil, fmt.Errorf("record: encode payload: %w", err)
	}
	return p, nil
}

// Sign validates r, encodes it and signs it: one signer makes a COSE_Sign1,
// two or more a COSE_Sign. It returns the signed record as Parse would.
func Sign(r *Record, signers ...Signer) (*Record, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if len(signers) == 0 || len(signers) > maxSigners {
		return nil, fmt.Errorf("record: sign: %d signers, want 1 to %d", len(signers), maxSigners)
	}
	p, err := r.encodePayload()
	if err != nil {
		return nil, err
	}
	var raw []byte
	if len(signers) == 1 {
		raw, err = sign1(p, signers[0])
	} else {
		raw, err = signMulti(p, signers)
	}
	if err != nil {
		return nil, fmt.Errorf("record: sign: %w", err)
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes signed, at most %d", ErrTooLarge, len(raw), MaxSize)
	}
	return Parse(raw)
}

const maxSigners = 4

func signerHeader(s Signer, withContentType bool) (cose.ProtectedHeader, error) {
	if len(s.KID) != KIDSize {
		return nil, fmt.Errorf("signer kid is %d bytes, want %d", len(s.KID), KIDSize)
	}
	h := cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA,
		cose.HeaderLabelKeyID:     s.KID,
	}
	if withContentType {
		h[cose.HeaderLabelContentType] = ContentType
	}
	switch len(s.Chain) {
	case 0:
	case 1:
		h[cose.HeaderLabelX5Chain] = s.Chain[0]
	default:
		h[cose.HeaderLabelX5Chain] = s.Chain
	}
	return h, nil
}

func sign1(p []byte, s Signer) ([]byte, error) {
	h, err := signerHeader(s, true)
	if err != nil {
		return nil, err
	}
	cs, err := cose.NewSigner(cose.AlgorithmEdDSA, s.Key)
	if err != nil {
		return nil, err
	}
	return cose.Sign1(rand.Reader, cs, cose.Headers{Protected: h}, p, nil)
}

func signMulti(p []byte, signers []Signer) ([]byte, error) {
	m := cose.NewSignMessage()
	m.Headers.Protected[cose.HeaderLabelContentType] = ContentType
	m.Payload = p
	css := make([]cose.Signer, len(signers))
	for i, s := range signers {
		h, err := signerHeader(s, false)
		if err != nil {
			return nil, err
		}
		sig := cose.NewSignature()
		sig.Headers.Protected = h
		m.Signatures = append(m.Signatures, sig)
		if css[i], err = cose.NewSigner(cose.AlgorithmEdDSA, s.Key); err != nil {
			return nil, err
		}
	}
	if err := m.Sign(rand.Reader, nil, css...); err != nil {
		return nil, err
	}
	return m.MarshalCBOR()
}

// AppendMarshal appends the signed bytes of r to dst. Only a record that was
// signed or parsed has bytes; marshal never re-encodes, so what was signed
// is exactly what travels.
func AppendMarshal(dst []byte, r *Record) ([]byte, error) {
	if len(r.raw) == 0 {
		return dst, errors.New("record: marshal: record is not signed (use Sign)")
	}
	return append(dst, r.raw...), nil
}

// COSE tags as their encoded prefixes.
var (
	tagSign1 = []byte{0xd2}       // #6.18 COSE_Sign1
	tagSign  = []byte{0xd8, 0x62} // #6.98 COSE_Sign
)

// Parse decodes and checks a signed record. It does not check who signed
// it (that is mesh/trust); it rejects anything that is not the one
// canonical encoding of a valid record.
func Parse(b []byte) (*Record, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxSize)
	}
	r := &Record{raw: b, id: IDOf(b)}
	var (
		p   []byte
		err error
	)
	switch {
	case bytes.HasPrefix(b, tagSign1):
		p, err = r.parseSign1(b)
	case bytes.HasPrefix(b, tagSign):
		p, err = r.parseSign(b)
	case len(b) == 0:
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: starts 0x%02x, not a COSE_Sign1 (tag 18) or COSE_Sign (tag 98)", ErrMalformed, b[0])
	}
	if err != nil {
		return nil, err
	}
	if err := r.decodePayload(p); err != nil {
		return nil, err
	}
	r.payload = p
	return r, nil
}

func (r *Record) parseSign1(b []byte) ([]byte, error) {
	m, err := readSign1(b)
	if err != nil {
		return nil, err
	}
	sig, err := parseSigHeader(m.Headers.RawProtected, true)
	if err != nil {
		return nil, err
	}
	if len(m.Signature) != 64 {
		return nil, fmt.Errorf("%w: signature is %d bytes, want 64", ErrMalformed, len(m.Signature))
	}
	r.sign1, r.sigs = m, []Signature{sig}
	return m.Payload, nil
}

func (r *Record) parseSign(b []byte) ([]byte, error) {
	m, err := readSign(b)
	if err != nil {
		return nil, err
	}
	var h header
	if err := decodeProtected(m.Headers.RawProtected, &h); err != nil {
		return nil, fmt.Errorf("%w: protected: %v", ErrBadHeader, err)
	}
	if h.ContentType != ContentType || h.Alg != 0 || h.KID != nil || h.X5Chain != nil {
		return nil, fmt.Errorf("%w: COSE_Sign protected header must hold only content type %q", ErrBadHeader, ContentType)
	}
	if n := len(m.Signatures); n < 2 {
		return nil, fmt.Errorf("%w: COSE_Sign with %d signatures (one signer uses COSE_Sign1)", ErrMalformed, n)
	}
	seen := map[string]bool{}
	for i, s := range m.Signatures {
		sig, err := parseSigHeader(s.Headers.RawProtected, false)
		if err != nil {
			return nil, fmt.Errorf("signature %d: %w", i, err)
		}
		if len(s.Signature) != 64 {
			return nil, fmt.Errorf("%w: signature %d is %d bytes, want 64", ErrMalformed, i, len(s.Signature))
		}
		if seen[string(sig.KID)] {
			return nil, fmt.Errorf("%w: signature %d repeats kid %x", ErrBadHeader, i, sig.KID)
		}
		seen[string(sig.KID)] = true
		r.sigs = append(r.sigs, sig)
	}
	r.multi = m
	return m.Payload, nil
}

func parseSigHeader(prot []byte, sign1 bool) (Signature, error) {
	var h header
	if err := decodeProtected(prot, &h); err != nil {
		return Signature{}, fmt.Errorf("%w: protected: %v", ErrBadHeader, err)
	}
	if h.Alg != int64(cose.AlgorithmEdDSA) {
		return Signature{}, fmt.Errorf("%w: alg %d, want EdDSA (%d)", ErrBadHeader, h.Alg, cose.AlgorithmEdDSA)
	}
	if sign1 && h.ContentType != ContentType {
		return Signature{}, fmt.Errorf("%w: content type %q, want %q", ErrBadHeader, h.ContentType, ContentType)
	}
	if !sign1 && h.ContentType != "" {
		return Signature{}, fmt.Errorf("%w: content type belongs in the body header of a COSE_Sign", ErrBadHeader)
	}
	if len(h.KID) != KIDSize {
		return Signature{}, fmt.Errorf("%w: kid is %d bytes, want %d", ErrBadHeader, len(h.KID), KIDSize)
	}
	s := Signature{KID: h.KID}
	if len(h.X5Chain) > 0 {
		chain, err := parseX5Chain(h.X5Chain)
		if err != nil {
			return Signature{}, err
		}
		s.Chain = chain
	}
	return s, nil
}

// parseX5Chain decodes an x5chain header (RFC 9360): one certificate as a
// byte string, several as an array of them.
func parseX5Chain(raw []byte) ([][]byte, error) {
	var one []byte
	if err := decMode.Unmarshal(raw, &one); err == nil {
		if len(one) == 0 {
			return nil, fmt.Errorf("%w: empty x5chain", ErrBadHeader)
		}
		return [][]byte{one}, nil
	}
	var many [][]byte
	if err := decMode.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%w: x5chain: %v", ErrBadHeader, err)
	}
	if len(many) < 2 || len(many) > 4 {
		return nil, fmt.Errorf("%w: x5chain array of %d certificates (want 2–4; one goes as a byte string)", ErrBadHeader, len(many))
	}
	for i, c := range many {
		if len(c) == 0 {
			return nil, fmt.Errorf("%w: x5chain certificate %d is empty", ErrBadHeader, i)
		}
	}
	return many, nil
}

// decodeProtected unwraps a protected header's byte string (already read
// canonically by cborReader) and decodes the map inside it into h.
func decodeProtected(raw []byte, h *header) error {
	r := cborReader{b: raw}
	inner, _, err := r.bstr("protected header")
	if err != nil {
		return err
	}
	return decodeCanonical(inner, h)
}

// decodeCanonical decodes b strictly into v and requires b to be the
// canonical encoding of what it decoded to.
func decodeCanonical(b []byte, v any) error {
	if err := checkCanonical(b); err != nil {
		return err
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return describeDecodeErr(err)
	}
	return nil
}

func (r *Record) decodePayload(b []byte) error {
	var p payload
	if err := decodeCanonical(b, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if !p.Kind.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownKind, uint8(p.Kind))
	}
	if !p.Tier.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownTier, uint8(p.Tier))
	}
	body := newBody(p.Kind)
	if err := decMode.Unmarshal(p.Body, body); err != nil {
		return fmt.Errorf("%s body: %w", p.Kind, describeDecodeErr(err))
	}
	r.Kind, r.Tier, r.Scope = p.Kind, p.Tier, Scope(p.Scope)
	r.Issued, r.Expires = time.UnixMilli(p.Issued).UTC(), time.UnixMilli(p.Expires).UTC()
	r.Origin, r.Seq, r.Supersedes, r.Body = p.Origin, p.Seq, p.Supersedes, body
	return r.Validate()
}

// describeDecodeErr maps the CBOR library's errors to ours, keeping its
// message, which names the field or byte.
func describeDecodeErr(err error) error {
	var (
		unknown *cbor.UnknownFieldError
		dup     *cbor.DupMapKeyError
		indef   *cbor.IndefiniteLengthError
		tag     *cbor.TagsMdError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w: %v", ErrUnknownField, err)
	case errors.As(err, &dup):
		return fmt.Errorf("%w: duplicate map key: %v", ErrMalformed, err)
	case errors.As(err, &indef):
		return fmt.Errorf("%w: indefinite length: %v", ErrMalformed, err)
	case errors.As(err, &tag):
		return fmt.Errorf("%w: tags are not allowed: %v", ErrMalformed, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}
