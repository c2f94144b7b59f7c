package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// PEM block types of key and certificate files.
const (
	PEMPrivateKey          = "PRIVATE KEY"                     // PKCS#8, unencrypted
	PEMEncryptedPrivateKey = "CITYARRAY ENCRYPTED PRIVATE KEY" // PKCS#8 sealed with a passphrase
	PEMCertificate         = "CERTIFICATE"
)

// Headers of an encrypted key block, and the only values this version
// writes and reads.
const (
	hdrKDF         = "KDF"
	hdrKDFTime     = "KDF-Time"    // argon2id passes
	hdrKDFMemory   = "KDF-Memory"  // KiB
	hdrKDFThreads  = "KDF-Threads" // lanes
	hdrKDFSalt     = "KDF-Salt"    // base64, 16 random bytes
	hdrCipher      = "Cipher"
	hdrCipherNonce = "Cipher-Nonce" // base64, 24 random bytes

	kdfArgon2id      = "argon2id"
	cipherXChaCha    = "XChaCha20-Poly1305"
	saltSize         = 16
	maxKeyFileSize   = 64 << 10
	maxCertFileSize  = 1 << 20
	maxKDFMemoryKiB  = 1 << 20 // 1 GiB: refuse files that would exhaust memory
	maxKDFTime       = 64
	maxKDFThreads    = 64
	keyFilePerm      = 0o600
	certFilePerm     = 0o644
	keyPermForbidden = 0o077
)

// kdfParams are argon2id's cost parameters.
type kdfParams struct {
	Time, Memory uint32 // passes; KiB
	Threads      uint8
}

// defaultKDF follows RFC 9106 §4's second recommended option (t=3, 64 MiB,
// p=4): a fraction of a second on a Raspberry Pi 4, and within its memory.
var defaultKDF = kdfParams{Time: 3, Memory: 64 << 10, Threads: 4}

// WriteKeyFile writes an Ed25519 private key to path, mode 0600, atomically
// (temp file, fsync, rename, fsync of the directory). With an empty
// passphrase the file is a PKCS#8 "PRIVATE KEY" PEM block. Otherwise it is a
// "CITYARRAY ENCRYPTED PRIVATE KEY" block whose headers name the KDF
// (argon2id, its cost and a random salt) and the cipher (XChaCha20-Poly1305,
// a random nonce) that seal the PKCS#8 DER; the headers are bound to the
// ciphertext as associated data. Without the Overwrite flag an existing file
// is left alone and the error wraps ErrExists.
func WriteKeyFile(path string, key ed25519.PrivateKey, passphrase []byte, flags ...WriteFlag) error {
	return writeKeyFile(path, key, passphrase, defaultKDF, flags...)
}

func writeKeyFile(path string, key ed25519.PrivateKey, passphrase []byte, kdf kdfParams, flags ...WriteFlag) error {
	data, err := encodeKey(key, passphrase, kdf)
	if err != nil {
		return fmt.Errorf("trust: write key file %s: %w", path, err)
	}
	defer clear(data)
	if err := writeFileAtomic(path, data, keyFilePerm, hasFlag(flags, Overwrite)); err != nil {
		return fmt.Errorf("trust: write key file: %w", err)
	}
	return nil
}

// encodeKey returns the PEM encoding of key, sealed if passphrase is set.
func encodeKey(key ed25519.PrivateKey, passphrase []byte, kdf kdfParams) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrBadKey, len(key), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	defer clear(der)
	if len(passphrase) == 0 {
		return pem.EncodeToMemory(&pem.Block{Type: PEMPrivateKey, Bytes: der}), nil
	}
	salt := make([]byte, saltSize)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(salt)
	rand.Read(nonce)
	h := map[string]string{
		hdrKDF:         kdfArgon2id,
		hdrKDFTime:     strconv.FormatUint(uint64(kdf.Time), 10),
		hdrKDFMemory:   strconv.FormatUint(uint64(kdf.Memory), 10),
		hdrKDFThreads:  strconv.FormatUint(uint64(kdf.Threads), 10),
		hdrKDFSalt:     base64.StdEncoding.EncodeToString(salt),
		hdrCipher:      cipherXChaCha,
		hdrCipherNonce: base64.StdEncoding.EncodeToString(nonce),
	}
	aead, err := sealer(passphrase, salt, kdf)
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(nil, nonce, der, headerAAD(h))
	return pem.EncodeToMemory(&pem.Block{Type: PEMEncryptedPrivateKey, Headers: h, Bytes: ct}), nil
}

