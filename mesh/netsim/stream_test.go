package netsim

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

func mustTransport(t testing.TB, n *Network, name string) *Transport {
	t.Helper()
	tr, err := n.Transport(name)
	if err != nil {
		t.Fatalf("Transport(%q): %v", name, err)
	}
	return tr
}

// dialPair opens a stream from a to b and returns both ends.
func dialPair(t testing.TB, a, b *Transport, timeout time.Duration) (net.Conn, net.Conn) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := a.DialTimeout(b.Addr(), timeout)
		ch <- res{c, err}
	}()
	deadline := time.NewTimer(timeout + 5*time.Second)
	defer deadline.Stop()
	var srv net.Conn
	select {
	case srv = <-b.StreamCh():
	case r := <-ch:
		t.Fatalf("dial: %v", r.err)
	case <-deadline.C:
		t.Fatal("no stream accepted")
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("dial: %v", r.err)
	}
	return r.c, srv
}

// TestConnConformance runs x/net's net.Conn conformance suite.
func TestConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		n := New(Config{StreamBuffer: 64 << 10})
		a, err := n.Transport("a")
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := n.Transport("b")
		if err != nil {
			return nil, nil, nil, err
		}
		c1, c2 := dialPair(t, a, b, time.Second)
		return c1, c2, func() { c1.Close(); c2.Close(); n.Close() }, nil
	})
}

// TestBothSidesWriteFirst is the case net.Pipe deadlocks on: each side
// writes a whole message before reading the other's.
func TestBothSidesWriteFirst(t *testing.T) {
	n := newNet(t, Config{})
	c1, c2 := dialPair(t, mustTransport(t, n, "a"), mustTransport(t, n, "b"), time.Second)
	defer c1.Close()
	defer c2.Close()
	msg1, msg2 := bytes.Repeat([]byte{1}, 256<<10), bytes.Repeat([]byte{2}, 256<<10)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	exchange := func(c net.Conn, out, in []byte) {
		defer wg.Done()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(out); err != nil {
			errs <- err
			return
		}
		got := make([]byte, len(in))
		if _, err := io.ReadFull(c, got); err != nil {
			errs <- err
			return
		}
		if !bytes.Equal(got, in) {
			errs <- errors.New("wrong bytes")
		}
	}
	wg.Add(2)
	go exchange(c1, msg1, msg2)
	go exchange(c2, msg2, msg1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sa, sb := n.Stats("a"), n.Stats("b")
	if sa.StreamBytesSent != 256<<10 || sa.StreamBytesReceived != 256<<10 || sb.StreamBytesSent != 256<<10 {
		t.Errorf("stream bytes: a %+v, b %+v", sa, sb)
	}
	if sa.StreamsOpened != 1 {
		t.Errorf("StreamsOpened = %d, want 1", sa.StreamsOpened)
	}
}

func TestStreamBufferLimit(t *testing.T) {
	n := newNet(t, Config{StreamBuffer: 1024})
	c1, c2 := dialPair(t, mustTransport(t, n, "a"), mustTransport(t, n, "b"), time.Second)
	defer c1.Close()
	defer c2.Close()
	c1.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	k, err := c1.Write(make([]byte, 4096))
	if k != 1024 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the buffer = %d, %v; want 1024, deadline exceeded", k, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v is not a timeout net.Error", err)
	}
}

func TestDialLatency(t *testing.T) {
	const lat = 40 * time.Millisecond
	n := newNet(t, Config{Default: Link{Latency: lat, Loss: 1}}) // Loss does not touch streams
	a, b := mustTransport(t, n, "a"), mustTransport(t, n, "b")
	start := time.Now()
	c1, c2 := dialPair(t, a, b, time.Second)
	if el := time.Since(start); el < lat {
		t.Errorf("dial took %v, want ≥ %v", el, lat)
	}
	defer c1.Close()
	defer c2.Close()
	if c1.RemoteAddr().String() != b.Addr() || c2.RemoteAddr().String() != a.Addr() {
		t.Errorf("addresses %v→%v / %v→%v", c1.LocalAddr(), c1.RemoteAddr(), c2.LocalAddr(), c2.RemoteAddr())
	}
	if _, err := n.Transport("slow"); err != nil {
		t.Fatal(err)
	}
	n.SetLink("a", "slow", Link{Latency: time.Second})
	if _, err := a.DialTimeout(must(n.Addr("slow")), 30*time.Millisecond); !isTimeout(err) {
		t.Errorf("dial slower than its timeout = %v, want a timeout", err)
	}
}

