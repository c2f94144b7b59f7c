package record

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// signPayload signs arbitrary payload bytes, bypassing Sign's checks, so a
// test can hand Parse a correctly signed record with a bad payload.
func signPayload(t *testing.T, p []byte) []byte {
	t.Helper()
	b, err := sign1(p, testSigner(t, 1, false))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validPayload returns the canonical payload of a valid warning alert.
func validPayload(t *testing.T) []byte {
	t.Helper()
	p, err := warningAlert().encodePayload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceOnce replaces the single occurrence of old in b.
func replaceOnce(t *testing.T, b, old, new []byte) []byte {
	t.Helper()
	if n := bytes.Count(b, old); n != 1 {
		t.Fatalf("pattern % x occurs %d times", old, n)
	}
	return bytes.Replace(b, old, new, 1)
}

func TestParseRejects(t *testing.T) {
	good := mustSign(t, warningAlert(), testSigner(t, 1, false)).Raw()
	p := validPayload(t)
	// The payload map starts a8 (8 pairs) 01 01 (kind alert) 02 03 (tier warning).
	if !bytes.HasPrefix(p, []byte{0xa8, 0x01, 0x01, 0x02, 0x03}) {
		t.Fatalf("payload starts % x", p[:5])
	}
	tests := []struct {
		name string
		in   []byte
		want error
		text string
	}{
		{"empty", nil, ErrMalformed, "empty"},
		{"not COSE", []byte("hello"), ErrMalformed, "not a COSE_Sign1"},
		{"oversized", append(bytes.Clone(good), make([]byte, MaxSize)...), ErrTooLarge, "at most 65536"},
		{"truncated", good[:len(good)-10], ErrMalformed, ""},
		{"trailing bytes", append(bytes.Clone(good), 0x00), ErrMalformed, ""},
		{"unknown kind", signPayload(t, replaceOnce(t, p, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0x0d, 0x02})), ErrUnknownKind, "13"},
		{"unknown tier", signPayload(t, replaceOnce(t, p, []byte{0x02, 0x03, 0x03}, []byte{0x02, 0x09, 0x03})), ErrUnknownTier, "9"},
		{"non-canonical integer", signPayload(t, replaceOnce(t, p, []byte{0xa8, 0x01, 0x01}, []byte{0xa8, 0x01, 0x18, 0x01})), ErrNonCanonical, ""},
		{"keys out of order", signPayload(t, replaceOnce(t, p, []byte{0x01, 0x01, 0x02, 0x03}, []byte{0x02, 0x03, 0x01, 0x01})), ErrNonCanonical, ""},
		{"duplicate key", signPayload(t, replaceOnce(t, p, []byte{0x01, 0x01, 0x02, 0x03}, []byte{0x01, 0x01, 0x01, 0x01})), ErrMalformed, "duplicate map key"},
		{"indefinite length map", signPayload(t, append(append([]byte{0xbf}, p[1:]...), 0xff)), ErrMalformed, "indefinite"},
		{"unknown field", signPayload(t, append(replaceOnce(t, p[:1], []byte{0xa8}, []byte{0xa9}), append(p[1:], 0x0a, 0x01)...)), ErrUnknownField, ""},
		{"tag in payload", signPayload(t, replaceOnce(t, p, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0xc1, 0x01, 0x02})), ErrMalformed, "tag"},
		{"invalid UTF-8", signPayload(t, replaceOnce(t, p, []byte("Flash flood warning:"), []byte("\xfflash flood warning:"))), ErrMalformed, "UTF-8"},
		{"explicit zero seq", signPayload(t, explicitZeroSeq(t)), ErrNonCanonical, ""},
		{"invalid body", signPayload(t, payloadWith(t, func(r *Record) { r.Body.(*Alert).Texts["en"] = AlertText{Short: strings.Repeat("x", 91)} })), ErrBadBody, "at most 90"},
		{"COSE_Sign with one signature", oneSigCOSESign(t), ErrMalformed, "one signer uses COSE_Sign1"},
		{"unprotected header", withUnprotected(t, good, []byte{0xa1, 0x04, 0x40}), ErrBadHeader, "must be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse accepted it: %v", r)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Parse = %v\nwant %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

func payloadWith(t *testing.T, mutate func(*Record)) []byte {
	r := warningAlert()
	mutate(r)
	p, err := r.encodePayload()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// explicitZeroSeq encodes seq 0 explicitly, which canonical form omits.
func explicitZeroSeq(t *testing.T) []byte {
	r := warningAlert()
	r.Seq = 0
	p, err := r.encodePayload()
	if err != nil {
		t.Fatal(err)
	}
	// Insert "07 00" before key 08/09: the body key 09 follows origin.
	i := bytes.Index(p, []byte("server-1"))
	out := append([]byte{0xa8}, p[1:i+len("server-1")]...)
	out = append(out, 0x07, 0x00)
	return append(out, p[i+len("server-1"):]...)
}

func oneSigCOSESign(t *testing.T) []byte {
	b, err := signMulti(validPayload(t), []Signer{testSigner(t, 1, false)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFlippedSignatureStillParses(t *testing.T) {
	s := testSigner(t, 1, false)
	good := mustSign(t, warningAlert(), s).Raw()
	bad := bytes.Clone(good)
	bad[len(bad)-5] ^= 1
	r, err := Parse(bad)
	if err != nil {
		t.Fatalf("Parse: %v (a bad signature is trust's to find)", err)
	}
	if err := r.VerifySignature(0, pubOf(s)); !errors.Is(err, ErrSignature) {
		t.Errorf("VerifySignature = %v, want ErrSignature", err)
	}
}

func pubOf(s Signer) ed25519.PublicKey { return s.Key.Public().(ed25519.PublicKey) }

// withUnprotected replaces the unprotected header of a COSE_Sign1.
func withUnprotected(t *testing.T, b, unprot []byte) []byte {
	var parts []cbor.RawMessage
	if err := cbor.Unmarshal(b[1:], &parts); err != nil {
		t.Fatal(err)
	}
	parts[1] = unprot
	out, err := cbor.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0xd2}, out...)
}
