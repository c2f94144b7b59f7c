package audit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures appends to a log on the test's disk, with the
// default segment size (so sealing is included), reporting entries/s:
//
//   - serial: one goroutine, so one write and one fsync per entry;
//   - concurrent-N: N goroutines appending at once, sharing fsyncs
//     through group commit, as the server's request handlers do;
//   - batch-100: one goroutine calling AppendBatch with 100 entries.
func BenchmarkAppend(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		l := benchLog(b)
		e := entry(1)
		for b.Loop() {
			if _, err := l.Append(e); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, int64(b.N))
	})
	for _, workers := range []int{8, 64} {
		b.Run(fmt.Sprintf("concurrent-%d", workers), func(b *testing.B) {
			l := benchLog(b)
			e := entry(1)
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for range workers {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := l.Append(e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportRate(b, int64(b.N))
		})
	}
	b.Run("batch-100", func(b *testing.B) {
		l := benchLog(b)
		batch := make([]Entry, 100)
		for i := range batch {
			batch[i] = entry(i)
		}
		for b.Loop() {
			if _, err := l.AppendBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, int64(b.N)*100)
	})
}

func benchLog(b *testing.B) *Log {
	o := testOptions(newClock(t0))
	o.SegmentEntries = 0 // the default
	l, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func reportRate(b *testing.B, entries int64) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}
