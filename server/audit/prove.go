package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors of Prove, ProveDir and CheckProof.
var (
	ErrNotCovered = errors.New("audit: no checkpoint covers the entry yet")
	ErrPruned     = errors.New("audit: entry was pruned by the retention policy")
	ErrBadProof   = errors.New("audit: proof does not verify")
)

// Proof shows that the entry Entry is leaf Index of the tree that
// Checkpoint signs.
type Proof struct {
	Index      int64            // the entry's index
	Entry      []byte           // the entry's line, as stored (JSON)
	Checkpoint Checkpoint       // the checkpoint it is proven against; Note holds the signed note
	Hashes     tlog.RecordProof // RFC 6962 audit path, leaf to root
}

// proofJSON is the JSON form of a Proof (`cityarray audit prove --json`).
type proofJSON struct {
	Index      int64           `json:"index"`
	Entry      json.RawMessage `json:"entry"`
	LeafHash   tlog.Hash       `json:"leaf_hash"`
	Checkpoint string          `json:"checkpoint"` // the signed note
	Size       int64           `json:"size"`
	Root       tlog.Hash       `json:"root"`
	Proof      []tlog.Hash     `json:"proof"` // base64 hashes, leaf to root
}

// MarshalJSON encodes p with the entry as a JSON object and the hashes in
// base64.
func (p *Proof) MarshalJSON() ([]byte, error) {
	return json.Marshal(proofJSON{
		Index: p.Index, Entry: p.Entry, LeafHash: tlog.RecordHash(p.Entry),
		Checkpoint: string(p.Checkpoint.Note), Size: p.Checkpoint.Size, Root: p.Checkpoint.Root,
		Proof: p.Hashes,
	})
}

// UnmarshalJSON decodes what MarshalJSON wrote (indented or not). It does
// not check signatures or hashes: CheckProof does.
func (p *Proof) UnmarshalJSON(data []byte) error {
	var j proofJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var entry bytes.Buffer
	if err := json.Compact(&entry, j.Entry); err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	c, err := parseUnverifiedCheckpoint([]byte(j.Checkpoint))
	if err != nil {
		return err
	}
	if c.Size != j.Size || c.Root != j.Root {
		return errors.New("size or root differ from the checkpoint note")
	}
	*p = Proof{Index: j.Index, Entry: entry.Bytes(), Checkpoint: c, Hashes: j.Proof}
	return nil
}

// CheckProof checks that the proof's checkpoint is signed by one of v and
// that the entry, which must parse, is leaf p.Index of its tree.
func CheckProof(p *Proof, v note.Verifiers) error {
	c, err := ParseCheckpoint(p.Checkpoint.Note, v)
	if err != nil {
		return fmt.Errorf("audit: check proof: %w", err)
	}
	e, err := ParseEntry(p.Entry)
	if err != nil {
		return fmt.Errorf("audit: check proof: %w", err)
	}
	if e.Seq != p.Index {
		return fmt.Errorf("audit: check proof: %w: the entry's seq is %d, not %d", ErrBadProof, e.Seq, p.Index)
	}
	if p.Index < 0 || p.Index >= c.Size {
		return fmt.Errorf("audit: check proof: %w: entry %d is outside a checkpoint of size %d", ErrBadProof, p.Index, c.Size)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Root, p.Index, tlog.RecordHash(p.Entry)); err != nil {
		return fmt.Errorf("audit: check proof: %w: %v", ErrBadProof, err)
	}
	return nil
}

// Prove returns an inclusion proof of entry index against the latest
// checkpoint. It fails with ErrNotCovered if there is no checkpoint or it
// is older than the entry (Run writes one within a minute; or call
// Checkpoint), and with ErrPruned for an entry retention removed.
func (l *Log) Prove(index int64) (*Proof, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable("prove"); err != nil {
		return nil, err
	}
	if l.latest == nil {
		return nil, fmt.Errorf("audit: prove entry %d: %w (there is no checkpoint)", index, ErrNotCovered)
	}
	p, err := prove(l.dir, l.segs, l.hashes, *l.latest, index)
	if err != nil {
		return nil, fmt.Errorf("audit: prove entry %d: %w", index, err)
	}
	return p, nil
}

// ProveDir is Prove on a log directory that may be open in another
// process, read-only. It does not check the checkpoint's signature:
// CheckProof does.
func ProveDir(dir string, index int64) (*Proof, error) {
	p, err := proveDir(dir, index)
	if err != nil {
		return nil, fmt.Errorf("audit: prove entry %d: %w", index, err)
	}
	return p, nil
}

func proveDir(dir string, index int64) (*Proof, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	segs, _ = dropTwins(segs)
	msg, err := readLastCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, fmt.Errorf("%w (there is no checkpoint)", ErrNotCovered)
	}
	c, err := parseUnverifiedCheckpoint(msg)
	if err != nil {
		return nil, err
	}
	hf, err := openHashFile(dir, false)
	if err != nil {
		return nil, err
	}
	defer hf.close()
	return prove(dir, segs, hf, c, index)
}

// readLastCheckpoint returns the last complete checkpoint note in dir, or
// nil if there is none.
func readLastCheckpoint(dir string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, checkpointsFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	last, _, err := lastCheckpoint(f, st.Size())
	return last, err
}

// parseUnverifiedCheckpoint parses a checkpoint note without checking its
// signatures.
func parseUnverifiedCheckpoint(msg []byte) (Checkpoint, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, fmt.Errorf("%w: not a signed note", ErrBadCheckpoint)
	}
	c, err := parseCheckpointText(string(msg[:i+1]))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	c.Note = bytes.Clone(msg)
	return c, nil
}

// prove builds the proof of entry index against checkpoint c, and checks
// it before returning it.
func prove(dir string, segs []segment, hr tlog.HashReader, c Checkpoint, index int64) (*Proof, error) {
	if index < 0 || index >= c.Size {
		return nil, fmt.Errorf("%w: the latest checkpoint covers entries 0 to %d", ErrNotCovered, c.Size-1)
	}
	raw, err := readEntryLine(dir, segs, index)
	if err != nil {
		return nil, err
	}
	hashes, err := tlog.ProveRecord(c.Size, index, hr)
	if err != nil {
		return nil, err
	}
	if err := tlog.CheckRecord(hashes, c.Size, c.Root, index, tlog.RecordHash(raw)); err != nil {
		return nil, fmt.Errorf("%w: the entry does not match checkpoint size %d (run cityarray audit verify): %v", ErrCorrupt, c.Size, err)
	}
	return &Proof{Index: index, Entry: raw, Checkpoint: c, Hashes: hashes}, nil
}

// readEntryLine returns the line of entry index from the segments.
func readEntryLine(dir string, segs []segment, index int64) ([]byte, error) {
	if len(segs) == 0 || index < segs[0].first {
		return nil, ErrPruned
	}
	i := len(segs) - 1
	for segs[i].first > index {
		i--
	}
	r, c, err := openSegment(dir, segs[i])
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sr := newSegmentReader(r, segs[i].first)
	for {
		e, raw, err := sr.read()
		if err == io.EOF {
			return nil, fmt.Errorf("entry %d is not in segment %s", index, segs[i].name())
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", segs[i].name(), err)
		}
		if e.Seq == index {
			return raw, nil
		}
	}
}
