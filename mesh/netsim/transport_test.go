package netsim

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func recvPacket(t *testing.T, tr *Transport) *memberlist.Packet {
	t.Helper()
	tm := time.NewTimer(5 * time.Second)
	defer tm.Stop()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-tm.C:
		t.Fatalf("%s: no packet", tr.Name())
		return nil
	}
}

func TestTransportPackets(t *testing.T) {
	n := newNet(t, Config{})
	a, b := mustTransport(t, n, "a"), mustTransport(t, n, "b")

	ip, port, err := a.FinalAdvertiseAddr("0.0.0.0", 1234)
	if err != nil || net.JoinHostPort(ip.String(), "7946") != a.Addr() || port != Port {
		t.Fatalf("FinalAdvertiseAddr = %v, %d, %v; want %s", ip, port, err, a.Addr())
	}

	buf := []byte("ping")
	sent, err := a.WriteTo(buf, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X' // the transport copied it
	p := recvPacket(t, b)
	if string(p.Buf) != "ping" || p.From.String() != a.Addr() || p.Timestamp.Before(sent) {
		t.Errorf("got %q from %v at %v (sent %v)", p.Buf, p.From, p.Timestamp, sent)
	}
	if _, ok := p.From.(*net.UDPAddr); !ok {
		t.Errorf("From is %T, want *net.UDPAddr", p.From)
	}

	// By name when the address is empty; by address when both are given.
	if _, err := a.WriteToAddress([]byte("by name"), memberlist.Address{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, b); string(p.Buf) != "by name" {
		t.Errorf("got %q", p.Buf)
	}
	if _, err := b.WriteToAddress([]byte("by addr"), memberlist.Address{Addr: a.Addr(), Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, a); string(p.Buf) != "by addr" {
		t.Errorf("got %q", p.Buf)
	}

	if _, err := a.WriteTo([]byte("x"), "not an address"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("WriteTo(bad address) = %v", err)
	}
	if _, err := a.WriteTo([]byte("x"), "10.200.0.1:7946"); err != nil {
		t.Errorf("WriteTo(unknown address) = %v, want nil (UDP)", err)
	}
	if s := n.Stats("a"); s.Dropped.Unreachable != 1 {
		t.Errorf("Dropped.Unreachable = %d, want 1", s.Dropped.Unreachable)
	}

	// Endpoints and Transports share the wire.
	e := mustEndpoint(t, n, "e")
	if _, err := a.WriteTo([]byte("to endpoint"), e.Addr()); err != nil {
		t.Fatal(err)
	}
	if d := recv(t, e, 5*time.Second); string(d.Data) != "to endpoint" || d.From != "a" {
		t.Errorf("endpoint got %+v", d)
	}

	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	a.Shutdown()
	if _, err := a.WriteTo([]byte("x"), b.Addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteTo after Shutdown = %v, want ErrClosed", err)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed by Shutdown")
	}
	select {
	case <-a.Crashed():
		t.Error("Crashed closed by Shutdown")
	default:
	}
}
