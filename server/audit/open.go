package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// ErrCorrupt is wrapped by Open when the directory is damaged in a way a
// crash cannot explain (run `cityarray audit verify` on it).
var ErrCorrupt = errors.New("audit: log is damaged")

// Open opens the audit log in dir, creating the directory and an empty log
// if need be, and recovers from a crash at any instant: it removes
// temporary files and a live segment whose sealed copy exists, truncates a
// torn last entry and an unfinished last checkpoint, and rewrites the hash
// file's hashes for the live segment (rebuilding the whole file from the
// segments if it is short). It writes dir/verifier.key if it lacks this
// signer's key. Only one Log may have a directory open at a time.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	signer, err := NewSigner(opts.KeyName, opts.Key)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	vkey, err := VerifierKey(opts.KeyName, opts.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	l := &Log{dir: dir, opts: opts, signer: signer, vkey: vkey, log: opts.Logger.With("component", "audit", "dir", dir)}
	l.qcond = sync.NewCond(&l.qmu)
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("audit: open %s: %w", dir, err)
	}
	return l, nil
}

// recover brings the directory to a consistent state and loads it.
func (l *Log) recover() error {
	if err := removeTemps(l.dir); err != nil {
		return err
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	segs, twins := dropTwins(segs)
	for _, name := range twins {
		l.log.Warn("removing a live segment that was already sealed (crash while sealing)", "file", name)
		if err := removeSynced(l.dir, name); err != nil {
			return err
		}
	}
	for i, s := range segs {
		if !s.sealed && i != len(segs)-1 {
			return fmt.Errorf("%w: live segment %s is not the last segment", ErrCorrupt, s.name())
		}
	}
	lines, err := l.openLive(segs)
	if err != nil {
		return err
	}
	if err := l.recoverHashes(lines); err != nil {
		return err
	}
	keys, err := readVerifierFile(l.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := l.recoverCheckpoints(keys); err != nil {
		return err
	}
	if err := l.addVerifierKey(keys); err != nil {
		return err
	}
	if l.liveFull() {
		return l.seal()
	}
	return nil
}

// removeTemps removes the temporary files an interrupted atomic write
// leaves (".<name>.tmp…").
func removeTemps(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if name := de.Name(); strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") && de.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// openLive opens the live segment (creating it after the last sealed one
// if there is none), truncates a torn tail, and sets the log's size. It
// returns the live segment's entry lines.
func (l *Log) openLive(segs []segment) ([][]byte, error) {
	if len(segs) == 0 || segs[len(segs)-1].sealed {
		next := segment{}
		if len(segs) > 0 {
			last := segs[len(segs)-1]
			count, err := readSegmentFile(l.dir, last, func(Entry, []byte) error { return nil })
			if err != nil {
				return nil, fmt.Errorf("%w: sealed segment %s: %v", ErrCorrupt, last.name(), err)
			}
			next.first = last.first + count
		}
		f, err := createLive(l.dir, next)
		if err != nil {
			return nil, err
		}
		l.segs, l.live, l.n = append(segs, next), f, next.first
		return nil, nil
	}
	live := segs[len(segs)-1]
	f, err := os.OpenFile(filepath.Join(l.dir, live.name()), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	l.segs, l.live = segs, f
	lines, size, err := l.scanLive(live)
	if err != nil {
		return nil, err
	}
	l.liveCount, l.liveBytes, l.n = len(lines), size, live.first+int64(len(lines))
	return lines, nil
}

// scanLive reads the live segment's entries. A torn last line (no newline:
// an append cut short) or a line with NUL bytes (a write a power cut lost
// before its fsync, so everything after it is unacknowledged too) is
// truncated away; any other bad line is damage that Open refuses.
func (l *Log) scanLive(s segment) ([][]byte, int64, error) {
	if _, err := l.live.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	sr := newSegmentReader(l.live, s.first)
	var lines [][]byte
	for {
		_, raw, err := sr.read()
		if err == nil {
			lines = append(lines, raw)
			continue
		}
		if err == io.EOF {
			return lines, sr.off, nil
		}
		var se *segError
		if !errors.As(err, &se) || se.kind == segUnreadable {
			return nil, 0, fmt.Errorf("live segment %s: %w", s.name(), err)
		}
		if se.kind != segTorn && !se.zeroed {
			return nil, 0, fmt.Errorf("%w: live segment %s: %v", ErrCorrupt, s.name(), se)
		}
		l.log.Warn("truncating an unfinished append (crash during a write)", "file", s.name(), "entry", se.index, "offset", se.offset)
		if err := l.live.Truncate(se.offset); err != nil {
			return nil, 0, err
		}
		if err := l.live.Sync(); err != nil {
			return nil, 0, err
		}
		return lines, se.offset, nil
	}
}

// recoverHashes trusts the hash file for the sealed segments (it is
// fsynced before a segment is sealed), rebuilding it if it is short, and
// recomputes the hashes of the live segment's entries.
func (l *Log) recoverHashes(lines [][]byte) error {
	hf, err := openHashFile(l.dir, true)
	if err != nil {
		return err
	}
	l.hashes = hf
	liveFirst := l.segs[len(l.segs)-1].first
	need := tlog.StoredHashCount(liveFirst)
	if hf.n < need {
		l.log.Warn("hash file is short: rebuilding it from the sealed segments", "have", hf.n, "need", need)
		if err := l.rebuildHashes(); err != nil {
			return err
		}
	}
	if err := hf.truncate(need); err != nil {
		return err
	}
	for i, line := range lines {
		if err := hf.add(liveFirst+int64(i), line); err != nil {
			return err
		}
	}
	if err := hf.flush(); err != nil {
		return err
	}
	return hf.sync()
}

// rebuildHashes recomputes the hash file from the sealed segments.
func (l *Log) rebuildHashes() error {
	if l.segs[0].first != 0 {
		return fmt.Errorf("%w: the hash file is short and entries before %d were pruned, so it cannot be rebuilt", ErrCorrupt, l.segs[0].first)
	}
	if err := l.hashes.truncate(0); err != nil {
		return err
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		_, err := readSegmentFile(l.dir, s, func(e Entry, raw []byte) error {
			return l.hashes.add(e.Seq, raw)
		})
		if err != nil {
			return fmt.Errorf("%w: rebuilding the hash file: sealed segment %s: %v", ErrCorrupt, s.name(), err)
		}
		if err := l.hashes.flush(); err != nil {
			return err
		}
	}
	return nil
}

// recoverCheckpoints opens the checkpoints file, truncates an unfinished
// last record, and checks the last checkpoint against the log.
func (l *Log) recoverCheckpoints(keys []string) error {
	f, err := os.OpenFile(filepath.Join(l.dir, checkpointsFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	l.cpFile = f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	last, end, err := lastCheckpoint(f, st.Size())
	if err != nil {
		return fmt.Errorf("%w: checkpoints: %v", ErrCorrupt, err)
	}
	if end < st.Size() {
		l.log.Warn("truncating an unfinished checkpoint (crash during a write)", "offset", end)
		if err := f.Truncate(end); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	l.cpEnd = end
	if last == nil {
		return nil
	}
	return l.loadLatest(last, keys)
}

// loadLatest checks the last stored checkpoint against the log and keeps it.
func (l *Log) loadLatest(msg []byte, keys []string) error {
	v, err := ParseVerifierKeys(append(slices.Clone(keys), l.vkey)...)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, VerifierKeyFile, err)
	}
	c, err := ParseCheckpoint(msg, v)
	if err != nil {
		return fmt.Errorf("%w: latest checkpoint: %v", ErrCorrupt, err)
	}
	if c.Size > l.n {
		return fmt.Errorf("%w: the latest checkpoint covers %d entries but the log holds %d", ErrCorrupt, c.Size, l.n)
	}
	root, err := tlog.TreeHash(c.Size, l.hashes)
	if err != nil {
		return err
	}
	if root != c.Root {
		return fmt.Errorf("%w: the entries do not match the latest checkpoint (size %d)", ErrCorrupt, c.Size)
	}
	l.latest = &c
	return nil
}

// addVerifierKey adds the signer's verifier key to dir/verifier.key unless
// it is there already (a new key is added after the old ones, which still
// verify older checkpoints).
func (l *Log) addVerifierKey(keys []string) error {
	if slices.Contains(keys, l.vkey) {
		return nil
	}
	if len(keys) > 0 {
		l.log.Warn("checkpoint signing key changed: adding the new verifier key", "key", l.vkey)
	}
	data := strings.Join(append(slices.Clone(keys), l.vkey), "\n") + "\n"
	return atomicfile.WriteFile(filepath.Join(l.dir, VerifierKeyFile), []byte(data), 0o644, true)
}
