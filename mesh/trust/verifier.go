package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// Defaults for Config.
const (
	DefaultSkew         = 2 * time.Minute
	DefaultReplayWindow = 1024
	// DefaultSignatureCache is Config.SignatureCache's default: more than
	// a node's inbox holds.
	DefaultSignatureCache = 1 << 16
	maxReplayWindow       = 1 << 16
)

// Config configures a Verifier.
type Config struct {
	// Roots are the city root certificates every signer must chain to. At
	// least one; each must be a self-signed root with a cityarray://root/
	// identity. Two roots let a city roll its root over.
	Roots []*x509.Certificate
	// Intermediates are city CA certificates to build chains with, for
	// records that reference their signer by kid only. Optional: records
	// with an x5chain carry their city CA, and AddCertificates adds more.
	Intermediates []*x509.Certificate
	// Skew is the clock difference tolerated on a record's expiry and, with
	// a trusted clock, its issue time. Zero means DefaultSkew.
	Skew time.Duration
	// TrustedClock says the node's clock is right (NTP, GPS or an RTC that
	// was set): records issued more than Skew in the future are rejected.
	// Without it the clock is only a lower bound (see the package doc).
	TrustedClock bool
	// ReplayWindow is how many sequence numbers below an origin's highest
	// are remembered, rounded up to a multiple of 64. Zero means
	// DefaultReplayWindow.
	ReplayWindow int
	// Chains, if set, is a cache of verified chains shared with other
	// verifiers of the same roots in this process (see ChainCache).
	Chains *ChainCache
	// SignatureCache bounds how many records CheckSignatures may hold
	// checked for a later Verify (see CheckSignatures). Zero means
	// DefaultSignatureCache.
	SignatureCache int
}

// Verifier decides whether a record may be used: the tier table, the
// certificate chain, revocation, time and replay (see the package doc). Its
// methods are safe for concurrent use.
type Verifier struct {
	roots        *x509.CertPool
	skew         time.Duration
	trustedClock bool
	windowSize   int
	shared       *ChainCache // nil: none

	mu      sync.RWMutex
	inter   *x509.CertPool       // config intermediates and verified city CAs; replaced, never mutated
	cache   map[[32]byte]*signer // by kid: verified chains
	revoked map[string]struct{}  // normalised serial bytes
	floor   time.Time            // newest issued among accepted records
	windows map[string]*window   // by origin

	sigs sigCache // signatures CheckSignatures verified, until Verify uses them
}

// signer is a verified certificate chain, cached by the leaf's kid. Its
// validity window and serials are rechecked on every use.
type signer struct {
	id                  Identity
	cert                *x509.Certificate // the leaf
	pub                 ed25519.PublicKey
	key                 *record.PublicKey // pub, prepared for verifying
	notBefore, notAfter time.Time         // the intersection over the chain
	serials             []string          // every certificate in the chain, leaf first
}

// Verdict is the outcome of a successful Verify: the record, who signed it
// and at which tier. Pass it to Commit to record its sequence number and
// advance the time floor.
type Verdict struct {
	Record  *record.Record
	Signers []Identity // in signature order
	Tier    record.Tier

	by      *Verifier
	signers []*signer
	floorAt time.Time // the floor Commit may advance to; zero: none
}

