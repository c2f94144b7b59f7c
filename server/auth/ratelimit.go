package auth

import (
	"container/list"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// lru is a map bounded to max entries that forgets the least recently used
// one first. Not safe for concurrent use; its owners lock.
type lru[V any] struct {
	max int
	m   map[string]*list.Element
	l   *list.List // of *lruEntry[V], most recent at the front
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, m: make(map[string]*list.Element), l: list.New()}
}

// get returns the value for key, creating it with mk if absent (and
// evicting the oldest entry if the map is full).
func (c *lru[V]) get(key string, mk func() V) V {
	if e, ok := c.m[key]; ok {
		c.l.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val
	}
	if c.l.Len() >= c.max {
		old := c.l.Back()
		c.l.Remove(old)
		delete(c.m, old.Value.(*lruEntry[V]).key)
	}
	v := mk()
	c.m[key] = c.l.PushFront(&lruEntry[V]{key: key, val: v})
	return v
}

func (c *lru[V]) len() int { return c.l.Len() }

// keyedLimiter is one token bucket per key (user id or address) with the
// time passed in. Forgetting a key (when the table is full) gives it a
// full bucket again; MaxKeys should exceed the number of keys active in
// one refill period.
type keyedLimiter struct {
	mu    sync.Mutex
	limit Limit
	keys  *lru[*rate.Limiter]
}

func newKeyedLimiter(l Limit, max int) *keyedLimiter {
	return &keyedLimiter{limit: l, keys: newLRU[*rate.Limiter](max)}
}

// allow takes one token from key's bucket at now, and reports whether
// there was one. A zero Limit always allows.
func (k *keyedLimiter) allow(key string, now time.Time) bool {
	if k.limit.Every == 0 {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	lim := k.keys.get(key, func() *rate.Limiter {
		return rate.NewLimiter(rate.Every(k.limit.Every), k.limit.Burst)
	})
	return lim.AllowN(now, 1)
}

// ipKey is the rate-limit key of an address: IPv4 as is, IPv6 by its /64
// (one host usually holds a whole /64).
func ipKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "ip:invalid"
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// CheckIP reports whether a principal of role may come from addr: nil if
// the role has no allowlist (Options.IPAllow), or addr is in one of its
// prefixes; ErrIPNotAllowed otherwise, and for an invalid addr under an
// allowlist. Login, StartSetup, FinishSetup and every Authenticate call
// apply it; handlers need not.
func (s *Service) CheckIP(role Role, addr netip.Addr) error {
	allow := s.opts.IPAllow[role]
	if len(allow) == 0 {
		return nil
	}
	a := addr.Unmap().WithZone("")
	if a.IsValid() && slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
		return nil
	}
	return wrap("check ip", fmt.Errorf("%w: %s from %v", ErrIPNotAllowed, role, addr))
}

// allowLogin applies the login limits for id from addr.
func (s *Service) allowLogin(id string, addr netip.Addr, now time.Time) bool {
	ipOK := s.loginIP.allow(ipKey(addr), now)
	userOK := s.loginUser.allow("user:"+id, now)
	return ipOK && userOK
}
