package city

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// fastMemberlist declares the dead and forgets them in a second or two.
func fastMemberlist() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.GossipInterval = 50 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.TCPTimeout = 500 * time.Millisecond
	c.PushPullInterval = time.Second
	c.GossipToTheDeadTime = time.Second
	return c
}

// TestHealBench runs `bench heal` small and fast: the halves forget each
// other, and the gossip link heals them in a round or two, moving less
// than a full-state exchange would.
func TestHealBench(t *testing.T) {
	cfg := HealBenchConfig{
		Nodes: 6, Partition: 4 * time.Second, Records: 3, Base: 20, Seed: 2,
		RejoinInterval: 500 * time.Millisecond, AntiEntropyInterval: 2 * time.Second,
		Wait: 20 * time.Second, Memberlist: fastMemberlist,
		Progress: func(f string, a ...any) { t.Logf(f, a...) },
	}
	r, err := RunHealBench(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Healed || r.Rounds < 1 || r.Fetched < 6*3 || r.BytesTransferred == 0 {
		t.Fatalf("%+v", r)
	}
	if r.FullStateBytes <= r.DiffBytes {
		t.Errorf("full state %d bytes, difference %d: the base records are missing", r.FullStateBytes, r.DiffBytes)
	}
	t.Logf("%+v", r)
}
