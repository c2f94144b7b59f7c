package audit

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrTampered matches (errors.Is) every *TamperError.
var ErrTampered = errors.New("audit: log was tampered with")

// TamperError is what Verify found wrong: the first bad entry in log
// order, or a bad checkpoint or segment file.
type TamperError struct {
	Entry      int64  // index of the first bad entry, or -1
	Through    int64  // if > Entry, the first bad entry is one of Entry..Through (the hash file could not narrow it down)
	Checkpoint int    // the bad checkpoint, numbered from 0 in file order, or -1
	Segment    string // the bad segment file when no entry can be named, or ""
	Reason     string
}

// Where names the bad place: "entry 17", "entries 17 through 30",
// "checkpoint 3" or "segment seg-….jsonl.gz".
func (e *TamperError) Where() string {
	switch {
	case e.Entry >= 0 && e.Through > e.Entry:
		return fmt.Sprintf("entries %d through %d", e.Entry, e.Through)
	case e.Entry >= 0:
		return fmt.Sprintf("entry %d", e.Entry)
	case e.Checkpoint >= 0:
		return fmt.Sprintf("checkpoint %d", e.Checkpoint)
	case e.Segment != "":
		return "segment " + e.Segment
	}
	return "log"
}

func (e *TamperError) Error() string {
	return "audit: verify: tampered: " + e.Where() + ": " + e.Reason
}

// Is makes errors.Is(err, ErrTampered) true.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

func entryErr(i int64, format string, args ...any) *TamperError {
	return &TamperError{Entry: i, Through: -1, Checkpoint: -1, Reason: fmt.Sprintf(format, args...)}
}

func checkpointErr(k int, format string, args ...any) *TamperError {
	return &TamperError{Entry: -1, Through: -1, Checkpoint: k, Reason: fmt.Sprintf(format, args...)}
}

func segmentErr(name, format string, args ...any) *TamperError {
	return &TamperError{Entry: -1, Through: -1, Checkpoint: -1, Segment: name, Reason: fmt.Sprintf(format, args...)}
}

// Report is what Verify checked.
type Report struct {
	Entries     int64      // entries in the log, pruned ones included
	Pruned      int64      // entries before the first segment, removed by retention
	Segments    int        // segment files read
	Checkpoints int        // checkpoints verified
	Latest      Checkpoint // the last checkpoint (zero if none)
	Uncovered   int64      // entries after the latest checkpoint: format checked, not yet signed
	SelfTrusted bool       // verified with the directory's own verifier.key only
	Warnings    []string
}

