package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The secrets this package hands out, and the strict parsers for what
// comes back. Every parser accepts only the canonical form its generator
// writes (after the normalisation documented on it), so there is one
// stored hash per secret.

const (
	tokenBytes     = 32
	tokenChars     = 43 // base64url of 32 bytes, unpadded
	apiTokenPrefix = "cat_"
	codeChars      = 16 // one-time codes: 16 base32 characters, 80 bits
	totpDigits     = 6
)

var (
	b64url       = base64.RawURLEncoding.Strict()
	b32          = base32.StdEncoding.WithPadding(base32.NoPadding)
	errBadFormat = errors.New("malformed")
)

func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return b, nil
}

// newSessionToken returns 32 random bytes as unpadded base64url.
func newSessionToken(r io.Reader) (string, error) {
	b, err := randomBytes(r, tokenBytes)
	if err != nil {
		return "", err
	}
	return b64url.EncodeToString(b), nil
}

// parseSessionToken checks that s is a session token as newSessionToken
// writes it.
func parseSessionToken(s string) error {
	if len(s) != tokenChars {
		return errBadFormat
	}
	b, err := b64url.DecodeString(s)
	if err != nil || len(b) != tokenBytes || b64url.EncodeToString(b) != s {
		return errBadFormat
	}
	return nil
}

// newAPIToken returns "cat_" and 32 random bytes as unpadded base64url.
func newAPIToken(r io.Reader) (string, error) {
	t, err := newSessionToken(r)
	return apiTokenPrefix + t, err
}

// parseAPIToken checks that s is an API token as newAPIToken writes it.
func parseAPIToken(s string) error {
	rest, ok := strings.CutPrefix(s, apiTokenPrefix)
	if !ok {
		return errBadFormat
	}
	return parseSessionToken(rest)
}

// secretKey is the storage key of a session or API token: its SHA-256.
// The tokens carry 256 bits, so a plain hash is enough; a leaked
// database does not give usable tokens.
func secretKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newOneTimeCode returns 80 random bits as 16 base32 characters in groups
// of four: "ABCD-EFGH-IJKL-MNOP". Setup and recovery codes use it.
func newOneTimeCode(r io.Reader) (string, error) {
	b, err := randomBytes(r, codeChars*5/8)
	if err != nil {
		return "", err
	}
	s := b32.EncodeToString(b)
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}

// parseOneTimeCode normalises a typed one-time code: it drops spaces and
// dashes, upper-cases, and requires 16 base32 characters. It returns the
// 16 characters.
func parseOneTimeCode(s string) (string, error) {
	if len(s) > 64 {
		return "", errBadFormat
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == ' ' || c == '-':
		case c >= 'a' && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '2' && c <= '7':
			b.WriteRune(c)
		default:
			return "", errBadFormat
		}
	}
	if b.Len() != codeChars {
		return "", errBadFormat
	}
	return b.String(), nil
}

// codeHash is the stored form of a one-time code: SHA-256 over a purpose,
// the user id and the normalised code. 80 random bits make a slow hash
// unnecessary; the id and purpose stop a hash being moved between users or
// between setup and recovery.
func codeHash(purpose, userID, code string) []byte {
	h := sha256.Sum256([]byte("cityarray/auth/" + purpose + "\x00" + userID + "\x00" + code))
	return h[:]
}

// equalHash compares two hashes in constant time.
func equalHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// parseTOTPCode normalises a typed TOTP code: spaces dropped, then exactly
// six ASCII digits.
func parseTOTPCode(s string) (string, error) {
	if len(s) > 16 {
		return "", errBadFormat
	}
	code := strings.ReplaceAll(s, " ", "")
	if len(code) != totpDigits {
		return "", errBadFormat
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", errBadFormat
		}
	}
	return code, nil
}
