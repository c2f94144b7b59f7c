package mqttbroker_test

import (
	"crypto/tls"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/cityarray/cityarray/mesh/mqttbroker"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/mqttlink/mqtttest"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

type city struct {
	pki    *mqtttest.PKI
	dir    string
	server *mqtttest.Node
	broker *mqttbroker.Broker
}

func newCity(t *testing.T) *city {
	t.Helper()
	c := &city{pki: mqtttest.NewPKI(t, "testville"), dir: t.TempDir()}
	c.server = mqtttest.StartNode(t, c.pki, c.dir, c.pki.Server(t, "server-1"))
	b, err := mqttbroker.New(mqttbroker.Config{
		Node: c.server.Node, Address: "127.0.0.1:0", Certificate: c.server.Leaf.TLS,
		Verifier: c.server.Verifier, Logger: mqtttest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c.broker = b
	return c
}

// client is a bare paho client with leaf's certificate, recording what it
// receives.
type client struct {
	paho.Client
	mu   sync.Mutex
	got  map[string][][]byte // by topic
	lost atomic.Bool
}

func (c *client) received(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[topic])
}

func (c *client) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.got {
		n += len(v)
	}
	return n
}

// dial connects a bare client as clientID with cert; it checks the broker
// against the city. onMessage, if set, is called for each message.
func (c *city) dial(t *testing.T, clientID string, cert tls.Certificate, onMessage func()) (*client, error) {
	t.Helper()
	conf := mqttlink.ClientTLS(cert, c.pki.Verifier(t), nil, []trust.Role{trust.RoleServer, trust.RoleGateway}, nil)
	return dialTLS(t, c.broker.URL(), clientID, conf, onMessage)
}

func dialTLS(t *testing.T, url, clientID string, conf *tls.Config, onMessage func()) (*client, error) {
	t.Helper()
	cl := &client{got: map[string][][]byte{}}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false).SetTLSConfig(conf).
		SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			cl.mu.Lock()
			cl.got[m.Topic()] = append(cl.got[m.Topic()], m.Payload())
			cl.mu.Unlock()
			if onMessage != nil {
				onMessage()
			}
		}).
		SetConnectionLostHandler(func(paho.Client, error) { cl.lost.Store(true) })
	cl.Client = paho.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if cl.IsConnectionOpen() {
			cl.Disconnect(100)
		}
	})
	return cl, nil
}

