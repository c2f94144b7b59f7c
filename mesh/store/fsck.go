package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
)

// This file reads bbolt's on-disk format directly, with bounds checks, so
// that Open can reject a damaged file before bbolt follows a bad page id.
// The layout is go.etcd.io/bbolt/internal/common (page.go, meta.go,
// bucket.go), in the machine's byte order:
//
//	page header, 16 bytes: id u64 | flags u16 | count u16 | overflow u32
//	meta (after the header of pages 0 and 1): magic u32 | version u32 |
//	    pageSize u32 | flags u32 | root pgid u64 | root sequence u64 |
//	    freelist pgid u64 | high-water pgid u64 | txid u64 | checksum u64
//	    (FNV-64a of the meta fields before the checksum)
//	branch element, 16 bytes: pos u32 | ksize u32 | child pgid u64
//	leaf element, 16 bytes: flags u32 | pos u32 | ksize u32 | vsize u32
//	    (pos counts from the element; flags bit 0 marks a bucket, whose
//	    value is root pgid u64 | sequence u64, followed by an inline leaf
//	    page when root is 0)
//	freelist page: count page ids u64 (count 0xFFFF: the first u64 is the
//	    real count)
//
// bbolt writes a transaction's pages, fsyncs, then writes the meta page
// (alternating between pages 0 and 1) and fsyncs again. A meta page that
// fails its checksum is therefore what a power cut in the middle of a
// commit leaves behind, and bbolt falls back to the other one (the previous
// transaction, which was never acknowledged as superseded). Open does the
// same and logs a warning; only when both are bad is the file corrupt.

const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	elemSize       = 16
	inBucketSize   = 16
	flagBranch     = 0x01
	flagLeaf       = 0x02
	flagFreelist   = 0x10
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 64
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // high-water mark: pages [0, hwm) are in use or free
	txid     uint64
}

type metaSet struct {
	use      boltMeta // the meta bbolt uses: the valid one with the higher txid
	fileSize int64
	warnings []string
}

// decodeMeta decodes the meta page in p (page header included). It
// reports whether p carries the bbolt magic and describes what is wrong
// with the page, or returns "" when it is valid.
func decodeMeta(p []byte) (m boltMeta, magic bool, problem string) {
	if len(p) < pageHeaderSize+metaSize {
		return m, false, fmt.Sprintf("only %d bytes", len(p))
	}
	b := p[pageHeaderSize:]
	if ne.Uint32(b[0:]) != boltMagic {
		return m, false, "no bbolt magic"
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return m, true, fmt.Sprintf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return m, true, "checksum mismatch"
	}
	return boltMeta{
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		hwm:      ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}, true, ""
}

