package audit

import (
	"fmt"
	"time"
)

// RetentionYears is the retention policy: an entry is kept at least this
// many years after it was appended.
const RetentionYears = 7

// RetentionCutoff returns the instant before which an entry may be pruned
// at now: RetentionYears calendar years earlier.
func RetentionCutoff(now time.Time) time.Time { return now.AddDate(-RetentionYears, 0, 0) }

// Prune deletes, oldest first, whole sealed segments that retention
// allows to go: every entry in the segment is older than
// RetentionCutoff(now), and the latest checkpoint covers the segment. It
// stops at the first segment that does not qualify, so the log only ever
// loses a prefix, and it never touches the live segment or the hash file
// (whose hashes of pruned entries keep the tree and old checkpoints
// verifiable). It returns the names of the files it removed.
func (l *Log) Prune(now time.Time) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable("prune"); err != nil {
		return nil, err
	}
	cutoff := RetentionCutoff(now)
	var removed []string
	for len(l.segs) > 1 && l.segs[0].sealed {
		s, next := l.segs[0], l.segs[1]
		if l.latest == nil || next.first > l.latest.Size {
			break
		}
		newest, err := newestEntry(l.dir, s)
		if err != nil {
			return removed, fmt.Errorf("audit: prune: %s: %w", s.name(), err)
		}
		if !newest.Before(cutoff) {
			break
		}
		if err := removeSynced(l.dir, s.name()); err != nil {
			return removed, fmt.Errorf("audit: prune: %w", err)
		}
		l.log.Info("pruned an audit segment past retention", "file", s.name(), "newest", newest, "cutoff", cutoff)
		removed = append(removed, s.name())
		l.segs = l.segs[1:]
	}
	return removed, nil
}

// newestEntry returns the latest time of any entry in segment s (not just
// the last one's, in case the clock once stepped back).
func newestEntry(dir string, s segment) (time.Time, error) {
	var newest time.Time
	_, err := readSegmentFile(dir, s, func(e Entry, _ []byte) error {
		if e.Time.After(newest) {
			newest = e.Time
		}
		return nil
	})
	return newest, err
}
