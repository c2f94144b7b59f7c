package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cityarray/cityarray/mesh/atomicfile"
)

// Segment bounds used when Options leave them zero.
const (
	DefaultSegmentEntries = 4096
	DefaultSegmentBytes   = 8 << 20
)

// CheckpointInterval is how often the server should tick Run.
const CheckpointInterval = time.Minute

// ErrClosed is returned by a Log's methods after Close.
var ErrClosed = errors.New("audit: log is closed")

// Clock tells the time. The server passes one that reads the system clock;
// tests pass a fake.
type Clock interface{ Now() time.Time }

// Options configure Open.
type Options struct {
	Key            ed25519.PrivateKey // signs checkpoints: the server's key (required)
	KeyName        string             // signer name and checkpoint origin; DefaultKeyName if empty
	Clock          Clock              // stamps entries and Close's checkpoint (required)
	SegmentEntries int                // a segment is sealed at this many entries; DefaultSegmentEntries if 0
	SegmentBytes   int64              // ... or at this many bytes; DefaultSegmentBytes if 0
	Logger         *slog.Logger       // recovery and checkpoint errors; nil discards
}

func (o Options) withDefaults() (Options, error) {
	if o.KeyName == "" {
		o.KeyName = DefaultKeyName
	}
	if o.SegmentEntries == 0 {
		o.SegmentEntries = DefaultSegmentEntries
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if o.Clock == nil {
		errs = append(errs, errors.New("Options.Clock is required"))
	}
	if o.SegmentEntries < 0 || o.SegmentBytes < 0 {
		errs = append(errs, errors.New("negative segment bound"))
	}
	if len(o.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("Options.Key must be an Ed25519 private key"))
	}
	if !validKeyName(o.KeyName) {
		errs = append(errs, fmt.Errorf("invalid key name %q (non-empty, no spaces, no '+')", o.KeyName))
	}
	return o, errors.Join(errs...)
}

// Log is an open audit log directory. Its methods are safe for concurrent
// use; concurrent appends share fsyncs (group commit).
type Log struct {
	dir    string
	opts   Options
	signer note.Signer
	vkey   string
	log    *slog.Logger

	// The group-commit queue: appenders join pending; the first finds no
	// commit running and commits the whole batch while the next one fills.
	qmu        sync.Mutex
	qcond      *sync.Cond
	pending    *batch
	committing bool

	mu        sync.Mutex   // guards the fields below; held by the committer
	err       error        // sticky: ErrClosed, or the write error that broke the log
	n         int64        // entries in the log
	segs      []segment    // sealed segments in order, then the live one
	live      *os.File     // the live segment
	liveCount int          // entries in it
	liveBytes int64        // bytes in it
	hashes    *hashFile    // stored hashes of all n entries
	cpFile    *os.File     // the checkpoints file
	cpEnd     int64        // its length
	latest    *Checkpoint  // the last checkpoint, nil if none
	sealBuf   bytes.Buffer // reused by seal
}

// batch is the entries of one group commit.
type batch struct {
	entries []Entry
	first   int64 // index given to entries[0]
	err     error
	done    bool
}

// Append validates e, stamps it with the next index and the clock's time,
// and writes it to the live segment. It returns once the entry is on disk
// (fsync), with its index. Concurrent Appends share one write and fsync.
// An entry that fails Validate is refused with an error wrapping
// ErrInvalidEntry or ErrSecret. After a write or fsync error the log
// refuses every further append until it is reopened, since what reached
// the disk is then unknown (Open recovers).
func (l *Log) Append(e Entry) (int64, error) {
	if err := checkEntry(&e); err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	return l.enqueue([]Entry{e})
}

// AppendBatch is Append for several entries, which get consecutive
// indexes and one fsync; it returns the index of the first. If any entry
// is invalid, none is appended.
func (l *Log) AppendBatch(es []Entry) (int64, error) {
	es = slices.Clone(es)
	for i := range es {
		if err := checkEntry(&es[i]); err != nil {
			return 0, fmt.Errorf("audit: append batch: entry %d: %w", i, err)
		}
	}
	if len(es) == 0 {
		return l.Size(), nil
	}
	return l.enqueue(es)
}

