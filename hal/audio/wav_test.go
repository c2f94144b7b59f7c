package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wavBytes builds a WAV by hand so tests can break one field at a time.
type wavSpec struct {
	riffID   string
	riffSize uint32
	form     string
	chunks   [][]byte
}

func chunk(id string, size uint32, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], size)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func fmtBody(tag, channels uint16, rate, byteRate uint32, align, bits uint16) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, byteRate)
	b = le.AppendUint16(b, align)
	return le.AppendUint16(b, bits)
}

func (s wavSpec) bytes() []byte {
	if s.riffID == "" {
		s.riffID = "RIFF"
	}
	if s.form == "" {
		s.form = "WAVE"
	}
	b := append([]byte(s.riffID), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], s.riffSize)
	b = append(b, s.form...)
	for _, c := range s.chunks {
		b = append(b, c...)
	}
	return b
}

var monoFmt = chunk("fmt ", 16, fmtBody(1, 1, 22050, 44100, 2, 16))

func pcm(samples ...int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestParseWAVEspeakStream(t *testing.T) {
	f, err := os.Open("testdata/espeak-1.51-stdout-en-us.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	c, err := ParseWAV(f)
	if err != nil {
		t.Fatalf("ParseWAV(espeak --stdout): %v", err)
	}
	if c.Rate != 22050 || c.Channels != 1 {
		t.Errorf("rate %d channels %d, want 22050 mono", c.Rate, c.Channels)
	}
	if want := (st.Size() - 44) / 2; int64(len(c.Samples)) != want {
		t.Errorf("%d samples, want %d (file size minus header)", len(c.Samples), want)
	}
	if d := c.Duration(); d < 500*time.Millisecond || d > 2*time.Second {
		t.Errorf("duration %v, want about a second for \"Flood warning.\"", d)
	}
}

func TestParseWAVRoundTrip(t *testing.T) {
	for _, c := range []*Clip{
		{Rate: 22050, Channels: 1, Samples: []int16{0, 1, -1, 32767, -32768}},
		{Rate: 48000, Channels: 2, Samples: []int16{1, 2, 3, 4}},
		{Rate: 8000, Channels: 1, Samples: []int16{}},
	} {
		var buf bytes.Buffer
		if err := c.WriteWAV(&buf); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 44+2*len(c.Samples) {
			t.Errorf("WAV is %d bytes, want %d", buf.Len(), 44+2*len(c.Samples))
		}
		got, err := ParseWAV(&buf)
		if err != nil {
			t.Fatalf("ParseWAV(WriteWAV(%+v)): %v", c, err)
		}
		if got.Samples == nil {
			got.Samples = []int16{}
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestParseWAVAccepts(t *testing.T) {
	ext := append(fmtBody(0xFFFE, 1, 16000, 32000, 2, 16), 22, 0, 16, 0, 4, 0, 0, 0)
	ext = append(ext, pcmGUID...)
	tests := []struct {
		name string
		in   []byte
		want []int16
	}{
		{"exact sizes", wavSpec{riffSize: 4 + 24 + 12, chunks: [][]byte{monoFmt, chunk("data", 4, pcm(7, -7))}}.bytes(), []int16{7, -7}},
		{"0xFFFFFFFF data size (sox, ffmpeg)", wavSpec{riffSize: 0xFFFFFFFF, chunks: [][]byte{monoFmt, chunk("data", 0xFFFFFFFF, pcm(1, 2, 3))}}.bytes(), []int16{1, 2, 3}},
		{"zero sizes while streaming", wavSpec{riffSize: 0, chunks: [][]byte{monoFmt, chunk("data", 0, pcm(5))}}.bytes(), []int16{5}},
		{"LIST chunk skipped, odd size padded", wavSpec{riffSize: 100, chunks: [][]byte{chunk("LIST", 3, []byte("abc")), monoFmt, chunk("data", 2, pcm(9))}}.bytes(), []int16{9}},
		{"bytes after data ignored", append(wavSpec{riffSize: 100, chunks: [][]byte{monoFmt, chunk("data", 2, pcm(4))}}.bytes(), "junk"...), []int16{4}},
		{"extensible PCM", wavSpec{riffSize: 100, chunks: [][]byte{chunk("fmt ", 40, ext), chunk("data", 2, pcm(3))}}.bytes(), []int16{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseWAV(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseWAV: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.Samples); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWAVRejects(t *testing.T) {
	data := chunk("data", 4, pcm(1, 2))
	tests := []struct {
		name string
		in   []byte
		want string // a fragment of the error
	}{
		{"empty", nil, "RIFF header: only 0 of 12 bytes"},
		{"not RIFF", wavSpec{riffID: "RIFX", chunks: [][]byte{monoFmt, data}}.bytes(), `no RIFF header (starts with "RIFX")`},
		{"not WAVE", wavSpec{form: "AVI ", chunks: [][]byte{monoFmt, data}}.bytes(), `form type is "AVI "`},
		{"no chunks", wavSpec{}.bytes(), "no fmt chunk"},
		{"no data", wavSpec{chunks: [][]byte{monoFmt}}.bytes(), "no data chunk"},
		{"data first", wavSpec{chunks: [][]byte{data, monoFmt}}.bytes(), "data chunk before fmt chunk"},
		{"two fmt", wavSpec{chunks: [][]byte{monoFmt, monoFmt, data}}.bytes(), "second fmt chunk"},
		{"short fmt", wavSpec{chunks: [][]byte{chunk("fmt ", 12, make([]byte, 12)), data}}.bytes(), "fmt chunk is 12 bytes"},
		{"float", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(3, 1, 22050, 88200, 4, 32)), data}}.bytes(), "format tag 0x0003"},
		{"8-bit", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(1, 1, 22050, 22050, 1, 8)), data}}.bytes(), "8-bit samples, want 16"},
		{"6 channels", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(1, 6, 22050, 264600, 12, 16)), data}}.bytes(), "6 channels"},
		{"rate 0", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(1, 1, 0, 0, 2, 16)), data}}.bytes(), "sample rate 0 Hz"},
		{"bad align", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(1, 2, 22050, 88200, 2, 16)), data}}.bytes(), "block align 2, want 4"},
		{"bad byte rate", wavSpec{chunks: [][]byte{chunk("fmt ", 16, fmtBody(1, 1, 22050, 22050, 2, 16)), data}}.bytes(), "byte rate 22050, want 44100"},
		{"truncated data", wavSpec{chunks: [][]byte{monoFmt, chunk("data", 100, pcm(1))}}.bytes(), "header says 100 bytes, stream has 2"},
		{"half frame", wavSpec{chunks: [][]byte{monoFmt, chunk("data", 3, []byte{1, 2, 3})}}.bytes(), "not a whole number of 2-byte frames"},
		{"streamed half frame", wavSpec{riffSize: 0xFFFFFFFF, chunks: [][]byte{monoFmt, append(chunk("data", 0xFFFFFFFF, nil), 1)}}.bytes(), "not a whole number"},
		{"truncated chunk header", append(wavSpec{chunks: [][]byte{monoFmt}}.bytes(), 'd', 'a'), "chunk header truncated (2 of 8 bytes)"},
		{"truncated LIST", wavSpec{chunks: [][]byte{monoFmt, chunk("LIST", 50, nil)}}.bytes(), `chunk "LIST" truncated`},
		{"streaming LIST", wavSpec{chunks: [][]byte{monoFmt, chunk("LIST", 0xFFFFFFFF, nil)}}.bytes(), "only data may"},
		{"huge data", wavSpec{chunks: [][]byte{monoFmt, chunk("data", MaxWAVData+2, nil)}}.bytes(), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWAV(bytes.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseWAV accepted it; want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrBadWAV) {
				t.Errorf("error %v does not wrap ErrBadWAV", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteWAVRejectsBadClip(t *testing.T) {
	for _, c := range []*Clip{nil, {Rate: 100, Channels: 1}, {Rate: 22050, Channels: 3}, {Rate: 22050, Channels: 2, Samples: []int16{1}}} {
		if err := c.WriteWAV(&bytes.Buffer{}); !errors.Is(err, ErrBadClip) {
			t.Errorf("WriteWAV(%+v) = %v, want ErrBadClip", c, err)
		}
	}
}

// FuzzParseWAV checks that ParseWAV never panics and that whatever it
// accepts survives a WriteWAV/ParseWAV round trip unchanged.
func FuzzParseWAV(f *testing.F) {
	if b, err := os.ReadFile("testdata/espeak-1.51-stdout-en-us.wav"); err == nil {
		f.Add(b[:200])
	}
	f.Add(wavSpec{riffSize: 40, chunks: [][]byte{monoFmt, chunk("data", 4, pcm(1, 2))}}.bytes())
	f.Add(wavSpec{riffSize: 0xFFFFFFFF, chunks: [][]byte{chunk("LIST", 1, []byte{0}), monoFmt, chunk("data", 0xFFFFFFFF, pcm(1))}}.bytes())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseWAV(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("error %v does not wrap ErrBadWAV", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseWAV returned an invalid clip: %v", err)
		}
		var buf bytes.Buffer
		if err := c.WriteWAV(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := ParseWAV(&buf)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if again.Rate != c.Rate || again.Channels != c.Channels || len(again.Samples) != len(c.Samples) {
			t.Fatalf("round trip changed the clip: %d/%d/%d → %d/%d/%d", c.Rate, c.Channels, len(c.Samples), again.Rate, again.Channels, len(again.Samples))
		}
		for i := range c.Samples {
			if again.Samples[i] != c.Samples[i] {
				t.Fatalf("sample %d: %d → %d", i, c.Samples[i], again.Samples[i])
			}
		}
	})
}
