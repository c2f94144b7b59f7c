package city

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/desk"
)

// ServerBenchConfig configures RunServerBench.
type ServerBenchConfig struct {
	// Samples is how many warnings are published one at a time for the
	// publish latency (default 200).
	Samples int
	// Devices sign the acks (default 500); Acks is how many (default
	// 20,000), spread evenly over the devices.
	Devices, Acks int
	// Senders are the MQTT clients (zone gateways relaying their poles'
	// acks) that publish the acks concurrently (default 8), each with at
	// most Window publishes waiting for their PUBACK (default 256).
	Senders, Window int
	// VerifyFor is how long the bare ed25519.Verify loop runs (default 2s).
	VerifyFor time.Duration
	// Progress, if set, is told what the benchmark is doing.
	Progress func(format string, args ...any)
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
}

// ServerBenchResult is what RunServerBench measured.
type ServerBenchResult struct {
	// Publish: from the POST of an approved warning's publication (HTTPS,
	// a supervisor's session: API tokens may not publish) until an MQTT
	// subscriber with a device certificate received the signed record.
	Samples                            int
	PublishP50, PublishP99, PublishMax time.Duration
	PublishHTTPP50                     time.Duration // until the HTTP answer, for comparison
	AcksPerSec                         float64
	Acks, Devices, Senders             int
	AckTime                            time.Duration
	RawVerifyPerSec                    float64
	// RawPreparedPerSec is the same loop with the verification the server
	// uses: a prepared key (record.PublicKey, curve25519-voi with
	// crypto/ed25519's rules). AcksPerSec over it is how much of the
	// server's own ceiling the pipeline reaches.
	RawPreparedPerSec                      float64
	Cores                                  int
	InboxDropped, BrokerInboxFull, Refused uint64
	// CPU per ack: the process's CPU time (the server and the bench's
	// own MQTT clients) during the ack phase, per ack; and per bare
	// verification. Less sensitive than rates to other work on the
	// machine. Zero where the system does not say.
	CPUPerAck, CPUPerVerify time.Duration
	// MeanBatch is the mean number of records the node took per batch
	// (one store transaction) during the ack phase.
	MeanBatch float64
}

