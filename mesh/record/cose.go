package record

import (
	"bytes"
	"fmt"

	"github.com/veraison/go-cose"
)

// The COSE structure around the payload has a fixed shape, so Parse reads it
// with a small strict reader instead of a general decoder: every head must
// be in its shortest form and definite, which makes the structure canonical
// by construction, and nothing is allocated but the message it returns. The
// payload and the protected headers are decoded with the CBOR library.

// cborReader reads CBOR items from b, requiring canonical heads.
type cborReader struct {
	b   []byte
	off int
}

// head reads one head and returns its major type and argument.
func (r *cborReader) head() (major byte, arg uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, fmt.Errorf("%w: truncated at byte %d", ErrMalformed, r.off)
	}
	at := r.off
	ib := r.b[r.off]
	r.off++
	major, ai := ib>>5, ib&0x1f
	var n int
	switch {
	case ai < 24:
		return major, uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return 0, 0, fmt.Errorf("%w: indefinite length at byte %d", ErrMalformed, at)
	default:
		return 0, 0, fmt.Errorf("%w: reserved head 0x%02x at byte %d", ErrMalformed, ib, at)
	}
	if len(r.b)-r.off < n {
		return 0, 0, fmt.Errorf("%w: truncated head at byte %d", ErrMalformed, at)
	}
	for _, c := range r.b[r.off : r.off+n] {
		arg = arg<<8 | uint64(c)
	}
	r.off += n
	minimal := (n == 1 && arg >= 24) || (n == 2 && arg > 0xff) || (n == 4 && arg > 0xffff) || (n == 8 && arg > 0xffffffff)
	if !minimal {
		return 0, 0, fmt.Errorf("%w: head at byte %d is longer than needed", ErrNonCanonical, at)
	}
	return major, arg, nil
}

// expect reads a head and requires its major type and argument.
func (r *cborReader) expect(what string, major byte, arg uint64) error {
	at := r.off
	m, a, err := r.head()
	if err != nil {
		return err
	}
	if m != major || a != arg {
		return fmt.Errorf("%w: %s at byte %d: have major type %d argument %d, want %d/%d", ErrMalformed, what, at, m, a, major, arg)
	}
	return nil
}

// bstr reads a byte string and returns its content and its full encoding.
func (r *cborReader) bstr(what string) (content, encoded []byte, err error) {
	at := r.off
	m, n, err := r.head()
	if err != nil {
		return nil, nil, err
	}
	if m != 2 {
		return nil, nil, fmt.Errorf("%w: %s at byte %d is major type %d, want a byte string", ErrMalformed, what, at, m)
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, nil, fmt.Errorf("%w: %s at byte %d: %d bytes, only %d left", ErrMalformed, what, at, n, len(r.b)-r.off)
	}
	end := r.off + int(n)
	content, encoded = r.b[r.off:end:end], r.b[at:end:end]
	r.off = end
	return content, encoded, nil
}

// emptyMap reads the unprotected header, which must be the empty map.
func (r *cborReader) emptyMap() error {
	at := r.off
	if r.off >= len(r.b) || r.b[r.off] != 0xa0 {
		return fmt.Errorf("%w: unprotected header at byte %d must be empty", ErrBadHeader, at)
	}
	r.off++
	return nil
}

func (r *cborReader) end() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d trailing bytes after the record", ErrMalformed, len(r.b)-r.off)
	}
	return nil
}

// edDSAOnly is the decoded form of every protected header Parse accepts, as
// far as go-cose's verifier needs to know.
var edDSAOnly = cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA}

// readCommon reads what COSE_Sign1 and COSE_Sign share: the tag, a
// four-item array, the protected header, the empty unprotected header and
// the payload.
func readCommon(r *cborReader, name string, tag uint64) (prot, payload []byte, err error) {
	if err := r.expect(name+" tag", 6, tag); err != nil {
		return nil, nil, err
	}
	if err := r.expect(name, 4, 4); err != nil {
		return nil, nil, err
	}
	if _, prot, err = r.bstr("protected header"); err != nil {
		return nil, nil, err
	}
	if err := r.emptyMap(); err != nil {
		return nil, nil, err
	}
	payload, _, err = r.bstr("payload")
	return prot, payload, err
}

// readSign1 reads a COSE_Sign1: #6.18([protected, {}, payload, signature]).
func readSign1(b []byte) (*cose.Sign1Message, error) {
	r := cborReader{b: b}
	prot, payload, err := readCommon(&r, "COSE_Sign1", 18)
	if err != nil {
		return nil, err
	}
	sig, _, err := r.bstr("signature")
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return &cose.Sign1Message{
		Headers:   cose.Headers{RawProtected: prot, Protected: edDSAOnly, RawUnprotected: emptyMap},
		Payload:   payload,
		Signature: sig,
	}, nil
}

