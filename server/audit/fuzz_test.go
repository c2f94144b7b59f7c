package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// segmentSeeds are segment contents for the fuzz corpus: good, torn,
// zeroed and out of order.
func segmentSeeds() [][]byte {
	var good []byte
	for i := range 3 {
		e := entry(i)
		e.Seq, e.Time = int64(i), t0
		line, _ := e.marshal()
		good = append(append(good, line...), '\n')
	}
	return [][]byte{
		good,
		good[:len(good)-7],
		append(bytes.Clone(good[:40]), make([]byte, 30)...),
		bytes.ReplaceAll(good, []byte(`"seq":1`), []byte(`"seq":2`)),
		[]byte("\n\n"),
		[]byte(`{"v":1,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok","detail":{"password":"p"}}` + "\n"),
	}
}

// FuzzReadSegment feeds arbitrary bytes to the segment reader, as a live
// segment and as the decompressed content of a sealed one: every result
// is the entries read and then io.EOF or a *segError with a message,
// never a panic; and every entry read re-encodes to its line.
func FuzzReadSegment(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(s, false)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(s)
		zw.Close()
		f.Add(buf.Bytes(), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		var r io.Reader = bytes.NewReader(data)
		if compressed {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return
			}
			r = zr
		}
		sr := newSegmentReader(r, 0)
		for {
			e, raw, err := sr.read()
			if err == io.EOF {
				return
			}
			var se *segError
			if err != nil {
				if !errors.As(err, &se) || se.Error() == "" || se.index != sr.next {
					t.Fatalf("read error %T %v", err, err)
				}
				return
			}
			if e.Seq != sr.next-1 {
				t.Fatalf("entry seq %d at position %d", e.Seq, sr.next-1)
			}
			again, err := ParseEntry(raw)
			if err != nil || again.Seq != e.Seq {
				t.Fatalf("line %q parsed once but not twice: %v", raw, err)
			}
		}
	})
}

// FuzzParseEntry: an entry that parses re-encodes to a line that parses
// to the same entry.
func FuzzParseEntry(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(bytes.SplitN(s, []byte("\n"), 2)[0])
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEntry(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		b, err := e.marshal()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", b, err)
		}
		b2, _ := e2.marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable: %q then %q", b, b2)
		}
	})
}

// FuzzCheckpoints feeds arbitrary bytes as a checkpoints file to the
// scanner, the tail reader and ParseCheckpoint: errors, never panics.
func FuzzCheckpoints(f *testing.F) {
	s := must(NewSigner(testKeyName, testKey("server")))
	msg := must(note.Sign(&note.Note{Text: checkpointText(testKeyName, 5, [32]byte{}, t0)}, s))
	f.Add(append(bytes.Clone(msg), '\n'))
	f.Add(append(append(bytes.Clone(msg), '\n'), msg[:20]...))
	f.Add([]byte("a\n\n— x y\n\n"))
	v := PublicKeyVerifiers(testKey("server").Public().(ed25519.PublicKey))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := &checkpointScanner{br: bufio.NewReader(bytes.NewReader(data))}
		for {
			m, err := sc.next()
			if err != nil {
				break
			}
			ParseCheckpoint(m, v)
			parseUnverifiedCheckpoint(m)
		}
		lastCheckpoint(bytes.NewReader(data), int64(len(data)))
	})
}
