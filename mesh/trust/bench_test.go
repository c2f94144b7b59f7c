package trust

import (
	"crypto/ed25519"
	"crypto/x509"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// benchAlert returns a signed warning alert of about 1 KB, signed by kid
// only, and a verifier that has the server's chain cached.
func benchAlert(b *testing.B) (*record.Record, *Verifier) {
	f := testFixture()
	r := rec(record.TierWarning, record.ZoneScope("z1"), "server-1", 1)
	body := alertBody(340)
	es := body.Texts["en"]
	es.Speak = "Flash flood warning. Move to higher ground now."
	body.Texts["en"] = es
	body.Texts["es"] = record.AlertText{
		Short: "Aviso de inundación repentina: suba a terreno alto ahora",
		Long:  "El río crece rápido. Salga de las zonas bajas cerca del río y suba a terreno alto ahora. No conduzca por el agua; 15 cm de agua en movimiento pueden derribarle. Lleve medicinas y documentos.",
		Speak: "Aviso de inundación. Suba a terreno alto.",
	}
	r.Body = body
	s := mustSign(b, r, f.server.kidOnly())
	v := newTestVerifier(b, Config{})
	if err := v.AddCertificates(t0, f.server.cert, f.ca.Cert); err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(s, t0); err != nil {
		b.Fatal(err)
	}
	return s, v
}

// BenchmarkVerify is the steady state: a parsed 1 KB alert whose signer's
// chain is cached. The target is at most 1.2× BenchmarkEd25519Floor.
func BenchmarkVerify(b *testing.B) {
	r, v := benchAlert(b)
	b.SetBytes(int64(len(r.Raw())))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerify is the figure the foundation issue sets: record.Parse
// from the wire bytes plus Verify with the chain cached, next to its
// physical floor, a raw ed25519.Verify of the same bytes, measured in the
// same loop so that both see the same machine. It reports the ratio; the
// target is at most 1.2.
func BenchmarkParseVerify(b *testing.B) {
	r, v := benchAlert(b)
	raw := r.Raw()
	f := testFixture()
	sig := ed25519.Sign(f.server.key, raw)
	pub := f.server.key.Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var floor, full time.Duration
	for b.Loop() {
		t := time.Now()
		if !ed25519.Verify(pub, raw, sig) {
			b.Fatal("floor verify failed")
		}
		m := time.Now()
		p, err := record.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(p, t0); err != nil {
			b.Fatal(err)
		}
		floor += m.Sub(t)
		full += time.Since(m)
	}
	n := float64(b.N)
	b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns/op")
	b.ReportMetric(float64(full.Nanoseconds())/n, "parse+verify-ns/op")
	b.ReportMetric(float64(full)/float64(floor), "ratio")
}

// BenchmarkEd25519Floor is the cost no verifier can avoid: one Ed25519
// verification of a message as long as the record.
func BenchmarkEd25519Floor(b *testing.B) {
	r, _ := benchAlert(b)
	f := testFixture()
	msg := make([]byte, len(r.Raw()))
	for i := range msg {
		msg[i] = byte(i)
	}
	sig := ed25519.Sign(f.server.key, msg)
	pub := f.server.key.Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkVerifyChain is the first sight of a signer: x5chain parse and
// X.509 chain verification, then the record.
func BenchmarkVerifyChain(b *testing.B) {
	f := testFixture()
	r := mustSign(b, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	b.ReportAllocs()
	for b.Loop() {
		v, _ := NewVerifier(Config{Roots: []*x509.Certificate{f.root.Cert}})
		if _, err := v.Verify(r, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is record.Parse alone, for comparison.
func BenchmarkParse(b *testing.B) {
	r, _ := benchAlert(b)
	raw := r.Raw()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := record.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
