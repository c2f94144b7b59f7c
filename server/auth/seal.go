package auth

import (
	"errors"

	"golang.org/x/crypto/chacha20poly1305"
)

// TOTP secrets are sealed at rest with XChaCha20-Poly1305 under
// Options.DataKey: nonce (24 random bytes) ‖ ciphertext ‖ tag. The
// additional data binds a sealed secret to its user, so a ciphertext
// copied onto another user's record does not open.

const sealLabel = "cityarray/auth/totp/v1\x00"

var errUnseal = errors.New("sealed TOTP secret does not open (wrong DataKey or tampered record)")

func (s *Service) seal(userID string, secret []byte) ([]byte, error) {
	nonce, err := randomBytes(s.opts.Rand, chacha20poly1305.NonceSizeX)
	if err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, secret, []byte(sealLabel+userID)), nil
}

func (s *Service) unseal(userID string, sealed []byte) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+s.aead.Overhead() {
		return nil, errUnseal
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	secret, err := s.aead.Open(nil, nonce, ct, []byte(sealLabel+userID))
	if err != nil {
		return nil, errUnseal
	}
	return secret, nil
}
