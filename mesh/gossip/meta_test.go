package gossip

import (
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

// TestMetaCheck: a meta proves its member's certificate and key; one
// altered byte, another name or another label is refused, with or without
// a shared cache, and the cache serves only the exact meta it checked.
func TestMetaCheck(t *testing.T) {
	c := theCity(t)
	cert, key, err := c.issue(trust.Identity{Role: trust.RoleDevice, ID: "p07", Zone: "z1"})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := makeMeta(cert, key, "testville", "p07")
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), meta...)
	flipped[len(flipped)-1] ^= 1 // the signature
	now := time.Now()
	for _, cache := range []*MetaCache{nil, NewMetaCache()} {
		for range 2 { // the second round is served by the cache, if any
			id, err := checkMeta(c.verifier(t), cache, meta, "testville", "p07", now)
			if err != nil || id.ID != "p07" || id.Zone != "z1" {
				t.Fatalf("cache %v: good meta: %v, %v", cache != nil, id, err)
			}
			for _, bad := range []struct {
				meta        []byte
				label, name string
				want        string
			}{
				{flipped, "testville", "p07", "signature does not verify"},
				{meta, "gotham", "p07", "signature does not verify"},
				{meta, "testville", "p08", "presents the certificate of"},
				{meta[:40], "testville", "p07", "meta of 40 bytes"},
			} {
				_, err := checkMeta(c.verifier(t), cache, bad.meta, bad.label, bad.name, now)
				if err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Errorf("cache %v: %s/%s: %v, want an error with %q", cache != nil, bad.label, bad.name, err, bad.want)
				}
			}
		}
		if cache != nil && len(cache.m) != 1 {
			t.Errorf("cache holds %d metas, want 1 (refusals are not kept)", len(cache.m))
		}
	}
	// A cached meta still goes through each verifier's chain check: a
	// verifier of another city refuses it.
	other, err := newTestCity("gotham")
	if err != nil {
		t.Fatal(err)
	}
	cache := NewMetaCache()
	if _, err := checkMeta(c.verifier(t), cache, meta, "testville", "p07", now); err != nil {
		t.Fatal(err)
	}
	if _, err := checkMeta(other.verifier(t), cache, meta, "testville", "p07", now); err == nil {
		t.Error("another city's verifier admitted a member through the cache")
	}
}
