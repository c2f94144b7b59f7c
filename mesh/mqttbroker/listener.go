package mqttbroker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is the broker's TLS listener (a mochi listeners.Listener). It
// differs from mochi's TCP listener in three ways: the TLS handshake is
// done, and refused, before mochi sees the connection; the handshake and
// the CONNECT packet must arrive within a timeout, so a connection that
// never speaks cannot hold a goroutine forever; and Close closes every
// connection, including those still in the handshake, so the broker's
// Close never waits on a silent peer.
type listener struct {
	ln      net.Listener
	conf    *tls.Config
	timeout time.Duration
	log     *slog.Logger
	refused func()

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

const listenerID = "tls"

func listen(addr string, conf *tls.Config, timeout time.Duration, log *slog.Logger, refused func()) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &listener{ln: ln, conf: conf, timeout: timeout, log: log, refused: refused, conns: map[net.Conn]struct{}{}}, nil
}

// ID returns the listener's id.
func (l *listener) ID() string { return listenerID }

// Address returns the address listened on.
func (l *listener) Address() string { return l.ln.Addr().String() }

// Addr returns the address listened on.
func (l *listener) Addr() net.Addr { return l.ln.Addr() }

// Protocol returns "tls".
func (l *listener) Protocol() string { return "tls" }

// Init does nothing: the socket is opened by listen, so that the address
// is known before the broker starts.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handle(c, establish)
	}
}

func (l *listener) handle(raw net.Conn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, raw)
		l.mu.Unlock()
		raw.Close()
	}()
	// The deadline covers the handshake and the CONNECT packet; mochi
	// replaces it after CONNECT with one derived from the keepalive.
	_ = raw.SetDeadline(time.Now().Add(l.timeout))
	tc := tls.Server(raw, l.conf)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.refused()
		l.log.Warn("TLS handshake refused", "remote", raw.RemoteAddr().String(), "err", err)
		return
	}
	if err := establish(l.ID(), tc); err != nil {
		l.log.Debug("client session ended", "remote", raw.RemoteAddr().String(), "err", err)
	}
}

// Close stops accepting and closes every connection; mochi's read loops
// then end and it removes each client as it does on any disconnect.
//
// It does not call mochi's closeClients: in mochi v2.7.9,
// Clients.GetByListener takes the clients' read lock and then, through
// Clients.Len, takes it again, so a client connecting or leaving at that
// instant (a writer waiting on the lock between the two) deadlocks the
// broker's Close (seen in CI: Close blocked in Clients.Len while a
// connection's attachClient waited in Clients.Delete). Our clients speak
// MQTT 3.1.1, which has no server DISCONNECT, so closing the sockets tells
// them the same thing.
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	if already {
		return
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
}

// closeNow closes the socket of a listener mochi never served.
func (l *listener) closeNow() { l.Close(nil) }

// wait waits for every connection goroutine to end.
func (l *listener) wait() { l.wg.Wait() }
