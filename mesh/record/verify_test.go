package record_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/cityarray/cityarray/mesh/record"
)

// verifyBoth returns what crypto/ed25519 and record.PublicKey say of sig.
func verifyBoth(t *testing.T, pub, msg, sig []byte) (std, ours bool) {
	t.Helper()
	if len(pub) == ed25519.PublicKeySize {
		std = ed25519.Verify(pub, msg, sig)
	}
	if k, err := record.NewPublicKey(pub); err == nil {
		ours = k.Verify(msg, sig)
	}
	return std, ours
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestVerifyEdgeCases runs the encodings where Ed25519 implementations
// disagree (small-order and non-canonical points, non-canonical S) through
// both verifiers: record.PublicKey must say what crypto/ed25519 says.
func TestVerifyEdgeCases(t *testing.T) {
	seed := sha256.Sum256([]byte("edge cases"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("Flood warning: move to higher ground")
	sig := ed25519.Sign(priv, msg)

	identity := mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	order2 := mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	order4 := mustHex("0000000000000000000000000000000000000000000000000000000000000080")
	nonCanonicalY := mustHex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // y = p
	zeroS := make([]byte, 32)
	highS := append(append([]byte(nil), sig[:32]...), mustHex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")...) // S = L
	flipped := append([]byte(nil), sig...)
	flipped[40] ^= 1

	for _, tc := range []struct {
		name          string
		pub, msg, sig []byte
		want          bool // crypto/ed25519's answer
	}{
		{"valid", pub, msg, sig, true},
		{"flipped S bit", pub, msg, flipped, false},
		{"S = L (non-canonical)", pub, msg, highS, false},
		{"other message", pub, []byte("all clear"), sig, false},
		{"identity key, identity R, S = 0", identity, msg, append(append([]byte(nil), identity...), zeroS...), true},
		{"order-2 key, identity R, S = 0", order2, msg, append(append([]byte(nil), identity...), zeroS...), false},
		{"order-4 key, order-4 R, S = 0", order4, msg, append(append([]byte(nil), order4...), zeroS...), false},
		{"non-canonical key y = p", nonCanonicalY, msg, append(append([]byte(nil), identity...), zeroS...), false},
		{"short key", pub[:31], msg, sig, false},
		{"short signature", pub, msg, sig[:63], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			std, ours := verifyBoth(t, tc.pub, tc.msg, tc.sig)
			if std != ours {
				t.Errorf("crypto/ed25519 says %v, record.PublicKey says %v", std, ours)
			}
			if std != tc.want {
				t.Errorf("crypto/ed25519 says %v, the table %v: the case does not test what it says", std, tc.want)
			}
		})
	}
}

// FuzzVerifyMatchesStdlib holds record.PublicKey to crypto/ed25519's
// answer: on raw inputs, and on a real signature with bits of the key, the
// signature and the message flipped.
func FuzzVerifyMatchesStdlib(f *testing.F) {
	f.Add([]byte("seed"), []byte("msg"), []byte{}, []byte{}, []byte{})
	f.Add([]byte("seed"), []byte("msg"), []byte{0, 1}, []byte{}, []byte{})
	f.Add([]byte("seed"), []byte("msg"), []byte{}, []byte{0, 0, 0, 0x80}, []byte{1})
	f.Fuzz(func(t *testing.T, seed, msg, keyMask, sigMask, msgMask []byte) {
		s := sha256.Sum256(seed)
		priv := ed25519.NewKeyFromSeed(s[:])
		pub := append([]byte(nil), priv.Public().(ed25519.PublicKey)...)
		sig := ed25519.Sign(priv, msg)
		m := append([]byte(nil), msg...)
		for i, b := range keyMask {
			pub[i%len(pub)] ^= b
		}
		for i, b := range sigMask {
			sig[i%len(sig)] ^= b
		}
		for i, b := range msgMask {
			if len(m) > 0 {
				m[i%len(m)] ^= b
			}
		}
		if std, ours := verifyBoth(t, pub, m, sig); std != ours {
			t.Fatalf("pub %x sig %x msg %x: crypto/ed25519 %v, record.PublicKey %v", pub, sig, m, std, ours)
		}
		// And the raw bytes as given.
		if len(seed) >= 32 && len(msgMask) >= 64 {
			if std, ours := verifyBoth(t, seed[:32], msg, msgMask[:64]); std != ours {
				t.Fatalf("raw: crypto/ed25519 %v, record.PublicKey %v", std, ours)
			}
		}
	})
}

// BenchmarkVerifyKey compares one signature check with crypto/ed25519 and
// with a prepared record.PublicKey.
func BenchmarkVerifyKey(b *testing.B) {
	seed := sha256.Sum256([]byte("bench"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
	k, err := record.NewPublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			if !k.Verify(msg, sig) {
				b.Fatal("refused")
			}
		}
	})
}
