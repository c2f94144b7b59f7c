package audit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"
)

// pruneLog builds a log of four segments of 4 entries: seg-0 written in
// 2020, seg-4 in 2021, seg-8 in 2022, and live seg-12 in 2023 (3 entries).
func pruneLog(t *testing.T) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	c := newClock(time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC))
	l := openLog(t, dir, c, func(o *Options) { o.SegmentEntries = 4 })
	for year := range 4 {
		appendN(t, l, c, 4*year, min(4*year+4, 15))
		c.Advance(365 * 24 * time.Hour)
	}
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	return l, dir
}

func TestRetentionCutoff(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	if got, want := RetentionCutoff(now), time.Date(2023, 6, 15, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("RetentionCutoff = %v, want %v", got, want)
	}
}

func TestPrune(t *testing.T) {
	l, dir := pruneLog(t)
	newestSeg0 := time.Date(2020, 3, 1, 0, 0, 3, 0, time.UTC) // four entries a second apart
	steps := []struct {
		now  time.Time
		want []string
	}{
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), nil}, // six years: nothing
		{newestSeg0.AddDate(RetentionYears, 0, 0), nil},    // seg-0's newest entry is exactly 7 years old: kept
		{newestSeg0.AddDate(RetentionYears, 0, 0).Add(time.Millisecond), []string{seg(0, true).name()}},
		{time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), nil},                                                // seg-4 (2021) is still young
		{time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), []string{seg(4, true).name(), seg(8, true).name()}}, // never the live one
	}
	for _, s := range steps {
		got, err := l.Prune(s.now)
		if err != nil {
			t.Fatalf("Prune(%v): %v", s.now, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Fatalf("Prune(%v) (-want +got):\n%s", s.now, diff)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, seg(12, false).name())); err != nil {
		t.Fatalf("live segment: %v", err)
	}
	if _, err := l.Prove(3); !errors.Is(err, ErrPruned) {
		t.Fatalf("Prove(3) = %v, want ErrPruned", err)
	}
	if p, err := l.Prove(13); err != nil || CheckProof(p, verifiersOf(t, l)) != nil {
		t.Fatalf("Prove(13) after pruning: %v", err)
	}
	l.Close()
	r, err := Verify(dir, verifiersOf(t, l))
	if err != nil || r.Pruned != 12 || r.Entries != 15 || r.Checkpoints != 1 {
		t.Fatalf("Verify after pruning = %+v, %v", r, err)
	}
	// The log still opens, and a change to the hash file's pruned part is caught.
	l2 := openLog(t, dir, newClock(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)))
	if l2.Size() != 15 {
		t.Fatalf("size after reopening a pruned log: %d", l2.Size())
	}
	l2.Close()
	b := readFile(t, dir, hashesFile)
	b[tlog.StoredHashIndex(3, 0)*tlog.HashSize] ^= 1 // the hash of entries 0-7, which the tree uses
	writeFile(t, dir, hashesFile, b)
	_, err = Verify(dir, verifiersOf(t, l))
	var te *TamperError
	if !errors.As(err, &te) || te.Where() != "entries 0 through 14" {
		t.Fatalf("Verify with a changed pruned hash = %v, want entries 0 through 14", err)
	}
}

// TestPruneNeedsACheckpoint: a segment the latest checkpoint does not
// cover is never pruned, however old.
func TestPruneNeedsACheckpoint(t *testing.T) {
	dir := t.TempDir()
	c := newClock(time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC))
	l := openLog(t, dir, c, func(o *Options) { o.SegmentEntries = 4 })
	appendN(t, l, c, 0, 9)
	if got, err := l.Prune(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(got) != 0 {
		t.Fatalf("Prune without a checkpoint = %q, %v", got, err)
	}
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Prune(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(got) != 2 {
		t.Fatalf("Prune with a checkpoint = %q, %v", got, err)
	}
}

// TestPruneClockStepBack: the newest entry of a segment decides, even
// when it is not the last one because the clock stepped back.
func TestPruneClockStepBack(t *testing.T) {
	dir := t.TempDir()
	c := newClock(time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC))
	l := openLog(t, dir, c, func(o *Options) { o.SegmentEntries = 4 })
	appendN(t, l, c, 0, 1)
	c.Advance(3 * 365 * 24 * time.Hour) // entry 1 in 2023
	appendN(t, l, c, 1, 2)
	c.Advance(-3 * 365 * 24 * time.Hour) // clock corrected: entries 2, 3 in 2020
	appendN(t, l, c, 2, 5)
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Prune(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(got) != 0 {
		t.Fatalf("Prune = %q, %v; want nothing (entry 1 is from 2023)", got, err)
	}
}
