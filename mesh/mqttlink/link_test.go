package mqttlink_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

// city is a server node that owns a broker, and the PKI.
type city struct {
	pki    *mqtttest.PKI
	dir    string
	server *mqtttest.Node
	broker *mqttbroker.Broker
}

func newCity(t testing.TB, opts ...mqtttest.NodeOption) *city {
	t.Helper()
	c := &city{pki: mqtttest.NewPKI(t, "testville"), dir: t.TempDir()}
	c.server = mqtttest.StartNode(t, c.pki, c.dir, c.pki.Server(t, "server-1"), opts...)
	c.broker = startBroker(t, c.server, "127.0.0.1:0")
	return c
}

func startBroker(t testing.TB, n *mqtttest.Node, addr string) *mqttbroker.Broker {
	t.Helper()
	b, err := mqttbroker.New(mqttbroker.Config{
		Node: n.Node, Address: addr, Certificate: n.Leaf.TLS, Verifier: n.Verifier,
		Logger: mqtttest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// fast returns link settings for tests: short backoff and receipt waits.
func fast(cfg mqttlink.Config) mqttlink.Config {
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 200*time.Millisecond
	cfg.StableAfter = 50 * time.Millisecond
	cfg.ConnectTimeout = 3 * time.Second
	if cfg.ReceiptTimeout == 0 {
		cfg.ReceiptTimeout = 2 * time.Second
	}
	cfg.Seed = 1
	cfg.DrainEvery = 20 * time.Millisecond
	return cfg
}

func startLink(t testing.TB, n *mqtttest.Node, brokers ...string) *mqttlink.Link {
	t.Helper()
	return startLinkConfig(t, n, mqttlink.Config{Brokers: brokers})
}

func startLinkConfig(t testing.TB, n *mqtttest.Node, cfg mqttlink.Config) *mqttlink.Link {
	t.Helper()
	cfg.Node, cfg.Certificate, cfg.Verifier = n.Node, n.Leaf.TLS, n.Verifier
	if cfg.Logger == nil {
		cfg.Logger = mqtttest.Logger(t)
	}
	l, err := mqttlink.New(fast(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pole starts a device node in zone z1 with a link to the brokers.
func (c *city) pole(t testing.TB, id string, brokers ...string) (*mqtttest.Node, *mqttlink.Link) {
	t.Helper()
	n := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, id, "z1"))
	return n, startLink(t, n, brokers...)
}

func TestAlertReachesPole(t *testing.T) {
	c := newCity(t)
	pole, link := c.pole(t, "pole-1", c.broker.URL())
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)
	if id, ok := link.Broker(); !ok || id.ID != "server-1" || id.Role != trust.RoleServer {
		t.Errorf("broker identity %v, %v", id, ok)
	}

	w := mqtttest.Warning(t, c.server.Leaf, 1, record.ZoneScope("z1"), "Flood warning")
	start := time.Now()
	c.server.MustPublish(t, w)
	mqtttest.Eventually(t, wait, "the warning in the pole's store", func() bool { return pole.Has(w.ID()) })
	t.Logf("server publish → pole store: %v", time.Since(start))

	// A command for the pole and a broadcast too; a warning for another
	// zone is not for it.
	cmd := mqtttest.Command(t, c.server.Leaf, 2, "pole-1", "brightness", 40)
	all := mqtttest.Warning(t, c.server.Leaf, 3, record.City, "Test of the city")
	other := mqtttest.Warning(t, c.server.Leaf, 4, record.ZoneScope("z2"), "Not here")
	for _, r := range []*record.Record{other, cmd, all} {
		c.server.MustPublish(t, r)
	}
	mqtttest.Eventually(t, wait, "the command and the broadcast", func() bool { return pole.Has(cmd.ID()) && pole.Has(all.ID()) })
	if pole.Has(other.ID()) {
		t.Error("the pole got another zone's warning")
	}
	if s := link.Stats(); s.Received != 3 || s.Connects != 1 || s.Broker != c.broker.URL() {
		t.Errorf("pole link stats: %+v", s)
	}
}

// TestAckLeavesOutboxOnlyOnReceipt: an ack goes into the pole's outbox and
// stays there after the broker's PUBACK, until the server's node has
// stored it and the broker link sent the receipt.
func TestAckLeavesOutboxOnlyOnReceipt(t *testing.T) {
	c := newCity(t, mqtttest.Paused()) // the server's node takes nothing in yet
	pole, link := c.pole(t, "pole-1", c.broker.URL())
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)

	ack := mqtttest.Ack(t, pole.Leaf, 1, record.IDOf([]byte("some alert")))
	pole.MustPublish(t, ack)
	mqtttest.Eventually(t, wait, "the broker to receive the ack", func() bool {
		return c.broker.Link().Stats().Received >= 1
	})
	// The broker has PUBACKed it (mochi acks after the hook), but the
	// server's node has not stored it: no receipt, the entry stays.
	if n := pole.OutboxLen(); n != 1 {
		t.Fatalf("outbox holds %d entries after the PUBACK, want 1", n)
	}
	if s := link.Stats(); s.ReceiptsIn != 0 || s.OutboxAcks != 1 {
		t.Fatalf("before the receipt: %+v", s)
	}

	c.server.Run()
	mqtttest.Eventually(t, wait, "the ack in the server's store", func() bool { return c.server.Has(ack.ID()) })
	mqtttest.Eventually(t, wait, "the receipt to empty the outbox", func() bool {
		return pole.OutboxLen() == 0 && link.Stats().ReceiptsIn == 1
	})
	if s := c.broker.Link().Stats(); s.ReceiptIDs < 1 || s.ReceiptMsgs < 1 {
		t.Errorf("broker link stats: %+v", s)
	}
}

// TestResendAfterTimeout: an entry whose receipt does not come within
// ReceiptTimeout is sent again, until one does.
func TestResendAfterTimeout(t *testing.T) {
	c := newCity(t, mqtttest.Paused()) // no receipts while paused
	pole := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-1", "z1"))
	link := startLinkConfig(t, pole, mqttlink.Config{Brokers: []string{c.broker.URL()}, ReceiptTimeout: 100 * time.Millisecond})
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)
	ack := mqtttest.Ack(t, pole.Leaf, 1, record.IDOf([]byte("x")))
	pole.MustPublish(t, ack)
	mqtttest.Eventually(t, wait, "two resends", func() bool { return link.Stats().Resent >= 2 })
	if n := pole.OutboxLen(); n != 1 {
		t.Fatalf("outbox holds %d, want 1", n)
	}
	c.server.Run() // the copies are duplicates: one record, one receipt each
	mqtttest.Eventually(t, wait, "the outbox to empty", func() bool { return pole.OutboxLen() == 0 })
	if got := c.server.Counters(); got.Accepted != 1 || got.Duplicates < 2 {
		t.Errorf("server counters: %+v", got)
	}
}

// TestOutboxSurvivesBrokerAndLinkRestart: acks made while the broker is
// down wait in the outbox (also across a restart of the pole's link) and
// all reach the server when the broker is back.
func TestOutboxSurvivesBrokerAndLinkRestart(t *testing.T) {
	c := newCity(t)
	addr := c.broker.Addr().String()
	pole, link := c.pole(t, "pole-1", c.broker.URL())
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)

	c.broker.Close()
	mqtttest.Eventually(t, wait, "the pole to notice", func() bool { return !link.Connected() })
	// The health report first, as a pole sends it: it carries the chain
	// the server needs to check the acks, which name their key by kid.
	health := mqtttest.Health(t, pole.Leaf, 1)
	acks := []*record.Record{health}
	pole.MustPublish(t, health)
	for i := range 5 {
		a := mqtttest.Ack(t, pole.Leaf, uint64(i+2), record.IDOf([]byte{byte(i)}))
		acks = append(acks, a)
		pole.MustPublish(t, a)
	}
	mqtttest.Eventually(t, wait, "5 acks and a health report in the outbox", func() bool {
		s := link.Stats()
		return s.OutboxAcks == 5 && s.OutboxTelemetry == 1
	})
	mqtttest.Eventually(t, wait, "a failed reconnect", func() bool { return link.Stats().ConnectFailures > 0 })
	// The pole's link restarts too: the outbox is on disk.
	link.Close()
	link = startLink(t, pole, "tls://"+addr)
	if link.Connected() {
		t.Fatal("connected with no broker")
	}

	b2 := startBroker(t, c.server, addr)
	mqtttest.Eventually(t, wait, "the pole to reconnect", link.Connected)
	mqtttest.Eventually(t, wait, "every ack at the server", func() bool {
		for _, a := range acks {
			if !c.server.Has(a.ID()) {
				return false
			}
		}
		return true
	})
	mqtttest.Eventually(t, wait, "the outbox to empty", func() bool { return pole.OutboxLen() == 0 && link.Stats().ReceiptsIn == 6 })
	if s := b2.Link().Stats(); s.Received != 6 {
		t.Errorf("the new broker received %d records, want 6 (no duplicates before the receipts)", s.Received)
	}
}