// Verify checks the whole log in dir against checkpoint keys v: it reads
// every segment, sealed and live, checks every entry's format and seq,
// recomputes the Merkle tree, checks every checkpoint's signature, that
// checkpoint sizes never decrease, and that each checkpoint's root is the
// tree's root at its size. It needs memory in log₂ of the log's size
// (plus the leaf hashes between two checkpoints).
//
// If v is nil, Verify trusts dir/verifier.key and says so in the report's
// Warnings: anyone who could rewrite the log could rewrite that file too,
// so pass the server's key when it matters.
//
// On tampering it returns a *TamperError naming the first bad entry in
// log order (or checkpoint, or segment file) and why, for example
// "entry 1234: hash does not match checkpoint 7 at size 2000" or
// "entry 17: not valid JSON: …". To name the exact entry whose bytes
// changed, it uses the hash file's leaf hashes once they are proven to
// lead to a signed root; if the hash file was altered too, it names the
// range between two checkpoints instead. Other errors (an unreadable
// directory) are returned as they are. The report is returned in every
// case, filled in as far as Verify got.
func Verify(dir string, v note.Verifiers) (*Report, error) {
	r := &Report{}
	if v == nil {
		keys, err := readVerifierFile(dir)
		if err != nil {
			return r, fmt.Errorf("audit: verify: no key given, and the directory's key: %w", err)
		}
		if v, err = ParseVerifierKeys(keys...); err != nil {
			return r, fmt.Errorf("audit: verify: %w", err)
		}
		r.SelfTrusted = true
		r.warn("trusting the directory's own %s: whoever can rewrite the log can rewrite that file too; pass the server's key to be sure", VerifierKeyFile)
	}
	w, err := newWalker(dir, v, r)
	if err != nil {
		return r, fmt.Errorf("audit: verify: %w", err)
	}
	defer w.close()
	if err := w.run(); err != nil {
		var te *TamperError
		if errors.As(err, &te) {
			return r, te
		}
		return r, fmt.Errorf("audit: verify: %w", err)
	}
	return r, nil
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// walker streams a log's entries in order, keeping the tree's compact
// range and checking each checkpoint as the log reaches its size.
type walker struct {
	dir  string
	v    note.Verifiers
	r    *Report
	hf   *hashFile // nil if the directory has none
	cpf  *os.File  // nil if the directory has no checkpoints file
	scan *checkpointScanner

	cur    *Checkpoint  // the next checkpoint to check, nil after the last
	k      int          // its number
	tree   compactRange // entries [0, tree.n)
	good   compactRange // the tree at the last checkpoint that matched
	leaves []tlog.Hash  // leaf hashes of entries [good.n, tree.n)
	proven int64        // entries [0, proven) match a signed checkpoint
}

func newWalker(dir string, v note.Verifiers, r *Report) (*walker, error) {
	w := &walker{dir: dir, v: v, r: r, k: -1}
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	hf, err := openHashFile(dir, false)
	switch {
	case err == nil:
		w.hf = hf
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, checkpointsFile))
	switch {
	case err == nil:
		w.cpf = f
		st, err := f.Stat()
		if err != nil {
			w.close()
			return nil, err
		}
		// Read only the checkpoints that exist now, before the segments
		// are read: one a running server adds later may cover entries
		// appended after Verify read the live segment.
		w.scan = &checkpointScanner{br: bufio.NewReader(io.LimitReader(f, st.Size()))}
	case errors.Is(err, fs.ErrNotExist):
		r.warn("there is no %s file: no entry is covered by a signature", checkpointsFile)
	default:
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *walker) close() {
	if w.hf != nil {
		w.hf.close()
	}
	if w.cpf != nil {
		w.cpf.Close()
	}
}

// run walks the whole log.
func (w *walker) run() error {
	segs, err := listSegments(w.dir)
	if err != nil {
		return err
	}
	segs, twins := dropTwins(segs)
	for _, t := range twins {
		w.r.warn("%s is a leftover of a crash while sealing (its sealed copy is used; reopening the log removes it)", t)
	}
	if err := w.fetch(); err != nil {
		return err
	}
	if len(segs) > 0 && segs[0].first > 0 {
		if err := w.startPruned(segs[0].first); err != nil {
			return err
		}
	}
	if err := w.checkCheckpoints(); err != nil {
		return err
	}
	for i, s := range segs {
		end := int64(-1) // where the next segment starts
		if i+1 < len(segs) {
			end = segs[i+1].first
		}
		if err := w.segment(s, end); err != nil {
			return err
		}
		w.r.Segments++
	}
	return w.finish()
}

// fetch reads, verifies and makes current the next checkpoint.
func (w *walker) fetch() error {
	prev := w.cur
	w.cur = nil
	if w.scan == nil {
		return nil
	}
	msg, err := w.scan.next()
	switch {
	case err == io.EOF:
		return nil
	case errors.Is(err, errTornCheckpoint):
		w.r.warn("%s ends with an unfinished checkpoint (a crash while writing it; reopening the log removes it)", checkpointsFile)
		return nil
	case err != nil:
		return checkpointErr(w.k+1, "%v", err)
	}
	w.k++
	c, err := ParseCheckpoint(msg, w.v)
	if err != nil {
		return checkpointErr(w.k, "%s", strings.TrimPrefix(err.Error(), ErrBadCheckpoint.Error()+": "))
	}
	if prev != nil && c.Origin != prev.Origin {
		return checkpointErr(w.k, "origin %q differs from the previous checkpoint's %q", c.Origin, prev.Origin)
	}
	if prev != nil && c.Size < prev.Size {
		return checkpointErr(w.k, "size %d is below the previous checkpoint's size %d", c.Size, prev.Size)
	}
	w.cur = &c
	w.r.Checkpoints = w.k + 1
	w.r.Latest = c
	return nil
}

// startPruned starts the tree at base, the first entry still in a
// segment, from the hash file, and checks the checkpoints that retention
// left without entries against it.
func (w *walker) startPruned(base int64) error {
	w.r.Pruned = base
	if w.hf == nil {
		return &TamperError{Entry: 0, Through: base - 1, Checkpoint: -1, Reason: "pruned, and there is no hash file to stand for them"}
	}
	tree, err := compactRangeAt(base, w.hf)
	if err != nil {
		return &TamperError{Entry: 0, Through: base - 1, Checkpoint: -1, Reason: "pruned, and the hash file lacks their hashes: " + err.Error()}
	}
	w.tree, w.good = tree, tree.clone()
	for w.cur != nil && w.cur.Size < base {
		root, err := tlog.TreeHash(w.cur.Size, w.hf)
		if err != nil || root != w.cur.Root {
			return checkpointErr(w.k, "size %d is in the pruned entries and does not match the hash file kept for them", w.cur.Size)
		}
		if err := w.fetch(); err != nil {
			return err
		}
	}
	return nil
}

// segment reads one segment's entries into the tree; end is where the
// next segment starts, -1 for the last.
func (w *walker) segment(s segment, end int64) error {
	switch {
	case s.first > w.tree.n:
		return w.fail(w.tree.n, entryErr(w.tree.n, "missing: the next segment, %s, starts at entry %d", s.name(), s.first))
	case s.first < w.tree.n:
		return w.fail(s.first, entryErr(s.first, "segment %s starts at entry %d, inside the entries before it", s.name(), s.first))
	case !s.sealed && end >= 0:
		return segmentErr(s.name(), "a live segment that is not the last")
	}
	_, err := readSegmentFile(w.dir, s, func(_ Entry, raw []byte) error { return w.add(raw) })
	var te *TamperError
	var se *segError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return te
	case errors.As(err, &se):
		return w.segmentProblem(s, end, se)
	case isCorruptGzip(err):
		return w.fail(s.first, entryErr(s.first, "segment %s cannot be read: %v", s.name(), err))
	}
	return err
}

