package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	bolt "go.etcd.io/bbolt"
)

// rawItems returns n made-up records of 200 to 700 bytes, expiring after
// t0, deterministically.
func rawItems(seed uint64, n int) []store.RawItem {
	rng := rand.New(rand.NewPCG(seed, 7))
	var seed32 [32]byte
	binary.LittleEndian.PutUint64(seed32[:], seed)
	bytesRNG := rand.NewChaCha8(seed32)
	items := make([]store.RawItem, n)
	for i := range items {
		raw := make([]byte, 200+rng.IntN(500))
		bytesRNG.Read(raw)
		kinds := []record.Kind{record.KindAlert, record.KindProtocol, record.KindActivation, record.KindTelemetry}
		items[i] = store.RawItem{
			Raw: raw, Kind: kinds[i%len(kinds)], Tier: record.Tier(1 + i%5),
			Scope: record.ZoneScope(string(rune('a' + i%7))), Issued: t0.Add(-time.Hour),
			Expires: t0.Add(time.Duration(1+rng.IntN(1000)) * time.Minute), Origin: "gen", Seq: uint64(i),
		}
	}
	return items
}

// baseFile writes a store of a few thousand records, closes it and returns
// its bytes, the page size and one record's bytes. The records go in one
// transaction, so that each appears once in the file (later transactions
// would leave stale copies in free pages).
func baseFile(t *testing.T, n int) (img []byte, pageSize int, sample []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.db")
	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	items := rawItems(1, n)
	if _, err := s.PutRaw(items, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(store.OutboxAck, []byte("ack")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	img, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return img, os.Getpagesize(), items[n/2].Raw
}

// openImage writes img to a new file and opens it.
func openImage(t *testing.T, img []byte, opts store.Options) (*store.Store, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, opts)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	return s, err
}

// pageOf returns the number of the page that holds b.
func pageOf(t *testing.T, img, b []byte, ps int) int {
	i := bytes.Index(img, b)
	if i < 0 || bytes.Count(img, b) != 1 {
		t.Fatalf("sample record found %d times in the file, want once", bytes.Count(img, b))
	}
	return i / ps
}

func TestOpenCorrupt(t *testing.T) {
	img, ps, sample := baseFile(t, 3000)
	if _, err := openImage(t, img, store.DefaultOptions()); err != nil {
		t.Fatalf("the intact file does not open: %v", err)
	}
	samplePage := pageOf(t, img, sample, ps)
	branch := -1
	for p := 2; p*ps < len(img); p++ {
		h := img[p*ps:]
		if binary.NativeEndian.Uint64(h) == uint64(p) && binary.NativeEndian.Uint16(h[8:]) == 0x01 {
			branch = p
			break
		}
	}
	if branch < 0 {
		t.Fatal("no branch page in the test file; add records")
	}

	for _, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
		want    error
		msg     string
	}{
		{"both meta pages", func(b []byte) []byte { b[16+20]++; b[ps+16+20]++; return b }, store.ErrCorrupt, "both bbolt meta pages are invalid"},
		{"both meta pages zeroed", func(b []byte) []byte { clear(b[:2*ps]); return b }, store.ErrNotStore, "no bbolt meta page"},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, store.ErrCorrupt, "truncated"},
		{"truncated to 3000 bytes", func(b []byte) []byte { return b[:3000] }, store.ErrCorrupt, "truncated"},
		{"truncated to 100 bytes", func(b []byte) []byte { return b[:100] }, store.ErrCorrupt, "truncated"},
		{"a record's bytes", func(b []byte) []byte { b[bytes.Index(b, sample)+100] ^= 0x40; return b }, store.ErrCorrupt, "hash"},
		{"a leaf page's type", func(b []byte) []byte { b[samplePage*ps+8] = 0x20; return b }, store.ErrCorrupt, "type 0x20"},
		{"a page's own id", func(b []byte) []byte { b[samplePage*ps]++; return b }, store.ErrCorrupt, "says it is page"},
		{"a branch element's child", func(b []byte) []byte {
			binary.NativeEndian.PutUint64(b[branch*ps+16+8:], 1<<40)
			return b
		}, store.ErrCorrupt, "outside"},
		{"a leaf element's size", func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[samplePage*ps+16+12:], 1<<30)
			return b
		}, store.ErrCorrupt, "outside the page"},
		{"a page's element count", func(b []byte) []byte {
			binary.NativeEndian.PutUint16(b[samplePage*ps+10:], 0xfff0)
			return b
		}, store.ErrCorrupt, "do not fit"},
		{"not a bbolt file", func([]byte) []byte { return bytes.Repeat([]byte("hello, world\n"), 1000) }, store.ErrNotStore, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openImage(t, tc.corrupt(bytes.Clone(img)), store.DefaultOptions())
			t.Log(err)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Open = %v\nwant an error wrapping %q that mentions %q", err, tc.want, tc.msg)
			}
		})
	}
}

