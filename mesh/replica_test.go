package mesh

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

func newReplica(t *testing.T) *Replica {
	t.Helper()
	r, err := NewReplica(ReplicaConfig{Node: "pole-2", Verifier: newVerifier(t)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func eventKinds(out Output) []string {
	var ks []string
	for _, ev := range out.Events {
		k := ev.Kind.String()
		if ev.Reason != "" {
			k += ":" + string(ev.Reason)
		}
		ks = append(ks, k)
	}
	return ks
}

func TestReplicaAcceptsAndDedupes(t *testing.T) {
	r := newReplica(t)
	w := warning(t, 1, "Flood warning")
	src := Source{Link: "gossip", Peer: "pole-1"}
	var out Output
	r.Receive(src, w.Raw(), t0, &out)
	if diff := cmp.Diff([]string{"accepted"}, eventKinds(out)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if len(out.Persist) != 1 || out.Persist[0].ID() != w.ID() || len(out.Forward) != 1 || out.Forward[0].From != src {
		t.Fatalf("output = %+v", out)
	}
	if !r.Known(w.ID()) {
		t.Error("accepted record is not known")
	}
	// The same bytes again, from another peer: a lookup, nothing else.
	var again Output
	r.Receive(Source{Link: "gossip", Peer: "pole-3"}, w.Raw(), t0, &again)
	if len(again.Events)+len(again.Persist)+len(again.Forward) != 0 {
		t.Fatalf("a duplicate produced output: %+v", again)
	}
	c := r.Counters()
	if c.Received != 2 || c.Accepted != 1 || c.Duplicates != 1 || c.Forwarded != 1 || c.BytesIn["gossip"] != uint64(2*len(w.Raw())) {
		t.Errorf("counters = %+v", c)
	}
}

func TestReplicaNeverForwardsWhatItRejects(t *testing.T) {
	r := newReplica(t)
	good := warning(t, 1, "Flood warning").Raw()
	flipped := bytes.Clone(good)
	flipped[len(flipped)-3] ^= 1
	tests := []struct {
		name string
		raw  []byte
		now  time.Time
		want trust.Reason
	}{
		{"garbage", []byte("not a record"), t0, trust.ReasonMalformed},
		{"truncated", good[:len(good)/2], t0, trust.ReasonMalformed},
		{"flipped signature", flipped, t0, trust.ReasonBadSignature},
		{"pole signs a warning", forgedWarning(t).Raw(), t0, trust.ReasonRoleNotAllowed},
		{"expired", warning(t, 2, "Old").Raw(), t0.Add(2 * time.Hour), trust.ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Output
			r.Receive(Source{Link: "gossip", Peer: "x"}, tt.raw, tt.now, &out)
			if diff := cmp.Diff([]string{"rejected:" + string(tt.want)}, eventKinds(out)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			if len(out.Persist) != 0 || len(out.Forward) != 0 {
				t.Fatalf("a rejected record was persisted or forwarded: %+v", out)
			}
			// A flood of the same bytes costs a lookup: no second rejection.
			before := r.Counters()
			for range 100 {
				r.Receive(Source{Link: "gossip", Peer: "x"}, tt.raw, tt.now, &out)
			}
			after := r.Counters()
			if after.Rejected[tt.want] != before.Rejected[tt.want] || after.Duplicates != before.Duplicates+100 {
				t.Errorf("flood: rejected %d → %d, duplicates %d → %d", before.Rejected[tt.want], after.Rejected[tt.want], before.Duplicates, after.Duplicates)
			}
		})
	}
}

func TestReplicaReplayAfterAccept(t *testing.T) {
	r := newReplica(t)
	var out Output
	r.Receive(Source{Link: "mqtt"}, warning(t, 5, "First").Raw(), t0, &out)
	// Another record with the same origin and seq is a replay, even with
	// different content.
	var out2 Output
	r.Receive(Source{Link: "mqtt"}, warning(t, 5, "Second").Raw(), t0, &out2)
	if diff := cmp.Diff([]string{"rejected:replayed"}, eventKinds(out2)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func TestReplicaStoreFailed(t *testing.T) {
	r := newReplica(t)
	w := warning(t, 1, "Flood warning")
	var out Output
	r.Publish(w, t0, &out)
	r.StoreFailed(w, errors.New("disk full"), &out)
	if len(out.Forward) != 0 || r.Known(w.ID()) {
		t.Fatalf("a record that was not stored is still forwarded or known: %+v", out)
	}
	if diff := cmp.Diff([]string{"store-failed"}, eventKinds(out)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if c := r.Counters(); c.Accepted != 0 || c.StoreFails != 1 || c.Forwarded != 0 {
		t.Errorf("counters = %+v", c)
	}
}

func TestReplicaTickForgetsExpired(t *testing.T) {
	r := newReplica(t)
	var out Output
	w := warning(t, 1, "Flood warning")
	r.Receive(Source{Link: "gossip"}, w.Raw(), t0, &out)
	r.Tick(t0.Add(30 * time.Minute))
	if !r.Known(w.ID()) {
		t.Fatal("forgot a live record")
	}
	r.Tick(t0.Add(time.Hour))
	if r.Known(w.ID()) {
		t.Fatal("kept an expired record")
	}
}

func TestIDRingBounded(t *testing.T) {
	q := newIDRing(3)
	for i := range 5 {
		q.add(record.ID{byte(i)})
	}
	for i, want := range []bool{false, false, true, true, true} {
		if got := q.has(record.ID{byte(i)}); got != want {
			t.Errorf("has(%d) = %v, want %v", i, got, want)
		}
	}
}

// TestReplicaOrphans: a record that names its signer by kid alone and
// arrives before the record carrying the signer's chain is refused for an
// unknown signer, kept, and accepted as soon as the chain arrives; one
// whose chain never comes is forgotten after orphanTTL.
func TestReplicaOrphans(t *testing.T) {
	r := newReplica(t)
	p := testPKI()
	kidOnly := record.Signer{Key: p.server.Key, KID: p.server.KID}
	sign := func(s record.Signer, seq uint64) *record.Record {
		t.Helper()
		rec, err := record.Sign(&record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
			Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Seq: seq,
			Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Flood"}}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}}, s)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	early := sign(kidOnly, 2)
	withChain := sign(p.server, 1)
	src := Source{Link: "mqtt", Peer: "gw-1"}

	var out Output
	r.Receive(src, early.Raw(), t0, &out)
	if diff := cmp.Diff([]string{"rejected:unknown-signer"}, eventKinds(out)); diff != "" {
		t.Fatalf("the early record (-want +got):\n%s", diff)
	}
	out = Output{}
	r.Receive(src, withChain.Raw(), t0.Add(time.Second), &out)
	if diff := cmp.Diff([]string{"accepted", "accepted"}, eventKinds(out)); diff != "" {
		t.Fatalf("when the chain arrives (-want +got):\n%s", diff)
	}
	if len(out.Persist) != 2 || out.Persist[1].ID() != early.ID() || out.Forward[1].From != src {
		t.Errorf("the orphan was not stored and forwarded from its own source: %+v", out)
	}

	// An orphan whose chain never comes is forgotten.
	r2 := newReplica(t)
	r2.Receive(src, early.Raw(), t0, &Output{})
	if r2.orphanCount != 1 {
		t.Fatalf("%d orphans, want 1", r2.orphanCount)
	}
	r2.Tick(t0.Add(orphanTTL))
	if r2.orphanCount != 0 || len(r2.orphans) != 0 || len(r2.orphanIDs) != 0 {
		t.Errorf("after orphanTTL: %d orphans left", r2.orphanCount)
	}
}