// sealer derives the key-file key from passphrase and returns its AEAD.
func sealer(passphrase, salt []byte, kdf kdfParams) (interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, error) {
	k := argon2.IDKey(passphrase, salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)
	defer clear(k)
	return chacha20poly1305.NewX(k)
}

// headerAAD is the associated data of an encrypted key: the block type and
// every header, sorted, so that no header can be changed undetected.
func headerAAD(h map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(PEMEncryptedPrivateKey)
	b.WriteByte('\n')
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(h[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ReadKeyFile reads an Ed25519 private key written by WriteKeyFile (or any
// PKCS#8 "PRIVATE KEY" PEM file). passphrase is called only if the file is
// encrypted; a nil passphrase then fails with ErrNeedPassphrase, and a wrong
// one with ErrWrongPassphrase. A key file that group or others may read is
// refused (ErrKeyPermissions) before it is read. The passphrase slice is
// neither kept nor modified: the caller owns it (and may zero it).
func ReadKeyFile(path string, passphrase func() ([]byte, error)) (ed25519.PrivateKey, error) {
	data, err := readKeyBytes(path)
	if err != nil {
		return nil, fmt.Errorf("trust: read key file: %w", err)
	}
	defer clear(data)
	key, err := decodeKey(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("trust: read key file %s: %w", path, err)
	}
	return key, nil
}

// readKeyBytes reads a key file after checking that it is a regular file
// only its owner may read.
func readKeyBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadKeyFile, path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&keyPermForbidden != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run: chmod 600 %s", ErrKeyPermissions, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		clear(data)
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadKeyFile, path, maxKeyFileSize)
	}
	return data, nil
}

// decodeKey decodes a PEM key file's contents.
func decodeKey(data []byte, passphrase func() ([]byte, error)) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadKeyFile)
	}
	defer clear(block.Bytes)
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the %s block", ErrBadKeyFile, block.Type)
	}
	switch block.Type {
	case PEMPrivateKey:
		if len(block.Headers) != 0 {
			return nil, fmt.Errorf("%w: unencrypted key has PEM headers", ErrBadKeyFile)
		}
		return parsePKCS8(block.Bytes)
	case PEMEncryptedPrivateKey:
		der, err := openKey(block, passphrase)
		if err != nil {
			return nil, err
		}
		defer clear(der)
		return parsePKCS8(der)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: PKCS#8 encryption (openssl) is not supported; decrypt it and re-encrypt with 'cityarray keys'", ErrBadKeyFile)
	}
	return nil, fmt.Errorf("%w: PEM block is %q, want %q or %q", ErrBadKeyFile, block.Type, PEMPrivateKey, PEMEncryptedPrivateKey)
}

// openKey decrypts an encrypted key block.
func openKey(block *pem.Block, passphrase func() ([]byte, error)) ([]byte, error) {
	kdf, salt, nonce, err := parseKeyHeaders(block.Headers)
	if err != nil {
		return nil, err
	}
	if passphrase == nil {
		return nil, ErrNeedPassphrase
	}
	pass, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if len(pass) == 0 {
		return nil, fmt.Errorf("%w (got an empty one)", ErrNeedPassphrase)
	}
	aead, err := sealer(pass, salt, kdf)
	if err != nil {
		return nil, err
	}
	der, err := aead.Open(nil, nonce, block.Bytes, headerAAD(block.Headers))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return der, nil
}