// TestFailover: a pole configured with two gateways moves to the second
// when the first goes away, and back when the second does.
func TestFailover(t *testing.T) {
	pki := mqtttest.NewPKI(t, "testville")
	dir := t.TempDir()
	gw1 := mqtttest.StartNode(t, pki, dir, pki.Gateway(t, "gw-1", "z1"))
	gw2 := mqtttest.StartNode(t, pki, dir, pki.Gateway(t, "gw-2", "z1"))
	b1, b2 := startBroker(t, gw1, "127.0.0.1:0"), startBroker(t, gw2, "127.0.0.1:0")
	addr1 := b1.Addr().String()
	pole := mqtttest.StartNode(t, pki, dir, pki.Device(t, "pole-1", "z1"))
	link := startLink(t, pole, b1.URL(), b2.URL())
	mqtttest.Eventually(t, wait, "the pole on gw-1", func() bool { return link.Connected() && link.Stats().Broker == b1.URL() })

	b1.Close()
	start := time.Now()
	mqtttest.Eventually(t, wait, "the pole on gw-2", func() bool { return link.Connected() && link.Stats().Broker == b2.URL() })
	t.Logf("failover to gw-2 took %v", time.Since(start))
	adv := mqtttest.Advisory(t, gw2.Leaf, 1, "Road closed")
	gw2.MustPublish(t, adv)
	mqtttest.Eventually(t, wait, "gw-2's advisory at the pole", func() bool { return pole.Has(adv.ID()) })
	ack := mqtttest.Ack(t, pole.Leaf, 1, adv.ID())
	pole.MustPublish(t, ack)
	mqtttest.Eventually(t, wait, "the ack at gw-2", func() bool { return gw2.Has(ack.ID()) })
	mqtttest.Eventually(t, wait, "the receipt from gw-2", func() bool { return pole.OutboxLen() == 0 })

	b1 = startBroker(t, gw1, addr1)
	b2.Close()
	mqtttest.Eventually(t, wait, "the pole back on gw-1", func() bool { return link.Connected() && link.Stats().Broker == b1.URL() })
	if s := link.Stats(); s.Connects != 3 || s.Reconnects != 2 {
		t.Errorf("pole link stats: %+v", s)
	}
}

