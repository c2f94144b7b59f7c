package audit

import (
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// compactRange is the right edge of the RFC 6962 tree over entries
// [0, n): the hashes of its complete subtrees, largest first. It is what
// Verify keeps while it streams a log, so that it needs memory in
// log₂ n, not n, to check a checkpoint's root.
type compactRange struct {
	n      int64
	hashes []tlog.Hash
}

// append adds the leaf hash of entry n.
func (c *compactRange) append(h tlog.Hash) {
	for k := c.n; k&1 == 1; k >>= 1 {
		last := len(c.hashes) - 1
		h = tlog.NodeHash(c.hashes[last], h)
		c.hashes = c.hashes[:last]
	}
	c.hashes = append(c.hashes, h)
	c.n++
}

// root returns the tree hash of entries [0, n), as tlog.TreeHash does.
func (c *compactRange) root() tlog.Hash {
	if c.n == 0 {
		h, _ := tlog.TreeHash(0, nil) // the empty tree reads nothing
		return h
	}
	h := c.hashes[len(c.hashes)-1]
	for i := len(c.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(c.hashes[i], h)
	}
	return h
}

func (c *compactRange) clone() compactRange {
	return compactRange{n: c.n, hashes: slices.Clone(c.hashes)}
}

// compactRangeAt builds the compact range of entries [0, n) from stored
// hashes: one per set bit of n.
func compactRangeAt(n int64, r tlog.HashReader) (compactRange, error) {
	var idx []int64
	start := int64(0)
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return compactRange{}, err
	}
	return compactRange{n: n, hashes: hs}, nil
}
