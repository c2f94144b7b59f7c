package trust

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

func TestChainCacheShared(t *testing.T) {
	f := testFixture()
	cache := NewChainCache()
	a := newTestVerifier(t, Config{Chains: cache})
	b := newTestVerifier(t, Config{Chains: cache})
	alert := func(seq uint64) *record.Record {
		return mustSign(t, rec(record.TierWarning, record.City, "server-1", seq), f.server.signer())
	}
	if _, err := a.Verify(alert(1), t0); err != nil {
		t.Fatalf("a: %v", err)
	}
	if got := len(cache.m); got != 1 {
		t.Fatalf("cache holds %d chains after one verification, want 1", got)
	}
	// b finds a's verified chain: the very same signer, not a rebuilt one.
	if _, err := b.Verify(alert(2), t0); err != nil {
		t.Fatalf("b: %v", err)
	}
	kid := [32]byte(record.Fingerprint(f.server.cert.Raw))
	if a.cache[kid] != b.cache[kid] || a.cache[kid] == nil {
		t.Error("b rebuilt a chain the cache held")
	}

	// Revocation stays each verifier's own.
	rv, err := NewRevocation(f.ca, [][]byte{Serial(f.server.cert)}, "key stolen", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyRevocation(rv, t0); err != nil {
		t.Fatal(err)
	}
	_, err = a.Verify(alert(3), t0)
	wantReason(t, err, ReasonRevoked)
	if _, err := b.Verify(alert(3), t0); err != nil {
		t.Errorf("b, which has not seen the revocation: %v", err)
	}

	held := len(cache.m) // server-1 and the city CA, which signed the revocation

	// A cached chain is not served outside its validity window.
	late := f.server.cert.NotAfter.Add(time.Hour)
	r := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 4), func(r *record.Record) {
		r.Issued, r.Expires = late, late.Add(time.Hour)
	}), f.server.signer())
	_, err = newTestVerifier(t, Config{Chains: cache}).Verify(r, late)
	wantReason(t, err, ReasonCertExpired)

	// Failures are not cached.
	_, err = newTestVerifier(t, Config{Chains: cache}).Verify(
		mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.otherServer.signer()), t0)
	wantReason(t, err, ReasonBadChain)
	if got := len(cache.m); got != held {
		t.Errorf("cache holds %d chains, want %d (failures are not kept)", got, held)
	}
}

func TestChainCacheRefusesOtherRoots(t *testing.T) {
	f := testFixture()
	cache := NewChainCache()
	newTestVerifier(t, Config{Chains: cache})
	_, err := NewVerifier(Config{Roots: []*x509.Certificate{f.otherRoot.Cert}, Chains: cache})
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("verifier of another city on the same cache: %v, want ErrBadConfig", err)
	}
}