// TestGatewayBridge: a zone gateway runs a broker for its poles and a
// client link to the server's broker. A server warning reaches the pole
// through both; the pole's ack and the gateway's own advisory reach the
// server; every outbox empties on receipts; nothing echoes back.
func TestGatewayBridge(t *testing.T) {
	c := newCity(t)
	gw := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Gateway(t, "gw-1", "z1"))
	gwBroker := startBroker(t, gw, "127.0.0.1:0")
	up := startLink(t, gw, c.broker.URL())
	pole, link := c.pole(t, "pole-1", gwBroker.URL())
	mqtttest.Eventually(t, wait, "both links up", func() bool { return up.Connected() && link.Connected() })

	w := mqtttest.Warning(t, c.server.Leaf, 1, record.ZoneScope("z1"), "Storm warning")
	c.server.MustPublish(t, w)
	mqtttest.Eventually(t, wait, "the warning at the pole", func() bool { return pole.Has(w.ID()) })

	ack := mqtttest.Ack(t, pole.Leaf, 1, w.ID())
	pole.MustPublish(t, ack)
	adv := mqtttest.Advisory(t, gw.Leaf, 1, "Shelter open")
	gw.MustPublish(t, adv)
	mqtttest.Eventually(t, wait, "the ack and the advisory at the server", func() bool {
		return c.server.Has(ack.ID()) && c.server.Has(adv.ID())
	})
	mqtttest.Eventually(t, wait, "the advisory at the pole", func() bool { return pole.Has(adv.ID()) })
	mqtttest.Eventually(t, wait, "every outbox empty", func() bool {
		return pole.OutboxLen() == 0 && gw.OutboxLen() == 0 && up.Stats().ReceiptsIn == 2
	})
	if s := up.Stats(); s.Received != 1 {
		t.Errorf("gateway uplink received %d records, want 1 (the warning; no echo of its advisory): %+v", s.Received, s)
	}
}

