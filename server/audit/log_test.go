package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestAppendCheckpointProve(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 21) // two sealed segments and a live one
	cp, err := l.Checkpoint(c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 21 || cp.Origin != testKeyName || !cp.Time.Equal(c.Now()) {
		t.Fatalf("checkpoint %+v", cp)
	}
	if got, err := ParseCheckpoint(cp.Note, verifiersOf(t, l)); err != nil || got.Root != cp.Root {
		t.Fatalf("ParseCheckpoint(own note) = %+v, %v", got, err)
	}
	for i := range int64(21) {
		p, err := l.Prove(i)
		if err != nil {
			t.Fatalf("Prove(%d): %v", i, err)
		}
		if err := CheckProof(p, verifiersOf(t, l)); err != nil {
			t.Fatalf("CheckProof(%d): %v", i, err)
		}
		e, err := ParseEntry(p.Entry)
		if err != nil || e.Actor != entry(int(i)).Actor || !e.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("entry %d = %+v, %v", i, e, err)
		}
	}
	if _, err := l.Prove(21); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("Prove(21) = %v, want ErrNotCovered", err)
	}
	wantFiles := []string{checkpointsFile, hashesFile, "seg-00000000000000000000.jsonl.gz",
		"seg-00000000000000000008.jsonl.gz", "seg-00000000000000000016.jsonl", VerifierKeyFile}
	if diff := cmp.Diff(wantFiles, dirNames(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	vk := readFile(t, dir, VerifierKeyFile)
	if string(vk) != l.VerifierKey()+"\n" {
		t.Errorf("verifier.key = %q, want %q", vk, l.VerifierKey())
	}
}

func dirNames(t *testing.T, dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 13)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(entry(99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	l = openLog(t, dir, c)
	cp, ok := l.Latest()
	if !ok || cp.Size != 13 || l.Size() != 13 {
		t.Fatalf("after reopen: size %d, latest %+v %v; want 13 (Close checkpoints)", l.Size(), cp, ok)
	}
	appendN(t, l, c, 13, 30)
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := Verify(dir, verifiersOf(t, l))
	if err != nil {
		t.Fatal(err)
	}
	if r.Entries != 30 || r.Checkpoints != 2 || r.Latest.Size != 30 || r.Segments != 4 || len(r.Warnings) != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestSegmentBytesBound(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c, func(o *Options) { o.SegmentEntries, o.SegmentBytes = 1000, 1000 })
	appendN(t, l, c, 0, 20)
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments, want a few", len(segs))
	}
	for _, s := range segs[:len(segs)-1] {
		lines := segLines(t, dir, s)
		size := len(strings.Join(lines, ""))
		if size < 1000 || size-len(lines[len(lines)-1]) >= 1000 {
			t.Errorf("%s: %d bytes in %d lines; want sealed at the line that reached 1000", s.name(), size, len(lines))
		}
	}
}

func TestAppendBatch(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	var es []Entry
	for i := range 19 {
		es = append(es, entry(i))
	}
	first, err := l.AppendBatch(es)
	if err != nil || first != 0 {
		t.Fatalf("AppendBatch = %d, %v", first, err)
	}
	if es[3].Seq != 0 {
		t.Error("AppendBatch changed the caller's entries")
	}
	bad := append(slices.Clone(es[:2]), Entry{Actor: "a", Action: "login.ok", Outcome: "ok", Detail: map[string]string{"password": "x"}})
	if _, err := l.AppendBatch(bad); !errors.Is(err, ErrSecret) || !strings.Contains(err.Error(), "entry 2") {
		t.Fatalf("AppendBatch with a secret = %v, want ErrSecret naming entry 2", err)
	}
	if first, err = l.AppendBatch(es[:3]); err != nil || first != 19 || l.Size() != 22 {
		t.Fatalf("second AppendBatch = %d, %v; size %d", first, err, l.Size())
	}
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, verifiersOf(t, l)); err != nil {
		t.Fatal(err)
	}
}

func TestAppendRefusesSecret(t *testing.T) {
	l := openLog(t, t.TempDir(), newClock(t0))
	e := entry(1)
	e.Detail["totp"] = "123456"
	_, err := l.Append(e)
	if !errors.Is(err, ErrSecret) || !strings.Contains(err.Error(), `"totp"`) {
		t.Fatalf("Append = %v, want ErrSecret naming totp", err)
	}
	if l.Size() != 0 {
		t.Fatalf("size %d after a refused append", l.Size())
	}
}

// TestConcurrentAppend runs appenders in parallel (group commit) and
// checks that every index is given once and the log verifies.
func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	const workers, each = 16, 40
	total := workers * (each + each/5) // every fifth append is a batch of two
	idx := make(chan int64, total)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var n int64
				var err error
				if i%5 == 0 {
					n, err = l.AppendBatch([]Entry{entry(w), entry(w)})
					idx <- n + 1
				} else {
					n, err = l.Append(entry(w))
				}
				if err != nil {
					t.Error(err)
					return
				}
				idx <- n
			}
		})
	}
	wg.Wait()
	close(idx)
	var got []int64
	for n := range idx {
		got = append(got, n)
	}
	slices.Sort(got)
	if len(got) != total || l.Size() != int64(total) {
		t.Fatalf("%d indexes, size %d, want %d", len(got), l.Size(), total)
	}
	for i, n := range got {
		if n != int64(i) {
			t.Fatalf("index %d given as %d", i, n)
		}
	}
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir, verifiersOf(t, l)); err != nil {
		t.Fatal(err)
	}
}

