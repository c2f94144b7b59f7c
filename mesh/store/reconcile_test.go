package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// exchangeResult is what each side of an exchange learned.
type exchangeResult struct {
	peerHas, peerNeeds [2][]record.ID // by side: 0 initiator, 1 responder
	bytes, messages    int
	largest            int
	wire               [][]byte
}

// exchange runs a whole reconciliation between a (initiator) and b, as the
// gossip layer would: each message goes to the other side until one side
// is done and the other has nothing more to say.
func exchange(t testing.TB, a, b *store.Store, nowA, nowB time.Time) exchangeResult {
	t.Helper()
	rs := [2]*store.Reconciler{store.NewReconciler(a, nowA), store.NewReconciler(b, nowB)}
	var res exchangeResult
	msg, err := rs[0].Initiate()
	if err != nil {
		t.Fatal(err)
	}
	recv, peerDone := 1, false
	for msg != nil {
		res.bytes += len(msg)
		res.messages++
		res.largest = max(res.largest, len(msg))
		res.wire = append(res.wire, msg)
		if len(msg) > store.MaxMessage {
			t.Fatalf("message %d is %d bytes, more than MaxMessage", res.messages, len(msg))
		}
		if res.messages > 100 {
			t.Fatal("no convergence after 100 messages")
		}
		reply, has, needs, done, err := rs[recv].Respond(msg)
		if err != nil {
			t.Fatalf("message %d: %v", res.messages, err)
		}
		res.peerHas[recv] = append(res.peerHas[recv], has...)
		res.peerNeeds[recv] = append(res.peerNeeds[recv], needs...)
		if peerDone && (reply != nil || !done) {
			t.Fatalf("message %d: the peer was done, but this side replies (%d bytes, done=%v)", res.messages, len(reply), done)
		}
		msg, peerDone, recv = reply, done, 1-recv
	}
	return res
}

// sharedImages caches store files holding the first n records of a seed,
// so that each test copies one instead of inserting them again.
var sharedImages = map[[2]uint64][]byte{}

