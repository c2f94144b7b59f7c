package gossip

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range []*message{
		{typ: msgPush, from: "pole-1", record: []byte{0xd2, 0x84, 1, 2, 3}},
		{typ: msgIHave, from: "pole-1", ids: []record.ID{{1}, {2}}},
		{typ: msgGraft, from: "gw-z1", ids: []record.ID{{9}}},
		{typ: msgReconcile, from: "server-1", session: 0x0102030405060708, initiator: true, body: []byte("fp")},
		{typ: msgReconcile, from: "server-1", session: 7, body: []byte{}},
		{typ: msgFetch, from: "pole-2", ids: []record.ID{{3}, {4}, {5}}},
	} {
		b, err := m.encode(nil)
		if err != nil {
			t.Fatalf("%s: %v", m.typ, err)
		}
		got, err := decode(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", m.typ, err)
		}
		if diff := cmp.Diff(m, got, cmp.AllowUnexported(message{}), cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", m.typ, diff)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	ihave, _ := (&message{typ: msgIHave, from: "p", ids: []record.ID{{1}}}).encode(nil)
	fetch, _ := (&message{typ: msgFetch, from: "p", ids: []record.ID{{1}, {2}}}).encode(nil)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than a header"},
		{"version", []byte{2, 1, 1, 'p', 0}, "version 2"},
		{"no name", []byte{1, 1, 0, 0}, "sender name of 0 bytes"},
		{"name past the end", []byte{1, 1, 9, 'p'}, "sender name of 9 bytes"},
		{"bad name", []byte{1, 1, 2, 'p', ' ', 0}, "sender"},
		{"unknown type", []byte{1, 9, 1, 'p', 0}, "unknown type 9"},
		{"empty push", []byte{1, 1, 1, 'p'}, "empty push"},
		{"ihave count mismatch", ihave[:len(ihave)-1], "ihave of 1 ids in 31 bytes"},
		{"ihave of zero", []byte{1, 2, 1, 'p', 0}, "ihave of 0 ids"},
		{"reconcile header", []byte{1, 4, 1, 'p', 0, 0}, "shorter than its header"},
		{"reconcile flags", []byte{1, 4, 1, 'p', 0, 0, 0, 0, 0, 0, 0, 0, 2}, "flags 0x02"},
		{"fetch without a count", []byte{1, 5, 1, 'p'}, "fetch without a count"},
		{"fetch of zero", []byte{1, 5, 1, 'p', 0}, "fetch of 0 ids"},
		{"fetch count mismatch", fetch[:len(fetch)-1], "fetch of 2 ids in 63 bytes"},
		{"fetch too long", append(append([]byte{}, fetch...), 0), "fetch of 2 ids in 65 bytes"},
		{"fetch over the limit", append([]byte{1, 5, 1, 'p', maxIDs + 1}, make([]byte, 32*(maxIDs+1))...), "fetch of 65 ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.b)
			if !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decode = %v, want ErrBadMessage mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzDecode: no input panics the decoder, and what it accepts encodes
// back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, m := range []*message{
		{typ: msgPush, from: "pole-1", record: []byte{1, 2, 3}},
		{typ: msgIHave, from: "pole-1", ids: []record.ID{{1}}},
		{typ: msgGraft, from: "pole-1", ids: []record.ID{{1}, {2}}},
		{typ: msgReconcile, from: "pole-1", session: 1, initiator: true, body: []byte{1}},
		{typ: msgFetch, from: "pole-1", ids: []record.ID{{1}, {2}}},
	} {
		b, _ := m.encode(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		again, err := m.encode(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding changed the bytes:\n% x\n% x", b, again)
		}
	})
}

func TestEncodeRejects(t *testing.T) {
	for _, m := range []*message{
		{typ: msgFetch, from: "p"},
		{typ: msgFetch, from: "p", ids: make([]record.ID, maxIDs+1)},
		{typ: msgFetch, from: "", ids: []record.ID{{1}}},
	} {
		if _, err := m.encode(nil); !errors.Is(err, ErrBadMessage) {
			t.Errorf("encode(%s of %d ids from %q) = %v, want ErrBadMessage", m.typ, len(m.ids), m.from, err)
		}
	}
}
