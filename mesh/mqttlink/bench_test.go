package mqttlink_test

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/record"
)

// BenchmarkAlertToPole measures one server warning from Publish on the
// server's node to its acceptance by a pole's node, through the embedded
// broker and a client link: verify and store at both ends included.
func BenchmarkAlertToPole(b *testing.B) {
	c, pole := benchPole(b)
	recs := make([]*record.Record, b.N)
	for i := range recs {
		recs[i] = mqtttest.Warning(b, c.server.Leaf, uint64(i+1), record.ZoneScope("z1"), "Bench")
	}
	b.ResetTimer()
	for _, r := range recs {
		c.server.MustPublish(b, r)
		select {
		case <-pole.Accepted:
		case <-time.After(wait):
			b.Fatal("the pole did not get the warning")
		}
	}
}

// BenchmarkAckUplink measures acks from a pole to the server's store,
// each through the pole's outbox and removed on its receipt.
func BenchmarkAckUplink(b *testing.B) {
	c, pole := benchPole(b)
	acks := make([]*record.Record, b.N)
	for i := range acks {
		acks[i] = mqtttest.Ack(b, pole.Leaf, uint64(i+1), record.IDOf([]byte{byte(i), byte(i >> 8), byte(i >> 16)}))
	}
	b.ResetTimer()
	for _, a := range acks {
		pole.MustPublish(b, a)
	}
	for range acks {
		select {
		case <-c.server.Accepted:
		case <-time.After(wait):
			b.Fatal("an ack did not reach the server")
		}
	}
	mqtttest.Eventually(b, wait, "the outbox to empty", func() bool { return pole.OutboxLen() == 0 })
}

// benchPole is a city with pole-1 connected to its broker.
func benchPole(b *testing.B) (*city, *mqtttest.Node) {
	b.Helper()
	c := newCity(b)
	pole, link := c.pole(b, "pole-1", c.broker.URL())
	mqtttest.Eventually(b, wait, "the pole to connect", link.Connected)
	return c, pole
}
