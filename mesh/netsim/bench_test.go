package netsim

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkScheduler pushes packets through the link model and the one
// scheduler goroutine at 1000 nodes, each drained by its own goroutine.
// pkts/s counts packets sent and delivered (or dropped) within the timing.
func BenchmarkScheduler(b *testing.B) {
	for _, bc := range []struct {
		name string
		link Link
		par  bool
	}{
		{"1000nodes/latency1ms", Link{Latency: time.Millisecond}, false},
		{"1000nodes/lossy", Link{Latency: time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.05, Duplicate: 0.01, Reorder: 0.01}, false},
		{"1000nodes/latency1ms/parallel", Link{Latency: time.Millisecond}, true},
	} {
		b.Run(bc.name, func(b *testing.B) { benchScheduler(b, 1000, bc.link, bc.par) })
	}
}

func benchScheduler(b *testing.B, size int, l Link, parallel bool) {
	n := New(Config{Default: l, PacketBuffer: 4096})
	eps := make([]*Endpoint, size)
	names := make([]string, size)
	var got atomic.Int64
	var wg sync.WaitGroup
	for i := range eps {
		names[i] = fmt.Sprintf("n%04d", i)
		e, err := n.Endpoint(names[i])
		if err != nil {
			b.Fatal(err)
		}
		eps[i] = e
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-e.Recv():
					got.Add(1)
				case <-e.Done():
					return
				}
			}
		}()
	}
	payload := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1))
				if err := eps[i%size].Send(names[(i*7+1)%size], payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for i := range b.N {
			if err := eps[i%size].Send(names[(i*7+1)%size], payload); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Wait until every copy is delivered or dropped.
	tick := time.NewTicker(time.Millisecond)
	for {
		s := n.TotalStats()
		if uint64(got.Load())+s.Dropped.Total() >= s.PacketsSent+s.Duplicated {
			break
		}
		<-tick.C
	}
	tick.Stop()
	b.StopTimer()
	s := n.TotalStats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	if s.Dropped.Overflow > 0 {
		b.ReportMetric(float64(s.Dropped.Overflow), "overflows")
	}
	n.Close()
	wg.Wait()
}
