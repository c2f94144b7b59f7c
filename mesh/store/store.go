package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the store. Every error a Store method returns is
// wrapped as "store: <op>: …" and, where one applies, wraps one of these.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrCorrupt     = errors.New("store: file is corrupt")
	ErrNotStore    = errors.New("store: not a cityarray store")
	ErrSchema      = errors.New("store: unsupported schema version")
	ErrFull        = errors.New("store: disk budget exhausted")
	ErrOutboxFull  = errors.New("store: outbox full of acks")
	ErrExpired     = errors.New("store: record has expired")
	ErrInvalid     = errors.New("store: invalid argument")
	ErrClosed      = errors.New("store: closed")
	ErrLocked      = errors.New("store: file is locked by another process")
	ErrBadMessage  = errors.New("store: bad reconcile message")
	errNeedRoom    = errors.New("store: need room") // internal: retry after a sweep, with eviction
	errInvalidOpts = errors.New("store: invalid options")
)

// Magic and SchemaVersion identify a store file. The magic is stored under
// the "magic" key of the meta bucket, the schema as a big-endian uint32 under
// "schema". A file with a newer schema is refused; an older one is
// migrated at Open.
//
// Schema 2 keeps, with each superseded-set entry, the tier and scope of
// the records that superseded it, and leaves device scopes out of the
// scope index (acks and health reports by the thousand, each a random
// insert there, for a query nothing asks at that rate). Open migrates a
// schema 1 file in one transaction: it deletes the device-scope entries
// of the scope index; superseded-set entries of schema 1 (8 bytes) stay
// and read as legacy claims, which cover anything, as schema 1 did. The
// version is raised so that an older program refuses the file rather
// than misread it.
const (
	Magic         = "cityarray/store"
	SchemaVersion = 2
)

// Options configures a Store. Start from DefaultOptions and change fields;
// every field must be set (Open reports all invalid fields at once).
type Options struct {
	// MaxBytes is the disk budget for stored record bytes (the signed bytes
	// of every record, not counting indexes and bbolt overhead, which add
	// roughly a third). A Put that would exceed it sweeps expired records,
	// then evicts records of a lower tier than the incoming one, and
	// otherwise fails with ErrFull. Default 256 MiB.
	MaxBytes int64
	// ProtocolTTL is how long a protocol is kept after its last refresh
	// (its last Put), unless it expires earlier. Default 48 h (DESIGN §6).
	ProtocolTTL time.Duration
	// MaxOutbox bounds the number of outbox entries (acks and telemetry).
	// When it is reached the oldest telemetry entry is dropped; acks are
	// never dropped. Default 10,000.
	MaxOutbox int
	// OpenTimeout is how long Open waits for the file lock held by another
	// process before failing with ErrLocked. Default 1 s.
	OpenTimeout time.Duration
	// Logger receives warnings (a damaged meta page, dropped telemetry) and
	// sweep/eviction notes. Nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the options a pole uses.
func DefaultOptions() Options {
	return Options{
		MaxBytes:    256 << 20,
		ProtocolTTL: 48 * time.Hour,
		MaxOutbox:   10000,
		OpenTimeout: time.Second,
	}
}

func (o Options) validate() error {
	var errs []error
	if o.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("MaxBytes is %d, want > 0", o.MaxBytes))
	}
	if o.ProtocolTTL <= 0 {
		errs = append(errs, fmt.Errorf("ProtocolTTL is %v, want > 0", o.ProtocolTTL))
	}
	if o.MaxOutbox <= 0 {
		errs = append(errs, fmt.Errorf("MaxOutbox is %d, want > 0", o.MaxOutbox))
	}
	if o.OpenTimeout < 0 {
		errs = append(errs, fmt.Errorf("OpenTimeout is %v, want ≥ 0", o.OpenTimeout))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", errInvalidOpts, errors.Join(errs...))
}