func (c *ServerBenchConfig) defaults() {
	if c.Samples <= 0 {
		c.Samples = 200
	}
	if c.Devices <= 0 {
		c.Devices = 500
	}
	if c.Acks <= 0 {
		c.Acks = 20000
	}
	if c.Senders <= 0 {
		c.Senders = 8
	}
	if c.Window <= 0 {
		c.Window = mqttlink.DefaultWindow
	}
	if c.VerifyFor <= 0 {
		c.VerifyFor = 2 * time.Second
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
}

const benchZone = "bench"

// RunServerBench starts a control server in this process (a temporary
// directory, a PKI made on the fly, HTTPS, the embedded broker), sets up
// a supervisor and an integration token, and measures in one run: the
// latency of publishing a warning until an MQTT subscriber has it, the
// rate at which the server takes signed device acks over MQTT (verified,
// stored and counted by the fleet), and, as the ceiling, bare
// ed25519.Verify on every core.
func RunServerBench(ctx context.Context, cfg ServerBenchConfig) (ServerBenchResult, error) {
	cfg.defaults()
	res := ServerBenchResult{Samples: cfg.Samples, Devices: cfg.Devices, Senders: cfg.Senders, Cores: runtime.GOMAXPROCS(0)}
	dir, err := os.MkdirTemp("", "cityarray-bench-server-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfg.Progress("starting a server in %s", dir)
	l, err := StartLocalServer(ctx, LocalServerConfig{Dir: dir, City: "benchville", Logger: cfg.Logger})
	if err != nil {
		return res, err
	}
	defer l.Close()

	_, admin, err := l.Bootstrap(ctx, "bench-admin")
	if err != nil {
		return res, err
	}
	d, err := newBenchDesk(ctx, l, admin)
	if err != nil {
		return res, err
	}
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{l.PKI.Root}, TrustedClock: false})
	if err != nil {
		return res, err
	}

	// The subscriber: a pole of the bench zone.
	watch, err := newBenchClient(l, v, trust.Identity{Role: trust.RoleDevice, ID: "bench-watch", Zone: benchZone})
	if err != nil {
		return res, err
	}
	defer watch.close()
	arrived := newArrivals()
	if err := watch.subscribe(mqttlink.ZoneTopic(benchZone), func(payload []byte) { arrived.note(record.IDOf(payload)) }); err != nil {
		return res, err
	}

	// Publish latency.
	cfg.Progress("publishing %d warnings one at a time", cfg.Samples)
	lat := make([]time.Duration, 0, cfg.Samples)
	httpLat := make([]time.Duration, 0, cfg.Samples)
	var first desk.Alert
	for i := range cfg.Samples {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		req := desk.DraftRequest{Tier: "warning", Scope: "zone:" + benchZone, Lifetime: "2h",
			Alert: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: fmt.Sprintf("Bench warning %d: move to higher ground", i)}},
				Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}}
		a, start, err := d.warn(ctx, req)
		if err != nil {
			return res, err
		}
		httpLat = append(httpLat, time.Since(start))
		at, err := arrived.wait(ctx, a.Current, 10*time.Second)
		if err != nil {
			return res, fmt.Errorf("publish: the subscriber never got record %s: %w", a.Current.Short(), err)
		}
		lat = append(lat, at.Sub(start))
		if i == 0 {
			first = a
		}
	}
	slices.Sort(lat)
	slices.Sort(httpLat)
	res.PublishP50, res.PublishP99, res.PublishMax = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
	res.PublishHTTPP50 = quantile(httpLat, 0.50)

	// Acks: devices, their first records (health, with the chain), then
	// the timed flood of kid-only acks.
	cfg.Progress("issuing %d device certificates and signing %d acks", cfg.Devices, cfg.Acks)
	devs, err := benchDevices(l, cfg.Devices)
	if err != nil {
		return res, err
	}
	perDevice := (cfg.Acks + cfg.Devices - 1) / cfg.Devices
	res.Acks = perDevice * cfg.Devices
	health, acks, err := signBenchRecords(devs, perDevice, first.Current, l.Clock.Now())
	if err != nil {
		return res, err
	}
	senders := make([]*benchClient, cfg.Senders)
	for i := range senders {
		if senders[i], err = newBenchClient(l, v, trust.Identity{Role: trust.RoleGateway, ID: fmt.Sprintf("bench-gw-%d", i), Zone: benchZone}); err != nil {
			return res, err
		}
		defer senders[i].close()
	}
	split := func(recs [][]*record.Record) [][]*record.Record { // by sender, each device's records in order
		out := make([][]*record.Record, cfg.Senders)
		for d, rs := range recs {
			out[d%cfg.Senders] = append(out[d%cfg.Senders], rs...)
		}
		return out
	}
	cfg.Progress("introducing %d devices (a health report each, with its certificate chain)", cfg.Devices)
	node := l.Node()
	accepted0 := node.Counters().Accepted
	if err := sendAll(ctx, senders, split(health), cfg.Window); err != nil {
		return res, err
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return node.Counters().Accepted-accepted0 >= uint64(cfg.Devices) }); err != nil {
		return res, fmt.Errorf("health reports: %d of %d accepted (rejected %v): %w", node.Counters().Accepted-accepted0, cfg.Devices, node.Counters().Rejected, err)
	}

	cfg.Progress("sending %d acks from %d devices over %d MQTT clients", res.Acks, cfg.Devices, cfg.Senders)
	fl := l.Fleet()
	acks0 := fl.Counters().Acks
	dropped0, rejected0 := node.Dropped(), totalRejected(node.Counters().Rejected)
	batches0, batched0 := node.Batches()
	inboxFull0 := l.Broker().Link().Stats().InboxFull
	cpu0, _ := processCPU()
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendAll(ctx, senders, split(acks), cfg.Window) }()
	want := acks0 + uint64(res.Acks)
	lastReport := start
	for fl.Counters().Acks < want {
		if time.Since(lastReport) >= 2*time.Second {
			lastReport = time.Now()
			c := node.Counters()
			cfg.Progress("acks: %d of %d counted; node received %d, accepted %d, duplicates %d, rejected %v, dropped %d; broker %+v",
				fl.Counters().Acks-acks0, res.Acks, c.Received, c.Accepted, c.Duplicates, c.Rejected, node.Dropped(), l.Broker().Link().Stats())
		}
		select {
		case err := <-sendErr:
			if err != nil {
				return res, err
			}
			sendErr = nil
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			return res, fmt.Errorf("acks: %d of %d counted after 5 minutes (dropped %d, rejected %v)",
				fl.Counters().Acks-acks0, res.Acks, node.Dropped()-dropped0, node.Counters().Rejected)
		}
	}
	res.AckTime = time.Since(start)
	if cpu1, ok := processCPU(); ok {
		res.CPUPerAck = (cpu1 - cpu0) / time.Duration(res.Acks)
	}
	res.AcksPerSec = float64(res.Acks) / res.AckTime.Seconds()
	res.InboxDropped = node.Dropped() - dropped0
	if b, r := node.Batches(); b > batches0 {
		res.MeanBatch = float64(r-batched0) / float64(b-batches0)
	}
	res.Refused = totalRejected(node.Counters().Rejected) - rejected0
	res.BrokerInboxFull = l.Broker().Link().Stats().InboxFull - inboxFull0

	cfg.Progress("bare ed25519.Verify on %d goroutines for %v", res.Cores, cfg.VerifyFor)
	cpu0, _ = processCPU()
	var verified int64
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 200)
	sig := ed25519.Sign(key, msg)
	res.RawVerifyPerSec, verified = rawVerify(ctx, res.Cores, cfg.VerifyFor, func() bool { return ed25519.Verify(pub, msg, sig) })
	if cpu1, ok := processCPU(); ok && verified > 0 {
		res.CPUPerVerify = (cpu1 - cpu0) / time.Duration(verified)
	}
	cfg.Progress("prepared-key verification (as the server does) on %d goroutines for %v", res.Cores, cfg.VerifyFor)
	pk, err := record.NewPublicKey(pub)
	if err != nil {
		return res, err
	}
	res.RawPreparedPerSec, _ = rawVerify(ctx, res.Cores, cfg.VerifyFor, func() bool { return pk.Verify(msg, sig) })
	return res, nil
}