func subscribe(t *testing.T, c *client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %q: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func TestMessageExpiry(t *testing.T) {
	c := newCity(t)
	if got := c.broker.Server().Options.Capabilities.MaximumMessageExpiryInterval; got < int64(48*time.Hour/time.Second) {
		t.Errorf("MaximumMessageExpiryInterval = %d s, below 48 h", got)
	}
	_, err := mqttbroker.New(mqttbroker.Config{
		Node: c.server.Node, Address: "127.0.0.1:0", Certificate: c.server.Leaf.TLS,
		Verifier: c.server.Verifier, MessageExpiry: 24 * time.Hour,
	})
	if err == nil {
		t.Error("a broker with a 24 h message expiry was started")
	}
}

func TestDeviceSubscriptions(t *testing.T) {
	c := newCity(t)
	pole, err := c.dial(t, "pole-1", c.pki.Device(t, "pole-1", "z1").TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]byte{
		"#":                                 0x80,
		"cityarray/#":                       0x80,
		"cityarray/alerts/zone/+":           0x80,
		"cityarray/alerts/zone/z2":          0x80,
		"cityarray/commands/+/#":            0x80,
		"cityarray/devices/pole-2/receipts": 0x80,
		"cityarray/alerts/zone/z1":          1,
		"cityarray/alerts/broadcast":        1,
		"cityarray/commands/pole-1/#":       1,
		"cityarray/devices/pole-1/receipts": 1,
	} {
		if got := subscribe(t, pole, filter); got != want {
			t.Errorf("subscribe %q: granted %#x, want %#x", filter, got, want)
		}
	}
	if s := c.broker.Link().Stats(); s.Refused < 6 {
		t.Errorf("broker counted %d refusals, want ≥ 6", s.Refused)
	}
}

func TestDeviceCannotPublishAnotherDevicesTopic(t *testing.T) {
	c := newCity(t)
	leaf := c.pki.Device(t, "pole-1", "z1")
	pole, err := c.dial(t, "pole-1", leaf.TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A genuine ack of pole-1's, published on pole-2's topic: refused
	// before anything looks at it, and the client is disconnected
	// (MQTT 3.1.1 has no way to refuse a single publish).
	ack := mqtttest.Ack(t, leaf, 1, record.IDOf([]byte("x")))
	pole.Publish("cityarray/devices/pole-2/status", 1, false, ack.Raw())
	mqtttest.Eventually(t, wait, "the broker to drop the client", pole.lost.Load)
	if s := c.broker.Link().Stats(); s.Refused != 1 || s.Received != 0 {
		t.Errorf("broker link stats: %+v", s)
	}
	if c.server.Has(ack.ID()) {
		t.Error("the refused record reached the node")
	}
	// On its own topic it goes through.
	pole, err = c.dial(t, "pole-1", leaf.TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	pole.Publish("cityarray/devices/pole-1/status", 1, false, ack.Raw())
	mqtttest.Eventually(t, wait, "the ack at the server", func() bool { return c.server.Has(ack.ID()) })
}

func TestConnectionsRefused(t *testing.T) {
	c := newCity(t)
	leaf := c.pki.Device(t, "pole-1", "z1")

	// A client id that is not the certificate's.
	if _, err := c.dial(t, "pole-2", leaf.TLS, nil); err == nil {
		t.Error("pole-1's certificate connected as pole-2")
	}
	if s := c.broker.Link().Stats(); s.AuthFailures != 1 {
		t.Errorf("auth failures %d, want 1", s.AuthFailures)
	}

	// A certificate from another city's CA, and an operator's: refused
	// in the TLS handshake.
	other := mqtttest.NewPKI(t, "otherville")
	for _, cert := range []tls.Certificate{
		other.Device(t, "pole-1", "z1").TLS,
		c.pki.Issue(t, trust.Identity{Role: trust.RoleOperator, ID: "op-1"}).TLS,
	} {
		if _, err := c.dial(t, cert.Leaf.Subject.CommonName, cert, nil); err == nil {
			t.Errorf("%s connected", cert.Leaf.URIs[0])
		}
	}
	// And no certificate at all.
	conf := mqttlink.ClientTLS(tls.Certificate{}, c.pki.Verifier(t), nil, []trust.Role{trust.RoleServer}, nil)
	conf.Certificates = nil
	if _, err := dialTLS(t, c.broker.URL(), "pole-1", conf, nil); err == nil {
		t.Error("a client without a certificate connected")
	}
	mqtttest.Eventually(t, wait, "3 TLS refusals counted", func() bool { return c.broker.Link().Stats().TLSFailures == 3 })

	// The link side: a pole that trusts only otherville refuses the
	// broker.
	n := mqtttest.StartNode(t, other, c.dir, other.Device(t, "pole-9", "z1"))
	l, err := mqttlink.New(mqttlink.Config{Node: n.Node, Brokers: []string{c.broker.URL()}, Certificate: n.Leaf.TLS,
		Verifier: n.Verifier, Logger: mqtttest.Logger(t), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mqtttest.Eventually(t, wait, "two refused attempts", func() bool { return l.Stats().ConnectFailures >= 2 })
	if l.Connected() {
		t.Error("the link connected to a broker of another city")
	}
}

// TestVerifiedFanOutWithoutEcho: what a client publishes reaches other
// subscribers only after the node accepted it, never goes back to the
// publisher, and a forgery goes nowhere.
func TestVerifiedFanOutWithoutEcho(t *testing.T) {
	c := newCity(t)
	gwLeaf := c.pki.Gateway(t, "gw-1", "z1")
	gw, err := c.dial(t, "gw-1", gwLeaf.TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	pole, err := c.dial(t, "pole-1", c.pki.Device(t, "pole-1", "z1").TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	zone := mqttlink.ZoneTopic("z1")
	subscribe(t, gw, zone)
	subscribe(t, gw, mqttlink.ReceiptsTopic("gw-1"))
	subscribe(t, pole, zone)

	adv := mqtttest.Advisory(t, gwLeaf, 1, "Bridge closed")
	gw.Publish(zone, 1, false, adv.Raw())
	mqtttest.Eventually(t, wait, "the advisory at the pole", func() bool { return pole.received(zone) == 1 })
	if !c.server.Has(adv.ID()) {
		t.Error("the server did not store the advisory")
	}
	// An advisory signed by a pole (the tier table refuses it) and
	// garbage: the node rejects both, and no subscriber sees them.
	forged := mqtttest.Advisory(t, c.pki.Device(t, "pole-7", "z1"), 1, "Forged")
	gw.Publish(zone, 1, false, forged.Raw())
	gw.Publish(zone, 1, false, []byte("not a record"))
	mqtttest.Eventually(t, wait, "the server to reject both", func() bool {
		cs := c.server.Counters()
		var n uint64
		for _, v := range cs.Rejected {
			n += v
		}
		return n == 2
	})
	// The receipt for the advisory went to gw-1 only; nothing echoed.
	mqtttest.Eventually(t, wait, "gw-1's receipt", func() bool { return gw.received(mqttlink.ReceiptsTopic("gw-1")) == 1 })
	if n := gw.received(zone); n != 0 {
		t.Errorf("gw-1 got %d copies of records on its zone topic, want 0 (no echo)", n)
	}
	if n := pole.total(); n != 1 {
		t.Errorf("the pole got %d messages, want 1", n)
	}
}

// TestFanOut50 measures one record's way from the broker's node to 50
// subscribed clients.
func TestFanOut50(t *testing.T) {
	c := newCity(t)
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var start time.Time
	var lat []time.Duration
	wg.Add(n)
	for i := range n {
		id := "pole-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		var once sync.Once
		cl, err := c.dial(t, id, c.pki.Device(t, id, "z1").TLS, func() {
			once.Do(func() {
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
				wg.Done()
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		subscribe(t, cl, mqttlink.TopicBroadcast)
	}
	w := mqtttest.Warning(t, c.server.Leaf, 1, record.City, "Citywide test")
	mu.Lock()
	start = time.Now()
	mu.Unlock()
	c.server.MustPublish(t, w)
	stored := time.Since(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("not every client received the record")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("publish on the node (verified and stored in %v) → %d clients (%d-byte record): first %v, median %v, last %v",
		stored, n, len(w.Raw()), lat[0], lat[n/2], lat[n-1])
}

// TestRevokedClientRefused: once the server's node has accepted a
// revocation of a pole's certificate, the pole can no longer connect.
func TestRevokedClientRefused(t *testing.T) {
	c := newCity(t)
	leaf := c.pki.Device(t, "pole-1", "z1")
	cl, err := c.dial(t, "pole-1", leaf.TLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.Disconnect(100)
	rev, err := trust.NewRevocation(c.pki.CA, [][]byte{trust.Serial(leaf.Cert)}, "stolen", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.server.MustPublish(t, rev)
	if _, err := c.dial(t, "pole-1", leaf.TLS, nil); err == nil {
		t.Error("a revoked certificate connected")
	}
	mqtttest.Eventually(t, wait, "the refusal counted", func() bool { return c.broker.Link().Stats().TLSFailures == 1 })
}
