package trust

import (
	"errors"
	"fmt"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// Sentinel errors for the PKI and file helpers. Errors returned by this
// package wrap one of these (or an *os.PathError) as "trust: op: %w".
var (
	ErrBadIdentity     = errors.New("trust: bad identity")
	ErrBadCertificate  = errors.New("trust: bad certificate")
	ErrBadKey          = errors.New("trust: bad key")
	ErrExists          = atomicfile.ErrExists // refusing to overwrite
	ErrKeyPermissions  = errors.New("trust: key file is readable by group or others")
	ErrWrongPassphrase = errors.New("trust: wrong passphrase or corrupted key file")
	ErrNeedPassphrase  = errors.New("trust: key file is encrypted and needs a passphrase")
	ErrBadKeyFile      = errors.New("trust: bad key file")
	ErrBadCertFile     = errors.New("trust: bad certificate file")
	ErrBadConfig       = errors.New("trust: bad verifier config")
	ErrNotCA           = errors.New("trust: not the right certificate authority")
)

// Reason says why Verify rejected a record. Reasons are stable strings: use
// them as metric labels and in logs.
type Reason string

// The reasons a record is rejected.
const (
	// ReasonMalformed: the record is structurally unusable (never signed, no
	// signatures, unknown kind or tier, bad scope).
	ReasonMalformed Reason = "malformed"
	// ReasonUnknownSigner: a signature's kid names no cached certificate and
	// the record carries no x5chain.
	ReasonUnknownSigner Reason = "unknown-signer"
	// ReasonBadChain: the signer's certificate does not chain to a configured
	// root through a city CA, its x5chain does not match its kid, or the
	// certificate is unfit to sign (bad identity, key usage, key type).
	ReasonBadChain Reason = "bad-chain"
	// ReasonBadSignature: a signature does not verify under its signer's key.
	ReasonBadSignature Reason = "bad-signature"
	// ReasonTierNotAllowed: the kind may not be sent at this tier (a health
	// report at warning, a command at informational, …).
	ReasonTierNotAllowed Reason = "tier-not-allowed"
	// ReasonRoleNotAllowed: the signer's role may not sign this kind at this
	// tier (a device signing a warning, a gateway an emergency, …).
	ReasonRoleNotAllowed Reason = "role-not-allowed"
	// ReasonScopeNotAllowed: the signer may not target this scope (a gateway
	// outside its zone, a device for another device).
	ReasonScopeNotAllowed Reason = "scope-not-allowed"
	// ReasonMissingCosigner: the tier needs two signers and the record lacks
	// one of them (an emergency signed by the server alone, by an operator
	// alone, or by two servers).
	ReasonMissingCosigner Reason = "missing-cosigner"
	// ReasonExtraSigner: the record carries more signatures than its tier
	// allows.
	ReasonExtraSigner Reason = "extra-signer"
	// ReasonOriginMismatch: the record's origin is not its signer's id.
	ReasonOriginMismatch Reason = "origin-mismatch"
	// ReasonExpired: the record expired (beyond the allowed skew).
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: with a trusted clock, the record was issued in the
	// future (beyond the allowed skew).
	ReasonNotYetValid Reason = "not-yet-valid"
	// ReasonCertExpired: a certificate in the signer's chain is not valid at
	// the effective time (expired, or not yet valid).
	ReasonCertExpired Reason = "cert-expired"
	// ReasonRevoked: a certificate in the signer's chain has been revoked.
	ReasonRevoked Reason = "revoked"
	// ReasonReplayed: the origin's sequence number was already seen or is
	// older than the replay window.
	ReasonReplayed Reason = "replayed"
)

// RejectError is the error Verify (and Commit, ApplyRevocation) returns
// when a record must not be used. Detail explains, for logs; it never holds
// key material.
type RejectError struct {
	Reason Reason
	Detail string
}

// Error returns "<reason>: <detail>".
func (e *RejectError) Error() string { return string(e.Reason) + ": " + e.Detail }

// Is reports whether target is a *RejectError with the same reason, so that
// errors.Is(err, &trust.RejectError{Reason: trust.ReasonRevoked}) works.
func (e *RejectError) Is(target error) bool {
	t, ok := target.(*RejectError)
	return ok && t.Reason == e.Reason
}

// ReasonOf returns the reason of the *RejectError in err's chain, or "" if
// there is none.
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func reject(reason Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
