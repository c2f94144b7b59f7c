package trust

import (
	"fmt"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// RevocationLifetime is how long a revocation record lasts, at most: the
// city CA's validity, so that it outlives every certificate it revokes
// (none outlives the city CA). It is cut short to the city CA's expiry.
const RevocationLifetime = CityCAValidity // years

// NewRevocation returns a revocation record for serials (big-endian
// unsigned, as Serial returns them), signed by the city CA ca, which must
// hold its key. The record has scope city, tier warning, origin the city
// (the city CA's id), seq now in Unix milliseconds (so a later revocation
// always has a higher seq), and expires RevocationLifetime years after now
// or when the city CA does, whichever is first. It carries the city CA
// certificate in its x5chain so any node with the root can check it.
func NewRevocation(ca *CA, serials [][]byte, reason string, now time.Time) (*record.Record, error) {
	id, err := ca.check(RoleCA)
	if err != nil {
		return nil, fmt.Errorf("trust: new revocation: %w", err)
	}
	norm := make([][]byte, len(serials))
	for i, s := range serials {
		if len(s) == 0 {
			return nil, fmt.Errorf("trust: new revocation: %w: serial %d is empty", ErrBadCertificate, i)
		}
		norm[i] = normSerial(s)
	}
	now = now.Truncate(time.Millisecond)
	expires := now.AddDate(RevocationLifetime, 0, 0)
	if ca.Cert.NotAfter.Before(expires) {
		expires = ca.Cert.NotAfter
	}
	if !expires.After(now) {
		return nil, fmt.Errorf("trust: new revocation: %w: city CA expired at %s", ErrNotCA, stamp(ca.Cert.NotAfter))
	}
	signer, err := record.NewSigner(ca.Key, ca.Cert.Raw, true)
	if err != nil {
		return nil, fmt.Errorf("trust: new revocation: %w", err)
	}
	r, err := record.Sign(&record.Record{
		Kind:    record.KindRevocation,
		Tier:    record.TierWarning,
		Scope:   record.City,
		Issued:  now,
		Expires: expires,
		Origin:  id.ID,
		Seq:     uint64(now.UnixMilli()),
		Body:    &record.Revocation{Serials: norm, Reason: reason},
	}, signer)
	if err != nil {
		return nil, fmt.Errorf("trust: new revocation: %w", err)
	}
	return r, nil
}
