package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKeyedLimiter(t *testing.T) {
	l := newKeyedLimiter(Limit{Every: time.Second, Burst: 2}, 3)
	var got []bool
	at := func(d time.Duration, key string) { got = append(got, l.allow(key, t0.Add(d))) }
	at(0, "a")
	at(0, "a")
	at(0, "a") // burst spent
	at(500*time.Millisecond, "a")
	at(time.Second, "a") // one token back
	at(time.Second, "b") // other keys have their own bucket
	want := []bool{true, true, false, false, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("allow (-want +got):\n%s", diff)
	}
	// The table stays bounded; the oldest key is forgotten first.
	for i := range 10 {
		l.allow(fmt.Sprint("k", i), t0)
	}
	if n := l.keys.len(); n != 3 {
		t.Errorf("limiter table holds %d keys, want 3", n)
	}
	unlimited := newKeyedLimiter(Limit{}, 1)
	for range 100 {
		if !unlimited.allow("x", t0) {
			t.Fatal("zero Limit refused")
		}
	}
}

func TestLRUOrder(t *testing.T) {
	c := newLRU[int](2)
	mk := func(v int) func() int { return func() int { return v } }
	c.get("a", mk(1))
	c.get("b", mk(2))
	c.get("a", mk(9)) // touch a; b is now oldest
	c.get("c", mk(3)) // evicts b
	if got := c.get("a", mk(0)); got != 1 {
		t.Errorf("a = %d, want 1 (kept)", got)
	}
	if got := c.get("b", mk(7)); got != 7 {
		t.Errorf("b = %d, want 7 (evicted, made anew)", got)
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", "ip:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "ip:fe80::/64"},
	}
	for _, tt := range tests {
		if got := ipKey(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("ipKey(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := ipKey(netip.Addr{}); got != "ip:invalid" {
		t.Errorf("ipKey(zero) = %s", got)
	}
}

func TestCheckIP(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.IPAllow = map[Role][]netip.Prefix{
			RoleAdmin:   {netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
			RoleOfficer: {},
		}
	})
	tests := []struct {
		role Role
		addr string
		ok   bool
	}{
		{RoleAdmin, "10.1.2.3", true},
		{RoleAdmin, "::ffff:10.1.2.3", true},
		{RoleAdmin, "2001:db8::5", true},
		{RoleAdmin, "11.0.0.1", false},
		{RoleAdmin, "", false},
		{RoleOfficer, "203.0.113.9", true}, // empty list: anywhere
		{RoleViewer, "203.0.113.9", true},  // absent: anywhere
		{RoleViewer, "", true},
	}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		err := e.s.CheckIP(tt.role, a)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrIPNotAllowed)) {
			t.Errorf("CheckIP(%s, %s) = %v, want ok=%v", tt.role, tt.addr, err, tt.ok)
		}
	}
}

func TestRequestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Rate.RequestPerUser = Limit{Every: time.Second, Burst: 3} })
	tok, _ := e.login(t, e.admin(t)) // one request already
	var got []bool
	for range 3 {
		_, err := e.s.AuthenticateSession(tok, ipA)
		got = append(got, err == nil)
		if err != nil && !errors.Is(err, ErrRateLimited) {
			t.Fatal(err)
		}
	}
	e.clk.Advance(time.Second)
	_, err := e.s.AuthenticateSession(tok, ipA)
	got = append(got, err == nil)
	if diff := cmp.Diff([]bool{true, true, false, true}, got); diff != "" {
		t.Errorf("requests allowed (-want +got):\n%s", diff)
	}
}