// TestRun drives Run with a tick channel: a checkpoint only when the log
// grew.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	tick := make(chan time.Time) // unbuffered: a send returns once Run took the previous tick
	done := make(chan error)
	// run runs Run for the ticks and returns once it has handled them all.
	run := func(ticks ...time.Time) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- l.Run(ctx, tick) }()
		for _, at := range ticks {
			tick <- at
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	}

	minute := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	appendN(t, l, c, 0, 3)
	run(minute(1), minute(2)) // a checkpoint at size 3, then nothing new
	appendN(t, l, c, 3, 4)    // only once Run has handled minute 2
	run(minute(3), minute(4)) // size 4, then nothing new
	r, err := Verify(dir, verifiersOf(t, l))
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoints != 2 || r.Latest.Size != 4 || !r.Latest.Time.Equal(minute(3)) {
		t.Fatalf("report %+v; want 2 checkpoints, the last at size 4 and minute 3", r)
	}

	// Run ends with ErrClosed once the log is closed.
	go func() { done <- l.Run(context.Background(), tick) }()
	l.Close()
	tick <- minute(5)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 5)
	oldKey := l.VerifierKey()
	l.Close()
	l = openLog(t, dir, c, func(o *Options) { o.Key = testKey("renewed") })
	appendN(t, l, c, 5, 9)
	l.Close()
	keys, err := readVerifierFile(dir)
	if err != nil || len(keys) != 2 || keys[0] != oldKey || keys[1] != l.VerifierKey() {
		t.Fatalf("verifier.key = %q, %v; want the old key then the new", keys, err)
	}
	if _, err := Verify(dir, must(ParseVerifierKeys(keys...))); err != nil {
		t.Fatalf("Verify with both keys: %v", err)
	}
	_, err = Verify(dir, verifiersOf(t, l))
	var te *TamperError
	if !errors.As(err, &te) || te.Checkpoint != 0 || !strings.Contains(te.Reason, "not signed by a trusted key") {
		t.Fatalf("Verify with the new key only = %v, want checkpoint 0 untrusted", err)
	}
}

func TestVerifyWithDirectoryKey(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 3)
	l.Close()
	r, err := Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.SelfTrusted || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "trusting the directory's own verifier.key") {
		t.Fatalf("report %+v; want a warning about trusting the directory's key", r)
	}
}

func TestProofJSONAndCheckProof(t *testing.T) {
	dir := t.TempDir()
	c := newClock(t0)
	l := openLog(t, dir, c)
	appendN(t, l, c, 0, 11)
	if _, err := l.Checkpoint(c.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := ProveDir(dir, 9)
	if err != nil {
		t.Fatal(err)
	}
	v := verifiersOf(t, l)
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back Proof
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal: %v\n%s", err, b)
	}
	if err := CheckProof(&back, v); err != nil {
		t.Fatalf("CheckProof after a JSON round trip: %v\n%s", err, b)
	}
	tests := []struct {
		name string
		mod  func(*Proof)
		v    note.Verifiers
		want error
	}{
		{"other entry", func(p *Proof) { p.Entry = must(l.Prove(8)).Entry }, v, ErrBadProof},
		{"other index", func(p *Proof) { p.Index = 8 }, v, ErrBadProof},
		{"changed hash", func(p *Proof) { p.Hashes = slices.Clone(p.Hashes); p.Hashes[0][0] ^= 1 }, v, ErrBadProof},
		{"short proof", func(p *Proof) { p.Hashes = p.Hashes[1:] }, v, ErrBadProof},
		{"other key", func(*Proof) {}, PublicKeyVerifiers(testKey("other").Public().(ed25519.PublicKey)), ErrBadCheckpoint},
		{"changed entry", func(p *Proof) { p.Entry = []byte(strings.Replace(string(p.Entry), "user-9", "user-6", 1)) }, v, ErrBadProof},
	}
	for _, tt := range tests {
		q := *p
		tt.mod(&q)
		if err := CheckProof(&q, tt.v); !errors.Is(err, tt.want) {
			t.Errorf("%s: CheckProof = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	for name, o := range map[string]Options{
		"no clock": {Key: testKey("k")},
		"no key":   {Clock: newClock(t0)},
		"bad name": {Key: testKey("k"), Clock: newClock(t0), KeyName: "a+b"},
	} {
		if _, err := Open(dir, o); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
	l, err := Open(filepath.Join(dir, "new", "log"), Options{Key: testKey("k"), Clock: newClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.HasPrefix(l.VerifierKey(), DefaultKeyName+"+") {
		t.Errorf("VerifierKey %q lacks the default name", l.VerifierKey())
	}
	if _, err := tlog.ParseHash(must(l.Checkpoint(t0)).Root.String()); err != nil {
		t.Error(err)
	}
}
