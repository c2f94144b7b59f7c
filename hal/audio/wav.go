package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrBadWAV is wrapped by every error ParseWAV returns for malformed input.
var ErrBadWAV = errors.New("audio: bad WAV")

// MaxWAVData is the largest data chunk ParseWAV accepts, in bytes: about
// 50 minutes of 22,050 Hz mono speech, far more than any alert needs, and
// a bound on the memory a hostile or runaway stream can take.
const MaxWAVData = 128 << 20

// streamingSize reports whether a RIFF or data chunk size is a placeholder
// written by a tool that streams to a pipe and cannot seek back to patch
// the header. espeak-ng 1.51 writes 0x7FFFF000 for data and 0x7FFFF024 for
// RIFF (checked here with `espeak-ng --stdout`); sox and ffmpeg write
// 0xFFFFFFFF. Any size of 0x7FFF0000 or more is treated as "until EOF".
func streamingSize(n uint32) bool { return n >= 0x7FFF0000 }

// pcmGUID is the KSDATAFORMAT_SUBTYPE_PCM sub-format of a
// WAVE_FORMAT_EXTENSIBLE fmt chunk.
var pcmGUID = []byte{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71}

// ParseWAV reads a RIFF/WAVE stream of 16-bit linear PCM, mono or stereo,
// and returns it as a Clip.
//
// It is strict: the stream must start with a RIFF header of form type
// WAVE, hold a fmt chunk before its data chunk, and describe 16-bit PCM
// (format tag 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) whose
// byte rate and block align agree with its channels and sample rate.
// Other chunks (LIST, fact, ...) are skipped. A data chunk whose size is a
// streaming placeholder (see espeak-ng's --stdout) is read to EOF; any
// other size must be present in full. Errors wrap ErrBadWAV and name what
// is wrong.
func ParseWAV(r io.Reader) (*Clip, error) {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: RIFF header: only %d of 12 bytes", ErrBadWAV, n)
	}
	if string(hdr[0:4]) != "RIFF" {
		return nil, fmt.Errorf("%w: no RIFF header (starts with %q)", ErrBadWAV, hdr[0:4])
	}
	riffSize := binary.LittleEndian.Uint32(hdr[4:8])
	if string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: RIFF form type is %q, want \"WAVE\"", ErrBadWAV, hdr[8:12])
	}
	var clip *Clip
	for {
		var ch [8]byte
		n, err := io.ReadFull(br, ch[:])
		if err == io.EOF {
			if clip == nil {
				return nil, fmt.Errorf("%w: no fmt chunk", ErrBadWAV)
			}
			return nil, fmt.Errorf("%w: no data chunk", ErrBadWAV)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: chunk header truncated (%d of 8 bytes)", ErrBadWAV, n)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if clip != nil {
				return nil, fmt.Errorf("%w: second fmt chunk", ErrBadWAV)
			}
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk is %d bytes, want 16 to 1024", ErrBadWAV, size)
			}
			body := make([]byte, size+size%2)
			if n, err := io.ReadFull(br, body); err != nil {
				return nil, fmt.Errorf("%w: fmt chunk truncated (%d of %d bytes)", ErrBadWAV, n, len(body))
			}
			c, err := parseFmt(body[:size])
			if err != nil {
				return nil, err
			}
			clip = c
		case "data":
			if clip == nil {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrBadWAV)
			}
			streaming := streamingSize(size) || (size == 0 && (riffSize == 0 || streamingSize(riffSize)))
			data, err := readData(br, size, streaming)
			if err != nil {
				return nil, err
			}
			frame := 2 * clip.Channels
			if len(data)%frame != 0 {
				return nil, fmt.Errorf("%w: data is %d bytes, not a whole number of %d-byte frames", ErrBadWAV, len(data), frame)
			}
			clip.Samples = make([]int16, len(data)/2)
			for i := range clip.Samples {
				clip.Samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return clip, nil
		default:
			if streamingSize(size) {
				return nil, fmt.Errorf("%w: chunk %q has streaming size 0x%08X; only data may", ErrBadWAV, id, size)
			}
			skip := int64(size) + int64(size%2)
			if n, err := io.CopyN(io.Discard, br, skip); err != nil {
				return nil, fmt.Errorf("%w: chunk %q truncated (%d of %d bytes)", ErrBadWAV, id, n, skip)
			}
		}
	}
}