// Store is one node's record store: a single bbolt file. Its methods are
// safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	opts Options
	log  *slog.Logger

	supRefused atomic.Int64 // supersessions refused by the tier and scope rule

	watchMu  sync.Mutex
	watchers []chan struct{} // OutboxChanged

	ackMu sync.Mutex
	acked map[uint64]struct{} // AckLater: receipted, removal not yet written
}

// Bucket names. See doc.go for what each holds.
var (
	bMeta   = []byte("meta")
	bRec    = []byte("rec")
	bExp    = []byte("exp")
	bDisp   = []byte("disp")
	bScope  = []byte("scope")
	bKind   = []byte("kind")
	bTier   = []byte("tier")
	bProto  = []byte("proto")
	bSup    = []byte("sup")
	bSupExp = []byte("supexp")
	bOutAck = []byte("outack")
	bOutTel = []byte("outtel")

	// allBuckets in the order of txn's accessors.
	allBucketsArray = [...][]byte{bMeta, bRec, bExp, bDisp, bScope, bKind, bTier, bProto, bSup, bSupExp, bOutAck, bOutTel}
	allBuckets      = allBucketsArray[:]
)

// Keys in the meta bucket.
var (
	kMagic      = []byte("magic")
	kSchema     = []byte("schema")
	kBytes      = []byte("bytes")      // uint64: sum of stored record sizes
	kCount      = []byte("count")      // uint64: number of stored records
	kOutSeq     = []byte("outseq")     // uint64: last outbox sequence number
	kOutAcks    = []byte("outacks")    // uint64: acks in the outbox
	kOutTel     = []byte("outtel")     // uint64: telemetry entries in the outbox
	kOutDropped = []byte("outdropped") // uint64: telemetry entries dropped so far
)

// Open opens the store at path, creating it if the file does not exist or
// is empty. It takes an exclusive lock on the file (waiting up to
// opts.OpenTimeout) and checks the whole file before returning: the bbolt
// meta pages, every page of every bucket, bbolt's own consistency check and
// the store header. A damaged file fails with an error wrapping ErrCorrupt
// that names the file and the problem; Open never repairs or rebuilds it.
func Open(path string, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store", "path", path)

	db, err := openBolt(path, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, opts: opts, log: log}
	if err := s.checkFile(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := s.initHeader(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the bbolt file, turning panics and memory faults that bbolt
// may raise on a damaged file into errors.
func openBolt(path string, opts Options) (db *bolt.DB, err error) {
	var file *os.File
	bopts := &bolt.Options{
		Timeout:      opts.OpenTimeout,
		NoSync:       false,
		FreelistType: bolt.FreelistMapType,
		// NoFreelistSync stays off: it would be faster per commit, but bbolt
		// then rebuilds the freelist at open by walking the file on its own
		// goroutine, where a damaged page panics the process instead of
		// returning ErrCorrupt.
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// bbolt did not return, so it did not close the file; closing
			// it releases the lock. Its mapping of the file is not undone.
			diag := diagnose(file)
			if file != nil {
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("%w: bbolt failed reading the file (%v)%s", ErrCorrupt, r, diag)
		}
	}()
	db, err = bolt.Open(path, 0o600, bopts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w (waited %v)", ErrLocked, opts.OpenTimeout)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, err
	}
	// bbolt's own errors for a damaged file are terse ("invalid database",
	// "file size too small 3000"): say what is wrong if the meta pages tell.
	if f, ferr := os.Open(path); ferr == nil {
		defer f.Close()
		if _, merr := readFileMetas(f); merr != nil {
			return nil, merr
		}
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil, err
}

// diagnose describes what is wrong with the file's meta pages, for an error
// message, or returns "".
func diagnose(f *os.File) string {
	if f == nil {
		return ""
	}
	if _, err := readFileMetas(f); err != nil {
		return "; " + err.Error()
	}
	return ""
}

func readFileMetas(f *os.File) (metaSet, error) {
	fi, err := f.Stat()
	if err != nil {
		return metaSet{}, err
	}
	return readMetas(f, fi.Size())
}

// checkFile verifies the whole file: the meta pages and page structure (so
// that bbolt's checker, which runs in its own goroutine where a memory
// fault could not be recovered, only ever reads pages that exist), then
// bbolt's own consistency check.
func (s *Store) checkFile() error {
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := readFileMetas(f)
	if err != nil {
		return err
	}
	for _, w := range m.warnings {
		s.log.Warn("bbolt meta page damaged; using the other one (normal after a power cut during a commit)", "problem", w)
	}
	if err := walkPages(f, m); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: consistency check failed: %v", ErrCorrupt, r)
			}
		}()
		var problems []string
		n := 0
		for e := range tx.Check() { // drain fully: Check's goroutine ends when the channel is closed
			n++
			if len(problems) < 5 {
				problems = append(problems, e.Error())
			}
		}
		if n > 0 {
			more := ""
			if n > len(problems) {
				more = fmt.Sprintf(" (and %d more)", n-len(problems))
			}
			return fmt.Errorf("%w: bbolt consistency check found %d problems: %s%s", ErrCorrupt, n, strings.Join(problems, "; "), more)
		}
		return verifyContents(tx)
	})
}

