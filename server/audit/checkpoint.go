package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checkpointsFile holds every checkpoint (see doc.go).
const checkpointsFile = "checkpoints"

// VerifierKeyFile is the file of a log directory that holds the verifier
// keys of its checkpoint signers, one per line.
const VerifierKeyFile = "verifier.key"

// DefaultKeyName is the checkpoint signer's name, and the checkpoints'
// origin line, when Options.KeyName is empty.
const DefaultKeyName = "cityarray-audit"

// ErrBadCheckpoint is wrapped by ParseCheckpoint for a checkpoint that does
// not verify or parse.
var ErrBadCheckpoint = errors.New("audit: bad checkpoint")

// algEd25519 is the note format's algorithm byte for Ed25519 keys.
const algEd25519 = 1

// edSigner is a note.Signer over a crypto/ed25519 key.
type edSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

// NewSigner returns a note.Signer that signs with key under name, so that
// notes it signs open with note.Open and the verifier VerifierKey(name,
// key.Public()) returns. A name is non-empty UTF-8 without spaces or '+'.
func NewSigner(name string, key ed25519.PrivateKey) (note.Signer, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("audit: signer: invalid key name %q (non-empty, no spaces, no '+')", name)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signer: Ed25519 private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	return &edSigner{name: name, hash: keyHash(name, pub), key: key}, nil
}

func (s *edSigner) Name() string                    { return s.name }
func (s *edSigner) KeyHash() uint32                 { return s.hash }
func (s *edSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// keyHash is the note format's key hash: the first four bytes, big-endian,
// of SHA-256(name + "\n" + 0x01 + public key).
func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.ContainsRune(name, '+') &&
		strings.IndexFunc(name, unicode.IsSpace) < 0
}

// VerifierKey returns the note verifier key string for pub under name:
// "<name>+<key hash, 8 hex digits>+<base64 of 0x01 and the key>". This is
// what `cityarray audit verify --key` takes, and what Open writes to
// DIR/verifier.key.
func VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	k, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	return k, nil
}

// ParseVerifierKeys returns the verifiers of note verifier key strings
// (duplicates are ignored).
func ParseVerifierKeys(keys ...string) (note.Verifiers, error) {
	var vs []note.Verifier
	seen := map[string]bool{}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if seen[k] {
			continue
		}
		seen[k] = true
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("audit: verifier key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

// PublicKeyVerifiers returns verifiers that accept a signature by any of
// pubs under any key name (the name is only a label in the note format;
// the key hash binds it to the key). Use it when the key comes from a
// certificate rather than a verifier key string.
func PublicKeyVerifiers(pubs ...ed25519.PublicKey) note.Verifiers {
	return pubKeys(pubs)
}

type pubKeys []ed25519.PublicKey

func (p pubKeys) Verifier(name string, hash uint32) (note.Verifier, error) {
	for _, pub := range p {
		if validKeyName(name) && keyHash(name, pub) == hash {
			return &edVerifier{name: name, hash: hash, pub: pub}, nil
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

type edVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *edVerifier) Name() string                { return v.name }
func (v *edVerifier) KeyHash() uint32             { return v.hash }
func (v *edVerifier) Verify(msg, sig []byte) bool { return ed25519.Verify(v.pub, msg, sig) }

// readVerifierFile returns the verifier key strings in dir/verifier.key,
// one per line.
func readVerifierFile(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, VerifierKeyFile))
	if err != nil {
		return nil, err
	}
	var keys []string
	for line := range strings.Lines(string(b)) {
		if k := strings.TrimSpace(line); k != "" {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// Checkpoint is a signed tree head: the log had Size entries with tree
// hash Root at Time.
type Checkpoint struct {
	Origin string    // the log's name: the signer's key name
	Size   int64     // number of entries covered
	Root   tlog.Hash // RFC 6962 tree hash of the first Size entries
	Time   time.Time // when it was signed, to the millisecond
	Note   []byte    // the signed note, as stored
}

// checkpointText is the note text of a checkpoint (see doc.go).
func checkpointText(origin string, size int64, root tlog.Hash, t time.Time) string {
	return fmt.Sprintf("%s\n%d\n%s\ntime %d\n", origin, size, root, t.UnixMilli())
}

// parseCheckpointText parses note text made by checkpointText.
func parseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || lines[4] != "" {
		return Checkpoint{}, errors.New("want four lines: origin, size, root hash, time")
	}
	c := Checkpoint{Origin: lines[0]}
	if !validKeyName(c.Origin) {
		return Checkpoint{}, fmt.Errorf("bad origin %q", lines[0])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("bad size %q", lines[1])
	}
	c.Size = size
	if c.Root, err = tlog.ParseHash(lines[2]); err != nil || c.Root.String() != lines[2] {
		return Checkpoint{}, fmt.Errorf("bad root hash %q", lines[2])
	}
	ms, ok := strings.CutPrefix(lines[3], "time ")
	t, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || strconv.FormatInt(t, 10) != ms {
		return Checkpoint{}, fmt.Errorf("bad time line %q", lines[3])
	}
	c.Time = time.UnixMilli(t).UTC()
	return c, nil
}

// ParseCheckpoint opens a signed checkpoint note with the verifiers v and
// parses it. It wraps ErrBadCheckpoint when no known key signed it, a
// signature does not verify, the text is malformed, or the origin line is
// not the name of the key that signed it.
func ParseCheckpoint(msg []byte, v note.Verifiers) (Checkpoint, error) {
	n, err := note.Open(msg, v)
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return Checkpoint{}, fmt.Errorf("%w: not signed by a trusted key (signed by %s)", ErrBadCheckpoint, sigNames(unknown.Note.UnverifiedSigs))
		}
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			c.Note = bytes.Clone(msg)
			return c, nil
		}
	}
	return Checkpoint{}, fmt.Errorf("%w: origin %q is not the name of the key that signed it", ErrBadCheckpoint, c.Origin)
}

func sigNames(sigs []note.Signature) string {
	var names []string
	for _, s := range sigs {
		names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return strings.Join(names, ", ")
}

// The checkpoints file holds signed notes one after another, each followed
// by one extra "\n" (a blank line). A note is text, a blank line and
// signature lines starting with "— ", so a record ends at the first blank
// line that follows a signature line.
var sigLinePrefix = []byte("— ")

// checkpointEnds returns the offsets just past each complete record in
// data, which must start at a record boundary for the first to be right.
func checkpointEnds(data []byte) []int {
	var ends []int
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("\n\n"))
		if j < 0 {
			return ends
		}
		p := i + j
		lineStart := bytes.LastIndexByte(data[:p], '\n') + 1
		if bytes.HasPrefix(data[lineStart:p], sigLinePrefix) {
			ends = append(ends, p+2)
		}
		i = p + 1
	}
}