// TestQueuedWhileAway: the broker keeps a pole's session (clean session
// off) and hands it what was published while the pole was away.
func TestQueuedWhileAway(t *testing.T) {
	c := newCity(t)
	pole, link := c.pole(t, "pole-1", c.broker.URL())
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)
	link.Close()
	mqtttest.Eventually(t, wait, "the broker to see the pole go", func() bool { return !c.broker.ClientConnected("pole-1") })
	w := mqtttest.Warning(t, c.server.Leaf, 1, record.ZoneScope("z1"), "While you were away")
	c.server.MustPublish(t, w)
	link = startLink(t, pole, c.broker.URL())
	mqtttest.Eventually(t, wait, "the queued warning at the pole", func() bool { return pole.Has(w.ID()) })
}

// TestDrain: a link whose Drain says no holds the outbox's entries (a
// standby link while the better one is up), and sends them once it says
// yes; an entry the program put in the outbox itself goes like the others.
func TestDrain(t *testing.T) {
	c := newCity(t)
	pole := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-1", "z1"))
	var mu sync.Mutex
	drain := false
	link := startLinkConfig(t, pole, mqttlink.Config{Brokers: []string{c.broker.URL()},
		Drain: func() bool { mu.Lock(); defer mu.Unlock(); return drain }})
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)
	a := mqtttest.Ack(t, pole.Leaf, 1, record.IDOf([]byte("alert")))
	pole.MustPublish(t, a)
	own := mqtttest.Ack(t, pole.Leaf, 2, record.IDOf([]byte("alert 2")))
	if _, err := pole.Store.Enqueue(store.OutboxAck, own.Raw()); err != nil {
		t.Fatal(err)
	}
	mqtttest.Eventually(t, wait, "the ack in the outbox", func() bool { return pole.OutboxLen() == 2 })
	if link.Stats().Published != 0 || c.server.Has(a.ID()) {
		t.Fatalf("a link told not to drain published %d records", link.Stats().Published)
	}
	mu.Lock()
	drain = true
	mu.Unlock()
	mqtttest.Eventually(t, wait, "both acks at the server", func() bool { return c.server.Has(a.ID()) && c.server.Has(own.ID()) })
	mqtttest.Eventually(t, wait, "the outbox to empty", func() bool { return pole.OutboxLen() == 0 })
}

// TestOutboxOrder: the outbox goes out in the order it was filled, so that
// a record naming its signer by kid only reaches the receiver after the
// one that carried the signer's chain.
func TestOutboxOrder(t *testing.T) {
	c := newCity(t)
	addr := c.broker.Addr().String()
	pole, link := c.pole(t, "pole-1", c.broker.URL())
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)
	c.broker.Close()
	mqtttest.Eventually(t, wait, "the pole to notice", func() bool { return !link.Connected() })
	var want []record.ID
	for i := range 60 {
		a := mqtttest.Ack(t, pole.Leaf, uint64(i+1), record.IDOf([]byte{byte(i)}))
		pole.MustPublish(t, a)
		want = append(want, a.ID())
	}
	mqtttest.Eventually(t, wait, "60 acks in the outbox", func() bool { return link.Stats().OutboxAcks == 60 })
	for len(c.server.Accepted) > 0 {
		<-c.server.Accepted
	}
	startBroker(t, c.server, addr)
	var got []record.ID
	for len(got) < len(want) {
		select {
		case id := <-c.server.Accepted:
			got = append(got, id)
		case <-time.After(wait):
			t.Fatalf("%d of %d acks arrived", len(got), len(want))
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ack %d arrived as number %d: the outbox went out of order", i, slices.Index(got, want[i]))
		}
	}
}

