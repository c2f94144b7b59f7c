package show

import (
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// testSigner signs without a certificate chain: selection does not verify
// (the replica did, before the store took the record).
var testSigner = func() record.Signer {
	seed := sha256.Sum256([]byte("edge select test"))
	s, err := record.NewSigner(ed25519.NewKeyFromSeed(seed[:]), []byte("test certificate"), false)
	if err != nil {
		panic(err)
	}
	return s
}()

var seq uint64

func signed(t *testing.T, r *record.Record) *record.Record {
	t.Helper()
	seq++
	if r.Origin == "" {
		r.Origin = "server-1"
	}
	r.Seq = seq
	out, err := record.Sign(r, testSigner)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func alertBody(texts ...string) *record.Alert {
	a := &record.Alert{Texts: map[string]record.AlertText{}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}
	for _, kv := range texts {
		lang, text, _ := strings.Cut(kv, "=")
		a.Texts[lang] = record.AlertText{Short: text}
	}
	return a
}

func alertRec(t *testing.T, tier record.Tier, scope record.Scope, issued time.Duration, life time.Duration, texts ...string) *record.Record {
	t.Helper()
	return signed(t, &record.Record{Kind: record.KindAlert, Tier: tier, Scope: scope,
		Issued: t0.Add(issued), Expires: t0.Add(issued + life), Body: alertBody(texts...)})
}

func openStore(t *testing.T, rs ...*record.Record) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "pole.db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if len(rs) > 0 {
		if _, err := st.PutBatch(rs, t0); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func candidates(t *testing.T, st *store.Store, now time.Time) ([]Item, []Refusal) {
	t.Helper()
	active, err := st.Active(now)
	if err != nil {
		t.Fatal(err)
	}
	return Candidates(active, "pole-1", "z1", now, st.Get, nil)
}

func TestCandidates(t *testing.T) {
	emer := alertRec(t, record.TierEmergency, record.City, -time.Hour, 24*time.Hour, "en=Evacuate")
	warnOld := alertRec(t, record.TierWarning, record.ZoneScope("z1"), -10*time.Minute, time.Hour, "en=Old warning")
	warnNew := alertRec(t, record.TierWarning, record.ZoneScope("z1"), -time.Minute, time.Hour, "en=New warning")
	other := alertRec(t, record.TierIPAWS, record.ZoneScope("z2"), -time.Minute, time.Hour, "en=Elsewhere")
	mine := alertRec(t, record.TierAdvisory, record.DeviceScope("pole-1"), -time.Minute, time.Hour, "en=Just me")
	notMine := alertRec(t, record.TierAdvisory, record.DeviceScope("pole-2"), -time.Minute, time.Hour, "en=Not me")
	st := openStore(t, emer, warnOld, warnNew, other, mine, notMine)

	got, refused := candidates(t, st, t0)
	var ids []record.ID
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	// The old warning is past its 5-minute display timeout; z2 and pole-2
	// are not this pole's.
	want := []record.ID{emer.ID(), warnNew.ID(), mine.ID()}
	if d := cmp.Diff(want, ids); d != "" || len(refused) != 0 {
		t.Errorf("candidates (-want +got):\n%s\nrefused %v", d, refused)
	}
	if c := Choose(got); c == nil || c.ID != emer.ID() {
		t.Errorf("Choose = %+v, want the emergency", c)
	}
	// The new warning leaves the display 5 minutes after it was issued,
	// which is the next change.
	if nc := NextChange(got); !nc.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("NextChange = %v, want %v", nc, t0.Add(4*time.Minute))
	}
	// Four minutes later only the emergency and the device advisory stay.
	got, _ = candidates(t, st, t0.Add(4*time.Minute))
	if len(got) != 2 || got[0].ID != emer.ID() || got[1].ID != mine.ID() {
		t.Errorf("after the warning's timeout: %v", got)
	}
	if c := Choose(nil); c != nil {
		t.Errorf("Choose of nothing = %+v, want nil (informational content)", c)
	}
}

func TestCandidatesCancel(t *testing.T) {
	a := alertRec(t, record.TierWarning, record.City, -time.Minute, time.Hour, "en=Flood")
	cancel := signed(t, &record.Record{Kind: record.KindCancel, Tier: record.TierWarning, Scope: record.City,
		Issued: t0, Expires: t0.Add(time.Hour), Supersedes: []record.ID{a.ID()}, Body: &record.Cancel{Reason: "all clear"}})
	st := openStore(t, a, cancel)
	if got, _ := candidates(t, st, t0); len(got) != 0 {
		t.Errorf("a cancelled alert is a candidate: %v", got)
	}
}

func TestCandidatesActivation(t *testing.T) {
	proto := signed(t, &record.Record{Kind: record.KindProtocol, Tier: record.TierWarning, Scope: record.City,
		Issued: t0.Add(-time.Hour), Expires: t0.Add(47 * time.Hour), Body: &record.Protocol{
			Template: "flood", Params: []string{"shelter"},
			Texts:    map[string]record.AlertText{"en": {Short: "Flood: go to {shelter}"}, "es": {Short: "Inundación: vaya a {shelter}"}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Likely", Category: "Met"}})
	act := func(params map[string]string, protoID record.ID) *record.Record {
		return signed(t, &record.Record{Kind: record.KindActivation, Tier: record.TierWarning, Scope: record.ZoneScope("z1"),
			Issued: t0.Add(-time.Minute), Expires: t0.Add(time.Hour), Body: &record.Activation{Protocol: protoID, Params: params}})
	}
	good := act(map[string]string{"shelter": "City Hall"}, proto.ID())
	missing := act(nil, proto.ID())
	uncached := act(map[string]string{"shelter": "X"}, record.IDOf([]byte("never seen")))
	st := openStore(t, proto, good, missing, uncached)

	got, refused := candidates(t, st, t0)
	if len(got) != 1 || got[0].ID != good.ID() || got[0].Alert.Texts["es"].Short != "Inundación: vaya a City Hall" {
		t.Errorf("candidates %+v", got)
	}
	why := map[record.ID]string{}
	for _, r := range refused {
		why[r.ID] = r.Reason
	}
	if !strings.Contains(why[missing.ID()], "param shelter: required") || !strings.Contains(why[uncached.ID()], "not cached") || len(why) != 2 {
		t.Errorf("refusals %v", why)
	}
}

func TestInScope(t *testing.T) {
	for scope, want := range map[record.Scope]bool{
		record.City: true, "zone:z1": true, "zone:z2": false, "device:pole-1": true, "device:pole-10": false, "street:x": false,
	} {
		if got := InScope(scope, "pole-1", "z1"); got != want {
			t.Errorf("InScope(%s) = %v", scope, got)
		}
	}
}

// TestDigest: the digest covers what decides what the pole shows, in its
// scope, unexpired, whatever the order; anything else leaves it alone.
func TestDigest(t *testing.T) {
	a := alertRec(t, record.TierWarning, record.ZoneScope("z1"), -time.Minute, time.Hour, "en=Flood")
	b := alertRec(t, record.TierWarning, record.City, -time.Minute, time.Hour, "en=Storm")
	other := alertRec(t, record.TierWarning, record.ZoneScope("z2"), -time.Minute, time.Hour, "en=Elsewhere")
	ack := signed(t, &record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope("pole-1"),
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "pole-1", Body: &record.Ack{Record: a.ID(), Device: "pole-1", State: record.AckReceived, At: record.MillisOf(t0)}})
	cmd := signed(t, &record.Record{Kind: record.KindCommand, Tier: record.TierWarning, Scope: record.DeviceScope("pole-1"),
		Issued: t0, Expires: t0.Add(time.Hour), Body: &record.Command{Action: "volume", Value: 50}})
	digest := func(rs ...*record.Record) [16]byte {
		st := openStore(t, rs...)
		es, err := ScopeEntries(st, "pole-1", "z1")
		if err != nil {
			t.Fatal(err)
		}
		return Digest(es, "pole-1", "z1", t0)
	}
	base := digest(a, b, cmd)
	if digest(b, cmd, a) != base {
		t.Error("the digest depends on the order")
	}
	if digest(a, b, cmd, other, ack) != base {
		t.Error("another zone's alert or the pole's own ack changed the digest")
	}
	if digest(a, b) == base || digest(a, cmd) == base {
		t.Error("a missing record left the digest unchanged")
	}
}

// Parsed parses a record once and gives the same candidates as parsing
// every time; it forgets beyond two generations and caches no failure.
func TestParsed(t *testing.T) {
	a := alertRec(t, record.TierWarning, record.City, 0, time.Hour, "en=Flood")
	st := openStore(t, a)
	active, err := st.Active(t0)
	if err != nil || len(active) != 1 {
		t.Fatalf("Active = %v, %v", active, err)
	}
	var p Parsed
	r1, err := p.Parse(active[0])
	if err != nil {
		t.Fatal(err)
	}
	if r2, _ := p.Parse(active[0]); r2 != r1 {
		t.Error("the second Parse parsed again")
	}
	want, _ := Candidates(active, "pole-1", "z1", t0, st.Get, nil)
	got, _ := Candidates(active, "pole-1", "z1", t0, st.Get, &p)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("candidates through Parsed (-want +got):\n%s", d)
	}
	// Two generations: after 2 × parsedMax other records, it is gone.
	for i := range 2 * parsedMax {
		e := active[0]
		e.ID = record.IDOf([]byte{byte(i), byte(i >> 8)})
		if _, err := p.Parse(e); err != nil {
			t.Fatal(err)
		}
	}
	if r3, _ := p.Parse(active[0]); r3 == r1 {
		t.Error("a record was kept beyond two generations")
	}
	bad := store.Entry{ID: record.IDOf([]byte("bad")), Raw: []byte("not a record")}
	for range 2 {
		if _, err := p.Parse(bad); err == nil {
			t.Error("Parse of bad bytes succeeded")
		}
	}
}