// A single bad meta page is what a power cut during a commit leaves: Open
// uses the other one, as bbolt does, and logs a warning.
func TestOpenOneBadMetaPage(t *testing.T) {
	img, ps, _ := baseFile(t, 3000)
	for page := range 2 {
		b := bytes.Clone(img)
		b[page*ps+16+20]++
		var log bytes.Buffer
		opts := store.DefaultOptions()
		opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
		s, err := openImage(t, b, opts)
		if err != nil {
			t.Fatalf("meta page %d damaged: Open = %v, want success", page, err)
		}
		if n, err := s.Len(); err != nil || n < 2500 {
			t.Errorf("meta page %d damaged: Len = %d, %v; want the last transaction or the one before", page, n, err)
		}
		if !strings.Contains(log.String(), "meta page") {
			t.Errorf("meta page %d damaged: no warning logged; log:\n%s", page, log.String())
		}
	}
}

// Random damage never makes Open panic or crash: it either fails with a
// clear error or, when the damage hit bytes nothing reads (free pages, the
// slack at the end of a page), opens a consistent store.
func TestOpenRandomDamage(t *testing.T) {
	img, ps, _ := baseFile(t, 400)
	rng := rand.New(rand.NewPCG(42, 42))
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	opened := 0
	for i := range iterations {
		b := bytes.Clone(img)
		for range 1 + rng.IntN(8) {
			off := 2*ps + rng.IntN(len(b)-2*ps)
			if rng.IntN(20) == 0 {
				off = rng.IntN(2 * ps) // sometimes a meta page
			}
			b[off] = byte(rng.Uint32())
		}
		s, err := openImage(t, b, store.DefaultOptions())
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrNotStore) {
				t.Errorf("iteration %d: Open = %v, want ErrCorrupt", i, err)
			}
			continue
		}
		opened++
		if _, err := s.Active(t0); err != nil {
			t.Errorf("iteration %d: opened, but Active = %v", i, err)
		}
		if _, err := s.Keys(store.MinBound, store.MaxBound, 0); err != nil {
			t.Errorf("iteration %d: opened, but Keys = %v", i, err)
		}
	}
	t.Logf("%d of %d damaged files opened (damage in unread bytes)", opened, iterations)
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	t.Run("another bbolt file", func(t *testing.T) {
		path := filepath.Join(dir, "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
		db.Close()
		if _, err := store.Open(path, store.DefaultOptions()); !errors.Is(err, store.ErrNotStore) || !strings.Contains(err.Error(), "widgets") {
			t.Errorf("Open = %v, want ErrNotStore naming its buckets", err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		path := filepath.Join(dir, "future.db")
		s, err := store.Open(path, store.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		next := store.SchemaVersion + 1
		db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, uint32(next)))
		})
		db.Close()
		_, err = store.Open(path, store.DefaultOptions())
		if want := fmt.Sprintf("schema %d", next); !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open = %v, want ErrSchema naming %s", err, want)
		}
	})
	t.Run("locked", func(t *testing.T) {
		path := filepath.Join(dir, "locked.db")
		s, err := store.Open(path, store.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		opts := store.DefaultOptions()
		opts.OpenTimeout = 20 * time.Millisecond
		if _, err := store.Open(path, opts); !errors.Is(err, store.ErrLocked) {
			t.Errorf("second Open = %v, want ErrLocked", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := store.Open(filepath.Join(dir, "x.db"), store.Options{OpenTimeout: -1})
		for _, want := range []string{"MaxBytes", "ProtocolTTL", "MaxOutbox", "OpenTimeout"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Open with zero options = %v, want it to mention %s", err, want)
			}
		}
	})
}

// FuzzPageWalk feeds damaged bbolt images to Open's own page checks, which
// must never panic. The seed is a small bbolt file (1 KiB pages) with
// nested, inline and multi-page buckets.
func FuzzPageWalk(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 60 {
			if err := big.Put([]byte{byte(i), 'k'}, bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
				return err
			}
		}
		if err := big.Put([]byte("overflow"), make([]byte, 3000)); err != nil {
			return err
		}
		inline, err := tx.CreateBucket([]byte("inline"))
		if err != nil {
			return err
		}
		if err := inline.Put([]byte("a"), []byte("b")); err != nil {
			return err
		}
		nested, err := big.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		return nested.Put([]byte("x"), []byte("y"))
	})
	if err != nil {
		f.Fatal(err)
	}
	db.Close()
	img, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	hwm := int(binary.NativeEndian.Uint64(img[16+40:]))
	if m1 := binary.NativeEndian.Uint64(img[1024+16+40:]); int(m1) > hwm {
		hwm = int(m1)
	}
	img = img[:hwm*1024]
	if err := store.WalkPages(img); err != nil {
		f.Fatalf("the seed does not pass: %v", err)
	}
	f.Add(img)
	f.Add(img[:2048])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = store.CheckMetas(b)
		_ = store.WalkPages(b)
	})
}

