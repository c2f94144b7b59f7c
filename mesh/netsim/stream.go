package netsim

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A stream is one simulated TCP connection: two conns over two buffered
// half-pipes. Unlike net.Pipe, a Write returns as soon as its bytes fit in
// the peer's receive buffer (Config.StreamBuffer), so both sides may write
// before either reads, as memberlist's push/pull and any request/response
// protocol with pipelining may do. Streams are reliable: no loss, no
// reordering; latency is paid once, at dial.
type stream struct {
	n                *Network
	dialer, listener *port
	a, b             *conn // dialer's end, listener's end
	ends             atomic.Int32
}

func newStream(n *Network, dialer, listener *port) *stream {
	s := &stream{n: n, dialer: dialer, listener: listener}
	ab, ba := newHalfPipe(n.cfg.StreamBuffer), newHalfPipe(n.cfg.StreamBuffer)
	s.a = &conn{s: s, in: ba, out: ab, self: dialer.node, peer: listener.node,
		local: dialer.node.tcp, remote: listener.node.tcp, rd: newDeadline(), wd: newDeadline()}
	s.b = &conn{s: s, in: ab, out: ba, self: listener.node, peer: dialer.node,
		local: listener.node.tcp, remote: dialer.node.tcp, rd: newDeadline(), wd: newDeadline()}
	return s
}

// reset breaks the stream, like a TCP RST: buffered bytes are lost and
// every later Read and Write on either end fails with err.
func (s *stream) reset(err error) {
	s.a.out.fail(err)
	s.b.out.fail(err)
}

func resetAll(streams []*stream, err error) {
	for _, s := range streams {
		s.reset(err)
	}
}

// endClosed is called once per end; the second one unregisters the stream.
func (s *stream) endClosed() {
	if s.ends.Add(1) == 2 {
		s.n.mu.Lock()
		delete(s.n.streams, s)
		s.n.mu.Unlock()
	}
}

// takeStreamsLocked removes and returns the registered streams matching f.
func (n *Network) takeStreamsLocked(f func(*stream) bool) []*stream {
	var out []*stream
	for s := range n.streams {
		if f(s) {
			delete(n.streams, s)
			out = append(out, s)
		}
	}
	return out
}

// halfPipe carries bytes one way. changed is closed and replaced on every
// state change, a broadcast that also works with deadlines.
type halfPipe struct {
	mu      sync.Mutex
	buf     []byte
	off     int // read offset into buf
	limit   int
	changed chan struct{}
	wclosed bool  // the writing end closed: EOF once drained
	rclosed bool  // the reading end closed: writes fail
	err     error // set by reset
}

func newHalfPipe(limit int) *halfPipe {
	return &halfPipe{limit: limit, changed: make(chan struct{})}
}

func (h *halfPipe) broadcastLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *halfPipe) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
		h.buf, h.off = nil, 0
		h.broadcastLocked()
	}
}

// conn is one end of a stream. It implements net.Conn.
type conn struct {
	s             *stream
	in, out       *halfPipe
	self, peer    *node
	local, remote net.Addr
	rd, wd        *deadline
	closeOnce     sync.Once
}

var _ net.Conn = (*conn)(nil)

func (c *conn) Read(b []byte) (int, error) {
	dl := c.rd.wait()
	if isClosed(dl) {
		return 0, os.ErrDeadlineExceeded
	}
	h := c.in
	for {
		h.mu.Lock()
		switch {
		case h.rclosed:
			h.mu.Unlock()
			return 0, net.ErrClosed
		case h.err != nil:
			h.mu.Unlock()
			return 0, h.err
		case len(b) == 0:
			h.mu.Unlock()
			return 0, nil
		case h.off < len(h.buf):
			k := copy(b, h.buf[h.off:])
			h.off += k
			if h.off == len(h.buf) {
				h.buf, h.off = h.buf[:0], 0
			}
			h.broadcastLocked()
			h.mu.Unlock()
			c.self.stats.streamRecv.Add(uint64(k))
			return k, nil
		case h.wclosed:
			h.mu.Unlock()
			return 0, io.EOF
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-dl:
			return 0, os.ErrDeadlineExceeded
		}
		dl = c.rd.wait() // the deadline may have been moved meanwhile
	}
}

func (c *conn) Write(b []byte) (int, error) {
	dl := c.wd.wait()
	if isClosed(dl) {
		return 0, os.ErrDeadlineExceeded
	}
	h := c.out
	total := 0
	for {
		h.mu.Lock()
		switch {
		case h.wclosed:
			h.mu.Unlock()
			return total, net.ErrClosed
		case h.err != nil:
			h.mu.Unlock()
			return total, h.err
		case len(b) == 0:
			// Done, even if the peer has read everything and closed
			// meanwhile (checked before rclosed on purpose).
			h.mu.Unlock()
			return total, nil
		case h.rclosed:
			h.mu.Unlock()
			return total, io.ErrClosedPipe
		}
		if free := h.limit - (len(h.buf) - h.off); free > 0 {
			k := min(free, len(b))
			if h.off > 0 && len(h.buf)+k > cap(h.buf) {
				h.buf = h.buf[:copy(h.buf, h.buf[h.off:])]
				h.off = 0
			}
			h.buf = append(h.buf, b[:k]...)
			b = b[k:]
			total += k
			h.broadcastLocked()
			h.mu.Unlock()
			c.self.stats.streamSent.Add(uint64(k))
			continue
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-dl:
			return total, os.ErrDeadlineExceeded
		}
		dl = c.wd.wait()
	}
}

