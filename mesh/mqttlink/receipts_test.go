package mqttlink

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

func trustDevice(id, zone string) trust.Identity {
	return trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone}
}

func TestReceiptsPayload(t *testing.T) {
	ids := []record.ID{sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))}
	b := AppendReceipts(nil, ids...)
	if len(b) != 64 {
		t.Fatalf("payload is %d bytes, want 64", len(b))
	}
	got, err := ParseReceipts(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, n := range []int{0, 1, 31, 33, 63, (MaxReceiptIDs + 1) * 32} {
		if _, err := ParseReceipts(make([]byte, n)); err == nil {
			t.Errorf("ParseReceipts of %d bytes succeeded", n)
		}
	}
	if _, err := ParseReceipts(make([]byte, MaxReceiptIDs*32)); err != nil {
		t.Errorf("ParseReceipts of %d ids: %v", MaxReceiptIDs, err)
	}
}

// FuzzParseReceipts: a receipts payload from the network either parses to
// ids that encode back to the same bytes, or is refused; never a panic.
func FuzzParseReceipts(f *testing.F) {
	f.Add(AppendReceipts(nil, sha256.Sum256([]byte("x"))))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseReceipts(b)
		if err != nil {
			return
		}
		if len(ids) == 0 || len(ids) > MaxReceiptIDs || !bytes.Equal(AppendReceipts(nil, ids...), b) {
			t.Fatalf("%d bytes parsed to %d ids that do not encode back", len(b), len(ids))
		}
	})
}
