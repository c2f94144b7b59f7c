package store_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	bolt "go.etcd.io/bbolt"
)

// Benchmarks write to the temporary directory: set TMPDIR to measure the
// disk that matters (an SD card on a pole). Every transaction is fsync'd.

// pools hold signed alerts, reused across benchmark runs (each run uses a
// fresh store, so the same records can go in again). In the "stream" pool
// each record expires a second after the one before, as alerts issued one
// after another with the same lifetime do; in the "random" pool expiries
// are spread over 40 days, as in a catch-up after a partition.
var pools = map[string][]*record.Record{}

func signed(b *testing.B, pool string, n int) []*record.Record {
	rs := pools[pool]
	for len(rs) < n {
		i := len(rs)
		exp := 100*time.Hour + time.Duration(i)*time.Second
		if pool == "random" {
			exp = 100*time.Hour + time.Duration(uint64(i)*2654435761%(1<<20))*time.Second
		}
		rs = append(rs, sign(b, spec{Seq: uint64(i), Expires: exp}))
	}
	pools[pool] = rs
	return rs[:n]
}

func BenchmarkPut(b *testing.B) {
	rs := signed(b, "stream", b.N)
	s := openStore(b, store.DefaultOptions())
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Put(rs[i], t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// prefill is how many records a store holds before the write benchmarks
// measure: about two days of traffic on a busy pole.
const prefill = 20000

// BenchmarkPutBatch measures, on one store already holding prefill records,
// single Puts and then batches of 100 and 1,000 records per transaction,
// and reports the batched rate next to the single-Put rate and to the
// physical floor (a one-record fsync'd bbolt transaction), both measured
// in the same run.
func BenchmarkPutBatch(b *testing.B) {
	for _, pool := range []string{"stream", "random"} {
		for _, batch := range []int{100, 1000} {
			b.Run(fmt.Sprintf("expiry=%s/batch=%d", pool, batch), func(b *testing.B) {
				const singles = 200
				rs := signed(b, pool, prefill+singles+b.N*batch)
				s := openStore(b, store.DefaultOptions())
				for i := 0; i < prefill; i += 1000 {
					if _, err := s.PutBatch(rs[i:i+1000], t0); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				for _, r := range rs[prefill : prefill+singles] {
					if _, err := s.Put(r, t0); err != nil {
						b.Fatal(err)
					}
				}
				singleRate := singles / time.Since(start).Seconds()
				floorRate := 1 / boltTxFloor(b, singles).Seconds()

				rest := rs[prefill+singles:]
				b.ResetTimer()
				for i := range b.N {
					if _, err := s.PutBatch(rest[i*batch:(i+1)*batch], t0); err != nil {
						b.Fatal(err)
					}
				}
				rate := float64(b.N*batch) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "records/s")
				b.ReportMetric(singleRate, "single-records/s")
				b.ReportMetric(rate/singleRate, "x_single")
				b.ReportMetric(rate/floorRate, "x_floor")
			})
		}
	}
}

// boltTxFloor returns the mean time of n one-record fsync'd bbolt
// transactions writing 1 KB to a bare bucket, with the store's options.
func boltTxFloor(b *testing.B, n int) time.Duration {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 1024)
	start := time.Now()
	for i := range n {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], uint64(i))
			return bk.Put(k[:], val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkBoltTxFloor is the physical floor: one fsync'd bbolt
// transaction writing 1 KB to a bare bucket.
func BenchmarkBoltTxFloor(b *testing.B) {
	boltTxFloor(b, b.N)
}

// fixtures are stores built once per process and reopened by each run.
var fixtures = map[string]string{}

// fixture builds (once) a store of `expired` records that have expired at
// t0 and `active` alerts active at t0, and returns its path. With signed,
// the records are really signed; otherwise they are made-up bytes stored
// with PutRaw, which writes the same entries and indexes.
func fixture(b *testing.B, expired, active int, signed bool) string {
	key := fmt.Sprintf("%d/%d/%v", expired, active, signed)
	if p, ok := fixtures[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "store-bench-")
	if err != nil {
		b.Fatal(err)
	}
	fixtureDirs = append(fixtureDirs, dir)
	path := filepath.Join(dir, "node.db")
	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	n := expired + active
	// Records expire between t0-500h and t0 (expired) or after t0 (active);
	// they are stored at a time before all of them expire.
	expiry := func(i int) time.Duration {
		if i < expired {
			return -time.Duration(1+i%(500*60)) * time.Minute
		}
		return time.Duration(1+i%600) * time.Minute
	}
	storeAt := t0.Add(-501 * time.Hour)
	if signed {
		rs := make([]*record.Record, n)
		var wg sync.WaitGroup
		const workers = 4
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					rs[i] = sign(b, spec{Seq: uint64(i), Issued: -600 * time.Hour, Expires: expiry(i), Tier: record.Tier(1 + i%5)})
				}
			})
		}
		wg.Wait()
		signing := time.Since(start)
		for i := 0; i < n; i += 1000 {
			if _, err := s.PutBatch(rs[i:min(i+1000, n)], storeAt); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("fixture %s: signed %d records in %v, stored them in %v", key, n, signing, time.Since(start)-signing)
	} else {
		for i := 0; i < n; i += 1000 {
			var items []store.RawItem
			for j := i; j < min(i+1000, n); j++ {
				raw := make([]byte, 300)
				binary.BigEndian.PutUint64(raw, uint64(j))
				items = append(items, store.RawItem{Raw: raw, Kind: record.KindAlert, Tier: record.Tier(1 + j%5), Scope: record.City,
					Issued: t0.Add(-600 * time.Hour), Expires: t0.Add(expiry(j)), Origin: "bench", Seq: uint64(j)})
			}
			if _, err := s.PutRaw(items, storeAt); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("fixture %s: stored %d records in %v", key, n, time.Since(start))
	}
	fixtures[key] = path
	return path
}