// segmentProblem turns a bad line into a TamperError (or a warning for
// the torn end of the live segment).
func (w *walker) segmentProblem(s segment, end int64, se *segError) error {
	switch {
	case se.kind == segTorn && !s.sealed && end < 0:
		w.r.warn("the live segment ends with an unfinished entry %d (a crash during an append; reopening the log removes it)", se.index)
		return nil
	case se.kind == segTorn:
		return w.fail(se.index, entryErr(se.index, "incomplete: the sealed segment %s ends inside it", s.name()))
	case se.kind == segInvalid:
		return w.fail(se.index, entryErr(se.index, "%s", strings.TrimPrefix(se.err.Error(), ErrInvalidEntry.Error()+": ")))
	case se.partial == 0 && errors.Is(se.err, gzip.ErrChecksum):
		return w.fail(se.index, segmentErr(s.name(), "the gzip checksum does not match the decompressed entries"))
	case se.partial == 0 && se.index == end:
		return w.fail(se.index, segmentErr(s.name(), "every entry read, then: %v", se.err))
	}
	return w.fail(se.index, entryErr(se.index, "segment %s cannot be read from here on: %v", s.name(), se.err))
}

func isCorruptGzip(err error) bool {
	return errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// add adds the leaf of entry tree.n and checks the checkpoints it completes.
func (w *walker) add(raw []byte) error {
	h := tlog.RecordHash(raw)
	w.tree.append(h)
	w.leaves = append(w.leaves, h)
	return w.checkCheckpoints()
}

// checkCheckpoints checks every checkpoint whose size the tree has reached.
func (w *walker) checkCheckpoints() error {
	for w.cur != nil && w.cur.Size == w.tree.n {
		if w.tree.root() != w.cur.Root {
			return w.mismatch()
		}
		w.good, w.leaves, w.proven = w.tree.clone(), w.leaves[:0], w.tree.n
		if err := w.fetch(); err != nil {
			return err
		}
	}
	return nil
}

// mismatch reports the current checkpoint's root differing from the tree.
func (w *walker) mismatch() error {
	c := w.cur
	if j, ok := w.locate(w.tree.n); ok {
		return entryErr(j, "hash does not match checkpoint %d at size %d", w.k, c.Size)
	}
	if len(w.leaves) == 0 {
		return checkpointErr(w.k, "root does not match the tree of the log's first %d entries", c.Size)
	}
	reason := fmt.Sprintf("hashes do not match checkpoint %d at size %d (and the hash file cannot tell which entry changed)", w.k, c.Size)
	if w.proven < w.good.n {
		reason = fmt.Sprintf("hashes do not match checkpoint %d at size %d (entries 0 to %d were pruned: their hashes in the hash file may be what changed)", w.k, c.Size, w.good.n-1)
	}
	return &TamperError{Entry: w.proven, Through: w.tree.n - 1, Checkpoint: -1, Reason: reason}
}

// fail returns te, a problem found at entry i, unless an earlier entry is
// proven bad against the next checkpoint.
func (w *walker) fail(i int64, te *TamperError) error {
	if w.cur != nil {
		if j, ok := w.locate(min(i, w.tree.n)); ok {
			return entryErr(j, "hash does not match checkpoint %d at size %d", w.k, w.cur.Size)
		}
	}
	return te
}

// locate returns the first entry in [good.n, upto) whose leaf hash differs
// from the hash file's, provided the hash file's leaves from good.n up to
// the current checkpoint lead from the last good tree to that
// checkpoint's signed root (so they are the leaves it signed).
func (w *walker) locate(upto int64) (int64, bool) {
	if w.hf == nil || w.cur == nil {
		return 0, false
	}
	t := w.good.clone()
	signed := make([]tlog.Hash, 0, w.cur.Size-w.good.n)
	for i := w.good.n; i < w.cur.Size; i++ {
		h, err := w.hf.leaf(i)
		if err != nil {
			return 0, false
		}
		t.append(h)
		signed = append(signed, h)
	}
	if t.root() != w.cur.Root {
		return 0, false
	}
	for i := w.good.n; i < upto; i++ {
		if w.leaves[i-w.good.n] != signed[i-w.good.n] {
			return i, true
		}
	}
	return 0, false
}

// finish checks that no checkpoint is beyond the log's end and fills in
// the report.
func (w *walker) finish() error {
	n := w.tree.n
	if w.cur != nil {
		return w.fail(n, entryErr(n, "missing: the log ends after %d entries but checkpoint %d is at size %d", n, w.k, w.cur.Size))
	}
	w.r.Entries = n
	w.r.Uncovered = n - w.r.Latest.Size
	if w.r.Uncovered > 0 {
		w.r.warn("%d entries after the latest checkpoint are not covered by a signature yet (only their format was checked)", w.r.Uncovered)
	}
	return nil
}
