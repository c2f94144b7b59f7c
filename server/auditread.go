package server

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/cityarray/cityarray/server/audit"
)

// server/audit has no reader for a range of entries (it proves one entry
// at a time), so readAuditEntries reads the segment files in the layout
// its package doc specifies: seg-<first index, 20 digits>.jsonl (live) and
// .jsonl.gz (sealed), one entry line each, parsed with audit.ParseEntry.
// It reads only entries below size (what the log had acknowledged when the
// request began), so a line being appended is never seen half-written.

var segmentRE = regexp.MustCompile(`^seg-(\d{20})\.jsonl(\.gz)?$`)

type segment struct {
	first int64
	path  string
}

// segments lists dir's segment files by first index; where a sealed copy
// and a live file share an index (a seal in progress), the sealed one.
func segments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byFirst := map[int64]segment{}
	for _, de := range des {
		m := segmentRE.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		first, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		if old, ok := byFirst[first]; ok && filepath.Ext(old.path) == ".gz" {
			continue
		}
		byFirst[first] = segment{first, filepath.Join(dir, de.Name())}
	}
	out := make([]segment, 0, len(byFirst))
	for _, s := range byFirst {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b segment) int { return int(min(max(a.first-b.first, -1), 1)) })
	return out, nil
}

// readAuditEntries returns up to limit entries from index from, below
// size. first is the first index the log still holds (retention may have
// pruned earlier ones; a from below it starts there).
func readAuditEntries(dir string, from int64, limit int, size int64) (entries []audit.Entry, first int64, err error) {
	// A segment sealed while we list or read disappears as a live file:
	// list again and retry.
	for range 3 {
		entries, first, err = readAuditOnce(dir, from, limit, size)
		if !errors.Is(err, fs.ErrNotExist) {
			return entries, first, err
		}
	}
	return entries, first, err
}

func readAuditOnce(dir string, from int64, limit int, size int64) ([]audit.Entry, int64, error) {
	segs, err := segments(dir)
	if err != nil {
		return nil, 0, err
	}
	if len(segs) == 0 {
		return nil, 0, nil
	}
	first := segs[0].first
	from = max(from, first)
	// The last segment that starts at or before from.
	i, found := slices.BinarySearchFunc(segs, from, func(s segment, t int64) int { return int(min(max(s.first-t, -1), 1)) })
	if !found {
		i--
	}
	var out []audit.Entry
	for ; i < len(segs) && len(out) < limit; i++ {
		seq := segs[i].first
		if seq >= size {
			break
		}
		err := func() error {
			f, err := os.Open(segs[i].path)
			if err != nil {
				return err
			}
			defer f.Close()
			var r io.Reader = f
			if filepath.Ext(segs[i].path) == ".gz" {
				zr, err := gzip.NewReader(f)
				if err != nil {
					return fmt.Errorf("%s: %w", filepath.Base(segs[i].path), err)
				}
				defer zr.Close()
				r = zr
			}
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 0, 64<<10), audit.MaxEntrySize+1)
			for ; sc.Scan() && len(out) < limit && seq < size; seq++ {
				if seq < from {
					continue
				}
				e, err := audit.ParseEntry(sc.Bytes())
				if err != nil {
					return fmt.Errorf("%s: entry %d: %w", filepath.Base(segs[i].path), seq, err)
				}
				if e.Seq != seq {
					return fmt.Errorf("%s: entry %d has seq %d", filepath.Base(segs[i].path), seq, e.Seq)
				}
				out = append(out, e)
			}
			return sc.Err()
		}()
		if err != nil {
			return nil, first, err
		}
	}
	return out, first, nil
}