// readData reads a data chunk of size bytes, or up to EOF when streaming.
func readData(r io.Reader, size uint32, streaming bool) ([]byte, error) {
	if streaming {
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(r, MaxWAVData+1))
		if err != nil {
			return nil, fmt.Errorf("%w: reading streamed data: %v", ErrBadWAV, err)
		}
		if n > MaxWAVData {
			return nil, fmt.Errorf("%w: streamed data exceeds %d bytes", ErrBadWAV, MaxWAVData)
		}
		return buf.Bytes(), nil
	}
	if size > MaxWAVData {
		return nil, fmt.Errorf("%w: data chunk of %d bytes exceeds %d", ErrBadWAV, size, MaxWAVData)
	}
	// Grow as bytes arrive rather than trusting the header for the
	// allocation, so a short stream claiming a huge chunk costs little.
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("%w: reading data: %v", ErrBadWAV, err)
	}
	if n < int64(size) {
		return nil, fmt.Errorf("%w: data chunk truncated: header says %d bytes, stream has %d", ErrBadWAV, size, n)
	}
	return buf.Bytes(), nil
}

// parseFmt checks a fmt chunk body and returns an empty Clip with its
// rate and channels.
func parseFmt(b []byte) (*Clip, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:])
	channels := int(le.Uint16(b[2:]))
	rate := le.Uint32(b[4:])
	byteRate := le.Uint32(b[8:])
	align := int(le.Uint16(b[12:]))
	bits := int(le.Uint16(b[14:]))
	switch tag {
	case 1: // WAVE_FORMAT_PCM
	case 0xFFFE: // WAVE_FORMAT_EXTENSIBLE
		if len(b) < 40 {
			return nil, fmt.Errorf("%w: extensible fmt chunk is %d bytes, want 40", ErrBadWAV, len(b))
		}
		if !bytes.Equal(b[24:40], pcmGUID) {
			return nil, fmt.Errorf("%w: extensible format with sub-format %x, want PCM", ErrBadWAV, b[24:40])
		}
	default:
		return nil, fmt.Errorf("%w: format tag 0x%04X, want 1 (PCM)", ErrBadWAV, tag)
	}
	if bits != 16 {
		return nil, fmt.Errorf("%w: %d-bit samples, want 16", ErrBadWAV, bits)
	}
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("%w: %d channels, want 1 or 2", ErrBadWAV, channels)
	}
	if rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("%w: sample rate %d Hz outside %d..%d", ErrBadWAV, rate, MinRate, MaxRate)
	}
	if align != channels*2 {
		return nil, fmt.Errorf("%w: block align %d, want %d for %d channels of 16 bits", ErrBadWAV, align, channels*2, channels)
	}
	if byteRate != rate*uint32(align) {
		return nil, fmt.Errorf("%w: byte rate %d, want %d (%d Hz × %d bytes)", ErrBadWAV, byteRate, rate*uint32(align), rate, align)
	}
	return &Clip{Rate: int(rate), Channels: channels}, nil
}

// WriteWAV writes c as a canonical 44-byte-header RIFF/WAVE file of 16-bit
// PCM with exact sizes.
func (c *Clip) WriteWAV(w io.Writer) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("audio: write WAV: %w", err)
	}
	_, err := w.Write(c.AppendWAV(nil))
	if err != nil {
		return fmt.Errorf("audio: write WAV: %w", err)
	}
	return nil
}

// AppendWAV appends c as a RIFF/WAVE file to b and returns the result.
// The clip must be valid (see Validate).
func (c *Clip) AppendWAV(b []byte) []byte {
	data := uint32(len(c.Samples) * 2)
	align := uint16(c.Channels * 2)
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, 36+data)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, uint16(c.Channels))
	b = le.AppendUint32(b, uint32(c.Rate))
	b = le.AppendUint32(b, uint32(c.Rate)*uint32(align))
	b = le.AppendUint16(b, align)
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, data)
	for _, s := range c.Samples {
		b = le.AppendUint16(b, uint16(s))
	}
	return b
}