func must(s string, ok bool) string {
	if !ok {
		panic("unknown node")
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestDialRefused(t *testing.T) {
	n := newNet(t, Config{})
	a, b := mustTransport(t, n, "a"), mustTransport(t, n, "b")
	mustEndpoint(t, n, "e") // datagrams only
	const timeout = 50 * time.Millisecond
	check := func(what, addr string, want error) {
		t.Helper()
		start := time.Now()
		c, err := a.DialTimeout(addr, timeout)
		if c != nil {
			c.Close()
		}
		if !errors.Is(err, want) || !isTimeout(err) {
			t.Errorf("%s: dial = %v, want a timeout wrapping %v", what, err, want)
		}
		if el := time.Since(start); el < timeout {
			t.Errorf("%s: failed after %v, before the timeout %v", what, el, timeout)
		}
	}
	n.Partition([]string{"a"}, []string{"b"})
	check("partitioned", b.Addr(), ErrPartitioned)
	n.Heal()
	check("datagram endpoint", must(n.Addr("e")), ErrUnreachable)
	check("unknown address", "10.9.9.9:7946", ErrUnknownNode)
	if err := n.Crash("b"); err != nil {
		t.Fatal(err)
	}
	check("crashed", b.Addr(), ErrCrashed)
	if s := n.Stats("a"); s.DialsFailed != 4 {
		t.Errorf("DialsFailed = %d, want 4", s.DialsFailed)
	}
	if _, err := b.DialTimeout(a.Addr(), timeout); !errors.Is(err, ErrCrashed) {
		t.Errorf("dial from a crashed node = %v, want ErrCrashed", err)
	}
	if _, err := a.DialTimeout("nonsense", timeout); !errors.Is(err, ErrBadAddress) {
		t.Errorf("dial nonsense = %v, want ErrBadAddress", err)
	}
	// Healed and restarted: the dial goes through again.
	if err := n.Restart("b"); err != nil {
		t.Fatal(err)
	}
	b2 := mustTransport(t, n, "b")
	c1, c2 := dialPair(t, a, b2, time.Second)
	c1.Close()
	c2.Close()
}

func TestDialUnblocksOnShutdown(t *testing.T) {
	n := newNet(t, Config{})
	a, _ := mustTransport(t, n, "a"), mustTransport(t, n, "b")
	n.Partition([]string{"a"})
	errc := make(chan error, 1)
	go func() {
		_, err := a.DialTimeout(must(n.Addr("b")), time.Hour)
		errc <- err
	}()
	a.Shutdown()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("pending dial after Shutdown = %v, want ErrClosed", err)
	}
}

func TestStreamBreaks(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(n *Network, a, b *Transport)
	}{
		{"partition", func(n *Network, a, b *Transport) { n.Partition([]string{"a"}) }},
		{"crash", func(n *Network, a, b *Transport) { n.Crash("b") }},
		{"shutdown", func(n *Network, a, b *Transport) { b.Shutdown() }},
		{"close", func(n *Network, a, b *Transport) { n.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t, Config{})
			a, b := mustTransport(t, n, "a"), mustTransport(t, n, "b")
			c1, c2 := dialPair(t, a, b, time.Second)
			defer c1.Close()
			defer c2.Close()
			if _, err := c1.Write([]byte("unread")); err != nil {
				t.Fatal(err)
			}
			readErr := make(chan error, 1)
			go func() {
				_, err := c1.Read(make([]byte, 1)) // blocked when the stream breaks
				readErr <- err
			}()
			tc.cut(n, a, b)
			if err := <-readErr; err == nil || err == io.EOF {
				t.Errorf("blocked Read = %v, want a reset", err)
			}
			if _, err := c2.Read(make([]byte, 10)); err == nil {
				t.Error("the other end read buffered bytes of a reset stream")
			}
			if _, err := c2.Write([]byte("x")); err == nil {
				t.Error("Write on a broken stream succeeded")
			}
		})
	}
}

func TestStreamCloseEOF(t *testing.T) {
	n := newNet(t, Config{})
	c1, c2 := dialPair(t, mustTransport(t, n, "a"), mustTransport(t, n, "b"), time.Second)
	c1.Write([]byte("bye"))
	c1.Close()
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "bye" {
		t.Errorf("ReadAll after peer Close = %q, %v", got, err)
	}
	if _, err := c2.Write([]byte("x")); err == nil {
		t.Error("Write to a closed peer succeeded")
	}
	if _, err := c1.Read(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read on own closed end = %v, want net.ErrClosed", err)
	}
	c2.Close()
	n.mu.Lock()
	open := len(n.streams)
	n.mu.Unlock()
	if open != 0 {
		t.Errorf("%d streams still registered after both ends closed", open)
	}
}