// readSign reads a COSE_Sign:
// #6.98([protected, {}, payload, [+ [protected, {}, signature]]]).
func readSign(b []byte) (*cose.SignMessage, error) {
	r := cborReader{b: b}
	prot, payload, err := readCommon(&r, "COSE_Sign", 98)
	if err != nil {
		return nil, err
	}
	at := r.off
	m, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if m != 4 || n > maxSigners {
		return nil, fmt.Errorf("%w: signatures at byte %d: want an array of at most %d", ErrMalformed, at, maxSigners)
	}
	msg := &cose.SignMessage{
		Headers: cose.Headers{RawProtected: prot, RawUnprotected: emptyMap},
		Payload: payload,
	}
	for i := range int(n) {
		if err := r.expect(fmt.Sprintf("signature %d", i), 4, 3); err != nil {
			return nil, err
		}
		_, sp, err := r.bstr("signature protected header")
		if err != nil {
			return nil, err
		}
		if err := r.emptyMap(); err != nil {
			return nil, err
		}
		sig, _, err := r.bstr("signature")
		if err != nil {
			return nil, err
		}
		msg.Signatures = append(msg.Signatures, &cose.Signature{
			Headers:   cose.Headers{RawProtected: sp, Protected: edDSAOnly, RawUnprotected: emptyMap},
			Signature: sig,
		})
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return msg, nil
}

// emptyMap is the only unprotected header Parse accepts.
var emptyMap = []byte{0xa0}

// maxDepth bounds nesting in a payload or header.
const maxDepth = 16

// checkCanonical walks one CBOR item that must fill b and requires the
// subset of core deterministic encoding (RFC 8949 §4.2.1) that records use:
// shortest heads, definite lengths, map keys in strictly increasing
// bytewise order (so no duplicates), no tags, no floats or simple values,
// and no map value that is an empty string, zero or empty array, since
// canonical records omit empty fields rather than encode them. It replaces
// a decode-and-re-encode round trip at a fraction of the cost. UTF-8 is
// left to the decoder, which rejects invalid text (UTF8RejectInvalid).
func checkCanonical(b []byte) error {
	r := cborReader{b: b}
	if err := r.canonicalItem(0, false); err != nil {
		return err
	}
	return r.end()
}

func (r *cborReader) canonicalItem(depth int, mapValue bool) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d at byte %d", ErrMalformed, maxDepth, r.off)
	}
	at := r.off
	major, n, err := r.head()
	if err != nil {
		return err
	}
	empty := n == 0
	switch major {
	case 0, 1: // integers
		empty = major == 0 && n == 0
	case 2, 3: // byte and text strings
		if n > uint64(len(r.b)-r.off) {
			return fmt.Errorf("%w: string at byte %d: %d bytes, only %d left", ErrMalformed, at, n, len(r.b)-r.off)
		}
		r.off += int(n)
	case 4:
		if n > uint64(len(r.b)-r.off) {
			return fmt.Errorf("%w: array at byte %d claims %d items", ErrMalformed, at, n)
		}
		for range n {
			if err := r.canonicalItem(depth+1, false); err != nil {
				return err
			}
		}
	case 5:
		if n > uint64(len(r.b)-r.off)/2 {
			return fmt.Errorf("%w: map at byte %d claims %d pairs", ErrMalformed, at, n)
		}
		empty = false // an empty map is how an all-empty struct encodes
		var prev []byte
		for i := range n {
			start := r.off
			if err := r.canonicalItem(depth+1, false); err != nil {
				return err
			}
			key := r.b[start:r.off]
			if i > 0 {
				switch c := compareKeys(prev, key); {
				case c == 0:
					return fmt.Errorf("%w: duplicate map key at byte %d", ErrMalformed, start)
				case c > 0:
					return fmt.Errorf("%w: map key at byte %d is out of order", ErrNonCanonical, start)
				}
			}
			prev = key
			if err := r.canonicalItem(depth+1, true); err != nil {
				return err
			}
		}
	case 6:
		return fmt.Errorf("%w: tags are not allowed (tag %d at byte %d)", ErrMalformed, n, at)
	default:
		return fmt.Errorf("%w: floats and simple values are not used in records (byte %d)", ErrMalformed, at)
	}
	if mapValue && empty {
		return fmt.Errorf("%w: empty value at byte %d is encoded explicitly (omit it)", ErrNonCanonical, at)
	}
	return nil
}

// compareKeys orders encoded map keys bytewise, as core deterministic
// encoding requires.
func compareKeys(a, b []byte) int { return bytes.Compare(a, b) }
