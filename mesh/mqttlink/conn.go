package mqttlink

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// session is one connection to one broker: a paho client made for it
// alone. paho's own reconnect is off; run drives connects, backoff and
// failover itself.
type session struct {
	client paho.Client
	broker string
	peer   trust.Identity
	lost   chan error // buffered 1: paho's connection-lost handler
}

// currentSession returns the connected session, or nil.
func (l *Link) currentSession() *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

// run is the connection loop. A round tries every broker once, in list
// order starting after the one last lost (so a lost gateway is not asked
// again before its alternate); a round that connects nobody, or a
// connection that drops within StableAfter, is a failure, and the next
// round waits Backoff.Wait(failures). A connection that lasted resets the
// count and the next round starts at once.
func (l *Link) run() {
	defer l.wg.Done()
	start, fails := 0, 0
	for l.ctx.Err() == nil {
		stable := false
		for i := range l.brokers {
			if l.ctx.Err() != nil {
				return
			}
			b := (start + i) % len(l.brokers)
			s, err := l.connect(l.brokers[b])
			if err != nil {
				if l.ctx.Err() != nil {
					return
				}
				l.count(func(st *Stats) { st.ConnectFailures++ })
				l.log.Warn("broker connection failed", "broker", l.brokers[b].Redacted(), "err", err)
				continue
			}
			up := l.clock.Now()
			l.online(s)
			var why error
			select {
			case why = <-s.lost:
			case <-l.ctx.Done():
			}
			l.offline(s)
			if l.ctx.Err() != nil {
				s.client.Disconnect(250)
				return
			}
			l.log.Warn("broker connection lost", "broker", s.broker, "err", why)
			start = (b + 1) % len(l.brokers)
			stable = l.clock.Now().Sub(up) >= l.cfg.StableAfter
			break
		}
		if stable {
			fails = 0
			continue
		}
		fails++
		wait := l.backoff.Wait(fails)
		l.log.Debug("waiting before the next connection round", "wait", wait, "failures", fails)
		t := l.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-l.ctx.Done():
			t.Stop()
			return
		}
	}
}