// verifyContents checks what bbolt cannot: every stored record still
// hashes to its id (bbolt has no checksums on data pages, but records are
// content-addressed), every entry decodes, every index entry a record needs
// exists and no index holds more, and the counters match.
func verifyContents(tx *bolt.Tx) error {
	if tx.Bucket(bMeta) == nil {
		return nil // a new file, or not a store: initHeader decides
	}
	t := newTxn(tx)
	var count, size uint64
	var ndisp, nproto, nscope int
	c := t.rec().Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 32 {
			return fmt.Errorf("%w: record key of %d bytes", ErrCorrupt, len(k))
		}
		id := idAt(k, 0)
		h, err := decodeEntryHeader(v)
		if err != nil {
			return fmt.Errorf("record %s: %w", id.Short(), err)
		}
		if got := record.IDOf(v[h.rawOff:]); got != id {
			return fmt.Errorf("%w: record %s: its stored bytes hash to %s (damaged on disk)", ErrCorrupt, id.Short(), got.Short())
		}
		if h.kind.Displayable() {
			ndisp++
		}
		if h.kind == record.KindProtocol {
			nproto++
		}
		for _, n := range t.indexEntries(id, h.kind, h.tier, h.scope, h.expires, h.refreshed) {
			if !hasKey(n.b, n.k) {
				return fmt.Errorf("%w: record %s is missing from the %s index", ErrCorrupt, id.Short(), n.name)
			}
			if n.b == t.scope() {
				nscope++
			}
		}
		count++
		size += uint64(h.rawLen)
	}
	if count != t.counter(kCount) || size != t.counter(kBytes) {
		return fmt.Errorf("%w: the header counts %d records of %d bytes, the file holds %d of %d", ErrCorrupt, t.counter(kCount), t.counter(kBytes), count, size)
	}
	for _, b := range []struct {
		b    *bolt.Bucket
		name string
		want int
	}{
		{t.exp(), "exp", int(count)}, {t.scope(), "scope", nscope}, {t.kind(), "kind", int(count)}, {t.tier(), "tier", int(count)},
		{t.disp(), "disp", ndisp}, {t.proto(), "proto", nproto}, {t.supexp(), "supexp", t.sup().Stats().KeyN},
		{t.outAck(), "outack", int(t.counter(kOutAcks))}, {t.outTel(), "outtel", int(t.counter(kOutTel))},
	} {
		if n := b.b.Stats().KeyN; n != b.want {
			return fmt.Errorf("%w: the %s bucket holds %d keys, want %d", ErrCorrupt, b.name, n, b.want)
		}
	}
	c = t.sup().Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		cl, err := decodeSupClaim(v)
		if err != nil {
			return fmt.Errorf("superseded-set entry %x: %w", k, err)
		}
		if len(k) != 32 || !hasKey(t.supexp(), timeKey(cl.until, idAt(k, 0))) {
			return fmt.Errorf("%w: superseded-set entry %x does not match its expiry index", ErrCorrupt, k)
		}
	}
	return nil
}

