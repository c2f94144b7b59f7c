package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashBase builds a log as a crash leaves it: 13 entries in segments of
// 8 (seg-0 sealed; seg-8 live with entries 8–12), checkpoints at sizes 8
// and 12, and the last entry appended and acknowledged but not yet
// checkpointed. The log is not closed: the copy is what the disk holds
// the instant after the last Append returned (kill -9).
func crashBase(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "live")
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 8)
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, c, 8, 12)
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, c, 12, 13)
	return copyDir(t, dir)
}

var liveSeg = seg(8, false)

// reopenAndCheck opens dir, checks it holds want entries whose lines are
// those of base, appends one more, closes and verifies it.
func reopenAndCheck(t *testing.T, dir, base string, want int64) {
	t.Helper()
	c := newClock(t0.Add(time.Hour))
	l, err := Open(dir, testOptions(c))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer l.Close()
	if l.Size() != want {
		t.Fatalf("size %d after recovery, want %d", l.Size(), want)
	}
	got, orig := segLines(t, dir, liveSeg), segLines(t, base, liveSeg)
	if strings.Join(got, "") != strings.Join(orig[:want-8], "") {
		t.Fatalf("live segment after recovery:\n%s\nwant the first %d lines of\n%s", got, want-8, orig)
	}
	if _, err := l.Append(entry(99)); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(dir, verifiersOf(t, l)); err != nil || r.Entries != want+1 || len(r.Warnings) != 0 {
		t.Fatalf("Verify after recovery = %+v, %v", r, err)
	}
}

// TestCrashTornEntry cuts the live segment at every byte offset of its
// last entry (a write that kill -9 or a power cut interrupted): Open
// must drop exactly that unacknowledged entry and keep the others.
func TestCrashTornEntry(t *testing.T) {
	base := crashBase(t)
	live := readFile(t, base, liveSeg.name())
	lines := segLines(t, base, liveSeg)
	start := len(live) - len(lines[len(lines)-1])
	for cut := start; cut <= len(live); cut++ {
		dir := copyDir(t, base)
		writeFile(t, dir, liveSeg.name(), live[:cut])
		want := int64(12)
		if cut == len(live) {
			want = 13
		}
		t.Run(strconv.Itoa(cut), func(t *testing.T) { reopenAndCheck(t, dir, base, want) })
	}
}

// TestCrashZeroedEntries: after a power cut, data written after the last
// fsync can read back as NUL bytes, possibly followed by later lines.
func TestCrashZeroedEntries(t *testing.T) {
	base := crashBase(t)
	live := readFile(t, base, liveSeg.name())
	lines := segLines(t, base, liveSeg)
	last := len(lines[len(lines)-1])
	tests := map[string][]byte{
		"zeros with newline":    append(bytes.Clone(live[:len(live)-last]), append(make([]byte, last-1), '\n')...),
		"zeros without newline": append(bytes.Clone(live[:len(live)-last]), make([]byte, last)...),
		"zeros then a line": append(append(bytes.Clone(live[:len(live)-last]), make([]byte, 100)...),
			live[len(live)-last:]...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, base)
			writeFile(t, dir, liveSeg.name(), b)
			reopenAndCheck(t, dir, base, 12)
		})
	}
}

// TestCrashHashFile cuts the hash file at every length and adds junk to
// it: Open must rebuild or truncate it.
func TestCrashHashFile(t *testing.T) {
	base := crashBase(t)
	hashes := readFile(t, base, hashesFile)
	for cut := 0; cut <= len(hashes); cut++ {
		if cut%32 != 0 && cut < len(hashes)-96 && cut > 32 {
			continue // every whole hash, and every byte of the first and the last three
		}
		dir := copyDir(t, base)
		writeFile(t, dir, hashesFile, hashes[:cut])
		t.Run(strconv.Itoa(cut), func(t *testing.T) { reopenAndCheck(t, dir, base, 13) })
	}
	for name, b := range map[string][]byte{
		"junk after":     append(bytes.Clone(hashes), make([]byte, 77)...),
		"live part lost": append(bytes.Clone(hashes[:len(hashes)-64]), make([]byte, 64)...),
	} {
		dir := copyDir(t, base)
		writeFile(t, dir, hashesFile, b)
		t.Run(name, func(t *testing.T) { reopenAndCheck(t, dir, base, 13) })
	}
}

// TestCrashCheckpoint cuts the checkpoints file at every offset of its
// last record: Open drops the unfinished record and keeps the one before.
func TestCrashCheckpoint(t *testing.T) {
	base := crashBase(t)
	cps := readFile(t, base, checkpointsFile)
	notes := checkpointRecords(t, base)
	start := len(cps) - len(notes[1]) - 1
	for cut := start; cut <= len(cps); cut++ {
		dir := copyDir(t, base)
		writeFile(t, dir, checkpointsFile, cps[:cut])
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			l, err := Open(dir, testOptions(newClock(t0)))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			want := int64(8)
			if cut == len(cps) {
				want = 12
			}
			if c, ok := l.Latest(); !ok || c.Size != want {
				t.Fatalf("latest %+v, want size %d", c, want)
			}
			if got := readFile(t, dir, checkpointsFile); len(got) != start && cut < len(cps) {
				t.Fatalf("checkpoints file is %d bytes, want %d", len(got), start)
			}
		})
	}
}

