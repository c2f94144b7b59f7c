package trust

import (
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// CheckSignatures runs the checks of Verify that need no replay or time
// state and cost the most: it finds r's signers (building and caching
// their chains), checks their validity, revocation and the tier table, and
// verifies every signature. On success it remembers, by record id, which
// keys verified which signature, so that the Verify of the same record
// (the same bytes: the id is their SHA-256) skips the ed25519 work and
// does only the cheap checks against the shared state. It returns the
// reason Verify would give if the record fails these checks, and
// remembers nothing then.
//
// It exists so that a node can check signatures on every core before its
// one goroutine decides (mesh.NodeConfig.VerifyWorkers): it changes no
// decision Verify makes. Verify still rechecks the signers' validity and
// revocation at its own time, the tier table, expiry, the floor and
// replay. Records checked but never verified are forgotten, oldest first,
// beyond Config.SignatureCache. Safe for concurrent use.
func (v *Verifier) CheckSignatures(r *record.Record, now time.Time) error {
	ck, rej := v.prepare(r, now)
	if rej != nil {
		return rej
	}
	if rej := verifySignatures(r, ck.ss); rej != nil {
		return rej
	}
	v.sigs.put(r.ID(), ck.ss)
	return nil
}

// SignedHere tells the verifier that this process has just signed r with
// s (record.Sign): the Verify of these exact bytes takes the signature as
// made by s's key instead of checking it (a node checks what it publishes,
// as it checks what it receives, and a pole signs an ack per alert). If
// r's signer resolves to another key, Verify checks the signature as
// usual; every other check is made. Call it only for records s signed in
// this process: that is what makes skipping the check sound.
func (v *Verifier) SignedHere(r *record.Record, s record.Signer) {
	pub, ok := s.Key.Public().(ed25519.PublicKey)
	if !ok || len(r.Signatures()) != 1 {
		return
	}
	v.sigs.putKeys(r.ID(), []ed25519.PublicKey{pub})
}

// sigCache remembers the keys that verified each signature of records
// CheckSignatures checked, until Verify takes them. It is bounded by two
// generations: when the current one is full it becomes the old one and
// the previous old one is forgotten, so that entries Verify never takes
// (a duplicate the node dropped before verifying) age out in O(1).
type sigCache struct {
	mu       sync.Mutex
	max      int // per generation
	cur, old map[record.ID][]ed25519.PublicKey
}

func newSigCache(n int) sigCache {
	if n == 0 {
		n = DefaultSignatureCache
	}
	return sigCache{max: max(n/2, 1)}
}

func (c *sigCache) put(id record.ID, ss []*signer) {
	keys := make([]ed25519.PublicKey, len(ss))
	for i, s := range ss {
		keys[i] = s.pub
	}
	c.putKeys(id, keys)
}

func (c *sigCache) putKeys(id record.ID, keys []ed25519.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		c.cur = make(map[record.ID][]ed25519.PublicKey)
	}
	if len(c.cur) >= c.max {
		c.old, c.cur = c.cur, make(map[record.ID][]ed25519.PublicKey, len(c.cur))
	}
	c.cur[id] = keys
}

// take reports whether the signatures of record id were checked with
// exactly the keys of ss, and forgets the record.
func (c *sigCache) take(id record.ID, ss []*signer) bool {
	c.mu.Lock()
	if c.cur == nil && c.old == nil {
		c.mu.Unlock()
		return false
	}
	keys, ok := c.cur[id]
	if ok {
		delete(c.cur, id)
	} else if keys, ok = c.old[id]; ok {
		delete(c.old, id)
	}
	c.mu.Unlock()
	if !ok || len(keys) != len(ss) {
		return false
	}
	for i, s := range ss {
		if !s.pub.Equal(keys[i]) {
			return false
		}
	}
	return true
}

// size returns how many records are held (tests).
func (c *sigCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