// parseKeyHeaders checks an encrypted key block's headers and returns the
// KDF parameters, salt and nonce. It refuses unknown headers and costs that
// would exhaust a small device.
func parseKeyHeaders(h map[string]string) (kdf kdfParams, salt, nonce []byte, err error) {
	bad := func(format string, args ...any) (kdfParams, []byte, []byte, error) {
		return kdfParams{}, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrBadKeyFile}, args...)...)
	}
	known := []string{hdrKDF, hdrKDFTime, hdrKDFMemory, hdrKDFThreads, hdrKDFSalt, hdrCipher, hdrCipherNonce}
	for k := range h {
		if !slices.Contains(known, k) {
			return bad("unknown header %q", k)
		}
	}
	for _, k := range known {
		if _, ok := h[k]; !ok {
			return bad("missing header %q", k)
		}
	}
	if h[hdrKDF] != kdfArgon2id {
		return bad("KDF %q is not supported (want %s)", h[hdrKDF], kdfArgon2id)
	}
	if h[hdrCipher] != cipherXChaCha {
		return bad("cipher %q is not supported (want %s)", h[hdrCipher], cipherXChaCha)
	}
	num := func(k string, lo, hi uint64) (uint64, error) {
		n, err := strconv.ParseUint(h[k], 10, 32)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%w: header %s: %q is not a number from %d to %d", ErrBadKeyFile, k, h[k], lo, hi)
		}
		return n, nil
	}
	t, err := num(hdrKDFTime, 1, maxKDFTime)
	if err != nil {
		return kdfParams{}, nil, nil, err
	}
	m, err := num(hdrKDFMemory, 8, maxKDFMemoryKiB)
	if err != nil {
		return kdfParams{}, nil, nil, err
	}
	p, err := num(hdrKDFThreads, 1, maxKDFThreads)
	if err != nil {
		return kdfParams{}, nil, nil, err
	}
	salt, err = base64.StdEncoding.DecodeString(h[hdrKDFSalt])
	if err != nil || len(salt) < saltSize || len(salt) > 64 {
		return bad("header %s: want %d to 64 bytes of base64", hdrKDFSalt, saltSize)
	}
	nonce, err = base64.StdEncoding.DecodeString(h[hdrCipherNonce])
	if err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
		return bad("header %s: want %d bytes of base64", hdrCipherNonce, chacha20poly1305.NonceSizeX)
	}
	return kdfParams{Time: uint32(t), Memory: uint32(m), Threads: uint8(p)}, salt, nonce, nil
}

// parsePKCS8 parses PKCS#8 DER holding an Ed25519 key.
func parsePKCS8(der []byte) (ed25519.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is %T, want Ed25519", ErrBadKey, k)
	}
	return key, nil
}

// WriteCertFile writes certificates to path as PEM, leaf first, mode 0644,
// atomically. Without the Overwrite flag an existing file is left alone and
// the error wraps ErrExists.
func WriteCertFile(path string, certs []*x509.Certificate, flags ...WriteFlag) error {
	if len(certs) == 0 {
		return fmt.Errorf("trust: write cert file %s: %w: no certificates", path, ErrBadCertFile)
	}
	var b bytes.Buffer
	for _, c := range certs {
		if c == nil || len(c.Raw) == 0 {
			return fmt.Errorf("trust: write cert file %s: %w: empty certificate", path, ErrBadCertFile)
		}
		pem.Encode(&b, &pem.Block{Type: PEMCertificate, Bytes: c.Raw})
	}
	if err := writeFileAtomic(path, b.Bytes(), certFilePerm, hasFlag(flags, Overwrite)); err != nil {
		return fmt.Errorf("trust: write cert file: %w", err)
	}
	return nil
}

// ReadCertFile reads one or more PEM certificates from path, in file order
// (for files this package writes: the leaf, then its city CA).
func ReadCertFile(path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trust: read cert file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("trust: read cert file: %w", err)
	}
	if len(data) > maxCertFileSize {
		return nil, fmt.Errorf("trust: read cert file %s: %w: larger than %d bytes", path, ErrBadCertFile, maxCertFileSize)
	}
	certs, err := ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("trust: read cert file %s: %w", path, err)
	}
	return certs, nil
}

// ParseCertsPEM parses one or more PEM "CERTIFICATE" blocks. Anything else
// in the data (another block type, trailing garbage) is an error.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		rest := bytes.TrimSpace(data)
		if len(rest) == 0 {
			break
		}
		block, r := pem.Decode(rest)
		if block == nil || !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: data that is not a PEM block after certificate %d", ErrBadCertFile, len(certs))
		}
		data = r
		if strings.Contains(block.Type, "PRIVATE KEY") {
			clear(block.Bytes)
			return nil, fmt.Errorf("%w: holds a private key; keep keys in their own .key file", ErrBadCertFile)
		}
		if block.Type != PEMCertificate || len(block.Headers) != 0 {
			return nil, fmt.Errorf("%w: block %d is %q, want %q", ErrBadCertFile, len(certs)+1, block.Type, PEMCertificate)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrBadCertFile, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificates", ErrBadCertFile)
	}
	return certs, nil
}