func checkEntry(e *Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return e.checkSize()
}

// enqueue adds es to the pending batch and waits until that batch is
// committed, committing it itself if no commit is running.
func (l *Log) enqueue(es []Entry) (int64, error) {
	l.qmu.Lock()
	if l.pending == nil {
		l.pending = &batch{}
	}
	b := l.pending
	off := int64(len(b.entries))
	b.entries = append(b.entries, es...)
	for !b.done && l.committing {
		l.qcond.Wait()
	}
	if !b.done {
		// No commit is running and b has not been taken: b is still
		// l.pending, and this appender commits it.
		l.committing, l.pending = true, nil
		l.qmu.Unlock()
		first, err := l.commit(b.entries)
		l.qmu.Lock()
		b.first, b.err, b.done = first, err, true
		l.committing = false
		l.qcond.Broadcast()
	}
	l.qmu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	return b.first + off, nil
}

// commit writes es to the live segment, sealing segments as they fill.
func (l *Log) commit(es []Entry) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable("append"); err != nil {
		return 0, err
	}
	first := l.n
	now := l.opts.Clock.Now()
	for len(es) > 0 {
		k := min(len(es), l.opts.SegmentEntries-l.liveCount)
		if err := l.write(es[:k], now); err != nil {
			return 0, l.broken(err)
		}
		es = es[k:]
		if l.liveFull() {
			if err := l.seal(); err != nil {
				return 0, l.broken(err)
			}
		}
	}
	return first, nil
}

// usable returns the error for op if the log is closed or broken.
func (l *Log) usable(op string) error {
	if l.err != nil {
		return fmt.Errorf("audit: %s: %w", op, l.err)
	}
	return nil
}

// broken makes err sticky: the log refuses appends until reopened.
func (l *Log) broken(err error) error {
	l.err = fmt.Errorf("log is unusable until reopened: %w", err)
	l.log.Error("audit log write failed", "err", err)
	return fmt.Errorf("audit: append: %w", l.err)
}

func (l *Log) liveFull() bool {
	return l.liveCount >= l.opts.SegmentEntries || l.liveBytes >= l.opts.SegmentBytes
}

// write appends es as entries l.n, l.n+1, … at time now to the live
// segment, fsyncs it, then appends their stored hashes.
func (l *Log) write(es []Entry, now time.Time) error {
	var buf []byte
	var ends []int
	for i := range es {
		es[i].Seq, es[i].Time = l.n+int64(i), now
		line, err := es[i].marshal()
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
		ends = append(ends, len(buf))
	}
	if _, err := l.live.WriteAt(buf, l.liveBytes); err != nil {
		_ = l.live.Truncate(l.liveBytes)
		return fmt.Errorf("live segment: %w", err)
	}
	if err := l.live.Sync(); err != nil {
		return fmt.Errorf("live segment: fsync: %w", err)
	}
	l.liveCount += len(es)
	l.liveBytes += int64(len(buf))
	start := 0
	for _, end := range ends {
		if err := l.hashes.add(l.n, buf[start:end-1]); err != nil {
			return err
		}
		l.n++
		start = end
	}
	return l.hashes.flush()
}

// seal compresses the full live segment into an immutable sealed one and
// starts a new live segment (see "Crash behaviour" in doc.go for the
// order of steps).
func (l *Log) seal() error {
	if err := l.hashes.sync(); err != nil {
		return fmt.Errorf("seal: hash file: %w", err)
	}
	live := l.segs[len(l.segs)-1]
	data := make([]byte, l.liveBytes)
	if _, err := l.live.ReadAt(data, 0); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	sealed := segment{first: live.first, sealed: true}
	if err := writeSealed(l.dir, sealed, data, &l.sealBuf); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	next := segment{first: l.n}
	f, err := createLive(l.dir, next)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	l.live.Close()
	l.live, l.liveCount, l.liveBytes = f, 0, 0
	l.segs[len(l.segs)-1] = sealed
	l.segs = append(l.segs, next)
	if err := removeSynced(l.dir, live.name()); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return nil
}