func hasKey(b *bolt.Bucket, k []byte) bool {
	got, _ := b.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// initHeader writes the header and buckets of a new store, or checks them.
func (s *Store) initHeader() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		if len(names) == 0 {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bMeta)
			if err := meta.Put(kMagic, []byte(Magic)); err != nil {
				return err
			}
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], SchemaVersion)
			return meta.Put(kSchema, v[:])
		}
		meta := tx.Bucket(bMeta)
		if meta == nil {
			sort.Strings(names)
			return fmt.Errorf("%w: a bbolt file without a %q bucket (it has %s)", ErrNotStore, bMeta, strings.Join(names, ", "))
		}
		if m := meta.Get(kMagic); string(m) != Magic {
			return fmt.Errorf("%w: magic is %q, want %q", ErrNotStore, m, Magic)
		}
		sv := meta.Get(kSchema)
		if len(sv) != 4 {
			return fmt.Errorf("%w: schema version is %d bytes, want 4", ErrCorrupt, len(sv))
		}
		switch v := binary.BigEndian.Uint32(sv); {
		case v > SchemaVersion:
			return fmt.Errorf("%w: the file has schema %d, this program supports up to %d; run a newer cityarray", ErrSchema, v, SchemaVersion)
		case v < 1:
			return fmt.Errorf("%w: schema version %d", ErrCorrupt, v)
		case v < SchemaVersion:
			if v == 1 {
				n, err := dropDeviceScopes(tx.Bucket(bScope))
				if err != nil {
					return err
				}
				s.log.Info("store migration: device scopes left the scope index", "entries", n)
			}
			var nv [4]byte
			binary.BigEndian.PutUint32(nv[:], SchemaVersion)
			if err := meta.Put(kSchema, nv[:]); err != nil {
				return err
			}
			s.log.Info("store migrated", "path", s.path, "from_schema", v, "to_schema", SchemaVersion)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, name)
			}
		}
		return nil
	})
}

