package record

import "errors"

// Errors returned by Parse and Sign. Each error returned wraps one of these
// and names the field or byte that caused it.
var (
	ErrTooLarge     = errors.New("record: too large")
	ErrMalformed    = errors.New("record: malformed")
	ErrNonCanonical = errors.New("record: not in canonical encoding")
	ErrUnknownKind  = errors.New("record: unknown kind")
	ErrUnknownTier  = errors.New("record: unknown tier")
	ErrUnknownField = errors.New("record: unknown field")
	ErrBadScope     = errors.New("record: bad scope")
	ErrBadHeader    = errors.New("record: bad COSE header")
	ErrBadBody      = errors.New("record: bad body")
	ErrBadEnvelope  = errors.New("record: bad envelope field")
	ErrSignature    = errors.New("record: signature does not verify")
)