// writeSealed writes data, gzipped, to the sealed segment s: temp file,
// fsync, link into place, fsync of the directory.
func writeSealed(dir string, s segment, data []byte, buf *bytes.Buffer) error {
	buf.Reset()
	zw := gzip.NewWriter(buf)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, s.name()), buf.Bytes(), 0o400, false)
}

// createLive creates the empty live segment s and fsyncs the directory.
func createLive(dir string, s segment) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, s.name()), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeSynced removes dir/name and fsyncs dir.
func removeSynced(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// Size returns the number of entries in the log.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// VerifierKey returns the note verifier key of the checkpoint signer (also
// written to DIR/verifier.key): give it to whoever verifies the log.
func (l *Log) VerifierKey() string { return l.vkey }

// Checkpoint signs the current tree head at time now and appends it to the
// checkpoints file (fsync) before returning it.
func (l *Log) Checkpoint(now time.Time) (Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable("checkpoint"); err != nil {
		return Checkpoint{}, err
	}
	c, err := l.checkpoint(now)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return c, nil
}

// Latest returns the last checkpoint, and false if there is none yet.
func (l *Log) Latest() (Checkpoint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest == nil {
		return Checkpoint{}, false
	}
	return *l.latest, true
}

func (l *Log) checkpoint(now time.Time) (Checkpoint, error) {
	root, err := tlog.TreeHash(l.n, l.hashes)
	if err != nil {
		return Checkpoint{}, err
	}
	text := checkpointText(l.opts.KeyName, l.n, root, now)
	msg, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		return Checkpoint{}, err
	}
	rec := append(bytes.Clone(msg), '\n')
	if _, err := l.cpFile.WriteAt(rec, l.cpEnd); err != nil {
		_ = l.cpFile.Truncate(l.cpEnd)
		return Checkpoint{}, err
	}
	if err := l.cpFile.Sync(); err != nil {
		return Checkpoint{}, err
	}
	l.cpEnd += int64(len(rec))
	c := Checkpoint{Origin: l.opts.KeyName, Size: l.n, Root: root, Time: time.UnixMilli(now.UnixMilli()).UTC(), Note: msg}
	l.latest = &c
	return c, nil
}

// checkpointIfGrown writes a checkpoint at now if entries were appended
// since the last one (or there is none), and reports whether it did.
func (l *Log) checkpointIfGrown(now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable("checkpoint"); err != nil {
		return false, err
	}
	if l.latest != nil && l.latest.Size == l.n {
		return false, nil
	}
	if _, err := l.checkpoint(now); err != nil {
		return false, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return true, nil
}

// Run writes a checkpoint at each time received from tick, if the log has
// grown since the last one, until ctx is done (it then returns nil) or the
// log is closed (it returns the error). A failed checkpoint is logged and
// retried at the next tick. The server passes time.NewTicker(
// CheckpointInterval).C, so every entry is covered by a signed checkpoint
// within a minute of its append; tests pass their own channel.
func (l *Log) Run(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick:
			_, err := l.checkpointIfGrown(now)
			if errors.Is(err, ErrClosed) {
				return err
			}
			if err != nil {
				l.log.Error("audit checkpoint failed", "err", err)
			}
		}
	}
}

// Close writes a last checkpoint if entries were appended since the latest
// one, syncs and closes the files. Appends after Close fail with
// ErrClosed; a second Close returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(l.err, ErrClosed) {
		return nil
	}
	var errs []error
	if l.err == nil && (l.latest == nil || l.latest.Size < l.n) {
		if _, err := l.checkpoint(l.opts.Clock.Now()); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
	}
	errs = append(errs, l.closeFiles())
	l.err = ErrClosed
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

func (l *Log) closeFiles() error {
	var errs []error
	if l.hashes != nil {
		errs = append(errs, l.hashes.sync(), l.hashes.close())
	}
	for _, f := range []*os.File{l.live, l.cpFile} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