// Close writes the removals AckLater holds and closes the file. Calls
// after Close fail with ErrClosed.
func (s *Store) Close() error {
	if err := s.FlushAcks(); err != nil && !errors.Is(err, ErrClosed) {
		s.log.Warn("outbox removals not written before closing: the entries will be sent again", "err", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Stats describes the store's contents.
type Stats struct {
	Records         int   // stored records, including expired ones not swept yet
	Bytes           int64 // their signed bytes, counted against MaxBytes
	MaxBytes        int64 // the budget
	Superseded      int   // ids in the superseded set
	OutboxAcks      int
	OutboxTelemetry int
	OutboxDropped   int64 // telemetry entries dropped because the outbox was full, ever
	// SupersedeRefused counts, since Open, the ids a cancel or update named
	// but had no right to supersede (a lower tier, or another scope below
	// warning): they stay active.
	SupersedeRefused int64
}

// Stats returns counts of what the store holds.
func (s *Store) Stats() (Stats, error) {
	st := Stats{MaxBytes: s.opts.MaxBytes, SupersedeRefused: s.supRefused.Load()}
	acked := s.ackedSnapshot()
	err := s.view(func(t *txn) error {
		pa, pt := t.pendingRemovals(acked)
		st.Records = int(t.counter(kCount))
		st.Bytes = int64(t.counter(kBytes))
		st.Superseded = t.sup().Stats().KeyN
		st.OutboxAcks = int(t.counter(kOutAcks)) - pa
		st.OutboxTelemetry = int(t.counter(kOutTel)) - pt
		st.OutboxDropped = int64(t.counter(kOutDropped))
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// Len returns the number of stored records, including expired records that
// have not been swept yet.
func (s *Store) Len() (int, error) {
	var n int
	err := s.view(func(t *txn) error {
		n = int(t.counter(kCount))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: len: %w", err)
	}
	return n, nil
}

// txn is a transaction whose buckets are looked up when first used: a
// transaction uses a few of them, and each lookup costs a search of the
// root bucket. Open checked that every bucket exists, and none is ever
// deleted.
type txn struct {
	tx      *bolt.Tx
	buckets [len(allBucketsArray)]*bolt.Bucket
	schema1 int8 // 0 not looked up, 1 schema 1, -1 not
}

func newTxn(tx *bolt.Tx) *txn { return &txn{tx: tx} }

// bucket returns the bucket allBuckets[i].
func (t *txn) bucket(i int) *bolt.Bucket {
	if b := t.buckets[i]; b != nil {
		return b
	}
	b := t.tx.Bucket(allBuckets[i])
	if b == nil {
		// Open checked; a file changed under a running store is beyond repair here.
		panic(fmt.Sprintf("store: bucket %q is missing", allBuckets[i]))
	}
	t.buckets[i] = b
	return b
}

func (t *txn) meta() *bolt.Bucket   { return t.bucket(0) }
func (t *txn) rec() *bolt.Bucket    { return t.bucket(1) }
func (t *txn) exp() *bolt.Bucket    { return t.bucket(2) }
func (t *txn) disp() *bolt.Bucket   { return t.bucket(3) }
func (t *txn) scope() *bolt.Bucket  { return t.bucket(4) }
func (t *txn) kind() *bolt.Bucket   { return t.bucket(5) }
func (t *txn) tier() *bolt.Bucket   { return t.bucket(6) }
func (t *txn) proto() *bolt.Bucket  { return t.bucket(7) }
func (t *txn) sup() *bolt.Bucket    { return t.bucket(8) }
func (t *txn) supexp() *bolt.Bucket { return t.bucket(9) }
func (t *txn) outAck() *bolt.Bucket { return t.bucket(10) }
func (t *txn) outTel() *bolt.Bucket { return t.bucket(11) }

// deviceScopes says whether the file is schema 1, whose scope index also
// held device scopes (checked before Open migrates it).
func (t *txn) deviceScopes() bool {
	if t.schema1 == 0 {
		t.schema1 = -1
		if v := t.meta().Get(kSchema); len(v) == 4 && binary.BigEndian.Uint32(v) == 1 {
			t.schema1 = 1
		}
	}
	return t.schema1 == 1
}

func (s *Store) view(fn func(t *txn) error) error {
	return closedErr(s.db.View(func(tx *bolt.Tx) error { return fn(newTxn(tx)) }))
}

// update runs fn in a write transaction, which first writes the outbox
// removals AckLater holds: they cost no flush of their own.
func (s *Store) update(fn func(t *txn) error) error {
	acked := s.ackedSnapshot()
	err := closedErr(s.db.Update(func(tx *bolt.Tx) error {
		t := newTxn(tx)
		if err := t.removeOutbox(maps.Keys(acked)); err != nil {
			return err
		}
		return fn(t)
	}))
	if err == nil && len(acked) > 0 {
		s.ackMu.Lock()
		for seq := range acked {
			delete(s.acked, seq)
		}
		s.ackMu.Unlock()
	}
	return err
}

func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func (t *txn) counter(k []byte) uint64 {
	v := t.meta().Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (t *txn) setCounter(k []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return t.meta().Put(k, v[:])
}

func (t *txn) addCounter(k []byte, delta int64) error {
	n := int64(t.counter(k)) + delta
	if n < 0 {
		return fmt.Errorf("%w: counter %q would go negative (%d)", ErrCorrupt, k, n)
	}
	return t.setCounter(k, uint64(n))
}

// dropDeviceScopes deletes the device-scope keys of the scope index (the
// schema 1 to 2 migration) and returns how many.
func dropDeviceScopes(b *bolt.Bucket) (int, error) {
	var del [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n {
			return 0, fmt.Errorf("%w: scope index key %x", ErrCorrupt, k)
		}
		if deviceScope(string(k[w : w+int(n)])) {
			del = append(del, append([]byte(nil), k...))
		}
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(del), nil
}