// TestOutboxFullKeepsWhatFits: acks offered together go into the outbox
// in one transaction, but when they would overflow it those that fit are
// kept and only the rest are refused (acks are never dropped to make room).
func TestOutboxFullKeepsWhatFits(t *testing.T) {
	c := newCity(t)
	pole := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-1", "z1"), mqtttest.MaxOutbox(3))
	link := startLink(t, pole, "tls://127.0.0.1:1") // nothing listens: the outbox only fills
	var acks []*record.Record
	for i := range 5 {
		acks = append(acks, mqtttest.Ack(t, pole.Leaf, uint64(i+1), record.IDOf([]byte{byte(i)})))
	}
	if err := pole.Node.PublishAll(context.Background(), acks); err != nil {
		t.Fatal(err)
	}
	mqtttest.Eventually(t, wait, "five acks handled", func() bool { return pole.OutboxLen()+int(link.Stats().OutboxErrors) == 5 })
	if n, errs := pole.OutboxLen(), link.Stats().OutboxErrors; n != 3 || errs != 2 {
		t.Errorf("outbox holds %d acks, %d refused; want 3 and 2", n, errs)
	}
}

// TestReceiptCostsNoFlush: a receipt removes its entry from the outbox at
// once for readers, but on disk only with the store's next write, or
// RemoveAfter later: a power cut in between sends the entry again rather
// than losing it.
func TestReceiptCostsNoFlush(t *testing.T) {
	c := newCity(t)
	pole := mqtttest.StartNode(t, c.pki, c.dir, c.pki.Device(t, "pole-1", "z1"))
	link := startLinkConfig(t, pole, mqttlink.Config{Brokers: []string{c.broker.URL()}, RemoveAfter: 300 * time.Millisecond})
	mqtttest.Eventually(t, wait, "the pole to connect", link.Connected)

	// onDisk is what the pole's outbox holds on disk: a copy of its file,
	// opened as after a power cut.
	onDisk := func() int {
		t.Helper()
		b, err := os.ReadFile(pole.Store.Path())
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(t.TempDir(), "cut.db")
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(cp, store.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, tel, err := st.OutboxLen()
		if err != nil {
			t.Fatal(err)
		}
		return a + tel
	}
	ack1 := mqtttest.Ack(t, pole.Leaf, 1, record.IDOf([]byte("alert 1")))
	pole.MustPublish(t, ack1)
	mqtttest.Eventually(t, wait, "the receipt", func() bool { return link.Stats().ReceiptsIn == 1 })
	if n := pole.OutboxLen(); n != 0 {
		t.Errorf("after the receipt the outbox shows %d entries, want 0", n)
	}
	// The removal waits for a write, or RemoveAfter: RemoveAfter it is.
	mqtttest.Eventually(t, wait, "the removal on disk", func() bool { return onDisk() == 0 })

	// With a long RemoveAfter, the next write carries the removal.
	link.Close()
	link = startLinkConfig(t, pole, mqttlink.Config{Brokers: []string{c.broker.URL()}, RemoveAfter: time.Hour})
	mqtttest.Eventually(t, wait, "the pole to reconnect", link.Connected)
	ack2 := mqtttest.Ack(t, pole.Leaf, 2, record.IDOf([]byte("alert 2")))
	pole.MustPublish(t, ack2)
	mqtttest.Eventually(t, wait, "the second receipt", func() bool { return link.Stats().ReceiptsIn == 1 })
	if n := onDisk(); n != 1 {
		t.Fatalf("before any write the outbox on disk holds %d entries, want the receipted one still", n)
	}
	ack3 := mqtttest.Ack(t, pole.Leaf, 3, record.IDOf([]byte("alert 3")))
	pole.MustPublish(t, ack3)
	mqtttest.Eventually(t, wait, "the third receipt", func() bool { return link.Stats().ReceiptsIn == 2 })
	if n := onDisk(); n != 1 {
		t.Errorf("after the next write the outbox on disk holds %d entries, want 1 (the third, receipted since)", n)
	}
	// Closing the link writes what is left.
	link.Close()
	if n := onDisk(); n != 0 {
		t.Errorf("after Close the outbox on disk holds %d entries, want 0", n)
	}
}
