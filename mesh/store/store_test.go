package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/google/go-cmp/cmp"
)

func TestPutGet(t *testing.T) {
	s := openStore(t, testOptions())
	r := sign(t, spec{Tier: record.TierAdvisory, Scope: record.ZoneScope("z1"), Seq: 7, Origin: "gw1"})

	added, err := s.Put(r, t0)
	if err != nil || !added {
		t.Fatalf("first Put = %v, %v; want true, nil", added, err)
	}
	added, err = s.Put(r, t0.Add(time.Minute))
	if err != nil || added {
		t.Fatalf("second Put = %v, %v; want false, nil", added, err)
	}
	got, err := s.Get(r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != r.ID() || got.Seq != 7 || got.Scope != r.Scope {
		t.Errorf("Get = %v, want %v", got, r)
	}
	e, err := s.GetEntry(r.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Entry{
		ID: r.ID(), Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: "zone:z1",
		Issued: t0.Add(-time.Minute), Expires: t0.Add(time.Hour), Refreshed: t0,
		Origin: "gw1", Seq: 7, Raw: r.Raw(),
	}
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("GetEntry (-want +got):\n%s", d)
	}
	if ok, err := s.Has(r.ID()); !ok || err != nil {
		t.Errorf("Has = %v, %v", ok, err)
	}
	missing := record.IDOf([]byte("nope"))
	if ok, err := s.Has(missing); ok || err != nil {
		t.Errorf("Has(missing) = %v, %v", ok, err)
	}
	if _, err := s.Get(missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 1 || st.Bytes != int64(len(r.Raw())) {
		t.Errorf("Stats = %+v, want 1 record of %d bytes", st, len(r.Raw()))
	}
}

func TestPutRejects(t *testing.T) {
	s := openStore(t, testOptions())
	r := sign(t, spec{Expires: time.Hour})
	for _, tc := range []struct {
		name string
		r    *record.Record
		now  time.Time
		want error
	}{
		{"expired", r, t0.Add(time.Hour), store.ErrExpired},
		{"nil", nil, t0, store.ErrInvalid},
		{"unsigned", &record.Record{Kind: record.KindAlert, Tier: record.TierWarning}, t0, store.ErrInvalid},
	} {
		if _, err := s.Put(tc.r, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: Put = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n, _ := s.Len(); n != 0 {
		t.Errorf("Len = %d after rejected Puts", n)
	}
}

func TestPutBatch(t *testing.T) {
	s := openStore(t, testOptions())
	a, b, c := sign(t, spec{Seq: 1}), sign(t, spec{Seq: 2}), sign(t, spec{Seq: 3})
	put(t, s, t0, a)
	got, err := s.PutBatch([]*record.Record{a, b, c, b}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{false, true, true, false}, got); d != "" {
		t.Errorf("PutBatch added (-want +got):\n%s", d)
	}
	// All or nothing: one expired record refuses the batch.
	d, old := sign(t, spec{Seq: 4}), sign(t, spec{Seq: 5, Expires: time.Second})
	_, err = s.PutBatch([]*record.Record{d, old}, t0.Add(time.Minute))
	if !errors.Is(err, store.ErrExpired) || !strings.Contains(err.Error(), "record 1") {
		t.Errorf("PutBatch with an expired record = %v, want ErrExpired naming record 1", err)
	}
	if ok, _ := s.Has(d.ID()); ok {
		t.Error("PutBatch stored part of a refused batch")
	}
	if n, _ := s.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}

func TestActive(t *testing.T) {
	alert := func(seq uint64, tier record.Tier, issued, expires time.Duration) spec {
		return spec{Seq: seq, Tier: tier, Issued: issued, Expires: expires}
	}
	type step struct {
		sp   spec
		name string // refer to the record in want and Supersedes
		sup  []string
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		now     time.Duration // after t0
		sweep   bool          // sweep at now before Active
		want    []string
		refused int64 // supersessions the tier and scope rule refuses
	}{
		{
			name: "tier then newest then id",
			steps: []step{
				{sp: alert(1, record.TierAdvisory, -time.Hour, time.Hour), name: "adv-old"},
				{sp: alert(2, record.TierAdvisory, -time.Minute, time.Hour), name: "adv-new"},
				{sp: alert(3, record.TierEmergency, -2*time.Hour, time.Hour), name: "emer"},
				{sp: alert(4, record.TierInformational, -time.Second, time.Hour), name: "info"},
				{sp: alert(5, record.TierIPAWS, -3*time.Hour, time.Hour), name: "ipaws"},
			},
			want: []string{"ipaws", "emer", "adv-new", "adv-old", "info"},
		},
		{
			name: "expired and non-displayable kinds are left out",
			steps: []step{
				{sp: alert(1, record.TierWarning, -time.Hour, 30*time.Minute), name: "soon"},
				{sp: alert(2, record.TierWarning, -time.Hour, 2*time.Hour), name: "later"},
				{sp: spec{Seq: 3, Kind: record.KindProtocol, Expires: 5 * time.Hour}, name: "proto"},
				{sp: spec{Seq: 4, Kind: record.KindActivation, Expires: 5 * time.Hour}, name: "act"},
				{sp: spec{Seq: 5, Kind: record.KindTelemetry, Tier: record.TierInformational, Expires: 5 * time.Hour}, name: "tel"},
			},
			now:  30 * time.Minute,
			want: []string{"act", "later"},
		},
		{
			name: "expiry boundary",
			steps: []step{
				{sp: alert(1, record.TierWarning, -time.Hour, time.Hour), name: "a"},
			},
			now:  time.Hour - time.Millisecond,
			want: []string{"a"},
		},
		{
			name: "cancel removes",
			steps: []step{
				{sp: alert(1, record.TierWarning, -time.Hour, time.Hour), name: "a"},
				{sp: alert(2, record.TierWarning, -time.Hour, time.Hour), name: "b"},
				{sp: spec{Seq: 3, Kind: record.KindCancel, Expires: time.Hour}, name: "cancel", sup: []string{"a"}},
			},
			want: []string{"b"},
		},
		{
			name: "cancel before the original",
			steps: []step{
				{sp: spec{Seq: 3, Kind: record.KindCancel, Expires: time.Hour}, name: "cancel", sup: []string{"a"}},
				{sp: alert(1, record.TierWarning, -time.Hour, time.Hour), name: "a"},
			},
			want: nil,
		},
		{
			name: "update replaces",
			steps: []step{
				{sp: alert(1, record.TierWarning, -time.Hour, time.Hour), name: "a"},
				{sp: spec{Seq: 2, Kind: record.KindUpdate, Expires: time.Hour, Text: "Flood warning, updated"}, name: "upd", sup: []string{"a"}},
			},
			want: []string{"upd"},
		},
		{
			name: "update before the original",
			steps: []step{
				{sp: spec{Seq: 2, Kind: record.KindUpdate, Expires: time.Hour}, name: "upd", sup: []string{"a"}},
				{sp: alert(1, record.TierWarning, -time.Hour, time.Hour), name: "a"},
			},
			want: []string{"upd"},
		},
		{
			name: "a cancel that expires first still suppresses after a sweep",
			steps: []step{
				{sp: alert(1, record.TierWarning, -time.Hour, 3*time.Hour), name: "a"},
				{sp: spec{Seq: 2, Kind: record.KindCancel, Expires: 10 * time.Minute}, name: "cancel", sup: []string{"a"}},
			},
			now:   time.Hour,
			sweep: true,
			want:  nil,
		},
		{
			name: "a warning cancel leaves an emergency (and says so)",
			steps: []step{
				{sp: alert(1, record.TierEmergency, -time.Hour, time.Hour), name: "emer"},
				{sp: spec{Seq: 2, Kind: record.KindCancel, Tier: record.TierWarning}, name: "cancel", sup: []string{"emer"}},
			},
			want:    []string{"emer"},
			refused: 1,
		},
		{
			name: "a warning cancel before the emergency is void",
			steps: []step{
				{sp: spec{Seq: 2, Kind: record.KindCancel, Tier: record.TierWarning}, name: "cancel", sup: []string{"emer"}},
				{sp: alert(1, record.TierEmergency, -time.Hour, time.Hour), name: "emer"},
			},
			want:    []string{"emer"},
			refused: 1,
		},
		{
			name: "an emergency cancel removes an emergency, in either order",
			steps: []step{
				{sp: spec{Seq: 2, Kind: record.KindCancel, Tier: record.TierEmergency}, name: "cancel", sup: []string{"e1"}},
				{sp: alert(1, record.TierEmergency, -time.Hour, time.Hour), name: "e1"},
				{sp: alert(3, record.TierEmergency, -time.Hour, time.Hour), name: "e2"},
				{sp: spec{Seq: 4, Kind: record.KindCancel, Tier: record.TierEmergency}, name: "cancel2", sup: []string{"e2"}},
			},
			want: nil,
		},
		{
			name: "a warning update may replace an advisory of any zone",
			steps: []step{
				{sp: spec{Seq: 1, Tier: record.TierAdvisory, Scope: record.ZoneScope("z2")}, name: "adv"},
				{sp: spec{Seq: 2, Kind: record.KindUpdate, Tier: record.TierWarning, Scope: record.City}, name: "upd", sup: []string{"adv"}},
			},
			want: []string{"upd"},
		},
		{
			name: "an advisory cancel reaches only its own zone",
			steps: []step{
				{sp: spec{Seq: 1, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1")}, name: "a1"},
				{sp: spec{Seq: 2, Tier: record.TierAdvisory, Scope: record.ZoneScope("z2")}, name: "a2"},
				{sp: spec{Seq: 3, Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1")}, name: "cancel", sup: []string{"a1", "a2"}},
			},
			want:    []string{"a2"},
			refused: 1,
		},
		{
			name: "a foreign zone's claim does not void the rightful one",
			steps: []step{
				{sp: spec{Seq: 3, Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1")}, name: "foreign", sup: []string{"a2"}},
				{sp: spec{Seq: 4, Kind: record.KindCancel, Tier: record.TierAdvisory, Scope: record.ZoneScope("z2")}, name: "own", sup: []string{"a2"}},
				{sp: spec{Seq: 2, Tier: record.TierAdvisory, Scope: record.ZoneScope("z2")}, name: "a2"},
			},
			want: nil,
		},
		{
			name: "a late original after its cancel expired and was swept",
			steps: []step{
				{sp: spec{Seq: 2, Kind: record.KindCancel, Expires: 10 * time.Minute}, name: "cancel", sup: []string{"a"}},
				{sp: alert(1, record.TierWarning, -time.Hour, 3*time.Hour), name: "a"},
			},
			now:   time.Hour,
			sweep: true,
			want:  nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, testOptions())
			byName := map[string]*record.Record{}
			names := map[record.ID]string{}
			// Sign everything first, so that Supersedes can name records
			// that are put later.
			pending := map[string]spec{}
			for _, st := range tc.steps {
				pending[st.name] = st.sp
			}
			var signOne func(name string) *record.Record
			signOne = func(name string) *record.Record {
				if r, ok := byName[name]; ok {
					return r
				}
				sp := pending[name]
				for _, st := range tc.steps {
					if st.name == name {
						for _, n := range st.sup {
							sp.Supersedes = append(sp.Supersedes, signOne(n).ID())
						}
					}
				}
				r := sign(t, sp)
				byName[name], names[r.ID()] = r, name
				return r
			}
			for _, st := range tc.steps {
				put(t, s, t0, signOne(st.name))
			}
			now := t0.Add(tc.now)
			if tc.sweep {
				if _, err := s.Sweep(now); err != nil {
					t.Fatal(err)
				}
			}
			es, err := s.Active(now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, names[e.ID])
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Active (-want +got):\n%s", d)
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.SupersedeRefused != tc.refused {
				t.Errorf("SupersedeRefused = %d, want %d", st.SupersedeRefused, tc.refused)
			}
			if err := s.CheckFile(); err != nil {
				t.Errorf("the file fails its checks: %v", err)
			}
		})
	}
}

func TestSweep(t *testing.T) {
	opts := testOptions()
	opts.ProtocolTTL = 48 * time.Hour
	s := openStore(t, opts)
	short := sign(t, spec{Seq: 1, Expires: time.Hour})
	long := sign(t, spec{Seq: 2, Expires: 100 * time.Hour})
	proto := sign(t, spec{Seq: 3, Kind: record.KindProtocol, Tier: record.TierWarning, Expires: 1000 * time.Hour})
	protoShort := sign(t, spec{Seq: 4, Kind: record.KindProtocol, Expires: 10 * time.Hour})
	cancel := sign(t, spec{Seq: 5, Kind: record.KindCancel, Expires: 2 * time.Hour, Supersedes: []record.ID{record.IDOf([]byte("never seen"))}})
	put(t, s, t0, short, long, proto, protoShort, cancel)

	present := func(now time.Time) []string {
		t.Helper()
		if _, err := s.Sweep(now); err != nil {
			t.Fatal(err)
		}
		var out []string
		for name, r := range map[string]*record.Record{"short": short, "long": long, "proto": proto, "protoShort": protoShort, "cancel": cancel} {
			if ok, err := s.Has(r.ID()); err != nil {
				t.Fatal(err)
			} else if ok {
				out = append(out, name)
			}
		}
		if sup, _ := s.Superseded(record.IDOf([]byte("never seen"))); sup {
			out = append(out, "superseded")
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		at      time.Duration
		refresh bool // re-Put proto at this time first
		want    []string
	}{
		{0, false, []string{"cancel", "long", "proto", "protoShort", "short", "superseded"}},
		{time.Hour - time.Millisecond, false, []string{"cancel", "long", "proto", "protoShort", "short", "superseded"}},
		{time.Hour, false, []string{"cancel", "long", "proto", "protoShort", "superseded"}},
		{2 * time.Hour, false, []string{"long", "proto", "protoShort"}},
		{10 * time.Hour, false, []string{"long", "proto"}}, // protoShort expired before its TTL ran out
		{40 * time.Hour, true, []string{"long", "proto"}},  // refreshed: now kept until 88 h
		{48 * time.Hour, false, []string{"long", "proto"}}, // would have gone at 48 h without the refresh
		{88 * time.Hour, false, []string{"long"}},
		{100 * time.Hour, false, nil},
	} {
		now := t0.Add(tc.at)
		if tc.refresh {
			if added, err := s.Put(proto, now); err != nil || added {
				t.Fatalf("refresh Put = %v, %v", added, err)
			}
		}
		if d := cmp.Diff(tc.want, present(now)); d != "" {
			t.Errorf("at t0+%v (-want +got):\n%s", tc.at, d)
		}
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(store.Stats{MaxBytes: opts.MaxBytes}, st); d != "" {
		t.Errorf("Stats after everything expired (-want +got):\n%s", d)
	}
}

func TestSweepBatches(t *testing.T) {
	s := openStore(t, testOptions())
	var items []store.RawItem
	for i := range 2500 {
		items = append(items, store.RawItem{
			Raw: []byte{byte(i), byte(i >> 8), 'x'}, Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.City,
			Issued: t0, Expires: t0.Add(time.Duration(1+i%3) * time.Minute), Origin: "o",
		})
	}
	if _, err := s.PutRaw(items, t0); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(t0.Add(time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("Sweep = %d, %v; want 2500", n, err)
	}
	if l, _ := s.Len(); l != 0 {
		t.Errorf("Len after sweep = %d", l)
	}
}

func TestBudget(t *testing.T) {
	// All test records are about the same size; the budget holds four.
	probe := sign(t, spec{Seq: 100})
	size := int64(len(probe.Raw()))
	opts := testOptions()
	opts.MaxBytes = 4*size + size/2
	s := openStore(t, opts)

	info1 := sign(t, spec{Seq: 1, Tier: record.TierInformational, Scope: record.DeviceScope("p1"), Origin: "p1", Expires: 3 * time.Hour})
	info2 := sign(t, spec{Seq: 2, Tier: record.TierInformational, Scope: record.DeviceScope("p1"), Origin: "p1", Expires: 2 * time.Hour})
	adv := sign(t, spec{Seq: 3, Tier: record.TierAdvisory, Expires: time.Hour})
	warnSoon := sign(t, spec{Seq: 4, Tier: record.TierWarning, Expires: 30 * time.Minute})
	put(t, s, t0, info1, info2, adv, warnSoon)

	has := func(rs ...*record.Record) []bool {
		var out []bool
		for _, r := range rs {
			ok, err := s.Has(r.ID())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ok)
		}
		return out
	}

	// An expired record is swept before anything is evicted.
	w1 := sign(t, spec{Seq: 5, Tier: record.TierWarning, Expires: 5 * time.Hour})
	if added, err := s.Put(w1, t0.Add(45*time.Minute)); err != nil || !added {
		t.Fatalf("Put w1 = %v, %v", added, err)
	}
	if d := cmp.Diff([]bool{true, true, true, false, true}, has(info1, info2, adv, warnSoon, w1)); d != "" {
		t.Errorf("after w1, present info1 info2 adv warnSoon w1 (-want +got):\n%s", d)
	}

	// Then the lowest tier goes first, soonest expiry first.
	w2 := sign(t, spec{Seq: 6, Tier: record.TierWarning, Expires: 6 * time.Hour})
	put(t, s, t0.Add(45*time.Minute), w2)
	if d := cmp.Diff([]bool{true, false, true, true, true}, has(info1, info2, adv, w1, w2)); d != "" {
		t.Errorf("after w2, present info1 info2 adv w1 w2 (-want +got):\n%s", d)
	}
	w3 := sign(t, spec{Seq: 7, Tier: record.TierWarning, Expires: 7 * time.Hour})
	put(t, s, t0.Add(45*time.Minute), w3)
	w4 := sign(t, spec{Seq: 8, Tier: record.TierWarning, Expires: 8 * time.Hour})
	put(t, s, t0.Add(45*time.Minute), w4)
	if d := cmp.Diff([]bool{false, false, false, true, true, true, true}, has(info1, info2, adv, w1, w2, w3, w4)); d != "" {
		t.Errorf("after w4, present info1 info2 adv w1..w4 (-want +got):\n%s", d)
	}

	// Nothing of a lower tier is left: a warning is refused, with the numbers.
	w5 := sign(t, spec{Seq: 9, Tier: record.TierWarning, Expires: 5 * time.Hour})
	_, err := s.Put(w5, t0.Add(45*time.Minute))
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Put w5 = %v, want ErrFull", err)
	}
	for _, want := range []string{"budget", "needs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ErrFull message %q does not mention %q", err, want)
		}
	}
	// An emergency evicts a warning.
	em := sign(t, spec{Seq: 10, Tier: record.TierEmergency, Expires: 4 * time.Hour})
	put(t, s, t0.Add(45*time.Minute), em)
	if d := cmp.Diff([]bool{false, true, true, true, true}, has(w1, w2, w3, w4, em)); d != "" {
		t.Errorf("after em, present w1..w4 em (-want +got):\n%s", d)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes > opts.MaxBytes || st.Records != 4 {
		t.Errorf("Stats = %+v, want 4 records within %d bytes", st, opts.MaxBytes)
	}
	// A record larger than the whole budget never fits.
	big := sign(t, spec{Seq: 11, Tier: record.TierIPAWS, Text: strings.Repeat("x", 90)})
	small := opts
	small.MaxBytes = int64(len(big.Raw())) - 1
	s2 := openStore(t, small)
	if _, err := s2.Put(big, t0); !errors.Is(err, store.ErrFull) {
		t.Errorf("Put of a record larger than the budget = %v, want ErrFull", err)
	}
}

func TestBudgetBatchKeepsItsOwn(t *testing.T) {
	probe := sign(t, spec{Seq: 100})
	size := int64(len(probe.Raw()))
	opts := testOptions()
	opts.MaxBytes = 2*size + size/2
	s := openStore(t, opts)
	// A batch of an informational and two warnings: the third record must
	// not evict the first one it just stored, so the batch does not fit.
	info := sign(t, spec{Seq: 1, Tier: record.TierInformational, Scope: record.DeviceScope("p1"), Origin: "p1"})
	w1, w2 := sign(t, spec{Seq: 2}), sign(t, spec{Seq: 3})
	if _, err := s.PutBatch([]*record.Record{info, w1, w2}, t0); !errors.Is(err, store.ErrFull) {
		t.Fatalf("PutBatch = %v, want ErrFull", err)
	}
	if n, _ := s.Len(); n != 0 {
		t.Errorf("Len = %d after a refused batch", n)
	}
	// Stored before, the informational record is evicted.
	put(t, s, t0, info)
	if _, err := s.PutBatch([]*record.Record{w1, w2}, t0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(info.ID()); ok {
		t.Error("info not evicted")
	}
}

func TestByScopeByKind(t *testing.T) {
	s := openStore(t, testOptions())
	z1a := sign(t, spec{Seq: 1, Scope: record.ZoneScope("z1")})
	z1b := sign(t, spec{Seq: 2, Scope: record.ZoneScope("z1"), Kind: record.KindProtocol})
	z10 := sign(t, spec{Seq: 3, Scope: record.ZoneScope("z10")})
	city := sign(t, spec{Seq: 4})
	dev := sign(t, spec{Seq: 5, Scope: record.DeviceScope("z1"), Kind: record.KindHealth, Tier: record.TierInformational})
	put(t, s, t0, z1a, z1b, z10, city, dev)

	sorted := func(rs ...*record.Record) []record.ID {
		var out []record.ID
		for _, r := range rs {
			out = append(out, r.ID())
		}
		slices.SortFunc(out, func(a, b record.ID) int { return strings.Compare(a.String(), b.String()) })
		return out
	}
	for _, tc := range []struct {
		name string
		got  func() ([]store.Entry, error)
		want []record.ID
	}{
		{"scope zone:z1", func() ([]store.Entry, error) { return s.ByScope("zone:z1") }, sorted(z1a, z1b)},
		{"scope zone:z10", func() ([]store.Entry, error) { return s.ByScope("zone:z10") }, sorted(z10)},
		{"scope city", func() ([]store.Entry, error) { return s.ByScope(record.City) }, sorted(city)},
		{"scope device:z1", func() ([]store.Entry, error) { return s.ByScope("device:z1") }, sorted(dev)},
		{"scope zone:z2", func() ([]store.Entry, error) { return s.ByScope("zone:z2") }, nil},
		{"kind alert", func() ([]store.Entry, error) { return s.ByKind(record.KindAlert) }, sorted(z1a, z10, city)},
		{"kind protocol", func() ([]store.Entry, error) { return s.ByKind(record.KindProtocol) }, sorted(z1b)},
		{"kind health", func() ([]store.Entry, error) { return s.ByKind(record.KindHealth) }, sorted(dev)},
		{"kind cancel", func() ([]store.Entry, error) { return s.ByKind(record.KindCancel) }, nil},
	} {
		es, err := tc.got()
		if err != nil {
			t.Fatal(err)
		}
		var got []record.ID
		for _, e := range es {
			got = append(got, e.ID)
			if record.IDOf(e.Raw) != e.ID {
				t.Errorf("%s: entry %s carries bytes of another record", tc.name, e.ID.Short())
			}
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

// mustEnqueue puts data in s's outbox as class c.
func mustEnqueue(t *testing.T, s *store.Store, c store.OutboxClass, data string) uint64 {
	t.Helper()
	seq, err := s.Enqueue(c, []byte(data))
	if err != nil {
		t.Fatalf("Enqueue %s %q: %v", c, data, err)
	}
	return seq
}

// outboxEntries returns the data of s's outbox entries, oldest first,
// each prefixed with its class if withClass.
func outboxEntries(t *testing.T, s *store.Store, withClass bool) []string {
	t.Helper()
	items, err := s.Peek(100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		e := string(it.Data)
		if withClass {
			e = it.Class.String() + ":" + e
		}
		out = append(out, e)
	}
	return out
}

func TestOutbox(t *testing.T) {
	opts := testOptions()
	opts.MaxOutbox = 4
	path := filepath.Join(t.TempDir(), "node.db")
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	enq := func(c store.OutboxClass, data string) uint64 { t.Helper(); return mustEnqueue(t, s, c, data) }
	peek := func() []string { t.Helper(); return outboxEntries(t, s, true) }
	enq(store.OutboxTelemetry, "t1")
	a1 := enq(store.OutboxAck, "a1")
	enq(store.OutboxTelemetry, "t2")
	enq(store.OutboxAck, "a2")
	if d := cmp.Diff([]string{"telemetry:t1", "ack:a1", "telemetry:t2", "ack:a2"}, peek()); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	// Full: the oldest telemetry goes, whatever arrives.
	enq(store.OutboxAck, "a3")
	enq(store.OutboxTelemetry, "t3")
	if d := cmp.Diff([]string{"ack:a1", "ack:a2", "ack:a3", "telemetry:t3"}, peek()); d != "" {
		t.Errorf("after drops (-want +got):\n%s", d)
	}
	enq(store.OutboxAck, "a4") // drops t3
	// Full of acks: nothing more, and no ack is dropped.
	for _, c := range []store.OutboxClass{store.OutboxAck, store.OutboxTelemetry} {
		if _, err := s.Enqueue(c, []byte("x")); !errors.Is(err, store.ErrOutboxFull) {
			t.Errorf("Enqueue %s into a full outbox of acks = %v, want ErrOutboxFull", c, err)
		}
	}
	if d := cmp.Diff([]string{"ack:a1", "ack:a2", "ack:a3", "ack:a4"}, peek()); d != "" {
		t.Errorf("full of acks (-want +got):\n%s", d)
	}
	items, err := s.Peek(2)
	if err != nil || len(items) != 2 || items[0].Seq != a1 {
		t.Fatalf("Peek(2) = %v, %v", items, err)
	}
	if err := s.Ack(items[0].Seq, items[1].Seq, 999); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(items[0].Seq); err != nil { // again: no effect
		t.Fatal(err)
	}
	// Survives a reopen, with sequence numbers never reused.
	s.Close()
	if s, err = store.Open(path, opts); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ack:a3", "ack:a4"}, peek()); d != "" {
		t.Errorf("after Ack and reopen (-want +got):\n%s", d)
	}
	if seq := enq(store.OutboxTelemetry, "t4"); seq <= items[1].Seq+2 {
		t.Errorf("sequence %d reused", seq)
	}
	acks, tel, err := s.OutboxLen()
	if err != nil || acks != 2 || tel != 1 {
		t.Errorf("OutboxLen = %d, %d, %v; want 2, 1", acks, tel, err)
	}
	st, _ := s.Stats()
	if st.OutboxDropped != 3 {
		t.Errorf("OutboxDropped = %d, want 3", st.OutboxDropped)
	}
	if _, err := s.Enqueue(store.OutboxClass(9), nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Enqueue of class 9 = %v, want ErrInvalid", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	s, err := store.Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	a := sign(t, spec{Seq: 1})
	c := sign(t, spec{Seq: 2, Kind: record.KindCancel, Supersedes: []record.ID{a.ID()}})
	p := sign(t, spec{Seq: 3, Kind: record.KindProtocol})
	put(t, s, t0, a, c, p)
	before, _ := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Len(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Len after Close = %v, want ErrClosed", err)
	}
	s, err = store.Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, _ := s.Stats()
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("Stats across reopen (-before +after):\n%s", d)
	}
	if es, _ := s.Active(t0); len(es) != 0 {
		t.Errorf("Active after reopen = %v, want none (a is cancelled)", ids(es))
	}
}

// TestConcurrent runs writers, readers, a sweeper and a reconciliation at
// once, for the race detector.
func TestConcurrent(t *testing.T) {
	s := openStore(t, testOptions())
	peer := openStore(t, testOptions())
	const perWriter = 40
	rs := make([][]*record.Record, 2)
	for w := range rs {
		for i := range perWriter {
			rs[w] = append(rs[w], sign(t, spec{Seq: uint64(w*1000 + i), Expires: time.Duration(1+i%4) * time.Hour}))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range rs {
		wg.Go(func() {
			for i, r := range rs[w] {
				var err error
				if i%2 == 0 {
					_, err = s.Put(r, t0)
				} else {
					_, err = s.PutBatch([]*record.Record{r}, t0)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if _, err := s.Active(t0.Add(time.Duration(i) * 10 * time.Minute)); err != nil {
				errs <- err
				return
			}
			if _, _, err := s.Fingerprint(store.MinBound, store.MaxBound); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for i := range 10 {
			if _, err := s.Sweep(t0.Add(time.Duration(i) * 15 * time.Minute)); err != nil {
				errs <- err
				return
			}
			if _, err := s.Enqueue(store.OutboxTelemetry, []byte("t")); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		r, p := store.NewReconciler(s, t0), store.NewReconciler(peer, t0)
		msg, err := r.Initiate()
		for side := 1; err == nil && msg != nil; side = 1 - side {
			rc := []*store.Reconciler{r, p}[side]
			msg, _, _, _, err = rc.Respond(msg)
		}
		if err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPutBatchQueued: the records PutBatchQueued adds and its queue names
// are in the outbox, in the same transaction, as that class; one already
// stored is not queued again, and those queue leaves out are not queued.
func TestPutBatchQueued(t *testing.T) {
	s := openStore(t, testOptions())
	health := sign(t, spec{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"), Origin: "pole-1", Seq: 1})
	tel := sign(t, spec{Kind: record.KindTelemetry, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"), Origin: "pole-1", Seq: 2})
	alert := sign(t, spec{Seq: 3})
	queue := func(r *record.Record) (store.OutboxClass, bool) {
		switch r.Kind {
		case record.KindHealth:
			return store.OutboxAck, true
		case record.KindTelemetry:
			return store.OutboxTelemetry, true
		}
		return 0, false
	}
	added, err := s.PutBatchQueued([]*record.Record{health, tel, alert}, t0, queue)
	if err != nil || !added[0] || !added[1] || !added[2] {
		t.Fatalf("PutBatchQueued = %v, %v", added, err)
	}
	if acks, telemetry, err := s.OutboxLen(); err != nil || acks != 1 || telemetry != 1 {
		t.Fatalf("outbox %d acks, %d telemetry, %v; want 1 and 1", acks, telemetry, err)
	}
	items, err := s.Peek(10)
	if err != nil || len(items) != 2 || !bytes.Equal(items[0].Data, health.Raw()) || !bytes.Equal(items[1].Data, tel.Raw()) {
		t.Fatalf("outbox %v, %v: want the health report then the telemetry", items, err)
	}
	// Again: stored already, so nothing is queued twice.
	if added, err := s.PutBatchQueued([]*record.Record{health, tel}, t0, queue); err != nil || added[0] || added[1] {
		t.Fatalf("again: %v, %v", added, err)
	}
	if acks, telemetry, _ := s.OutboxLen(); acks != 1 || telemetry != 1 {
		t.Errorf("after a repeat: %d acks, %d telemetry; want 1 and 1", acks, telemetry)
	}
}

// AckLater removes entries in the next write, or at FlushAcks or Close;
// readers leave them out at once, and a crash before loses the removal,
// never an entry.
func TestOutboxAckLater(t *testing.T) {
	opts := testOptions()
	opts.MaxOutbox = 4
	dir := t.TempDir()
	path := filepath.Join(dir, "node.db")
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	enq := func(c store.OutboxClass, data string) uint64 { t.Helper(); return mustEnqueue(t, s, c, data) }
	contents := func(s *store.Store) []string { t.Helper(); return outboxEntries(t, s, false) }
	// crashed opens a copy of the file as it is on disk now, as after a
	// power cut.
	crashed := func(name string) []string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, name)
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := store.Open(cp, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return contents(c)
	}
	a1 := enq(store.OutboxAck, "a1")
	a2 := enq(store.OutboxAck, "a2")
	t1 := enq(store.OutboxTelemetry, "t1")
	s.AckLater(a1, t1)
	if d := cmp.Diff([]string{"a2"}, contents(s)); d != "" {
		t.Errorf("Peek after AckLater (-want +got):\n%s", d)
	}
	if acks, tel, err := s.OutboxLen(); err != nil || acks != 1 || tel != 0 {
		t.Errorf("OutboxLen = %d, %d, %v; want 1, 0", acks, tel, err)
	}
	if st, _ := s.Stats(); st.OutboxAcks != 1 || st.OutboxTelemetry != 0 {
		t.Errorf("Stats outbox = %d acks, %d telemetry; want 1, 0", st.OutboxAcks, st.OutboxTelemetry)
	}
	if d := cmp.Diff([]string{"a1", "a2", "t1"}, crashed("cut1.db")); d != "" {
		t.Errorf("a cut before any write keeps every entry (-want +got):\n%s", d)
	}
	// The next write carries the removals.
	enq(store.OutboxAck, "a3")
	if d := cmp.Diff([]string{"a2", "a3"}, crashed("cut2.db")); d != "" {
		t.Errorf("after the next write (-want +got):\n%s", d)
	}
	// A full outbox makes room with the removals it holds.
	enq(store.OutboxAck, "a4")
	enq(store.OutboxAck, "a5")
	if _, err := s.Enqueue(store.OutboxAck, []byte("x")); !errors.Is(err, store.ErrOutboxFull) {
		t.Fatalf("Enqueue into a full outbox = %v, want ErrOutboxFull", err)
	}
	s.AckLater(a2)
	enq(store.OutboxAck, "a6")
	// FlushAcks writes them alone; Close too.
	items, _ := s.Peek(1)
	s.AckLater(items[0].Seq)
	if err := s.FlushAcks(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a4", "a5", "a6"}, crashed("cut3.db")); d != "" {
		t.Errorf("after FlushAcks (-want +got):\n%s", d)
	}
	items, _ = s.Peek(1)
	s.AckLater(items[0].Seq, 999)
	s.Close()
	if s, err = store.Open(path, opts); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a5", "a6"}, contents(s)); d != "" {
		t.Errorf("after Close and reopen (-want +got):\n%s", d)
	}
}