// NewVerifier checks cfg and returns a Verifier with empty state.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Roots) == 0 {
		return nil, fmt.Errorf("trust: new verifier: %w: no roots", ErrBadConfig)
	}
	if cfg.Skew < 0 {
		return nil, fmt.Errorf("trust: new verifier: %w: negative skew %v", ErrBadConfig, cfg.Skew)
	}
	if cfg.SignatureCache < 0 {
		return nil, fmt.Errorf("trust: new verifier: %w: negative signature cache %d", ErrBadConfig, cfg.SignatureCache)
	}
	if cfg.ReplayWindow < 0 || cfg.ReplayWindow > maxReplayWindow {
		return nil, fmt.Errorf("trust: new verifier: %w: replay window %d (want 0 to %d)", ErrBadConfig, cfg.ReplayWindow, maxReplayWindow)
	}
	v := &Verifier{
		roots:        x509.NewCertPool(),
		skew:         cfg.Skew,
		trustedClock: cfg.TrustedClock,
		windowSize:   (cfg.ReplayWindow + 63) / 64 * 64,
		inter:        x509.NewCertPool(),
		cache:        map[[32]byte]*signer{},
		revoked:      map[string]struct{}{},
		windows:      map[string]*window{},
		shared:       cfg.Chains,
		sigs:         newSigCache(cfg.SignatureCache),
	}
	if v.skew == 0 {
		v.skew = DefaultSkew
	}
	if v.windowSize == 0 {
		v.windowSize = DefaultReplayWindow
	}
	for i, c := range cfg.Roots {
		if err := checkRoot(c); err != nil {
			return nil, fmt.Errorf("trust: new verifier: root %d: %w", i, err)
		}
		v.roots.AddCert(c)
	}
	if v.shared != nil {
		if err := v.shared.bind(cfg.Roots); err != nil {
			return nil, fmt.Errorf("trust: new verifier: %w", err)
		}
	}
	for i, c := range cfg.Intermediates {
		if err := checkCityCA(c, cfg.Roots); err != nil {
			return nil, fmt.Errorf("trust: new verifier: intermediate %d: %w", i, err)
		}
		v.inter.AddCert(c)
	}
	return v, nil
}