func totalRejected(m map[trust.Reason]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	return pollUntil(ctx, timeout, 2*time.Millisecond, cond)
}

// pollUntil asks cond every interval until it holds, timeout passes or
// ctx ends.
func pollUntil(ctx context.Context, timeout, every time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

// arrivals remembers when each record id reached the subscriber.
type arrivals struct {
	mu   sync.Mutex
	at   map[record.ID]time.Time
	wake chan struct{}
}

func newArrivals() *arrivals {
	return &arrivals{at: map[record.ID]time.Time{}, wake: make(chan struct{})}
}

func (a *arrivals) note(id record.ID) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.at[id]; !ok {
		a.at[id] = now
		close(a.wake)
		a.wake = make(chan struct{})
	}
}

func (a *arrivals) wait(ctx context.Context, id record.ID, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		at, ok := a.at[id]
		wake := a.wake
		a.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-wake:
		case <-deadline:
			return time.Time{}, errors.New("timed out")
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// benchClient is a raw paho client with a city certificate.
type benchClient struct {
	id string
	c  paho.Client
}

func newBenchClient(l *LocalServer, v *trust.Verifier, id trust.Identity) (*benchClient, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := l.PKI.City.Issue(id, pub, time.Now())
	if err != nil {
		return nil, err
	}
	tc := tls.Certificate{Certificate: [][]byte{cert.Raw, l.PKI.City.Cert.Raw}, PrivateKey: key, Leaf: cert}
	opts := paho.NewClientOptions().
		AddBroker("tls://" + l.MQTTAddr().String()).
		SetClientID(id.ID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetMaxResumePubInFlight(1 << 14).
		SetTLSConfig(mqttlink.ClientTLS(tc, v, mqttlink.SystemClock{}, []trust.Role{trust.RoleServer}, nil))
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("mqtt client %s: connect: %v", id.ID, tok.Error())
	}
	return &benchClient{id: id.ID, c: c}, nil
}

func (b *benchClient) subscribe(topic string, f func([]byte)) error {
	tok := b.c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { f(m.Payload()) })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("subscribe %s: %v", topic, tok.Error())
	}
	if r := tok.(*paho.SubscribeToken).Result()[topic]; r > 2 {
		return fmt.Errorf("subscribe %s: refused (%d)", topic, r)
	}
	return nil
}

func (b *benchClient) close() { b.c.Disconnect(100) }

