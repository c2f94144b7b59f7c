package audit

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// tamperBase builds the log the tamper tests change: 45 entries in
// segments of 8 (seg-0 … seg-32 sealed, seg-40 live with entries 40–44)
// and checkpoints 0–3 at sizes 10, 20, 30 and 45. It returns the
// directory and the log's verifier key.
func tamperBase(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "base")
	c := newClock(t0)
	l := openLog(t, dir, c)
	for _, size := range []int{10, 20, 30, 45} {
		appendN(t, l, c, int(l.Size()), size)
		if _, err := l.Checkpoint(c.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, l.VerifierKey()
}

func seg(first int64, sealed bool) segment { return segment{first: first, sealed: sealed} }

// editLine changes entry i of segment s with fn.
func editLine(t *testing.T, dir string, s segment, i int64, fn func(string) string) {
	t.Helper()
	rewriteSegment(t, dir, s, func(lines []string) []string {
		lines[i-s.first] = fn(lines[i-s.first])
		return lines
	})
}

func replaceIn(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic(fmt.Sprintf("%q not in %q", old, s))
		}
		return strings.Replace(s, old, new, 1)
	}
}

// checkpointRecords returns the notes of the checkpoints file; writeCheckpoints replaces them.
func checkpointRecords(t *testing.T, dir string) [][]byte {
	t.Helper()
	notes, err := scanAll(readFile(t, dir, checkpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	return notes
}

func writeCheckpoints(t *testing.T, dir string, notes [][]byte) {
	t.Helper()
	var b []byte
	for _, n := range notes {
		b = append(append(b, n...), '\n')
	}
	writeFile(t, dir, checkpointsFile, b)
}

// resign replaces checkpoint k by its text signed with another key.
func resign(t *testing.T, dir string, k int, key string) {
	notes := checkpointRecords(t, dir)
	text := string(notes[k][:bytes.LastIndex(notes[k], []byte("\n\n"))+1])
	notes[k] = must(note.Sign(&note.Note{Text: text}, must(NewSigner(testKeyName, testKey(key)))))
	writeCheckpoints(t, dir, notes)
}

// rebuildHashFile recomputes dir's hash file from its segments, as an
// attacker covering their tracks would.
func rebuildHashFile(t *testing.T, dir string) {
	t.Helper()
	hf, err := openHashFile(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.close()
	if err := hf.truncate(0); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(dir)
	for _, s := range segs {
		_, err := readSegmentFile(dir, s, func(e Entry, raw []byte) error { return hf.add(e.Seq, raw) })
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := hf.flush(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyTampering changes the log in one way per case and checks that
// Verify names the first bad entry (or checkpoint, or segment) and why.
func TestVerifyTampering(t *testing.T) {
	base, vkey := tamperBase(t)
	v := must(ParseVerifierKeys(vkey))
	if r, err := Verify(base, v); err != nil || r.Entries != 45 || r.Checkpoints != 4 {
		t.Fatalf("untouched log: %+v, %v", r, err)
	}
	live, seg8, seg16 := seg(40, false), seg(8, true), seg(16, true)
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		where  string // TamperError.Where
		reason string // a substring of TamperError.Reason
	}{
		{"live: one byte, still valid JSON", func(t *testing.T, dir string) {
			editLine(t, dir, live, 42, replaceIn(`"user-42"`, `"user-24"`))
		}, "entry 42", "hash does not match checkpoint 3 at size 45"},
		{"live: one byte, not JSON", func(t *testing.T, dir string) {
			editLine(t, dir, live, 41, replaceIn(`{"v"`, `["v"`))
		}, "entry 41", "not valid JSON"},
		{"live: a secret smuggled in", func(t *testing.T, dir string) {
			editLine(t, dir, live, 43, replaceIn(`"tier"`, `"totp"`))
		}, "entry 43", "names a secret"},
		{"live: deleted entry", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, live, func(l []string) []string { return slices.Delete(l, 3, 4) })
		}, "entry 43", "seq is 44 where 43 belongs"},
		{"live: inserted entry", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, live, func(l []string) []string { return slices.Insert(l, 3, l[2]) })
		}, "entry 43", "seq is 42 where 43 belongs"},
		{"live: truncated below a checkpoint", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, live, func(l []string) []string { return l[:2] })
		}, "entry 42", "missing: the log ends after 42 entries but checkpoint 3 is at size 45"},
		{"live: last entry cut short", func(t *testing.T, dir string) {
			b := readFile(t, dir, live.name())
			writeFile(t, dir, live.name(), b[:len(b)-1])
		}, "entry 44", "missing"},
		{"sealed: entry changed, recompressed", func(t *testing.T, dir string) {
			editLine(t, dir, seg8, 13, replaceIn(`"alert-13"`, `"alert-31"`))
		}, "entry 13", "hash does not match checkpoint 1 at size 20"},
		{"sealed: deleted entry", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, seg16, func(l []string) []string { return slices.Delete(l, 1, 2) })
		}, "entry 17", "seq is 18 where 17 belongs"},
		{"sealed: reordered entries", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, seg16, func(l []string) []string { l[4], l[5] = l[5], l[4]; return l })
		}, "entry 20", "seq is 21 where 20 belongs"},
		{"sealed: reordered and renumbered", func(t *testing.T, dir string) {
			rewriteSegment(t, dir, seg16, func(l []string) []string {
				l[4], l[5] = strings.Replace(l[5], `"seq":21`, `"seq":20`, 1), strings.Replace(l[4], `"seq":20`, `"seq":21`, 1)
				return l
			})
		}, "entry 20", "hash does not match checkpoint 2 at size 30"},
		{"sealed: segment deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, seg16.name()))
		}, "entry 16", "missing: the next segment, seg-00000000000000000024.jsonl.gz, starts at entry 24"},
		{"sealed: tail of the log deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, seg(32, true).name()))
			os.Remove(filepath.Join(dir, live.name()))
		}, "entry 32", "missing: the log ends after 32 entries but checkpoint 3 is at size 45"},
		{"sealed: gzip header", func(t *testing.T, dir string) {
			b := readFile(t, dir, seg(24, true).name())
			b[0] ^= 0xff
			writeFile(t, dir, seg(24, true).name(), b)
		}, "entry 24", "cannot be read"},
		{"sealed: gzip checksum", func(t *testing.T, dir string) {
			b := readFile(t, dir, seg8.name())
			b[len(b)-6] ^= 1
			writeFile(t, dir, seg8.name(), b)
		}, "segment " + seg8.name(), "checksum"},
		{"sealed: entry changed and the hash file rebuilt to match", func(t *testing.T, dir string) {
			editLine(t, dir, seg8, 13, replaceIn(`"alert-13"`, `"alert-31"`))
			rebuildHashFile(t, dir)
		}, "entries 10 through 19", "hash file cannot tell which entry changed"},
		{"sealed: entry changed and the hash file deleted", func(t *testing.T, dir string) {
			editLine(t, dir, seg8, 13, replaceIn(`"alert-13"`, `"alert-31"`))
			os.Remove(filepath.Join(dir, hashesFile))
		}, "entries 10 through 19", "hash file cannot tell"},
		{"checkpoint: size changed", func(t *testing.T, dir string) {
			notes := checkpointRecords(t, dir)
			notes[2] = bytes.Replace(notes[2], []byte("\n30\n"), []byte("\n31\n"), 1)
			writeCheckpoints(t, dir, notes)
		}, "checkpoint 2", "invalid signature"},
		{"checkpoint: signed by another key", func(t *testing.T, dir string) {
			resign(t, dir, 1, "attacker")
		}, "checkpoint 1", "not signed by a trusted key"},
		{"checkpoint: reordered", func(t *testing.T, dir string) {
			notes := checkpointRecords(t, dir)
			notes[1], notes[2] = notes[2], notes[1]
			writeCheckpoints(t, dir, notes)
		}, "checkpoint 2", "size 20 is below the previous checkpoint's size 30"},
		{"checkpoint: garbage record", func(t *testing.T, dir string) {
			notes := checkpointRecords(t, dir)
			writeCheckpoints(t, dir, append(notes[:3], []byte("hello\n\n— x AAAA\n")))
		}, "checkpoint 3", "malformed"},
		{"whole log rewritten and re-signed by another key", func(t *testing.T, dir string) {
			editLine(t, dir, seg8, 13, replaceIn(`"alert-13"`, `"alert-31"`))
			for k := range 4 {
				resign(t, dir, k, "attacker")
			}
		}, "checkpoint 0", "not signed by a trusted key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tt.tamper(t, dir)
			_, err := Verify(dir, v)
			var te *TamperError
			if !errors.As(err, &te) || !errors.Is(err, ErrTampered) {
				t.Fatalf("Verify = %v, want a TamperError", err)
			}
			if te.Where() != tt.where || !strings.Contains(te.Reason, tt.reason) {
				t.Fatalf("Verify = %q\nwant where %q, reason containing %q", err, tt.where, tt.reason)
			}
		})
	}
}