// checkRoot checks that c is a self-signed Ed25519 root with a root
// identity.
func checkRoot(c *x509.Certificate) error {
	id, err := IdentityOf(c)
	if err != nil {
		return err
	}
	if id.Role != RoleRoot {
		return fmt.Errorf("%w: %s is not a root", ErrBadConfig, id)
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return fmt.Errorf("%w: %s: key is %T, want Ed25519", ErrBadConfig, id, c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return fmt.Errorf("%w: %s is not self-signed: %v", ErrBadConfig, id, err)
	}
	return nil
}

// checkCityCA checks that c is a city CA signed by one of roots. Its
// validity period is checked when it is used.
func checkCityCA(c *x509.Certificate, roots []*x509.Certificate) error {
	id, err := IdentityOf(c)
	if err != nil {
		return err
	}
	if id.Role != RoleCA {
		return fmt.Errorf("%w: %s is not a city CA", ErrBadConfig, id)
	}
	for _, r := range roots {
		if c.CheckSignatureFrom(r) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not signed by a configured root", ErrBadConfig, id)
}

// AddCertificates verifies certificates against the roots at now and caches
// those that chain, so that records naming them by kid alone verify. City
// CA certificates among them are also used as intermediates. It returns
// the problems with the ones it did not add, joined.
func (v *Verifier) AddCertificates(now time.Time, certs ...*x509.Certificate) error {
	var errs []error
	var leaves []*x509.Certificate
	for _, c := range certs {
		if c == nil {
			errs = append(errs, fmt.Errorf("trust: add certificates: %w: nil certificate", ErrBadCertificate))
			continue
		}
		if !c.IsCA {
			leaves = append(leaves, c)
			continue
		}
		s, rej := v.verifyChain(c, nil, now)
		if rej != nil {
			errs = append(errs, fmt.Errorf("trust: add certificates: %q: %w", c.Subject.CommonName, rej))
			continue
		}
		v.mu.Lock()
		inter := v.inter.Clone()
		inter.AddCert(c)
		v.inter = inter
		v.cache[[32]byte(record.Fingerprint(c.Raw))] = s
		v.mu.Unlock()
	}
	for _, c := range leaves {
		s, rej := v.verifyChain(c, nil, now)
		if rej != nil {
			errs = append(errs, fmt.Errorf("trust: add certificates: %q: %w", c.Subject.CommonName, rej))
			continue
		}
		v.mu.Lock()
		v.cache[[32]byte(record.Fingerprint(c.Raw))] = s
		v.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Verify decides whether r may be used at now. It returns a Verdict, or a
// *RejectError saying why not. It does no I/O and changes no state but its
// cache of verified certificate chains: a record it accepts is not
// remembered until Commit. Callers deduplicate records by id before
// calling Verify: a second copy of a committed record is rejected as
// replayed.
func (v *Verifier) Verify(r *record.Record, now time.Time) (*Verdict, error) {
	ck, rej := v.prepare(r, now)
	if rej != nil {
		return nil, rej
	}
	// Signatures a verify worker already checked for these exact bytes
	// (CheckSignatures) are not checked again.
	if !v.sigs.take(r.ID(), ck.ss) {
		if rej := verifySignatures(r, ck.ss); rej != nil {
			return nil, rej
		}
	}
	if !ck.eff.Before(r.Expires.Add(v.skew)) {
		return nil, reject(ReasonExpired, "expired %s, effective time %s (skew %v)", stamp(r.Expires), stamp(ck.eff), v.skew)
	}
	if v.trustedClock && r.Issued.After(now.Add(v.skew)) {
		return nil, reject(ReasonNotYetValid, "issued %s, in the future of %s (skew %v)", stamp(r.Issued), stamp(now), v.skew)
	}
	if !ck.fresh {
		return nil, reject(ReasonReplayed, "origin %s seq %d already seen or older than the last %d", r.Origin, r.Seq, v.windowSize)
	}

	ss := ck.ss
	vd := &Verdict{Record: r, Tier: r.Tier, by: v, signers: ss}
	vd.Signers = make([]Identity, len(ss))
	for i, s := range ss {
		vd.Signers[i] = s.id
		if s.id.Role == RoleServer || s.id.Role == RoleGateway || s.id.Role == RoleCA {
			vd.floorAt = r.Issued
		}
	}
	if v.trustedClock && vd.floorAt.After(now.Add(v.skew)) {
		vd.floorAt = now.Add(v.skew)
	}
	return vd, nil
}

// checked is what prepare found out about a record before its signatures
// are checked: its signers, the effective time and whether its seq is
// fresh.
type checked struct {
	ss    []*signer
	eff   time.Time
	fresh bool
}

// prepare runs the checks of Verify that come before the signatures:
// structure, signers (chains, validity, revocation) and policy. It reads
// the shared state once.
func (v *Verifier) prepare(r *record.Record, now time.Time) (checked, *RejectError) {
	if r == nil || len(r.Raw()) == 0 {
		return checked{}, reject(ReasonMalformed, "record was never signed or parsed")
	}
	if !r.Kind.Valid() || !r.Tier.Valid() {
		return checked{}, reject(ReasonMalformed, "kind %s, tier %s", r.Kind, r.Tier)
	}
	if k, _ := r.Scope.Split(); k == record.ScopeInvalid {
		return checked{}, reject(ReasonMalformed, "scope %q", r.Scope)
	}
	sigs := r.Signatures()
	if len(sigs) == 0 || len(sigs) > 4 {
		return checked{}, reject(ReasonMalformed, "%d signatures", len(sigs))
	}

	// One read of the shared state: floor, cached signers, replay.
	ss := make([]*signer, len(sigs))
	v.mu.RLock()
	floor := v.floor
	for i, s := range sigs {
		if len(s.KID) == record.KIDSize {
			ss[i] = v.cache[[32]byte(s.KID)]
		}
	}
	fresh := v.windows[r.Origin].fresh(r.Seq)
	v.mu.RUnlock()

	eff := now
	if floor.After(eff) {
		eff = floor
	}
	certAt := eff // when certificates must be valid
	if !v.trustedClock && r.Issued.After(certAt) {
		certAt = r.Issued // an untrusted clock learns from what it checks
	}

	for i, s := range sigs {
		if ss[i] == nil {
			var rej *RejectError
			if ss[i], rej = v.signerFromChain(s, certAt); rej != nil {
				return checked{}, rej
			}
		}
		if rej := v.checkSigner(ss[i], certAt); rej != nil {
			return checked{}, rej
		}
	}
	if rej := checkPolicy(r, ss); rej != nil {
		return checked{}, rej
	}
	return checked{ss: ss, eff: eff, fresh: fresh}, nil
}

// verifySignatures checks every signature of r with its signer's key.
func verifySignatures(r *record.Record, ss []*signer) *RejectError {
	for i, s := range ss {
		if err := r.VerifySignatureKey(i, s.key); err != nil {
			return reject(ReasonBadSignature, "signature %d by %s: %v", i, s.id, err)
		}
	}
	return nil
}

// Commit records that the caller has accepted vd's record: it marks the
// origin's sequence number as seen, advances the time floor, and, for a
// revocation, revokes its serials. It fails with a *RejectError if the
// record was replayed or its signer revoked since Verify.
func (v *Verifier) Commit(vd *Verdict) error {
	if vd == nil || vd.by != v {
		return errors.New("trust: commit: verdict is not from this verifier")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.commitLocked(vd)
}

func (v *Verifier) commitLocked(vd *Verdict) error {
	r := vd.Record
	for _, s := range vd.signers {
		if rej := v.revokedLocked(s); rej != nil {
			return rej
		}
	}
	w := v.windows[r.Origin]
	if !w.fresh(r.Seq) {
		return reject(ReasonReplayed, "origin %s seq %d already seen or older than the last %d", r.Origin, r.Seq, v.windowSize)
	}
	if w == nil {
		v.windows[r.Origin] = newWindow(v.windowSize, r.Seq)
	} else {
		w.mark(r.Seq)
	}
	if vd.floorAt.After(v.floor) {
		v.floor = vd.floorAt
	}
	if rev, ok := r.Body.(*record.Revocation); ok && r.Kind == record.KindRevocation {
		for _, s := range rev.Serials {
			v.revoked[string(normSerial(s))] = struct{}{}
		}
	}
	return nil
}

// Accept is Verify followed by Commit.
func (v *Verifier) Accept(r *record.Record, now time.Time) (*Verdict, error) {
	vd, err := v.Verify(r, now)
	if err != nil {
		return nil, err
	}
	if err := v.Commit(vd); err != nil {
		return nil, err
	}
	return vd, nil
}

// ApplyRevocation verifies a revocation record (signed by the city CA) and
// accepts it: from then on every record whose signer's chain holds one of
// its serials is rejected as revoked.
func (v *Verifier) ApplyRevocation(r *record.Record, now time.Time) error {
	if r == nil || r.Kind != record.KindRevocation {
		return reject(ReasonMalformed, "not a revocation record")
	}
	_, err := v.Accept(r, now)
	return err
}

// Certificate returns the certificate of the signer kid names (the SHA-256
// of its DER), if the verifier has verified its chain: from a record's
// x5chain or AddCertificates. It is how a node learns the certificate of
// a signer whose later records carry only the kid.
func (v *Verifier) Certificate(kid []byte) (*x509.Certificate, bool) {
	if len(kid) != record.KIDSize {
		return nil, false
	}
	v.mu.RLock()
	s := v.cache[[32]byte(kid)]
	v.mu.RUnlock()
	if s == nil || s.cert == nil {
		return nil, false
	}
	return s.cert, true
}

// Floor returns the time floor: the newest issue time among accepted
// records signed by a server, gateway or the city CA.
func (v *Verifier) Floor() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.floor
}

// checkSigner checks a verified chain's validity at t and its revocation.
func (v *Verifier) checkSigner(s *signer, t time.Time) *RejectError {
	if t.Before(s.notBefore) || t.After(s.notAfter) {
		return reject(ReasonCertExpired, "%s: certificate chain valid %s to %s, effective time %s",
			s.id, stamp(s.notBefore), stamp(s.notAfter), stamp(t))
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.revokedLocked(s)
}

func (v *Verifier) revokedLocked(s *signer) *RejectError {
	if len(v.revoked) == 0 {
		return nil
	}
	for i, serial := range s.serials {
		if _, ok := v.revoked[serial]; ok {
			what := "certificate"
			if i > 0 {
				what = "issuer certificate"
			}
			return reject(ReasonRevoked, "%s: %s serial %x is revoked", s.id, what, serial)
		}
	}
	return nil
}

// signerFromChain verifies a signature's x5chain and caches the result.
func (v *Verifier) signerFromChain(sig record.Signature, at time.Time) (*signer, *RejectError) {
	if len(sig.KID) != record.KIDSize {
		return nil, reject(ReasonMalformed, "kid is %d bytes", len(sig.KID))
	}
	if len(sig.Chain) == 0 {
		return nil, reject(ReasonUnknownSigner, "kid %x… names no known certificate and the record carries no x5chain", sig.KID[:6])
	}
	if !bytes.Equal(record.Fingerprint(sig.Chain[0]), sig.KID) {
		return nil, reject(ReasonBadChain, "x5chain leaf is not the certificate kid %x… names", sig.KID[:6])
	}
	certs := make([]*x509.Certificate, len(sig.Chain))
	for i, der := range sig.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, reject(ReasonBadChain, "x5chain certificate %d: %v", i, err)
		}
		certs[i] = c
	}
	s, rej := v.verifyChain(certs[0], certs[1:], at)
	if rej != nil {
		return nil, rej
	}
	v.mu.Lock()
	if old := v.cache[[32]byte(sig.KID)]; old != nil {
		s = old
	} else {
		v.cache[[32]byte(sig.KID)] = s
	}
	v.mu.Unlock()
	return s, nil
}

// verifyChain verifies that leaf chains to a root at t through a city CA
// (or, for a city CA, directly), that its identity and key usage fit its
// role, and returns it as a signer.
func (v *Verifier) verifyChain(leaf *x509.Certificate, extra []*x509.Certificate, t time.Time) (*signer, *RejectError) {
	if v.shared == nil {
		return v.buildChain(leaf, extra, t)
	}
	fp := [32]byte(record.Fingerprint(leaf.Raw))
	if s := v.shared.get(fp, t); s != nil {
		return s, nil
	}
	s, rej := v.buildChain(leaf, extra, t)
	if rej == nil {
		v.shared.put(fp, s)
	}
	return s, rej
}

// buildChain does verifyChain's work.
func (v *Verifier) buildChain(leaf *x509.Certificate, extra []*x509.Certificate, t time.Time) (*signer, *RejectError) {
	id, err := IdentityOf(leaf)
	if err != nil {
		return nil, reject(ReasonBadChain, "%v", err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, reject(ReasonBadChain, "%s: key is %T, want Ed25519", id, leaf.PublicKey)
	}
	depth := 3 // leaf, city CA, root
	switch id.Role {
	case RoleRoot:
		return nil, reject(ReasonBadChain, "%s: a root signs only city CA certificates", id)
	case RoleCA:
		depth = 2
		if leaf.KeyUsage&x509.KeyUsageCRLSign == 0 {
			return nil, reject(ReasonBadChain, "%s: certificate lacks the CRL-sign key usage needed to sign revocations", id)
		}
	default:
		if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			return nil, reject(ReasonBadChain, "%s: certificate lacks the digital-signature key usage", id)
		}
	}
	v.mu.RLock()
	inter := v.inter
	v.mu.RUnlock()
	if len(extra) > 0 {
		inter = inter.Clone()
		for _, c := range extra {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: inter,
		CurrentTime:   t,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, reject(ReasonCertExpired, "%s: %v", id, err)
		}
		return nil, reject(ReasonBadChain, "%s: %v", id, err)
	}
	key, kerr := record.NewPublicKey(pub)
	if kerr != nil {
		return nil, reject(ReasonBadChain, "%s: certificate key: %v", id, kerr)
	}
	for _, chain := range chains {
		if len(chain) != depth || !cityChain(chain) {
			continue
		}
		s := &signer{id: id, cert: leaf, pub: pub, key: key, notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
		for _, c := range chain {
			if c.NotBefore.After(s.notBefore) {
				s.notBefore = c.NotBefore
			}
			if c.NotAfter.Before(s.notAfter) {
				s.notAfter = c.NotAfter
			}
			s.serials = append(s.serials, string(normSerial(c.SerialNumber.Bytes())))
		}
		return s, nil
	}
	return nil, reject(ReasonBadChain, "%s: does not chain to a city root through its city CA", id)
}

// cityChain reports whether chain ends in a root whose city CA (the
// certificate below it) names the same city.
func cityChain(chain []*x509.Certificate) bool {
	root, err := IdentityOf(chain[len(chain)-1])
	if err != nil || root.Role != RoleRoot {
		return false
	}
	ca, err := IdentityOf(chain[len(chain)-2])
	return err == nil && ca.Role == RoleCA && ca.ID == root.ID
}

// stamp formats t for reject details.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
