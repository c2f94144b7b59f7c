package record

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"
)

// kilobyteAlert returns a signed warning whose encoded size is about 1 KB.
func kilobyteAlert(tb testing.TB, s Signer) *Record {
	r := warningAlert()
	a := r.Body.(*Alert)
	for _, l := range languages[1:] {
		signed := mustSign(tb, r, s)
		if len(signed.Raw()) >= 1000 {
			return signed
		}
		a.Texts[l] = AlertText{Short: "Flash flood warning: move to higher ground now", Long: "Leave low areas near the river now. Do not drive through water."}
	}
	tb.Fatal("could not reach 1 KB")
	return nil
}

// sizeCases are the records whose sizes DESIGN §3 asks to publish.
func sizeCases(tb testing.TB) []struct {
	name string
	r    *Record
	max  int
} {
	s := testSigner(tb, 1, false)
	p := &Record{Kind: KindProtocol, Tier: TierWarning, Scope: City, Issued: t0, Expires: t0.Add(48 * time.Hour), Origin: "server-1", Seq: 1, Body: sampleProtocol(15)}
	act := &Record{Kind: KindActivation, Tier: TierWarning, Scope: ZoneScope("z12"), Issued: t0, Expires: t0.Add(2 * time.Hour), Origin: "server-1", Seq: 1 << 20,
		Body: &Activation{Protocol: IDOf([]byte("p")), Params: map[string]string{"shelter": "Lincoln High School"}}}
	ack := &Record{Kind: KindAck, Tier: TierInformational, Scope: DeviceScope("pole-0042"), Issued: t0, Expires: t0.Add(24 * time.Hour), Origin: "pole-0042", Seq: 1 << 20,
		Body: &Ack{Record: IDOf([]byte("a")), Device: "pole-0042", State: AckDisplayed, At: MillisOf(t0)}}
	return []struct {
		name string
		r    *Record
		max  int
	}{
		{"warning alert, 1 language", mustSign(tb, warningAlert(), s), 1200},
		{"protocol, 15 languages", mustSign(tb, p, s), MaxSize},
		{"activation", mustSign(tb, act, s), 1200},
		{"ack", mustSign(tb, ack, s), 1200},
	}
}

// TestSizes holds the records that must move fast to one UDP packet
// (DESIGN §3: ≤ 1,200 bytes with the signature, chain referenced by kid).
func TestSizes(t *testing.T) {
	for _, c := range sizeCases(t) {
		n := len(c.r.Raw())
		t.Logf("%-28s %5d bytes", c.name, n)
		if n > c.max {
			t.Errorf("%s is %d bytes, more than %d", c.name, n, c.max)
		}
	}
}

// BenchmarkSizes reports the published sizes as metrics.
func BenchmarkSizes(b *testing.B) {
	for _, c := range sizeCases(b) {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
			}
			b.ReportMetric(float64(len(c.r.Raw())), "bytes")
		})
	}
}

func BenchmarkSign(b *testing.B) {
	s := testSigner(b, 1, false)
	r := kilobyteAlert(b, s)
	b.ReportMetric(float64(len(r.Raw())), "record-bytes")
	for b.Loop() {
		if _, err := Sign(r, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	s := testSigner(b, 1, false)
	raw := kilobyteAlert(b, s).Raw()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleSign() {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	s, _ := NewSigner(key, []byte("server certificate DER"), false)
	r, err := Sign(&Record{
		Kind: KindAlert, Tier: TierWarning, Scope: ZoneScope("z3"),
		Issued: time.Unix(1800000000, 0), Expires: time.Unix(1800003600, 0),
		Origin: "server-1", Seq: 1,
		Body: &Alert{
			Texts:    map[string]AlertText{"en": {Short: "Flood warning: avoid the river"}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Likely", Category: "Met",
		},
	}, s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Kind, r.Tier, r.Scope, len(r.Raw()), "bytes")
	// Output: alert warning zone:z3 262 bytes
}
