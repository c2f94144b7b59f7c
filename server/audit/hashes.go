package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"
)

// hashesFile holds the tree's stored hashes (see doc.go).
const hashesFile = "hashes"

// hashFile is the stored-hash file: for every entry, in order, the hashes
// tlog.StoredHashes returns, each tlog.HashSize bytes, so that hash number
// i sits at byte i*32. Hashes appended are kept in pending until flush
// writes them; reads see both. It implements tlog.HashReader.
type hashFile struct {
	f       *os.File
	n       int64       // hashes written to the file
	pending []tlog.Hash // appended, not yet written
}

// openHashFile opens dir's hash file, creating it if create is set. The
// count is the file's size in whole hashes.
func openHashFile(dir string, create bool) (*hashFile, error) {
	path := filepath.Join(dir, hashesFile)
	flag := os.O_RDONLY
	if create {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &hashFile{f: f, n: st.Size() / tlog.HashSize}, nil
}

func (h *hashFile) count() int64 { return h.n + int64(len(h.pending)) }

// ReadHashes returns the stored hashes at the given indexes.
func (h *hashFile) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		switch {
		case x < 0 || x >= h.count():
			return nil, fmt.Errorf("hash file: hash %d of %d: %w", x, h.count(), fs.ErrNotExist)
		case x >= h.n:
			out[i] = h.pending[x-h.n]
		default:
			if _, err := h.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
				return nil, fmt.Errorf("hash file: hash %d: %w", x, err)
			}
		}
	}
	return out, nil
}

// leaf returns the leaf hash of entry i.
func (h *hashFile) leaf(i int64) (tlog.Hash, error) {
	hs, err := h.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
	if err != nil {
		return tlog.Hash{}, err
	}
	return hs[0], nil
}

// add appends the stored hashes of entry i, whose line is data; the file
// must hold exactly the hashes of entries before i.
func (h *hashFile) add(i int64, data []byte) error {
	if h.count() != tlog.StoredHashCount(i) {
		return fmt.Errorf("hash file: has %d hashes, entry %d needs %d", h.count(), i, tlog.StoredHashCount(i))
	}
	hs, err := tlog.StoredHashes(i, data, h)
	if err != nil {
		return err
	}
	h.pending = append(h.pending, hs...)
	return nil
}

// flush writes the pending hashes (without fsync).
func (h *hashFile) flush() error {
	if len(h.pending) == 0 {
		return nil
	}
	buf := make([]byte, 0, len(h.pending)*tlog.HashSize)
	for _, x := range h.pending {
		buf = append(buf, x[:]...)
	}
	if _, err := h.f.WriteAt(buf, h.n*tlog.HashSize); err != nil {
		return fmt.Errorf("hash file: %w", err)
	}
	h.n += int64(len(h.pending))
	h.pending = h.pending[:0]
	return nil
}

// truncate keeps the first count hashes, dropping pending ones.
func (h *hashFile) truncate(count int64) error {
	if count > h.n {
		return errors.New("hash file: truncate beyond its end")
	}
	if err := h.f.Truncate(count * tlog.HashSize); err != nil {
		return fmt.Errorf("hash file: %w", err)
	}
	h.n, h.pending = count, nil
	return nil
}

func (h *hashFile) sync() error { return h.f.Sync() }

func (h *hashFile) close() error { return h.f.Close() }
