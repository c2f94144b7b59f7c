package fleet_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// benchPKI is a city of 1,000 poles in 10 zones.
var benchPKI = sync.OnceValue(func() *pki {
	p := newPKI(0)
	for i := range 1000 {
		d, err := issueDevice(p, fmt.Sprintf("pole-%04d", i), fmt.Sprintf("z%d", i%10))
		if err != nil {
			panic(err)
		}
		p.devices = append(p.devices, d)
	}
	return p
})

// BenchmarkObserveAcks measures the delivery path the server runs for
// every accepted ack: Observe for each ack, and Flush (one bbolt
// transaction, fsync included) every 1,000 acks, as a server taking
// 1,000 acks a second would with its 1-second flush. The acks are real
// signed records of 1,000 devices for a city-wide alert and its
// renewals (received, displayed, played), observed in arrival order; a
// Flush writes the entries changed since the last one.
func BenchmarkObserveAcks(b *testing.B) {
	p := benchPKI()
	e := newBenchEnv(b, p)
	var recs []record.ID
	for i := range 5 {
		recs = append(recs, alertRecord(b, record.City, uint64(i+1), t0.Add(time.Duration(i)*time.Minute)).ID())
	}
	e.fleet.Track("a1", recs, record.City, t0)
	var acks []*record.Record
	for _, r := range recs {
		for _, st := range []record.AckState{record.AckReceived, record.AckDisplayed, record.AckPlayed} {
			for _, d := range p.devices {
				acks = append(acks, d.ack(b, r, st, "", t0.Add(time.Second)))
			}
		}
	}
	const flushEvery = 1000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e.fleet.Observe(acks[i%len(acks)], t0)
		if i%flushEvery == flushEvery-1 {
			if _, err := e.fleet.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := e.fleet.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
}

// BenchmarkObserveOnly is Observe alone: the cost on the node's event
// loop.
func BenchmarkObserveOnly(b *testing.B) {
	p := benchPKI()
	e := newBenchEnv(b, p)
	r := alertRecord(b, record.City, 1, t0).ID()
	e.fleet.Track("a1", []record.ID{r}, record.City, t0)
	var acks []*record.Record
	for _, d := range p.devices {
		acks = append(acks, d.ack(b, r, record.AckDisplayed, "", t0))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e.fleet.Observe(acks[i%len(acks)], t0)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
}

func newBenchEnv(b *testing.B, p *pki) *env {
	b.Helper()
	e := newEnv(b, nil)
	for _, d := range p.devices {
		if _, err := e.fleet.Register(d.cert); err != nil {
			b.Fatal(err)
		}
	}
	return e
}