// TestVerifyCompressedByteFlips flips single bytes inside a sealed
// segment's compressed data and checks that Verify names the first entry
// whose decompressed bytes changed (found here by comparing lines).
func TestVerifyCompressedByteFlips(t *testing.T) {
	base, vkey := tamperBase(t)
	v := must(ParseVerifierKeys(vkey))
	s := seg(8, true)
	orig := readFile(t, base, s.name())
	lines := segLines(t, base, s)
	step := 1
	if testing.Short() {
		step = 7
	}
	checked := 0
	for off := 10; off < len(orig)-8; off += step { // the deflate body, between header and trailer
		b := bytes.Clone(orig)
		b[off] ^= 0x10
		want, changed := firstChangedEntry(b, lines, s.first)
		dir := copyDir(t, base)
		writeFile(t, dir, s.name(), b)
		_, err := Verify(dir, v)
		if !changed {
			if err != nil {
				t.Fatalf("offset %d: decompressed content unchanged but Verify = %v", off, err)
			}
			continue
		}
		var te *TamperError
		if !errors.As(err, &te) || te.Where() != want {
			t.Fatalf("offset %d: Verify = %v, want %s", off, err, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no flip changed anything")
	}
	t.Logf("%d flips changed the segment, each named", checked)
}

// firstChangedEntry decompresses a tampered segment as far as it goes and
// returns where Verify should point: the first entry whose line differs
// from lines, or the segment if only the container is wrong.
func firstChangedEntry(gz []byte, lines []string, first int64) (string, bool) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Sprintf("entry %d", first), true
	}
	data, rerr := io.ReadAll(zr)
	for i, line := range lines {
		if !bytes.HasPrefix(data, []byte(line)) {
			return fmt.Sprintf("entry %d", first+int64(i)), true
		}
		data = data[len(line):]
	}
	switch {
	case len(data) > 0:
		return fmt.Sprintf("entry %d", first+int64(len(lines))), true
	case rerr != nil:
		return "segment " + segment{first: first, sealed: true}.name(), true
	}
	return "", false
}