// readMetas reads and checks both meta pages of the bbolt file f, which is
// size bytes long, and picks the one bbolt uses. Its error wraps
// ErrNotStore when neither page carries the bbolt magic, and ErrCorrupt
// for every other problem.
func readMetas(f io.ReaderAt, size int64) (metaSet, error) {
	ms := metaSet{fileSize: size}
	buf := make([]byte, 4096)
	read := func(off int64) []byte {
		if off >= size {
			return nil
		}
		n, _ := f.ReadAt(buf, off)
		return buf[:n]
	}
	m0, magic0, p0 := decodeMeta(read(0))
	// The page size comes from meta 0; if that is bad, look for meta 1 at
	// every page size bbolt supports, as bbolt does.
	var m1 boltMeta
	magic1, p1 := false, "not found at any page size"
	if p0 == "" {
		m1, magic1, p1 = decodeMeta(read(int64(m0.pageSize)))
	} else {
		for i := 0; i <= 14 && int64(1024)<<i < size; i++ {
			off := int64(1024) << i
			m, magic, p := decodeMeta(read(off))
			if p == "" {
				m1, p1 = m, ""
				break
			}
			if magic && !magic1 {
				p1 = fmt.Sprintf("%s (at offset %d)", p, off)
			}
			magic1 = magic1 || magic
		}
	}
	switch {
	case p0 != "" && p1 != "" && !magic0 && !magic1:
		return ms, fmt.Errorf("%w: no bbolt meta page found (page 0: %s); the file is something else, or its header pages are destroyed", ErrNotStore, p0)
	case p0 != "" && p1 != "":
		return ms, fmt.Errorf("%w: both bbolt meta pages are invalid (page 0: %s; page 1: %s)", ErrCorrupt, p0, p1)
	case p0 != "":
		ms.use = m1
		ms.warnings = append(ms.warnings, "meta page 0: "+p0)
	case p1 != "":
		ms.use = m0
		ms.warnings = append(ms.warnings, "meta page 1: "+p1)
	case m1.txid > m0.txid:
		ms.use = m1
	default:
		ms.use = m0
	}
	m := ms.use
	switch {
	case m.pageSize < 1024 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0:
		return ms, fmt.Errorf("%w: meta page (txid %d) gives page size %d", ErrCorrupt, m.txid, m.pageSize)
	case m.hwm > uint64(size)/uint64(m.pageSize):
		return ms, fmt.Errorf("%w: file is truncated: %d bytes, but its meta page (txid %d) uses %d pages of %d bytes",
			ErrCorrupt, size, m.txid, m.hwm, m.pageSize)
	case m.hwm < 4:
		return ms, fmt.Errorf("%w: meta page (txid %d) gives high-water mark %d, below 4", ErrCorrupt, m.txid, m.hwm)
	case m.root < 2 || m.root >= m.hwm:
		return ms, fmt.Errorf("%w: meta page (txid %d) gives root page %d, outside [2, %d)", ErrCorrupt, m.txid, m.root, m.hwm)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		return ms, fmt.Errorf("%w: meta page (txid %d) gives freelist page %d, outside [2, %d)", ErrCorrupt, m.txid, m.freelist, m.hwm)
	}
	return ms, nil
}

// pageWalker visits every page reachable from the root bucket, reading the
// file with bounds checks.
type pageWalker struct {
	f    io.ReaderAt
	ps   uint64
	hwm  uint64
	seen map[uint64]bool
}

// walkPages checks the structure of every page reachable from m's root and
// its freelist: each page id is below the high-water mark and referenced
// once, each page says it is the page it is, has a type that belongs where
// it is, and all its elements, keys and values lie inside the page.
func walkPages(f io.ReaderAt, ms metaSet) error {
	m := ms.use
	w := &pageWalker{f: f, ps: uint64(m.pageSize), hwm: m.hwm, seen: map[uint64]bool{}}
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	return w.tree(m.root, 0, "root bucket", 0)
}

func (w *pageWalker) corrupt(id uint64, where, format string, args ...any) error {
	return fmt.Errorf("%w: page %d (%s): %s", ErrCorrupt, id, where, fmt.Sprintf(format, args...))
}

// page reads page id and its overflow pages.
func (w *pageWalker) page(id uint64, where string, parent uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, w.corrupt(parent, where, "refers to page %d, outside [2, %d)", id, w.hwm)
	}
	var hdr [pageHeaderSize]byte
	if _, err := w.f.ReadAt(hdr[:], int64(id*w.ps)); err != nil {
		return nil, w.corrupt(id, where, "cannot read: %v", err)
	}
	if got := ne.Uint64(hdr[0:]); got != id {
		return nil, w.corrupt(id, where, "its header says it is page %d", got)
	}
	over := uint64(ne.Uint32(hdr[12:]))
	if id+over >= w.hwm {
		return nil, w.corrupt(id, where, "%d overflow pages run past the high-water mark %d", over, w.hwm)
	}
	for i := id; i <= id+over; i++ {
		if w.seen[i] {
			return nil, w.corrupt(id, where, "page %d is referenced twice", i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, (over+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		return nil, w.corrupt(id, where, "cannot read: %v", err)
	}
	return buf, nil
}

func (w *pageWalker) freelist(id uint64) error {
	p, err := w.page(id, "freelist", 0)
	if err != nil {
		return err
	}
	if fl := ne.Uint16(p[8:]); fl != flagFreelist {
		return w.corrupt(id, "freelist", "type %#x, want freelist", fl)
	}
	idx, count := uint64(0), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return w.corrupt(id, "freelist", "too short")
		}
		idx, count = 1, ne.Uint64(p[pageHeaderSize:])
	}
	if count > (uint64(len(p))-pageHeaderSize)/8-idx {
		return w.corrupt(id, "freelist", "claims %d free pages, more than fit", count)
	}
	for i := uint64(0); i < count; i++ {
		free := ne.Uint64(p[pageHeaderSize+(idx+i)*8:])
		if free < 2 || free >= w.hwm {
			return w.corrupt(id, "freelist", "lists page %d, outside [2, %d)", free, w.hwm)
		}
	}
	return nil
}

