package city

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim/netsimtest"
)

// TestHealBench runs `bench heal` small and fast: the halves forget each
// other, and the gossip link heals them in a round or two, moving less
// than a full-state exchange would.
func TestHealBench(t *testing.T) {
	cfg := HealBenchConfig{
		Nodes: 6, Partition: 4 * time.Second, Records: 3, Base: 20, Seed: 2,
		RejoinInterval: 500 * time.Millisecond, AntiEntropyInterval: 2 * time.Second,
		Wait: 20 * time.Second, Memberlist: netsimtest.FastMemberlist,
		Progress: func(f string, a ...any) { t.Logf(f, a...) },
	}
	r, err := RunHealBench(t.Context(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	// Each half lacked the other's 3 records, so anti-entropy fetched
	// each of them at least once per half; a pole that got one that way
	// re-gossips it, so its neighbours may get it by push, not fetch.
	if !r.Healed || r.Rounds < 1 || r.Fetched < 2*3 || r.BytesTransferred == 0 {
		t.Fatalf("%+v", r)
	}
	if r.FullStateBytes <= r.DiffBytes {
		t.Errorf("full state %d bytes, difference %d: the base records are missing", r.FullStateBytes, r.DiffBytes)
	}
	t.Logf("%+v", r)
}