// maxCheckpointSize bounds one checkpoint record; ours are a few hundred
// bytes.
const maxCheckpointSize = 64 << 10

// errTornCheckpoint is returned by checkpointScanner.next for an
// unfinished last record.
var errTornCheckpoint = errors.New("unfinished last checkpoint")

// checkpointScanner reads the records of a checkpoints file in order.
type checkpointScanner struct {
	br *bufio.Reader
}

// next returns the next note (without the record's blank line), io.EOF at
// the end, errTornCheckpoint if the file ends inside a record, or an error
// for a record over maxCheckpointSize.
func (s *checkpointScanner) next() ([]byte, error) {
	var rec []byte
	lineStart, afterSig := 0, false
	for {
		frag, err := s.br.ReadSlice('\n')
		rec = append(rec, frag...)
		switch {
		case err == io.EOF && len(rec) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errTornCheckpoint
		case err != nil && !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		case len(rec) > maxCheckpointSize:
			return nil, fmt.Errorf("record longer than %d bytes", maxCheckpointSize)
		case err != nil: // the line goes on
			continue
		}
		line := rec[lineStart:]
		if len(line) == 1 && afterSig {
			return rec[:len(rec)-1], nil
		}
		afterSig = bytes.HasPrefix(line, sigLinePrefix)
		lineStart = len(rec)
	}
}

// maxCheckpointTail bounds how far back lastCheckpoint looks for the last
// record; a checkpoint note is a few hundred bytes.
const maxCheckpointTail = 1 << 20

// lastCheckpoint returns the last complete note in the checkpoints file f
// of the given size, and the offset just past its record (0 and nil when
// there is none), reading only the file's tail.
func lastCheckpoint(f io.ReaderAt, size int64) (last []byte, end int64, err error) {
	for window := int64(4096); ; window *= 2 {
		start := max(size-window, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return nil, 0, err
		}
		ends := checkpointEnds(buf)
		switch {
		case start == 0 && len(ends) == 0:
			return nil, 0, nil
		case start == 0 && len(ends) == 1:
			return buf[:ends[0]-1], int64(ends[0]), nil
		case len(ends) >= 2:
			a, b := ends[len(ends)-2], ends[len(ends)-1]
			return buf[a : b-1], start + int64(b), nil
		case window >= maxCheckpointTail:
			return nil, 0, fmt.Errorf("no complete checkpoint in the last %d bytes", window)
		}
	}
}
