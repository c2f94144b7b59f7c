package trust

import (
	"bytes"
	"encoding/pem"
	"testing"

	"github.com/cityarray/cityarray/mesh/record"
)

// FuzzVerify: whatever bytes arrive, Parse and Verify never panic, and a
// record Verify accepts is one the fixture's server, operator, gateway or
// device really signed (so its signatures verify on their own).
func FuzzVerify(f *testing.F) {
	fx := testFixture()
	for _, r := range []*record.Record{
		mustSign(f, rec(record.TierWarning, record.City, "server-1", 1), fx.server.signer()),
		mustSign(f, rec(record.TierWarning, record.City, "server-1", 2), fx.server.kidOnly()),
		mustSign(f, rec(record.TierEmergency, record.City, "server-1", 3), fx.server.signer(), fx.operator.signer()),
		mustSign(f, rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), fx.gw1.signer()),
	} {
		f.Add(r.Raw())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := newTestVerifier(t, Config{})
		r, err := record.Parse(b)
		if err != nil {
			return
		}
		vd, err := v.Verify(r, t0)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("rejection without a reason: %v", err)
			}
			return
		}
		for i, s := range vd.signers {
			if err := r.VerifySignature(i, s.pub); err != nil {
				t.Fatalf("accepted a record whose signature %d does not verify: %v", i, err)
			}
		}
	})
}

// FuzzParseIdentity: identity URIs never panic the parser, and what it
// accepts prints back to itself.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"cityarray://zone/z3/device/pole-0042", "cityarray://server/server-1", "cityarray://operator/ada",
		"cityarray://zone/z1/gateway/gw-1", "cityarray://ca/metropolis", "cityarray://root/metropolis",
		"cityarray://zone//device/x", "https://example.com", "cityarray://server/a/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentityString(s)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseIdentityString(%q) returned an invalid identity: %v", s, err)
		}
		again, err := ParseIdentityString(id.String())
		if err != nil || again != id {
			t.Fatalf("%q → %v → %v, %v", s, id, again, err)
		}
	})
}

// FuzzDecodeKey: key files, plain or encrypted, never panic the decoder,
// whatever their PEM headers claim (costs above the limit are refused
// before any work).
func FuzzDecodeKey(f *testing.F) {
	key := seedKey("fuzz")
	plain, err := encodeKey(key, nil, fastKDF)
	if err != nil {
		f.Fatal(err)
	}
	enc, err := encodeKey(key, []byte("pass"), fastKDF)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		if blk, _ := pem.Decode(b); blk != nil && bytes.Contains(b, []byte("argon2id")) {
			if kdf, _, _, err := parseKeyHeaders(blk.Headers); err == nil && kdf.Memory > 1<<16 {
				return // a valid but costly KDF: legitimate, and too slow to fuzz
			}
		}
		k, err := decodeKey(b, pass("pass"))
		if err == nil && len(k) != len(key) {
			t.Fatalf("decoded a %d-byte key", len(k))
		}
	})
}

// FuzzParseCertsPEM: certificate files never panic the parser.
func FuzzParseCertsPEM(f *testing.F) {
	fx := testFixture()
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fx.server.cert.Raw}))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := ParseCertsPEM(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}
