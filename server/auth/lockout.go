package auth

import (
	"sync"
	"time"
)

// lockFor is how long an account is locked after its n-th consecutive
// failure: nothing below the threshold, then Base, doubling per failure,
// at most Max.
func (l Lockout) lockFor(n int) time.Duration {
	if n < l.Threshold {
		return 0
	}
	d := l.Base
	for i := l.Threshold; i < n && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// locked reports whether u is locked at now.
func (u *userRecord) locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// fail counts one failure on u and reports whether u is now locked.
func (s *Service) fail(u *userRecord, now time.Time) bool {
	u.Failures++
	u.Updated = now
	if d := s.opts.Lockout.lockFor(u.Failures); d > 0 {
		u.LockedUntil = now.Add(d)
		return true
	}
	return false
}

// succeed clears u's failures after a successful login.
func succeed(u *userRecord) { u.Failures, u.LockedUntil = 0, time.Time{} }

// phantomLockouts keeps failure counts for user ids that do not exist, in
// memory, so that a locked-out unknown id answers exactly like a locked
// real one: lockouts must not tell which accounts exist.
type phantomLockouts struct {
	mu   sync.Mutex
	keys *lru[*phantom]
}

type phantom struct {
	failures int
	until    time.Time
}

func newPhantomLockouts(max int) *phantomLockouts {
	return &phantomLockouts{keys: newLRU[*phantom](max)}
}

// locked reports whether unknown id is locked at now.
func (p *phantomLockouts) locked(id string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return now.Before(p.keys.get(id, func() *phantom { return new(phantom) }).until)
}

// fail counts a failure for unknown id and reports whether it is now
// locked.
func (p *phantomLockouts) fail(id string, now time.Time, l Lockout) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ph := p.keys.get(id, func() *phantom { return new(phantom) })
	ph.failures++
	if d := l.lockFor(ph.failures); d > 0 {
		ph.until = now.Add(d)
		return true
	}
	return false
}
