package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fastKDF keeps the tests quick; one test uses the default.
var fastKDF = kdfParams{Time: 1, Memory: 64, Threads: 1}

func pass(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

func TestKeyFileRoundTrip(t *testing.T) {
	key := seedKey("round trip")
	tests := []struct {
		name      string
		pass      string
		kdf       kdfParams
		wantBlock string
	}{
		{"plain", "", fastKDF, PEMPrivateKey},
		{"encrypted", "correct horse battery staple", fastKDF, PEMEncryptedPrivateKey},
		{"encrypted, default cost", "correct horse battery staple", defaultKDF, PEMEncryptedPrivateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.key")
			if err := writeKeyFile(path, key, []byte(tt.pass), tt.kdf); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			data, _ := os.ReadFile(path)
			block, _ := pem.Decode(data)
			if block == nil || block.Type != tt.wantBlock {
				t.Fatalf("file holds %v, want a %q block", block, tt.wantBlock)
			}
			if tt.pass != "" && bytes.Contains(data, []byte(tt.pass)) {
				t.Error("the file holds the passphrase")
			}
			asked := 0
			got, err := ReadKeyFile(path, func() ([]byte, error) { asked++; return []byte(tt.pass), nil })
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(key) {
				t.Error("read a different key")
			}
			if want := map[bool]int{true: 0, false: 1}[tt.pass == ""]; asked != want {
				t.Errorf("passphrase asked %d times, want %d", asked, want)
			}
			if tt.pass == "" {
				return
			}
			if diff := cmp.Diff(map[string]string{
				"KDF": "argon2id", "KDF-Time": itoa(tt.kdf.Time), "KDF-Memory": itoa(tt.kdf.Memory), "KDF-Threads": itoa(uint32(tt.kdf.Threads)),
				"Cipher": "XChaCha20-Poly1305",
			}, block.Headers, cmpIgnoreKeys("KDF-Salt", "Cipher-Nonce")); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func cmpIgnoreKeys(keys ...string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		mi, ok := p.Last().(cmp.MapIndex)
		if !ok {
			return false
		}
		for _, k := range keys {
			if mi.Key().String() == k {
				return true
			}
		}
		return false
	}, cmp.Ignore())
}

func TestKeyFileEncryptionIsRandom(t *testing.T) {
	dir := t.TempDir()
	key := seedKey("random")
	a, b := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	for _, p := range []string{a, b} {
		if err := writeKeyFile(p, key, []byte("pw"), fastKDF); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if bytes.Equal(da, db) {
		t.Error("two encryptions of one key are identical (salt and nonce not random)")
	}
}

func TestReadKeyFileWrongPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if err := writeKeyFile(path, seedKey("k"), []byte("right"), fastKDF); err != nil {
		t.Fatal(err)
	}
	_, err := ReadKeyFile(path, pass("wrong"))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if !strings.Contains(err.Error(), "wrong passphrase") || !strings.Contains(err.Error(), path) {
		t.Errorf("message %q does not say wrong passphrase and name the file", err)
	}
	if _, err := ReadKeyFile(path, nil); !errors.Is(err, ErrNeedPassphrase) {
		t.Errorf("nil passphrase: %v, want ErrNeedPassphrase", err)
	}
	if _, err := ReadKeyFile(path, pass("")); !errors.Is(err, ErrNeedPassphrase) {
		t.Errorf("empty passphrase: %v, want ErrNeedPassphrase", err)
	}
	boom := errors.New("no terminal")
	if _, err := ReadKeyFile(path, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("passphrase error: %v, want it wrapped", err)
	}
}

func TestReadKeyFileTampered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if err := writeKeyFile(path, seedKey("k"), []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(path)
	block, _ := pem.Decode(orig)
	tests := []struct {
		name string
		edit func(b *pem.Block)
		want error
	}{
		{"cost lowered", func(b *pem.Block) { b.Headers["KDF-Time"] = "2" }, ErrWrongPassphrase},
		{"ciphertext flipped", func(b *pem.Block) { b.Bytes[3] ^= 1 }, ErrWrongPassphrase},
		{"unknown header", func(b *pem.Block) { b.Headers["Comment"] = "hi" }, ErrBadKeyFile},
		{"missing salt", func(b *pem.Block) { delete(b.Headers, "KDF-Salt") }, ErrBadKeyFile},
		{"other KDF", func(b *pem.Block) { b.Headers["KDF"] = "scrypt" }, ErrBadKeyFile},
		{"other cipher", func(b *pem.Block) { b.Headers["Cipher"] = "AES-256-GCM" }, ErrBadKeyFile},
		{"memory bomb", func(b *pem.Block) { b.Headers["KDF-Memory"] = "4194304" }, ErrBadKeyFile},
		{"short nonce", func(b *pem.Block) { b.Headers["Cipher-Nonce"] = "AAAA" }, ErrBadKeyFile},
	}
	for _, tt := range tests {
		b := &pem.Block{Type: block.Type, Headers: map[string]string{}, Bytes: bytes.Clone(block.Bytes)}
		for k, v := range block.Headers {
			b.Headers[k] = v
		}
		tt.edit(b)
		p := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(p, pass("pw")); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestReadKeyFileBadContent(t *testing.T) {
	f := testFixture()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: PEMCertificate, Bytes: f.server.cert.Raw})
	plain, _ := encodeKey(seedKey("k"), nil, fastKDF)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrBadKeyFile},
		{"not PEM", []byte("hello"), ErrBadKeyFile},
		{"a certificate", certPEM, ErrBadKeyFile},
		{"two keys", append(bytes.Clone(plain), plain...), ErrBadKeyFile},
		{"openssl encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), ErrBadKeyFile},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: PEMPrivateKey, Bytes: []byte{1, 2, 3}}), ErrBadKey},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(p, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(p, pass("x")); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestReadKeyFilePermissions(t *testing.T) {
	if os.Getuid() == 0 {
		// Root reads any file, but the mode check does not depend on that.
		t.Log("running as root")
	}
	path := filepath.Join(t.TempDir(), "k.key")
	if err := writeKeyFile(path, seedKey("k"), nil, fastKDF); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadKeyFile(path, nil)
		if !errors.Is(err, ErrKeyPermissions) {
			t.Fatalf("mode %04o: %v, want ErrKeyPermissions", mode, err)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: message %q does not suggest chmod 600", mode, err)
		}
	}
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := ReadKeyFile(path, nil); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}

func TestWriteKeyFileNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.key")
	if err := writeKeyFile(path, seedKey("first"), nil, fastKDF); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := writeKeyFile(path, seedKey("second"), nil, fastKDF)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the refused write changed the file")
	}
	if err := writeKeyFile(path, seedKey("second"), nil, fastKDF, Overwrite); err != nil {
		t.Fatalf("write with Overwrite: %v", err)
	}
	got, err := ReadKeyFile(path, nil)
	if err != nil || !got.Equal(seedKey("second")) {
		t.Errorf("after Overwrite: %v, key replaced %t", err, got.Equal(seedKey("second")))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only k.key (temp files left behind?)", names)
	}
	if err := WriteKeyFile(filepath.Join(dir, "bad.key"), seedKey("x")[:10], nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("short key: %v, want ErrBadKey", err)
	}
}

