package hub75

import (
	"bytes"
	"encoding/binary"
	"flag"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run=^TestGolden -update to create it)", err)
	}
	return want
}

// tinyConfig is a 4x4 panel with 2 rows per scan and 2 planes: small enough
// that its whole stream can be read and checked by hand.
func tinyConfig() Config {
	c := DefaultConfig()
	c.Width, c.RowsPerScan, c.Planes = 4, 2, 2
	c.BlankCycles = 5
	return c
}

// tinyFrame has, with gamma 1 and 2 planes (code = round(3v/255)):
// (0,0) red 255 = code 3, (1,0) green 170 = 2, (2,1) blue 85 = 1,
// (3,2) white = 3 on R2 G2 B2 of row pair 0, (0,3) yellow = R2 G2 of pair 1.
func tinyFrame() *image.RGBA {
	f := image.NewRGBA(image.Rect(0, 0, 4, 4))
	f.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	f.SetRGBA(1, 0, color.RGBA{0, 170, 0, 255})
	f.SetRGBA(2, 1, color.RGBA{0, 0, 85, 255})
	f.SetRGBA(3, 2, color.RGBA{255, 255, 255, 255})
	f.SetRGBA(0, 3, color.RGBA{255, 255, 0, 255})
	return f
}

// TestGoldenTiny checks the disassembly of the tiny frame's whole stream
// against testdata/tiny4x4.txt, which was read word by word: 2 row pairs x
// (2 planes x (1 + 4 + 4) + 2) = 40 words.
func TestGoldenTiny(t *testing.T) {
	e, err := NewEncoder(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetLevels(100, 1); err != nil {
		t.Fatal(err)
	}
	frame := tinyFrame()
	s, err := e.Encode(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 40 {
		t.Fatalf("stream has %d words, want 40", len(s))
	}
	var buf bytes.Buffer
	if err := e.Disassemble(&buf, s); err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "tiny4x4.txt", buf.Bytes()); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("disassembly differs from testdata/tiny4x4.txt; got:\n%s", buf.Bytes())
	}
	p, _ := run(t, e.Config(), s)
	checkShown(t, e, frame, p)
}

// TestGoldenStream checks the recorded byte stream of the default
// configuration (64x32, 10 planes, gamma 2.2, bonnet pins) for testFrame:
// testdata/frame64x32.stream, little-endian words, as the DMA would send it.
func TestGoldenStream(t *testing.T) {
	e, err := NewEncoder(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	frame := testFrame(64, 32)
	s, err := e.Encode(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	got := binary.LittleEndian.AppendUint32(nil, 0)[:0]
	for _, w := range s {
		got = binary.LittleEndian.AppendUint32(got, w)
	}
	want := golden(t, "frame64x32.stream", got)
	if len(want) != len(got) {
		t.Fatalf("stream is %d bytes, testdata has %d", len(got), len(want))
	}
	for i := 0; i < len(s); i++ {
		if w := binary.LittleEndian.Uint32(want[4*i:]); w != s[i] {
			var a, b bytes.Buffer
			e.Disassemble(&a, []uint32{0, w})
			e.Disassemble(&b, []uint32{0, s[i]})
			t.Fatalf("word %d = %#08x, testdata has %#08x\n got: %swant: %s", i, s[i], w, b.Bytes(), a.Bytes())
		}
	}
	// The recording also decodes to the frame on the model panel.
	words := make([]uint32, len(want)/4)
	for i := range words {
		words[i] = binary.LittleEndian.Uint32(want[4*i:])
	}
	p, _ := run(t, e.Config(), words)
	checkShown(t, e, frame, p)
}
