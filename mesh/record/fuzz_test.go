package record

import (
	"bytes"
	"encoding/json"
	"testing"
)

func addSeeds(f *testing.F) {
	s := testSigner(f, 1, true)
	for _, r := range sampleRecords() {
		f.Add(mustSign(f, r, s).Raw())
	}
	e := warningAlert()
	e.Tier = TierEmergency
	f.Add(mustSign(f, e, s, testSigner(f, 2, false)).Raw())
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
}

// FuzzParse: Parse never panics, and whatever it accepts marshals back to
// the same bytes and parses to the same record.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		out, err := AppendMarshal(nil, r)
		if err != nil {
			t.Fatalf("AppendMarshal of a parsed record: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("marshal changed the bytes")
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if again.ID() != r.ID() || again.String() != r.String() {
			t.Fatalf("re-parse differs: %v vs %v", again, r)
		}
		// Re-encoding the parsed fields gives the signed payload exactly.
		p, err := again.encodePayload()
		if err != nil || !bytes.Equal(p, r.payload) {
			t.Fatalf("payload does not re-encode canonically: %v", err)
		}
	})
}

// FuzzJSON: the readable form never panics, and what it accepts and Sign
// accepts survives a round trip through the wire format.
func FuzzJSON(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s := testSigner(f, 1, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		signed, err := Sign(&r, s)
		if err != nil {
			return
		}
		if _, err := Parse(signed.Raw()); err != nil {
			t.Fatalf("a signed record does not parse: %v", err)
		}
	})
}