// sendAll publishes each sender's records in order, QoS 1, the way a
// gateway's mqttlink outbox does: at most window records waiting for
// their receipt (the server confirms each record it has stored, on the
// sender's receipts topic), and a record whose receipt has not come in
// resendAfter sent again. So the server's queues hold at most
// senders × window records, and a record it had to drop is sent again.
func sendAll(ctx context.Context, senders []*benchClient, recs [][]*record.Record, window int) error {
	const resendAfter = 5 * time.Second
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	fail := func(err error) { failed.CompareAndSwap(nil, &err) }
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mu sync.Mutex
			out := map[record.ID]*record.Record{}
			sent := map[record.ID]time.Time{}
			freed := make(chan struct{}, 1)
			wake := func() {
				select {
				case freed <- struct{}{}:
				default:
				}
			}
			err := s.subscribe(mqttlink.ReceiptsTopic(s.id), func(payload []byte) {
				ids, err := mqttlink.ParseReceipts(payload)
				if err != nil {
					return
				}
				mu.Lock()
				for _, id := range ids {
					delete(out, id)
					delete(sent, id)
				}
				mu.Unlock()
				wake()
			})
			defer s.c.Unsubscribe(mqttlink.ReceiptsTopic(s.id))
			if err != nil {
				fail(err)
				return
			}
			publish := func(r *record.Record) bool {
				topic, err := mqttlink.TopicFor(r)
				if err != nil {
					fail(err)
					return false
				}
				s.c.Publish(topic, 1, false, r.Raw())
				return true
			}
			// resend sends again what waited too long; it returns how
			// many records still wait.
			resend := func() int {
				now := time.Now()
				var again []*record.Record
				mu.Lock()
				for id, at := range sent {
					if now.Sub(at) > resendAfter {
						again = append(again, out[id])
						sent[id] = now
					}
				}
				n := len(out)
				mu.Unlock()
				for _, r := range again {
					publish(r)
				}
				return n
			}
			next := 0
			for {
				if ctx.Err() != nil || failed.Load() != nil {
					return
				}
				mu.Lock()
				room := window - len(out)
				for ; room > 0 && next < len(recs[i]); room-- {
					r := recs[i][next]
					next++
					out[r.ID()], sent[r.ID()] = r, time.Now()
					mu.Unlock()
					if !publish(r) {
						return
					}
					mu.Lock()
				}
				mu.Unlock()
				if resend() == 0 && next == len(recs[i]) {
					return
				}
				select {
				case <-freed:
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return *err
	}
	return ctx.Err()
}

// benchDevice is a device key with its certificate.
type benchDevice struct {
	id    string
	chain record.Signer // sends the certificate chain
	kid   record.Signer // the kid only
}

func benchDevices(l *LocalServer, n int) ([]benchDevice, error) {
	out := make([]benchDevice, n)
	now := time.Now()
	for i := range out {
		id := fmt.Sprintf("bench-pole-%04d", i)
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		cert, err := l.PKI.City.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: benchZone}, pub, now)
		if err != nil {
			return nil, err
		}
		chain, err := record.NewSigner(key, cert.Raw, true, l.PKI.City.Cert.Raw)
		if err != nil {
			return nil, err
		}
		kid, err := record.NewSigner(key, cert.Raw, false)
		if err != nil {
			return nil, err
		}
		out[i] = benchDevice{id: id, chain: chain, kid: kid}
	}
	return out, nil
}

// signBenchRecords signs, on every core, each device's health report
// (seq 1, with its chain) and perDevice acks of the record of (seq 2 on,
// kid only: small, as acks travel), alternating received, displayed and
// played.
func signBenchRecords(devs []benchDevice, perDevice int, of record.ID, now time.Time) (health, acks [][]*record.Record, err error) {
	health = make([][]*record.Record, len(devs))
	acks = make([][]*record.Record, len(devs))
	issued := now.Truncate(time.Millisecond)
	states := []record.AckState{record.AckReceived, record.AckDisplayed, record.AckPlayed}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	next := atomic.Int64{}
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || failed.Load() != nil {
					return
				}
				d := devs[i]
				h, err := record.Sign(&record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
					Issued: issued, Expires: issued.Add(time.Hour), Origin: d.id, Seq: 1,
					Body: &record.Health{Uptime: 60, Rung: "ethernet"}}, d.chain)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				health[i] = []*record.Record{h}
				rs := make([]*record.Record, perDevice)
				for k := range rs {
					at := issued.Add(time.Duration(k) * time.Millisecond)
					rs[k], err = record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(d.id),
						Issued: at, Expires: at.Add(time.Hour), Origin: d.id, Seq: uint64(k + 2),
						Body: &record.Ack{Record: of, Device: d.id, State: states[k%len(states)], At: record.MillisOf(at)}}, d.kid)
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
				}
				acks[i] = rs
			}
		}()
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return nil, nil, *e
	}
	return health, acks, nil
}

// rawVerify runs verify (one signature check) on n goroutines for d and
// returns checks per second: the physical ceiling of signature checking on
// this machine.
func rawVerify(ctx context.Context, n int, d time.Duration, verify func() bool) (perSec float64, total int64) {
	var count atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k int64
			for {
				for range 64 {
					verify()
				}
				k += 64
				select {
				case <-stop:
					count.Add(k)
					return
				default:
				}
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), count.Load()
}