func benchActive(b *testing.B, path string, wantActive int) {
	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for range b.N {
		es, err := s.Active(t0)
		if err != nil {
			b.Fatal(err)
		}
		if len(es) != wantActive {
			b.Fatalf("Active = %d records, want %d", len(es), wantActive)
		}
	}
}

// BenchmarkActive100k: 100,000 signed records stored, 1,000 of them active.
func BenchmarkActive100k(b *testing.B) {
	benchActive(b, fixture(b, 99000, 1000, true), 1000)
}

// BenchmarkActive shows that Active does not grow with expired records
// waiting for a sweep: 1,000 active among 10,000 or 100,000 expired.
func BenchmarkActive(b *testing.B) {
	for _, expired := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("expired=%d", expired), func(b *testing.B) {
			benchActive(b, fixture(b, expired, 1000, false), 1000)
		})
	}
}

// BenchmarkOpen100k is the cost of Open's full check (meta pages, page
// walk, bbolt's tx.Check, every record's hash and index) on 100,000
// records.
func BenchmarkOpen100k(b *testing.B) {
	path := fixture(b, 99000, 1000, true)
	b.ResetTimer()
	for range b.N {
		s, err := store.Open(path, store.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkSweep100k deletes 99,000 expired records of 100,000.
func BenchmarkSweep100k(b *testing.B) {
	src := fixture(b, 99000, 1000, false)
	img, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "node.db")
		if err := os.WriteFile(path, img, 0o600); err != nil {
			b.Fatal(err)
		}
		s, err := store.Open(path, store.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := s.Sweep(t0)
		if err != nil || n != 99000 {
			b.Fatalf("Sweep = %d, %v", n, err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkReconcile is one whole exchange between stores of 10,000
// records that differ by 1 or 100.
func BenchmarkReconcile(b *testing.B) {
	for _, diff := range []int{0, 1, 100} {
		b.Run(fmt.Sprintf("diff=%d", diff), func(b *testing.B) {
			x, y, _, _ := twoStores(b, 21, 10000, diff-diff/2, diff/2)
			var res exchangeResult
			b.ResetTimer()
			for range b.N {
				res = exchange(b, x, y, t0, t0)
			}
			b.ReportMetric(float64(res.bytes), "bytes")
			b.ReportMetric(float64(res.messages), "messages")
		})
	}
}