// twoStores returns stores that share n records, plus onlyA records only a
// has and onlyB only b has.
func twoStores(t testing.TB, seed uint64, shared, onlyA, onlyB int) (a, b *store.Store, idsA, idsB []record.ID) {
	t.Helper()
	items := rawItems(seed, shared+onlyA+onlyB)
	for i := range items {
		if items[i].Kind.Uplink() {
			items[i].Kind = record.KindUpdate // the mesh reconciles only what it replicates
		}
	}
	key := [2]uint64{seed, uint64(shared)}
	img, ok := sharedImages[key]
	if !ok {
		path := filepath.Join(t.TempDir(), "shared.db")
		s, err := store.Open(path, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < shared; i += 5000 {
			if _, err := s.PutRaw(items[i:min(i+5000, shared)], t0); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if img, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		sharedImages[key] = img
	}
	open := func(extra []store.RawItem) (*store.Store, []record.ID) {
		path := filepath.Join(t.TempDir(), "node.db")
		if err := os.WriteFile(path, img, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(path, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ids, err := s.PutRaw(extra, t0)
		if err != nil {
			t.Fatal(err)
		}
		return s, ids
	}
	a, idsA = open(items[shared : shared+onlyA])
	b, idsB = open(items[shared+onlyA:])
	return a, b, idsA, idsB
}

// TestReconcileLeavesUplinkRecordsOut: two stores that hold the same
// alerts and different acks and telemetry agree: the mesh does not
// replicate uplink records, so neither side offers or asks for them, and
// their shared fingerprints match while their whole-store ones do not.
func TestReconcileLeavesUplinkRecordsOut(t *testing.T) {
	items := rawItems(5, 40)
	var down, upA, upB []store.RawItem
	for _, it := range items {
		switch {
		case !it.Kind.Uplink():
			down = append(down, it)
		case len(upA) <= len(upB):
			it.Kind = record.KindAck
			upA = append(upA, it)
		default:
			upB = append(upB, it)
		}
	}
	if len(upA) == 0 || len(upB) == 0 {
		t.Fatal("the generator made no uplink records")
	}
	open := func(extra []store.RawItem) *store.Store {
		s, err := store.Open(filepath.Join(t.TempDir(), "node.db"), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.PutRaw(append(slices.Clone(down), extra...), t0); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(upA), open(upB)
	res := exchange(t, a, b, t0, t0)
	for side := range 2 {
		if len(res.peerHas[side])+len(res.peerNeeds[side]) != 0 {
			t.Errorf("side %d: peerHas %d, peerNeeds %d; want none", side, len(res.peerHas[side]), len(res.peerNeeds[side]))
		}
	}
	fa, na, _ := a.SharedFingerprint(store.MinBound, store.MaxBound)
	fb, nb, _ := b.SharedFingerprint(store.MinBound, store.MaxBound)
	if fa != fb || na != len(down) || nb != len(down) {
		t.Errorf("shared fingerprints %x (%d) and %x (%d), want equal over %d records", fa, na, fb, nb, len(down))
	}
	wa, _, _ := a.Fingerprint(store.MinBound, store.MaxBound)
	wb, _, _ := b.Fingerprint(store.MinBound, store.MaxBound)
	if wa == wb {
		t.Error("whole-store fingerprints agree although the acks differ")
	}
}

// diffIDs compares sets of ids (go-cmp on 10,000 arrays is slow).
func diffIDs(want, got []record.ID) string {
	cmpID := func(x, y record.ID) int { return bytes.Compare(x[:], y[:]) }
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, cmpID)
	slices.SortFunc(got, cmpID)
	if slices.Equal(want, got) {
		return ""
	}
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

func TestReconcile(t *testing.T) {
	for _, tc := range []struct {
		shared, onlyA, onlyB int
		maxBytes             int // honest bounds, measured; the set is 10,000 × 32 = 320 KB of ids
		maxMessages          int
	}{
		{shared: 10000, maxBytes: 500, maxMessages: 2},
		{shared: 0, maxBytes: 50, maxMessages: 2},
		{shared: 20, onlyA: 1, maxBytes: 800, maxMessages: 2},
		{shared: 10000, onlyA: 1, maxBytes: 4 << 10, maxMessages: 6},
		{shared: 10000, onlyB: 1, maxBytes: 4 << 10, maxMessages: 6},
		{shared: 10000, onlyA: 5, onlyB: 5, maxBytes: 24 << 10, maxMessages: 6},
		{shared: 10000, onlyA: 50, onlyB: 50, maxBytes: 80 << 10, maxMessages: 6},
		// Large differences are bounded by MaxMessage: about 56 KiB of ids
		// per cycle of a few messages. Ids alone are 160 KB here.
		{shared: 0, onlyA: 5000, maxBytes: 200 << 10, maxMessages: 24},
		{shared: 2000, onlyA: 1000, onlyB: 1000, maxBytes: 200 << 10, maxMessages: 16},
	} {
		name := fmt.Sprintf("shared=%d,onlyA=%d,onlyB=%d", tc.shared, tc.onlyA, tc.onlyB)
		t.Run(name, func(t *testing.T) {
			a, b, onlyA, onlyB := twoStores(t, 11, tc.shared, tc.onlyA, tc.onlyB)
			res := exchange(t, a, b, t0, t0)
			for side, want := range [2][2][]record.ID{{onlyB, onlyA}, {onlyA, onlyB}} {
				if d := diffIDs(want[0], res.peerHas[side]); d != "" {
					t.Errorf("side %d: peerHas (-want +got):\n%s", side, d)
				}
				if d := diffIDs(want[1], res.peerNeeds[side]); d != "" {
					t.Errorf("side %d: peerNeeds (-want +got):\n%s", side, d)
				}
			}
			t.Logf("%d messages, %d bytes, largest %d", res.messages, res.bytes, res.largest)
			if res.bytes > tc.maxBytes || res.messages > tc.maxMessages {
				t.Errorf("%d bytes in %d messages; want at most %d bytes in %d", res.bytes, res.messages, tc.maxBytes, tc.maxMessages)
			}
		})
	}
}

// The bytes exchanged grow with the difference, not with the set.
func TestReconcileCostGrowsWithDifference(t *testing.T) {
	cost := map[int]int{}
	for _, diff := range []int{1, 10, 100} {
		a, b, _, _ := twoStores(t, 12, 10000, diff-diff/2, diff/2)
		cost[diff] = exchange(t, a, b, t0, t0).bytes
	}
	a, b, _, _ := twoStores(t, 13, 1000, 1, 0)
	small := exchange(t, a, b, t0, t0).bytes
	t.Logf("bytes: diff 1 of 1,000: %d; of 10,000: diff 1: %d, diff 10: %d, diff 100: %d", small, cost[1], cost[10], cost[100])
	if cost[1] >= 4<<10 {
		t.Errorf("diff 1 among 10,000 cost %d bytes, want < 4 KiB", cost[1])
	}
	if cost[1] > 2*small {
		t.Errorf("diff 1 costs %d bytes among 10,000 but %d among 1,000: it grows with the set", cost[1], small)
	}
	if cost[10] > 12*cost[1] || cost[100] > 120*cost[1] {
		t.Errorf("costs %v grow faster than the difference", cost)
	}
	if cost[100] > 10000*32/4 {
		t.Errorf("diff 100 cost %d bytes, more than a quarter of sending every id", cost[100])
	}
}

// Records expired at the initiator's clock are outside the set, and the
// responder uses the initiator's clock, whatever its own says.
func TestReconcileExpiry(t *testing.T) {
	a, b, _, _ := twoStores(t, 14, 500, 0, 0)
	expired := rawItems(15, 30)
	for i := range expired {
		expired[i].Expires = t0.Add(-time.Duration(i+1) * time.Minute)
	}
	if _, err := a.PutRaw(expired, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	res := exchange(t, a, b, t0, t0.Add(3*time.Hour)) // b's clock is 3 hours ahead
	if len(res.peerHas[0])+len(res.peerNeeds[0])+len(res.peerHas[1])+len(res.peerNeeds[1]) != 0 || res.messages != 2 {
		t.Errorf("expired records showed up as a difference: %+v", res)
	}
}

func TestReconcileProtocolErrors(t *testing.T) {
	s := openStore(t, testOptions())
	if _, err := s.PutRaw(rawItems(16, 100), t0); err != nil {
		t.Fatal(err)
	}
	first, err := store.NewReconciler(s, t0).Initiate()
	if err != nil {
		t.Fatal(err)
	}
	cut := binary.AppendUvarint([]byte{1}, uint64(t0.UnixMilli()))
	bound := func(delta uint64, prefix ...byte) []byte {
		b := binary.AppendUvarint(nil, delta)
		return append(append(b, byte(len(prefix))), prefix...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"version", []byte{2, 0}, "version 2"},
		{"no cutoff", []byte{1}, "cutoff"},
		{"too large", make([]byte, store.MaxMessage+1), "at most"},
		{"unknown mode", cat(cut, []byte{0, 9}), "unknown mode 9"},
		{"truncated fingerprint", cat(cut, []byte{0, 1, 1, 2, 3}), "fingerprint truncated"},
		{"id list longer than the message", cat(cut, []byte{0, 2, 5}), "only 0 bytes remain"},
		{"bounds not increasing", cat(cut, bound(10), []byte{1}, make([]byte, 16), bound(1), []byte{1}, make([]byte, 16)), "does not increase"},
		{"two skips", cat(cut, bound(10), []byte{0}, bound(2), []byte{0}, []byte{0, 2, 0}), "two adjacent skips"},
		{"ends with a skip", cat(cut, bound(10), []byte{0}), "ends with a skip"},
		{"after the end", cat(cut, []byte{0, 2, 0}, bound(10), []byte{2, 0}), "after the end bound"},
		{"prefix too long", cat(cut, []byte{5, 33}, make([]byte, 33)), "prefix of 33"},
		{"prefix ends in zero", cat(cut, bound(5, 7, 0), []byte{2, 0}), "ends in a zero"},
		{"truncated bound", cat(cut, []byte{0x80}), "bad or truncated bound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, err := store.NewReconciler(s, t0).Respond(tc.msg)
			if !errors.Is(err, store.ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Respond = %v, want ErrBadMessage mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("cutoff changes mid-exchange", func(t *testing.T) {
		r := store.NewReconciler(s, t0)
		if _, _, _, _, err := r.Respond(first); err != nil {
			t.Fatal(err)
		}
		other, _ := store.NewReconciler(s, t0.Add(time.Second)).Initiate()
		if _, _, _, _, err := r.Respond(other); !errors.Is(err, store.ErrBadMessage) {
			t.Errorf("Respond = %v, want ErrBadMessage", err)
		}
	})
	t.Run("initiate twice", func(t *testing.T) {
		r := store.NewReconciler(s, t0)
		r.Initiate()
		if _, err := r.Initiate(); err == nil {
			t.Error("second Initiate succeeded")
		}
	})
}

// FuzzReconcileMessage checks the message parser: it never panics, what it
// accepts re-encodes to the same bytes, and a Reconciler given any bytes
// returns an error or a reply within MaxMessage.
func FuzzReconcileMessage(f *testing.F) {
	a, b, _, _ := twoStores(f, 17, 300, 40, 3)
	for _, m := range exchange(f, a, b, t0, t0).wire {
		f.Add(m)
	}
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 0, 0, 3, 1, 0xaa, 0, 1, 0x01, 0x01, 0xbb})
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := store.MessageRoundTrip(msg)
		if err != nil {
			if !errors.Is(err, store.ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
		} else if !bytes.Equal(out, msg) {
			t.Fatalf("round trip:\n in %x\nout %x", msg, out)
		}
		reply, _, _, _, err := store.NewReconciler(a, t0).Respond(msg)
		if err == nil && len(reply) > store.MaxMessage {
			t.Fatalf("reply of %d bytes", len(reply))
		}
	})
}

func TestBoundsAndFingerprint(t *testing.T) {
	s := openStore(t, testOptions())
	items := rawItems(18, 200)
	if _, err := s.PutRaw(items, t0); err != nil {
		t.Fatal(err)
	}
	all, err := s.Keys(store.MinBound, store.MaxBound, 0)
	if err != nil || len(all) != 200 {
		t.Fatalf("Keys = %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Compare(all[i]) >= 0 {
			t.Fatalf("Keys out of order at %d", i)
		}
	}
	first10, _ := s.Keys(store.MinBound, store.MaxBound, 10)
	if d := cmp.Diff(all[:10], first10); d != "" {
		t.Errorf("Keys limit 10 (-want +got):\n%s", d)
	}
	// Fingerprints of adjacent ranges combine to the whole: count adds up,
	// and equal sets have equal fingerprints whatever the store.
	mid := all[100]
	_, n1, _ := s.Fingerprint(store.MinBound, mid)
	_, n2, _ := s.Fingerprint(mid, store.MaxBound)
	fpAll, n, _ := s.Fingerprint(store.MinBound, store.MaxBound)
	if n1 != 100 || n2 != 100 || n != 200 {
		t.Errorf("counts %d + %d = %d, want 100 + 100 = 200", n1, n2, n)
	}
	other := openStore(t, testOptions())
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for i := 0; i < len(items); i += 7 {
		if _, err := other.PutRaw(items[i:min(i+7, len(items))], t0); err != nil {
			t.Fatal(err)
		}
	}
	fpOther, _, _ := other.Fingerprint(store.MinBound, store.MaxBound)
	if fpAll != fpOther {
		t.Error("the same set inserted in another order has another fingerprint")
	}
	removed, err := other.Sweep(time.UnixMilli(all[0].Expires))
	if err != nil || removed < 1 {
		t.Fatalf("Sweep = %d, %v", removed, err)
	}
	if fp, n, _ := other.Fingerprint(store.MinBound, store.MaxBound); fp == fpAll || n != 200-removed {
		t.Errorf("after sweeping %d, fingerprint unchanged or count %d", removed, n)
	}
}
