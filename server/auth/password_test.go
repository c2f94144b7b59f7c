package auth

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePHC(t *testing.T) {
	salt := "c2FsdHNhbHRzYWx0c2FsdA"                 // 16 bytes
	key := "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 29 bytes
	ok := "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$" + key
	tests := []struct {
		name string
		in   string
		want *Argon2Params
	}{
		{"valid", ok, &Argon2Params{Memory: 65536, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 29}},
		{"argon2i", strings.Replace(ok, "argon2id", "argon2i", 1), nil},
		{"version 16", strings.Replace(ok, "v=19", "v=16", 1), nil},
		{"no version", "$argon2id$m=65536,t=1,p=2$" + salt + "$" + key, nil},
		{"params reordered", strings.Replace(ok, "m=65536,t=1,p=2", "t=1,m=65536,p=2", 1), nil},
		{"leading zero", strings.Replace(ok, "t=1", "t=01", 1), nil},
		{"negative", strings.Replace(ok, "t=1", "t=-1", 1), nil},
		{"empty value", strings.Replace(ok, "t=1", "t=", 1), nil},
		{"extra param", strings.Replace(ok, "p=2", "p=2,k=1", 1), nil},
		{"memory too big", strings.Replace(ok, "m=65536", "m=99999999", 1), nil},
		{"memory below 8p", strings.Replace(ok, "m=65536", "m=15", 1), nil},
		{"time zero", strings.Replace(ok, "t=1", "t=0", 1), nil},
		{"time huge", strings.Replace(ok, "t=1", "t=4294967295", 1), nil},
		{"threads zero", strings.Replace(ok, "p=2", "p=0", 1), nil},
		{"threads over 255", strings.Replace(ok, "p=2", "p=256", 1), nil},
		{"padded base64", "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "==$" + key, nil},
		{"url base64", "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$" + strings.Replace(key, "a", "-", 1), nil},
		{"short salt", "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$" + key, nil},
		{"short key", "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$a2V5", nil},
		{"trailing field", ok + "$", nil},
		{"newline in base64", "$argon2id$v=19$m=65536,t=1,p=2$" + salt[:4] + "\r\n" + salt[4:] + "$" + key, nil},
		{"no leading dollar", ok[1:], nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parsePHC(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parsePHC(%q) = %+v, want error", tt.in, h.Params)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePHC(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(*tt.want, h.Params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if got := h.String(); got != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	h, err := newHasher(cheapArgon2, rand.NewChaCha8([32]byte{9}), 2)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := h.hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Errorf("hash = %q, want the PHC form with the configured parameters", stored)
	}
	again, _ := h.hash("correct horse battery staple")
	if again == stored {
		t.Error("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		name, pw, stored string
		want             bool
	}{
		{"right", "correct horse battery staple", stored, true},
		{"wrong", "correct horse battery stapler", stored, false},
		{"case matters", "Correct horse battery staple", stored, false},
		{"empty", "", stored, false},
		{"no stored hash", "correct horse battery staple", "", false},
		{"malformed stored hash", "correct horse battery staple", "$argon2id$garbage", false},
		{"dummy password", "cityarray dummy password, never valid", "", false},
		{"huge input", strings.Repeat("x", maxPasswordSize+1), stored, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.verify(tt.pw, tt.stored); got != tt.want {
				t.Errorf("verify = %v, want %v", got, tt.want)
			}
		})
	}
	// NFKC: a composed and a decomposed é are the same password.
	nfc, _ := h.hash("caf\u00e9 au lait, s'il vous plaît")
	if !h.verify("cafe\u0301 au lait, s'il vous plaît", nfc) {
		t.Error("decomposed é does not verify against composed é")
	}
}

func TestStaleRehash(t *testing.T) {
	old, _ := newHasher(cheapArgon2, rand.NewChaCha8([32]byte{9}), 1)
	raised := cheapArgon2
	raised.Time = 2
	cur, _ := newHasher(raised, rand.NewChaCha8([32]byte{9}), 1)
	oldHash, _ := old.hash("correct horse battery staple")
	curHash, _ := cur.hash("correct horse battery staple")
	if !cur.stale(oldHash) || cur.stale(curHash) || cur.stale("junk") {
		t.Errorf("stale(old)=%v stale(cur)=%v stale(junk)=%v, want true false false",
			cur.stale(oldHash), cur.stale(curHash), cur.stale("junk"))
	}
	if !cur.verify("correct horse battery staple", oldHash) {
		t.Error("a hash made with older parameters no longer verifies")
	}
}

// TestDefaultArgon2Works hashes once with the production parameters. It
// measures nothing; it shows they are accepted and round-trip.
func TestDefaultArgon2Works(t *testing.T) {
	if err := DefaultArgon2().validate(); err != nil {
		t.Fatal(err)
	}
	h, err := newHasher(DefaultArgon2(), rand.NewChaCha8([32]byte{9}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !h.verify("cityarray dummy password, never valid", h.dummy.String()) {
		t.Fatal("dummy hash does not verify its own password")
	}
	if !strings.HasPrefix(h.dummy.String(), "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Errorf("default hash %q", h.dummy.String())
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, id, pw string
		want         error
	}{
		{"good", "alice", "purple elephant dancing", nil},
		{"11 chars", "alice", "abcdefghijk", ErrPasswordShort},
		{"12 chars", "alice", "abcdefghijkz", nil},
		{"12 runes, more bytes", "alice", "ééééééééééé!", nil},
		{"11 runes, 22 bytes", "alice", "ééééééééééé", ErrPasswordShort},
		{"256 runes", "alice", strings.Repeat("ab", 128), nil},
		{"257 runes", "alice", strings.Repeat("ab", 128) + "c", ErrPasswordLong},
		{"common", "alice", "password1234", ErrPasswordCommon},
		{"common any case", "alice", "PassWord1234", ErrPasswordCommon},
		{"common leet", "alice", "P@ssw0rd1234", ErrPasswordCommon},
		{"common year", "alice", "iloveyou2024", ErrPasswordCommon},
		{"common keyboard", "alice", "qwertyuiop123", ErrPasswordCommon},
		{"repeated", "alice", "aaaaaaaaaaaaaa", ErrPasswordCommon},
		{"contains id", "alice", "my name is alice ok", ErrPasswordUserName},
		{"contains id any case", "alice", "my name is ALICE ok", ErrPasswordUserName},
		{"short id ignored", "al", "algebra is my thing", nil},
		{"fullwidth digits normalised", "alice", "ｐａｓｓｗｏｒｄ１２３４", ErrPasswordCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.id, tt.pw)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("CheckPassword(%q, %q) = %v, want %v", tt.id, tt.pw, err, tt.want)
			}
		})
	}
	if got := ErrPasswordShort.Error(); got != "password: shorter than 12 characters" {
		t.Errorf("ErrPasswordShort = %q", got)
	}
	if got := ErrPasswordCommon.Error(); got != "password: on the common-passwords list" {
		t.Errorf("ErrPasswordCommon = %q", got)
	}
	if got := ErrPasswordReused.Error(); got != "password: used before (one of your last 10)" {
		t.Errorf("ErrPasswordReused = %q", got)
	}
}

func TestCommonPasswordList(t *testing.T) {
	n := len(commonPasswords())
	if n < 1000 {
		t.Fatalf("common-passwords list has %d entries, want at least 1000", n)
	}
	for p := range commonPasswords() {
		if p != strings.ToLower(p) || strings.TrimSpace(p) != p {
			t.Errorf("entry %q is not lowercase and trimmed", p)
		}
	}
}

func TestArgon2ParamsValidate(t *testing.T) {
	tests := []struct {
		p  Argon2Params
		ok bool
	}{
		{DefaultArgon2(), true},
		{cheapArgon2, true},
		{Argon2Params{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Argon2Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{Argon2Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, false},
		{Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, false},
		{Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, false},
	}
	for _, tt := range tests {
		if err := tt.p.validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.validate() = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestMaxHashes(t *testing.T) {
	h, err := newHasher(cheapArgon2, rand.NewChaCha8([32]byte{9}), 2)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := h.hash("correct horse battery staple")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				h.verify("correct horse battery staple", stored)
			}
		})
	}
	wg.Wait()
	if p := h.peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent hashes %d, want 1 or 2 with MaxHashes 2", p)
	}
}
