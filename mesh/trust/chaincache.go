package trust

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// ChainCache memoises verified certificate chains across the Verifiers of
// one process that trust the same roots: the simulator and the benchmarks
// run hundreds of poles in one process, and without it each pole's
// verifier would build and check every other pole's chain again (N² X.509
// verifications for N poles). A real node has one verifier and needs none.
//
// What it shares is a fact about the PKI, not a decision: that a leaf
// certificate chains to one of the roots and what its identity, key,
// validity window and chain serials are. Each verifier still checks the
// validity window at the time it is asked about, its own revocations, and
// every signature on every record. Only successful verifications are
// kept. Its methods are safe for concurrent use.
type ChainCache struct {
	mu    sync.RWMutex
	roots []byte // the root fingerprints of the verifiers sharing it
	m     map[[32]byte]*signer
}

// NewChainCache returns an empty cache to pass in Config.Chains.
func NewChainCache() *ChainCache {
	return &ChainCache{m: map[[32]byte]*signer{}}
}

// bind ties the cache to the first verifier's roots and refuses a verifier
// with other roots: a chain verified against one city's root says nothing
// about another's.
func (c *ChainCache) bind(roots []*x509.Certificate) error {
	var fps [][]byte
	for _, r := range roots {
		fps = append(fps, record.Fingerprint(r.Raw))
	}
	slices.SortFunc(fps, bytes.Compare)
	key := bytes.Join(fps, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roots == nil {
		c.roots = key
		return nil
	}
	if !bytes.Equal(c.roots, key) {
		return fmt.Errorf("%w: a chain cache is shared by verifiers with different roots", ErrBadConfig)
	}
	return nil
}

// get returns the verified chain of the leaf with fingerprint fp if it is
// valid at t.
func (c *ChainCache) get(fp [32]byte, t time.Time) *signer {
	c.mu.RLock()
	s := c.m[fp]
	c.mu.RUnlock()
	if s == nil || t.Before(s.notBefore) || t.After(s.notAfter) {
		return nil
	}
	return s
}

func (c *ChainCache) put(fp [32]byte, s *signer) {
	c.mu.Lock()
	if c.m[fp] == nil {
		c.m[fp] = s
	}
	c.mu.Unlock()
}
