package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// TestSignerIsANoteSigner checks the hand-made signer against the note
// package: the same key hash as the verifier key string, and notes it
// signs open with note.Open.
func TestSignerIsANoteSigner(t *testing.T) {
	key := testKey("server")
	s, err := NewSigner(testKeyName, key)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := VerifierKey(testKeyName, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != v.Name() || s.KeyHash() != v.KeyHash() {
		t.Fatalf("signer %s/%08x, verifier %s/%08x", s.Name(), s.KeyHash(), v.Name(), v.KeyHash())
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	for name, vs := range map[string]note.Verifiers{
		"verifier key":  note.VerifierList(v),
		"public key":    PublicKeyVerifiers(key.Public().(ed25519.PublicKey)),
		"parsed string": must(ParseVerifierKeys(vkey)),
	} {
		n, err := note.Open(msg, vs)
		if err != nil || n.Text != "hello\n" {
			t.Errorf("%s: note.Open = %v, %v", name, n, err)
		}
	}
	other := testKey("other").Public().(ed25519.PublicKey)
	if _, err := note.Open(msg, PublicKeyVerifiers(other)); err == nil {
		t.Error("note.Open with another key succeeded")
	}
	if _, err := NewSigner("bad name", key); err == nil {
		t.Error("NewSigner accepted a name with a space")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCheckpointText(t *testing.T) {
	root := tlog.RecordHash([]byte("x"))
	when := time.UnixMilli(1767225660000).UTC()
	text := checkpointText("cityarray-audit/s1", 8200, root, when)
	want := "cityarray-audit/s1\n8200\n" + root.String() + "\ntime 1767225660000\n"
	if text != want {
		t.Fatalf("text = %q, want %q", text, want)
	}
	c, err := parseCheckpointText(text)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Checkpoint{Origin: "cityarray-audit/s1", Size: 8200, Root: root, Time: when}, c); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"",
		"o\n1\n" + root.String() + "\n",
		"o\n01\n" + root.String() + "\ntime 1\n",
		"o\n-1\n" + root.String() + "\ntime 1\n",
		"o\n1\nnotbase64\ntime 1\n",
		"o\n1\n" + root.String() + "\nwhen 1\n",
		"o o\n1\n" + root.String() + "\ntime 1\n",
		"o\n1\n" + root.String() + "\ntime 1\nextra\n",
	} {
		if _, err := parseCheckpointText(bad); err == nil {
			t.Errorf("parseCheckpointText(%q) succeeded", bad)
		}
	}
}

func TestParseCheckpoint(t *testing.T) {
	key := testKey("server")
	s := must(NewSigner(testKeyName, key))
	v := PublicKeyVerifiers(key.Public().(ed25519.PublicKey))
	sign := func(text string, signers ...note.Signer) []byte {
		return must(note.Sign(&note.Note{Text: text}, signers...))
	}
	root := tlog.RecordHash(nil)
	good := checkpointText(testKeyName, 3, root, t0)
	if c, err := ParseCheckpoint(sign(good, s), v); err != nil || c.Size != 3 {
		t.Fatalf("ParseCheckpoint = %+v, %v", c, err)
	}
	tampered := bytes.Replace(sign(good, s), []byte("\n3\n"), []byte("\n4\n"), 1)
	otherSigner := must(NewSigner(testKeyName, testKey("other")))
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"changed size", tampered, "invalid signature"},
		{"other key", sign(good, otherSigner), "not signed by a trusted key"},
		{"origin is not the signer", sign(checkpointText("someone-else", 3, root, t0), s), "origin"},
		{"bad text", sign("hello\n", s), "want four lines"},
		{"not a note", []byte("garbage"), "malformed"},
	}
	for _, tt := range tests {
		_, err := ParseCheckpoint(tt.msg, v)
		if !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseCheckpoint = %v, want ErrBadCheckpoint containing %q", tt.name, err, tt.want)
		}
	}
}

// checkpointFile returns a checkpoints file of n records and the records.
func checkpointFile(t *testing.T, n int) ([]byte, [][]byte) {
	s := must(NewSigner(testKeyName, testKey("server")))
	var file []byte
	var notes [][]byte
	for i := range n {
		msg := must(note.Sign(&note.Note{Text: checkpointText(testKeyName, int64(i), tlog.RecordHash(nil), t0)}, s))
		notes = append(notes, msg)
		file = append(append(file, msg...), '\n')
	}
	return file, notes
}

func scanAll(data []byte) ([][]byte, error) {
	s := &checkpointScanner{br: bufio.NewReaderSize(bytes.NewReader(data), 16)}
	var out [][]byte
	for {
		msg, err := s.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg)
	}
}

func TestCheckpointScanner(t *testing.T) {
	file, notes := checkpointFile(t, 3)
	got, err := scanAll(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(notes, got); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	// Cut anywhere inside the last record: two whole records and a torn one.
	start := len(file) - len(notes[2]) - 1
	for cut := start + 1; cut < len(file); cut++ {
		got, err := scanAll(file[:cut])
		if !errors.Is(err, errTornCheckpoint) || len(got) != 2 {
			t.Fatalf("cut at %d: %d records, %v; want 2 and a torn one", cut, len(got), err)
		}
	}
}

func TestLastCheckpoint(t *testing.T) {
	file, notes := checkpointFile(t, 60) // more than one 4 KiB window
	for _, n := range []int{0, 1, 2, 59, 60} {
		end := 0
		for _, m := range notes[:n] {
			end += len(m) + 1
		}
		for _, torn := range []int{0, 1, 50, len(notes[0]) - 1} {
			if n == 60 && torn > 0 {
				continue
			}
			data := file[:end+torn]
			last, gotEnd, err := lastCheckpoint(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("n=%d torn=%d: %v", n, torn, err)
			}
			var want []byte
			if n > 0 {
				want = notes[n-1]
			}
			if !bytes.Equal(last, want) || gotEnd != int64(end) {
				t.Errorf("n=%d torn=%d: last %q end %d, want %q end %d", n, torn, last, gotEnd, want, end)
			}
		}
	}
}