func TestCertFileRoundTrip(t *testing.T) {
	f := testFixture()
	path := filepath.Join(t.TempDir(), "server.pem")
	want := []*x509.Certificate{f.server.cert, f.ca.Cert}
	if err := WriteCertFile(path, want); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	got, err := ReadCertFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Errorf("read %d certificates, not the ones written", len(got))
	}
	if err := WriteCertFile(path, want[:1]); !errors.Is(err, ErrExists) {
		t.Errorf("second write: %v, want ErrExists", err)
	}
	if err := WriteCertFile(path, want[:1], Overwrite); err != nil {
		t.Errorf("write with Overwrite: %v", err)
	}
	if err := WriteCertFile(path, nil, Overwrite); !errors.Is(err, ErrBadCertFile) {
		t.Errorf("no certificates: %v", err)
	}
}

func TestParseCertsPEMRefuses(t *testing.T) {
	f := testFixture()
	cert := pem.EncodeToMemory(&pem.Block{Type: PEMCertificate, Bytes: f.server.cert.Raw})
	key, _ := encodeKey(seedKey("k"), nil, fastKDF)
	tests := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "no certificates"},
		{"garbage", "hello", "not a PEM block"},
		{"trailing garbage", string(cert) + "junk", "not a PEM block after certificate 1"},
		{"leading garbage", "junk\n" + string(cert), "not a PEM block"},
		{"holds a key", string(cert) + string(key), "holds a private key"},
		{"other block", string(cert) + string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})), "block 2 is \"PUBLIC KEY\""},
		{"bad DER", string(pem.EncodeToMemory(&pem.Block{Type: PEMCertificate, Bytes: []byte{1}})), "certificate 1"},
	}
	for _, tt := range tests {
		_, err := ParseCertsPEM([]byte(tt.data))
		if !errors.Is(err, ErrBadCertFile) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want ErrBadCertFile containing %q", tt.name, err, tt.wantErr)
		}
	}
}