// TestCrashWhileSealing recreates each state a crash during a seal can
// leave, from the moment after entry 7 was appended (the seal of seg-0).
func TestCrashWhileSealing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 8)
	base := copyDir(t, dir) // seg-0 sealed, seg-8 live and empty
	sealed := seg(0, true)
	plain := []byte(strings.Join(segLines(t, base, sealed), ""))
	tests := []struct {
		name   string
		change func(dir string)
	}{
		{"before the seal: a full live segment", func(dir string) {
			os.Remove(filepath.Join(dir, sealed.name()))
			os.Remove(filepath.Join(dir, seg(8, false).name()))
			writeFile(t, dir, seg(0, false).name(), plain)
		}},
		{"temporary gzip left behind", func(dir string) {
			os.Remove(filepath.Join(dir, sealed.name()))
			os.Remove(filepath.Join(dir, seg(8, false).name()))
			writeFile(t, dir, seg(0, false).name(), plain)
			writeFile(t, dir, "."+sealed.name()+".tmp123", []byte("half a gzip"))
		}},
		{"sealed, no new live segment, old one still there", func(dir string) {
			os.Remove(filepath.Join(dir, seg(8, false).name()))
			writeFile(t, dir, seg(0, false).name(), plain)
		}},
		{"sealed and new live segment, old one still there", func(dir string) {
			writeFile(t, dir, seg(0, false).name(), plain)
		}},
		{"sealed, old one removed, no new live segment", func(dir string) {
			os.Remove(filepath.Join(dir, seg(8, false).name()))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, base)
			tt.change(d)
			l := openLog(t, d, newClock(t0))
			if l.Size() != 8 {
				t.Fatalf("size %d, want 8", l.Size())
			}
			want := []string{checkpointsFile, hashesFile, sealed.name(), seg(8, false).name(), VerifierKeyFile}
			if got := dirNames(t, d); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("files %q, want %q", got, want)
			}
			appendN(t, l, newClock(t0), 8, 9)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(d, verifiersOf(t, l)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpenRefusesDamage: damage a crash cannot cause makes Open fail
// with ErrCorrupt rather than silently drop acknowledged entries.
func TestOpenRefusesDamage(t *testing.T) {
	base := crashBase(t)
	tests := []struct {
		name   string
		change func(dir string)
		want   string
	}{
		{"bad line inside the live segment", func(dir string) {
			editLine(t, dir, liveSeg, 9, replaceIn(`{"v"`, `["v"`))
		}, "entry 9"},
		{"entries below the latest checkpoint gone", func(dir string) {
			rewriteSegment(t, dir, liveSeg, func(l []string) []string { return l[:2] })
		}, "the latest checkpoint covers 12 entries but the log holds 10"},
		{"an acknowledged entry changed", func(dir string) {
			editLine(t, dir, liveSeg, 9, replaceIn(`"user-9"`, `"user-6"`))
		}, "do not match the latest checkpoint"},
		{"live segment before a sealed one", func(dir string) {
			writeFile(t, dir, seg(4, false).name(), nil)
		}, "is not the last segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tt.change(dir)
			_, err := Open(dir, testOptions(newClock(t0)))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want ErrCorrupt containing %q", err, tt.want)
			}
		})
	}
}

// The kill -9 test: a child process (this test binary, TestCrashChild)
// appends in a loop and prints each index after Append returned; the
// parent SIGKILLs it at a random moment, reopens the log and checks that
// every printed entry is there.
const crashDirEnv = "CITYARRAY_AUDIT_CRASH_DIR"

func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("testing.Short: TestCrashKill re-executes the test binary")
	}
	dir := filepath.Join(t.TempDir(), "log")
	rng := rand.New(rand.NewPCG(7, 2026))
	acked := map[int64]string{} // index → actor
	for round := range 15 {
		killAfter := rng.IntN(60)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for n := 0; n < killAfter && sc.Scan(); n++ {
			var idx int64
			var actor string
			if _, err := fmt.Sscan(sc.Text(), &idx, &actor); err == nil {
				acked[idx] = actor
			}
		}
		cmd.Process.Kill()
		for sc.Scan() { // lines already written before the kill were acknowledged too
			var idx int64
			var actor string
			if _, err := fmt.Sscan(sc.Text(), &idx, &actor); err == nil {
				acked[idx] = actor
			}
		}
		cmd.Wait()

		l, err := Open(dir, testOptions(newClock(t0)))
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		for idx := range acked {
			if idx >= l.Size() {
				t.Fatalf("round %d: entry %d was acknowledged but the log has %d", round, idx, l.Size())
			}
		}
		l.Close()
		segs, _ := listSegments(dir)
		for _, s := range segs {
			readSegmentFile(dir, s, func(e Entry, _ []byte) error {
				if a, ok := acked[e.Seq]; ok && a != e.Actor {
					t.Fatalf("round %d: entry %d has actor %q, acknowledged as %q", round, e.Seq, e.Actor, a)
				}
				return nil
			})
		}
		if _, err := Verify(dir, must(ParseVerifierKeys(must(VerifierKey(testKeyName, testKey("server").Public().(ed25519.PublicKey)))))); err != nil {
			t.Fatalf("round %d: Verify: %v", round, err)
		}
	}
	t.Logf("%d entries acknowledged over 15 kills", len(acked))
}

// TestCrashChild is the writer TestCrashKill kills; it does nothing in a
// normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("INTEG helper: the child process TestCrashKill starts and kills; it runs only with " + crashDirEnv + " set")
	}
	c := newClock(t0)
	l, err := Open(dir, testOptions(c))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		var first int64
		var es []Entry
		for j := range 1 + i%3 { // singles and batches of 2 and 3
			es = append(es, entry(int(l.Size())+j))
		}
		first, err = l.AppendBatch(es)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for j, e := range es {
			fmt.Fprintf(w, "%d %s\n", first+int64(j), e.Actor)
		}
		w.Flush()
		if i%7 == 0 {
			l.Checkpoint(c.Now())
		}
	}
}