// connect opens a session to broker and subscribes.
func (l *Link) connect(broker *url.URL) (*session, error) {
	s := &session{broker: broker.Redacted(), lost: make(chan error, 1)}
	var peerMu sync.Mutex
	tlsConf := ClientTLS(l.cfg.Certificate, l.cfg.Verifier, l.clock, l.cfg.BrokerRoles, func(id trust.Identity) {
		peerMu.Lock()
		s.peer = id
		peerMu.Unlock()
	})
	// The dial and the MQTT handshake are cut short by Close: the dial
	// through its context, the handshake by closing the connection.
	dctx, dcancel := context.WithCancel(l.ctx)
	defer dcancel()
	var connMu sync.Mutex
	var conn net.Conn
	stopAbort := context.AfterFunc(l.ctx, func() {
		connMu.Lock()
		if conn != nil {
			conn.Close()
		}
		connMu.Unlock()
	})
	defer stopAbort()
	dial := func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		nd := &net.Dialer{Timeout: l.cfg.ConnectTimeout}
		if l.cfg.Interface != "" {
			nd.Control = bindToDevice(l.cfg.Interface)
		}
		d := &tls.Dialer{NetDialer: nd, Config: tlsConf}
		c, err := d.DialContext(dctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		connMu.Lock()
		conn = c
		connMu.Unlock()
		if l.ctx.Err() != nil {
			c.Close()
			return nil, l.ctx.Err()
		}
		return c, nil
	}
	opts := paho.NewClientOptions().
		AddBroker(broker.String()).
		SetClientID(l.self.ID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(l.cfg.KeepAlive).
		SetPingTimeout(min(l.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(l.cfg.ConnectTimeout).
		SetWriteTimeout(l.cfg.WriteTimeout).
		SetCustomOpenConnectionFn(dial).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { l.onMessage(s, m) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case s.lost <- err:
			default:
			}
		})
	c := paho.NewClient(opts)
	if err := l.wait(c.Connect(), true); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.client = c
	peerMu.Lock()
	peer := s.peer
	peerMu.Unlock()
	if peer.ID == "" { // VerifyConnection always runs; this is a guard
		c.Disconnect(100)
		return nil, errors.New("connect: broker identity unknown")
	}
	subs := l.grantedSubs()
	if len(subs) > 0 {
		tok := c.SubscribeMultiple(subs, nil)
		if err := l.wait(tok, false); err != nil {
			c.Disconnect(100)
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		for f, code := range tok.(*paho.SubscribeToken).Result() {
			if code > 2 {
				l.count(func(st *Stats) { st.SubscribeFailed++ })
				l.log.Error("broker refused a subscription", "broker", s.broker, "filter", f, "code", code)
			}
		}
	}
	return s, nil
}

// wait waits for a paho token, for at most ConnectTimeout, or until
// Close; a connect token is waited for to the end even then, since Close
// cuts the dial and handshake short.
func (l *Link) wait(tok paho.Token, connect bool) error {
	t := l.clock.NewTimer(l.cfg.ConnectTimeout + time.Second)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C():
		return errors.New("timed out")
	case <-l.ctx.Done():
		if connect {
			<-tok.Done()
		}
		return l.ctx.Err()
	}
}

// online makes s the current session and tells the pump.
func (l *Link) online(s *session) {
	l.mu.Lock()
	l.sess = s
	l.peer = s.peer
	l.stats.Broker = s.broker
	if l.stats.Connects > 0 {
		l.stats.Reconnects++
	}
	l.stats.Connects++
	l.mu.Unlock()
	l.lastContact.Store(l.clock.Now().UnixNano())
	l.connected.Store(true)
	l.log.Info("connected to broker", "broker", s.broker, "as", l.self.ID, "peer", s.peer.String())
	select {
	case l.conns <- s:
	case <-l.ctx.Done():
	}
}

// offline forgets the session and tells the pump.
func (l *Link) offline(s *session) {
	l.connected.Store(false)
	l.mu.Lock()
	l.sess = nil
	l.peer = trust.Identity{}
	l.stats.Broker = ""
	l.mu.Unlock()
	select {
	case l.conns <- nil:
	case <-l.ctx.Done():
	}
}

// onMessage handles one message from the broker, on a paho goroutine
// (OrderMatters is off): a receipt goes to the pump, a record to the
// node. Neither blocks.
func (l *Link) onMessage(s *session, m paho.Message) {
	if l.closed.Load() {
		return
	}
	l.lastContact.Store(l.clock.Now().UnixNano())
	topic, payload := m.Topic(), m.Payload()
	if topic == ReceiptsTopic(l.self.ID) {
		ids, err := ParseReceipts(payload)
		l.count(func(st *Stats) {
			st.BytesIn += uint64(len(payload))
			if err != nil {
				st.BadMessages++
			}
		})
		if err != nil {
			l.log.Warn("bad receipts payload", "broker", s.broker, "err", err)
			return
		}
		select {
		case l.acks <- ids:
		default: // the entries are resent and receipted again
		}
		return
	}
	raw := bytes.Clone(payload)
	peer := s.peer.ID
	if l.receipts != nil {
		peer = l.publisherOf(topic, raw)
	}
	ok := l.node.Deliver(mesh.Source{Link: l.name, Peer: peer}, raw)
	l.count(func(st *Stats) {
		st.Received++
		st.BytesIn += uint64(len(raw))
	})
	if ok && l.receipts != nil && peer != "" && peer != l.self.ID {
		l.receipts.Received(peer, record.IDOf(raw))
	}
}

// publisherOf guesses, for a server's link on an external broker (which
// does not say who published), whom to send a receipt to: the device of
// a device topic, otherwise the record's origin (a gateway's advisory).
func (l *Link) publisherOf(topic string, raw []byte) string {
	t, err := ParseTopic(topic)
	if err == nil && t.Kind == TopicDevice {
		return t.ID
	}
	if r, err := record.Parse(raw); err == nil {
		return r.Origin
	}
	return ""
}