// FuzzEntry checks the stored entry decoder: it never panics, and what it
// accepts re-encodes to the same bytes.
func FuzzEntry(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 3, 0, 0, 0, 1, 0x8f, 0, 0, 0, 0, 0, 0, 1, 0x90, 0, 0, 0, 0, 0, 0, 1, 0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 2, 'g', 'w', 4, 'c', 'i', 't', 'y', 0xd2, 0x84})
	f.Fuzz(func(t *testing.T, v []byte) {
		out, err := store.DecodeEntryRoundTrip(v)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(out, v) {
			t.Fatalf("round trip:\n in %x\nout %x", v, out)
		}
	})
}

// TestOpenMigratesSchema1 opens a schema 1 file, whose superseded-set
// entries hold only an expiry: Open raises the schema, the file passes its
// checks, and the old entry still suppresses the record it names, as
// schema 1 did.
func TestOpenMigratesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	emer := sign(t, spec{Seq: 1, Tier: record.TierEmergency})
	cancel := sign(t, spec{Seq: 2, Kind: record.KindCancel, Tier: record.TierWarning, Supersedes: []record.ID{emer.ID()}})
	health := sign(t, spec{Seq: 3, Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-7"), Origin: "pole-7"})
	put(t, s, t0, cancel, health)
	s.Close()

	// Rewrite it as schema 1 wrote it.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		sup, id := tx.Bucket([]byte("sup")), emer.ID()
		v := sup.Get(id[:])
		if len(v) <= 8 {
			return fmt.Errorf("schema 2 entry of %d bytes, want the claimant after the expiry", len(v))
		}
		if err := sup.Put(id[:], append([]byte(nil), v[:8]...)); err != nil {
			return err
		}
		// Schema 1 indexed device scopes too.
		if err := tx.Bucket([]byte("scope")).Put(store.ScopeIndexKey(string(health.Scope), health.Expires, health.ID()), nil); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = store.Open(path, store.DefaultOptions())
	if err != nil {
		t.Fatalf("Open of a schema 1 file: %v", err)
	}
	put(t, s, t0, emer)
	if es, err := s.Active(t0); err != nil || len(es) != 0 {
		t.Errorf("Active = %d records, %v; want the legacy entry to suppress the emergency", len(es), err)
	}
	if err := s.CheckFile(); err != nil {
		t.Errorf("the migrated file fails its checks: %v", err)
	}
	if es, err := s.ByScope(health.Scope); err != nil || len(es) != 1 || es[0].ID != health.ID() {
		t.Errorf("ByScope(%s) after migration = %d records, %v", health.Scope, len(es), err)
	}
	s.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); binary.BigEndian.Uint32(v) != store.SchemaVersion {
			t.Errorf("schema after Open = %x, want %d", v, store.SchemaVersion)
		}
		if n := tx.Bucket([]byte("scope")).Stats().KeyN; n != 2 {
			t.Errorf("the scope index holds %d keys after migration, want 2 (the city-scoped cancel and emergency)", n)
		}
		return nil
	})
}

// FuzzSupClaim checks that a superseded-set entry decodes strictly: what
// decodes encodes back to the same bytes, and every refusal wraps
// ErrCorrupt.
func FuzzSupClaim(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 0x8f, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 1, 0x8f, 0, 0, 0, 0, 3, 4, 'c', 'i', 't', 'y'})
	f.Add([]byte{0, 0, 1, 0x8f, 0, 0, 0, 0, 2, 7, 'z', 'o', 'n', 'e', ':', 'z', '1', 9, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		out, err := store.SupClaimRoundTrip(v)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(out, v) {
			t.Fatalf("round trip:\n in %x\nout %x", v, out)
		}
	})
}