// Close closes this end: the peer reads what was written, then io.EOF;
// the peer's writes fail. A second Close returns nil.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.in.mu.Lock()
		c.in.rclosed = true
		c.in.buf, c.in.off = nil, 0
		c.in.broadcastLocked()
		c.in.mu.Unlock()
		c.out.mu.Lock()
		c.out.wclosed = true
		c.out.broadcastLocked()
		c.out.mu.Unlock()
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
		c.s.endClosed()
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Deadlines are wall-clock times, as net.Conn defines them, whatever the
// Network's Clock.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}
func (c *conn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a channel closed when a wall-clock deadline passes (the
// pattern of net.Pipe).
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer fired: wait for its close
	}
	d.timer = nil
	closed := isClosed(d.expired)
	if t.IsZero() {
		if closed {
			d.expired = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.expired = make(chan struct{})
		}
		ch := d.expired
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.expired)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// reachLocked says whether a stream from `from` to t can open now.
func (n *Network) reachLocked(from *node, t target) (*port, error) {
	dst := n.resolveLocked(t)
	switch {
	case dst == nil:
		return nil, ErrUnknownNode
	case dst.crashed:
		return nil, ErrCrashed
	case !n.sameGroupLocked(from.name, dst.name):
		return nil, ErrPartitioned
	case dst.port == nil || dst.port.closed || dst.port.kind != kindTransport:
		return nil, ErrUnreachable
	}
	return dst.port, nil
}

// dial opens a stream from src to t: it waits the one-way latency (with
// jitter) of the link, then hands the listener's end to the target's
// StreamCh. When the network does not let it through it waits for the
// whole timeout, like a SYN into the void, and returns a *DialError. A
// timeout <= 0 means no limit while connecting and an immediate error when
// unreachable.
func (n *Network) dial(src *port, t target, desc string, timeout time.Duration) (net.Conn, error) {
	var expire <-chan time.Time
	if timeout > 0 {
		tm := n.clock.NewTimer(timeout)
		defer tm.Stop()
		expire = tm.C()
	}
	// fail charges the failure and waits out the deadline.
	fail := func(reason error) (net.Conn, error) {
		src.node.stats.dialsFailed.Add(1)
		if expire != nil {
			select {
			case <-expire:
			case <-src.done:
				return nil, src.closedErr()
			case <-n.stop:
				return nil, ErrClosed
			}
		}
		return nil, &DialError{Addr: desc, Err: reason}
	}

	n.mu.Lock()
	if n.closed || src.closed {
		n.mu.Unlock()
		return nil, src.closedErr()
	}
	dst, reason := n.reachLocked(src.node, t)
	var delay time.Duration
	if reason == nil {
		delay = n.linkLocked(src.node.name, dst.node.name).delay(n.rng.Float64())
	}
	n.mu.Unlock()
	if reason != nil {
		return fail(reason)
	}

	if delay > 0 {
		tm := n.clock.NewTimer(delay)
		select {
		case <-tm.C():
		case <-expire:
			tm.Stop()
			src.node.stats.dialsFailed.Add(1)
			return nil, &DialError{Addr: desc, Err: os.ErrDeadlineExceeded}
		case <-src.done:
			tm.Stop()
			return nil, src.closedErr()
		case <-n.stop:
			tm.Stop()
			return nil, ErrClosed
		}
	}

	n.mu.Lock()
	if n.closed || src.closed {
		n.mu.Unlock()
		return nil, src.closedErr()
	}
	if dst, reason = n.reachLocked(src.node, t); reason != nil {
		n.mu.Unlock()
		return fail(reason)
	}
	s := newStream(n, src, dst)
	n.streams[s] = struct{}{}
	n.mu.Unlock()

	var err error
	select {
	case dst.streams <- s.b:
		src.node.stats.streamsOpened.Add(1)
		return s.a, nil
	case <-dst.done:
		err = ErrUnreachable
	case <-expire:
		err = os.ErrDeadlineExceeded
	case <-src.done:
		s.reset(ErrConnReset)
		return nil, src.closedErr()
	case <-n.stop:
		s.reset(ErrClosed)
		return nil, ErrClosed
	}
	s.reset(ErrConnReset)
	n.mu.Lock()
	delete(n.streams, s)
	n.mu.Unlock()
	if err == os.ErrDeadlineExceeded {
		src.node.stats.dialsFailed.Add(1)
		return nil, &DialError{Addr: desc, Err: err}
	}
	return fail(err)
}

// closedErr is why a closed port cannot send or dial. It takes no lock:
// call it only after observing the port closed (or the network stopped).
func (p *port) closedErr() error {
	select {
	case <-p.crashedCh:
		return ErrCrashed
	default:
		return ErrClosed
	}
}
