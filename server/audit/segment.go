package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment file names: seg-<first index, 20 decimal digits>.jsonl while
// live, .jsonl.gz once sealed.
const (
	segPrefix    = "seg-"
	liveSuffix   = ".jsonl"
	sealedSuffix = ".jsonl.gz"
)

// segment is one segment file of a log directory.
type segment struct {
	first  int64 // index of its first entry
	sealed bool
}

func (s segment) name() string {
	suffix := liveSuffix
	if s.sealed {
		suffix = sealedSuffix
	}
	return fmt.Sprintf("%s%020d%s", segPrefix, s.first, suffix)
}

// parseSegmentName returns the segment a file name denotes.
func parseSegmentName(name string) (segment, bool) {
	rest, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return segment{}, false
	}
	var s segment
	switch {
	case strings.HasSuffix(rest, sealedSuffix):
		rest, s.sealed = strings.TrimSuffix(rest, sealedSuffix), true
	case strings.HasSuffix(rest, liveSuffix):
		rest = strings.TrimSuffix(rest, liveSuffix)
	default:
		return segment{}, false
	}
	if len(rest) != 20 {
		return segment{}, false
	}
	first, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || first < 0 {
		return segment{}, false
	}
	s.first = first
	return s, true
}

// listSegments returns the segments in dir ordered by first index (a
// sealed segment before a live one with the same first index).
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, de := range des {
		if s, ok := parseSegmentName(de.Name()); ok && de.Type().IsRegular() {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		if a.first != b.first {
			return cmpInt(a.first, b.first)
		}
		if a.sealed == b.sealed {
			return 0
		}
		if a.sealed {
			return -1
		}
		return 1
	})
	return segs, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dropTwins removes from segs a live segment whose sealed twin exists (a
// crash between sealing and removing the live file left both) and returns
// the names of the dropped files.
func dropTwins(segs []segment) ([]segment, []string) {
	var out []segment
	var twins []string
	for i, s := range segs {
		if !s.sealed && i > 0 && segs[i-1].sealed && segs[i-1].first == s.first {
			twins = append(twins, s.name())
			continue
		}
		out = append(out, s)
	}
	return out, twins
}

// openSegment returns a reader of the segment's entry lines, decompressing
// a sealed segment.
func openSegment(dir string, s segment) (io.Reader, io.Closer, error) {
	f, err := os.Open(filepath.Join(dir, s.name()))
	if err != nil {
		return nil, nil, err
	}
	if !s.sealed {
		return f, f, nil
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", s.name(), err)
	}
	return zr, f, nil
}

// What went wrong with a segment's line, in segError.kind.
const (
	segTorn       = "torn"       // the last line has no newline: an unfinished append
	segInvalid    = "invalid"    // a complete line that is not the expected entry
	segUnreadable = "unreadable" // the file could not be read (or decompressed) here
)

// segError is the first problem a segmentReader met.
type segError struct {
	index   int64  // the entry's index: the line's position in the log
	offset  int64  // byte offset of the line in the (decompressed) segment
	kind    string // segTorn, segInvalid or segUnreadable
	partial int    // bytes of the line read before the problem
	zeroed  bool   // the line holds NUL bytes: data lost in a power cut
	err     error
}

func (e *segError) Error() string {
	return fmt.Sprintf("entry %d (byte %d of the segment): %s: %v", e.index, e.offset, e.kind, e.err)
}

func (e *segError) Unwrap() error { return e.err }

// segmentReader reads a segment's entries one line at a time, checking
// that each parses and has the seq its position calls for.
type segmentReader struct {
	br   *bufio.Reader
	next int64 // index (and seq) of the next entry
	off  int64 // byte offset of the next line
}

func newSegmentReader(r io.Reader, first int64) *segmentReader {
	return &segmentReader{br: bufio.NewReaderSize(r, MaxEntrySize+1), next: first}
}

// read returns the next entry and its line (without the newline). At the
// end of the segment it returns io.EOF; otherwise any error is a
// *segError, after which the reader must not be used.
func (sr *segmentReader) read() (Entry, []byte, error) {
	line, err := sr.br.ReadSlice('\n')
	switch {
	case err == io.EOF && len(line) == 0:
		return Entry{}, nil, io.EOF
	case err == io.EOF:
		return Entry{}, nil, sr.fail(segTorn, line, fmt.Errorf("last line has %d bytes and no newline", len(line)))
	case errors.Is(err, bufio.ErrBufferFull):
		return Entry{}, nil, sr.fail(segInvalid, line, fmt.Errorf("line longer than %d bytes", MaxEntrySize))
	case err != nil:
		return Entry{}, nil, sr.fail(segUnreadable, line, err)
	}
	raw := bytes.Clone(line[:len(line)-1])
	e, perr := ParseEntry(raw)
	if perr == nil && e.Seq != sr.next {
		perr = fmt.Errorf("seq is %d where %d belongs: entries were deleted, inserted or moved", e.Seq, sr.next)
	}
	if perr != nil {
		return Entry{}, raw, sr.fail(segInvalid, raw, perr)
	}
	sr.next++
	sr.off += int64(len(line))
	return e, raw, nil
}

func (sr *segmentReader) fail(kind string, line []byte, err error) *segError {
	return &segError{index: sr.next, offset: sr.off, kind: kind, partial: len(line), zeroed: bytes.IndexByte(line, 0) >= 0, err: err}
}

// readSegmentFile reads every entry of segment s in dir, calling fn with
// each line. It returns the number of entries read, and the first error
// (a *segError for a bad line).
func readSegmentFile(dir string, s segment, fn func(e Entry, raw []byte) error) (int64, error) {
	r, c, err := openSegment(dir, s)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	sr := newSegmentReader(r, s.first)
	for {
		e, raw, err := sr.read()
		if err == io.EOF {
			return sr.next - s.first, nil
		}
		if err != nil {
			return sr.next - s.first, err
		}
		if err := fn(e, raw); err != nil {
			return sr.next - s.first, err
		}
	}
}
