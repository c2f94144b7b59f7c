package trust

import (
	"bytes"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// TestCheckSignaturesThenVerify: a record whose signatures were checked
// ahead is accepted by Verify without checking them again, once; Verify
// still applies every rule that depends on state.
func TestCheckSignaturesThenVerify(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	if err := v.CheckSignatures(r, t0); err != nil {
		t.Fatalf("CheckSignatures: %v", err)
	}
	acceptTakesHeld(t, v, r, "after CheckSignatures")
	// Replay is Verify's: checking the same bytes again does not help.
	if err := v.CheckSignatures(r, t0); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(r, t0)
	wantReason(t, err, ReasonReplayed)

	// Expiry is Verify's, at its own time.
	r2 := mustSign(t, rec(record.TierWarning, record.City, "server-1", 2), f.server.signer())
	if err := v.CheckSignatures(r2, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(r2, t0.Add(2*time.Hour))
	wantReason(t, err, ReasonExpired)

	// So is revocation: a signer revoked between the check and Verify is
	// refused.
	r3 := mustSign(t, rec(record.TierWarning, record.City, "server-1", 3), f.server.signer())
	if err := v.CheckSignatures(r3, t0); err != nil {
		t.Fatal(err)
	}
	rv, err := NewRevocation(f.ca, [][]byte{Serial(f.server.cert)}, "key stolen", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ApplyRevocation(rv, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(r3, t0)
	wantReason(t, err, ReasonRevoked)
}

// TestCheckSignaturesRefusesForgeries: CheckSignatures gives the reason
// Verify would, and remembers nothing for a record that fails.
func TestCheckSignaturesRefusesForgeries(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	raw := bytes.Clone(r.Raw())
	raw[len(raw)-1] ^= 0x01
	forged, err := record.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v.CheckSignatures(forged, t0), ReasonBadSignature)
	_, err = v.Verify(forged, t0)
	wantReason(t, err, ReasonBadSignature)

	gwWarning := mustSign(t, rec(record.TierWarning, record.City, "gw-1", 1), f.gw1.signer())
	wantReason(t, v.CheckSignatures(gwWarning, t0), ReasonRoleNotAllowed)

	unknown := mustSign(t, rec(record.TierWarning, record.City, "server-2", 1), f.server2.kidOnly())
	wantReason(t, v.CheckSignatures(unknown, t0), ReasonUnknownSigner)
	if n := v.sigs.size(); n != 0 {
		t.Errorf("%d records held after refusals, want 0", n)
	}
}

// TestSignatureCacheBounded: records checked but never verified age out.
func TestSignatureCacheBounded(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{SignatureCache: 8})
	var recs []*record.Record
	for seq := uint64(1); seq <= 20; seq++ {
		r := mustSign(t, rec(record.TierWarning, record.City, "server-1", seq), f.server.signer())
		if err := v.CheckSignatures(r, t0); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if n := v.sigs.size(); n > 8 {
		t.Errorf("%d records held, want at most 8", n)
	}
	// The newest are still held; the oldest are verified the long way,
	// and both are accepted.
	if !v.sigs.take(recs[19].ID(), mustPrepare(t, v, recs[19])) {
		t.Error("the newest record was forgotten")
	}
	if v.sigs.take(recs[0].ID(), mustPrepare(t, v, recs[0])) {
		t.Error("the oldest record is still held")
	}
	if _, err := v.Accept(recs[0], t0); err != nil {
		t.Errorf("Accept of a record forgotten by the cache: %v", err)
	}
	if _, err := NewVerifier(Config{Roots: []*x509.Certificate{f.root.Cert}, SignatureCache: -1}); err == nil {
		t.Error("NewVerifier took a negative SignatureCache")
	}
}

func mustPrepare(t *testing.T, v *Verifier, r *record.Record) []*signer {
	t.Helper()
	ck, rej := v.prepare(r, t0)
	if rej != nil {
		t.Fatal(rej)
	}
	return ck.ss
}

// TestCheckSignaturesConcurrent runs checks on many goroutines while
// Verify and Commit take the records (go test -race).
func TestCheckSignaturesConcurrent(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	const n = 200
	recs := make([]*record.Record, n)
	for i := range recs {
		recs[i] = mustSign(t, rec(record.TierWarning, record.City, "server-1", uint64(i+1)), f.server.kidOnly())
	}
	if err := v.AddCertificates(t0, f.ca.Cert, f.server.cert); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	checked := make(chan *record.Record, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				if err := v.CheckSignatures(recs[i], t0); err != nil {
					t.Error(err)
				}
				checked <- recs[i]
			}
		}()
	}
	go func() { wg.Wait(); close(checked) }()
	for r := range checked {
		if _, err := v.Accept(r, t0); err != nil {
			t.Errorf("Accept seq %d: %v", r.Seq, err)
		}
	}
	if n := v.sigs.size(); n != 0 {
		t.Errorf("%d records held, want 0", n)
	}
}

// TestCertificate: the verifier hands out the certificates whose chains
// it verified, by kid.
func TestCertificate(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	kid := record.Fingerprint(f.dev1.cert.Raw)
	if _, ok := v.Certificate(kid); ok {
		t.Fatal("a certificate before any record")
	}
	r := mustSign(t, with(rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1)), f.dev1.signer())
	if _, err := v.Verify(r, t0); err != nil {
		t.Fatal(err)
	}
	c, ok := v.Certificate(kid)
	if !ok || !c.Equal(f.dev1.cert) {
		t.Errorf("Certificate = %v, %v", c, ok)
	}
	if _, ok := v.Certificate(kid[:5]); ok {
		t.Error("a short kid found a certificate")
	}
}

// TestSignedHere: a record this process signed is accepted without its
// signature being checked, once; a record whose signer resolves to
// another key than the one named is checked as usual.
func TestSignedHere(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	s := f.server.signer()
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), s)
	v.SignedHere(r, s)
	acceptTakesHeld(t, v, r, "of a record signed here")

	// A signer whose key is not its certificate's makes signatures that
	// do not verify; naming that signer does not vouch for them.
	bad := s
	bad.Key = f.server2.key
	forged := mustSign(t, rec(record.TierWarning, record.City, "server-1", 2), bad)
	v.SignedHere(forged, bad)
	_, err := v.Verify(forged, t0)
	wantReason(t, err, ReasonBadSignature)

	// What the skip rests on: naming the certificate's key for a
	// signature it did not make would be believed. Hence "only for
	// records signed here".
	lie := mustSign(t, rec(record.TierWarning, record.City, "server-1", 3), bad)
	v.SignedHere(lie, s)
	if _, err := v.Verify(lie, t0); err != nil {
		t.Errorf("Verify after SignedHere with the resolving key: %v (the check was not skipped)", err)
	}
}

// acceptTakesHeld checks that v holds r's checked signatures, that Accept
// takes r (what says which call it follows), and that it took them.
func acceptTakesHeld(t *testing.T, v *Verifier, r *record.Record, what string) {
	t.Helper()
	if n := v.sigs.size(); n != 1 {
		t.Fatalf("%d records held, want 1", n)
	}
	if _, err := v.Accept(r, t0); err != nil {
		t.Fatalf("Accept %s: %v", what, err)
	}
	if n := v.sigs.size(); n != 0 {
		t.Errorf("%d records held after Verify took it, want 0", n)
	}
}