// tree checks the b-tree rooted at page id, which page parent refers to
// (0: the meta page).
func (w *pageWalker) tree(id uint64, depth int, where string, parent uint64) error {
	if depth > maxTreeDepth {
		return w.corrupt(id, where, "b-tree deeper than %d levels", maxTreeDepth)
	}
	p, err := w.page(id, where, parent)
	if err != nil {
		return err
	}
	switch fl := ne.Uint16(p[8:]); fl {
	case flagBranch:
		count := int(ne.Uint16(p[10:]))
		if count == 0 {
			return w.corrupt(id, where, "branch page with no elements")
		}
		if pageHeaderSize+count*elemSize > len(p) {
			return w.corrupt(id, where, "%d elements do not fit", count)
		}
		for i := 0; i < count; i++ {
			off := pageHeaderSize + i*elemSize
			pos, ksize := uint64(ne.Uint32(p[off:])), uint64(ne.Uint32(p[off+4:]))
			if uint64(off)+pos+ksize > uint64(len(p)) {
				return w.corrupt(id, where, "element %d's key lies outside the page", i)
			}
			if err := w.tree(ne.Uint64(p[off+8:]), depth+1, where, id); err != nil {
				return err
			}
		}
		return nil
	case flagLeaf:
		return w.leaf(id, p, depth, where, false)
	default:
		return w.corrupt(id, where, "type %#x where a branch or leaf page belongs", fl)
	}
}

// leaf checks the leaf page p (a page read from the file, or an inline
// bucket's page) and the buckets it holds.
func (w *pageWalker) leaf(id uint64, p []byte, depth int, where string, inline bool) error {
	if len(p) < pageHeaderSize {
		return w.corrupt(id, where, "inline page of %d bytes", len(p))
	}
	count := int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elemSize > len(p) {
		return w.corrupt(id, where, "%d elements do not fit", count)
	}
	for i := 0; i < count; i++ {
		off := pageHeaderSize + i*elemSize
		flags := ne.Uint32(p[off:])
		pos, ksize, vsize := uint64(ne.Uint32(p[off+4:])), uint64(ne.Uint32(p[off+8:])), uint64(ne.Uint32(p[off+12:]))
		if uint64(off)+pos+ksize+vsize > uint64(len(p)) {
			return w.corrupt(id, where, "element %d's key or value lies outside the page", i)
		}
		if flags&1 == 0 {
			continue
		}
		if inline {
			// bbolt inlines only buckets without sub-buckets.
			return w.corrupt(id, where, "an inline bucket holds a bucket (element %d)", i)
		}
		k := p[uint64(off)+pos : uint64(off)+pos+ksize]
		v := p[uint64(off)+pos+ksize : uint64(off)+pos+ksize+vsize]
		name := fmt.Sprintf("bucket %q", k)
		if len(v) < inBucketSize {
			return w.corrupt(id, where, "%s has a %d-byte header", name, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := w.tree(root, depth+1, name, id); err != nil {
				return err
			}
			continue
		}
		page := v[inBucketSize:]
		if len(page) < pageHeaderSize {
			return w.corrupt(id, name, "inline bucket of %d bytes", len(page))
		}
		if fl := ne.Uint16(page[8:]); fl != flagLeaf {
			return w.corrupt(id, name, "inline page of type %#x, want leaf", fl)
		}
		if err := w.leaf(id, page, depth+1, name, true); err != nil {
			return err
		}
	}
	return nil
}
