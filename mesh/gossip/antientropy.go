package gossip

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

// Anti-entropy: see the package doc, "Anti-entropy", for the protocol and
// its triggers; message.go for the reconcile and fetch layouts.

const (
	// DefaultAntiEntropyInterval is how often Run reconciles with one
	// random member when Config.AntiEntropyInterval is 0.
	DefaultAntiEntropyInterval = 30 * time.Second
	// DefaultMaxSessions caps concurrent anti-entropy sessions when
	// Config.MaxSessions is 0.
	DefaultMaxSessions = 8

	// sessionIdle: a session that has heard nothing for this long is
	// dropped and counted as failed.
	sessionIdle = 30 * time.Second
	// fetchWait: an id asked for is not asked for again, from any member,
	// for this long; after that, the next session that finds it missing
	// asks again.
	fetchWait = 5 * time.Second
	// repairedKeep bounds how long an id fetched by anti-entropy waits to
	// be offered back by the node (see Link.Offer).
	repairedKeep = time.Minute
	// rejoinWindow: records fetched this soon after a member re-joined
	// are not pushed on (see repaired).
	rejoinWindow = 30 * time.Second
	// rejoinJitter spreads the syncs that a burst of re-joins causes, so
	// that every member does not pick the first member to re-join.
	rejoinJitter = time.Second
	// rejoinQuiet: after a sync triggered by re-joins, further re-joins
	// for this long start no new sync (the burst of one healed partition
	// costs each member one session).
	rejoinQuiet = 5 * time.Second
	// rejoinRetries: a sync triggered by re-joins that fails is retried
	// with another re-joined member this many times.
	rejoinRetries = 2
)

// Session triggers, for logs.
const (
	whyPushPull = "push/pull"
	whyRejoin   = "rejoin"
	whyPeriodic = "periodic"
	whyPeer     = "peer"
)

// sessionKey names a session: the peer, the id its initiator chose, and
// whether this node is that initiator (so that two members that pick the
// same id for each other do not collide).
type sessionKey struct {
	peer string
	id   uint64
	mine bool
}

// session is one reconciliation exchange with one peer.
type session struct {
	mu    sync.Mutex // one message at a time: a Reconciler is not safe for concurrent use
	key   sessionKey
	why   string
	retry int               // rejoin syncs: how many times this one has been retried
	r     *store.Reconciler // guarded by mu

	last time.Time // guarded by antiEntropy.mu: last activity
}

// antiEntropy is the link's anti-entropy state. Lock order: session.mu,
// then antiEntropy.mu, then Link.mu. A session is live while it is in
// sessions: ending, replacing or timing it out removes it, and a message
// for a session that is no longer there is ignored.
type antiEntropy struct {
	mu       sync.Mutex
	closed   bool
	sessions map[sessionKey]*session
	fetching map[record.ID]fetchMark // asked for, not yet arrived
	repaired map[record.ID]time.Time // arrived by fetch during a re-join burst, not yet offered back

	rejoinSeen  time.Time   // when a member last re-joined
	rejoined    []string    // members that re-joined since the last rejoin sync
	burst       []string    // those the last rejoin sync picked from (for retries)
	rejoinTimer *time.Timer // pending rejoin sync
	rejoinLast  time.Time   // when the last rejoin sync started
}

func newAntiEntropy() *antiEntropy {
	return &antiEntropy{
		sessions: map[sessionKey]*session{},
		fetching: map[record.ID]fetchMark{},
		repaired: map[record.ID]time.Time{},
	}
}

// fetchMark is an id asked for.
type fetchMark struct {
	at    time.Time
	quiet bool // asked for during a re-join burst: see repaired
}

// close ends anti-entropy: no new sessions, no pending rejoin sync.
func (a *antiEntropy) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.rejoinTimer != nil {
		a.rejoinTimer.Stop()
	}
	clear(a.sessions)
}

// gcLocked drops idle sessions and stale fetch marks, and returns how
// many sessions it dropped.
func (a *antiEntropy) gcLocked(now time.Time) (dropped int) {
	for k, s := range a.sessions {
		if now.Sub(s.last) > sessionIdle {
			delete(a.sessions, k)
			dropped++
		}
	}
	for id, f := range a.fetching {
		if now.Sub(f.at) > fetchWait {
			delete(a.fetching, id)
		}
	}
	for id, at := range a.repaired {
		if now.Sub(at) > repairedKeep {
			delete(a.repaired, id)
		}
	}
	return dropped
}

// gc drops idle sessions (counted as failed) and stale marks.
func (l *Link) gc() {
	l.ae.mu.Lock()
	n := l.ae.gcLocked(time.Now())
	l.ae.mu.Unlock()
	if n > 0 {
		l.countN(&l.stats.SessionsFailed, n)
		l.log.Debug("anti-entropy sessions timed out", "sessions", n)
	}
}

// sync starts a session with the live member peer, on a send worker,
// unless one with that peer is under way or MaxSessions are.
func (l *Link) sync(peer, why string) { l.syncRetry(peer, why, 0) }

func (l *Link) syncRetry(peer, why string, retry int) {
	if peer == l.name || peer == "" {
		return
	}
	l.enqueue(func() { l.initiate(peer, why, retry) })
}

// initiate opens a session with peer and sends its first message.
func (l *Link) initiate(peer, why string, retry int) {
	now := time.Now()
	l.ae.mu.Lock()
	if l.ae.closed {
		l.ae.mu.Unlock()
		return
	}
	dropped := l.ae.gcLocked(now)
	busy := len(l.ae.sessions) >= l.cfg.MaxSessions
	for k := range l.ae.sessions {
		busy = busy || k.peer == peer
	}
	if busy {
		l.ae.mu.Unlock()
		l.countN(&l.stats.SessionsFailed, dropped)
		return
	}
	s := &session{key: sessionKey{peer: peer, id: l.randUint64(), mine: true}, why: why, retry: retry, last: now}
	l.ae.sessions[s.key] = s
	s.mu.Lock() // s is not yet known to anyone: locking it under ae.mu cannot deadlock
	l.ae.mu.Unlock()
	defer s.mu.Unlock()
	l.countN(&l.stats.SessionsFailed, dropped)
	l.countN(&l.stats.SessionsStarted, 1)

	s.r = store.NewReconciler(l.node.Store(), l.node.Clock().Now())
	msg, err := s.r.Initiate()
	if err != nil {
		l.log.Error("anti-entropy: cannot start", "peer", peer, "err", err)
		l.endLocked(s, false)
		return
	}
	if err := l.sendReconcile(peer, s.key.id, true, msg); err != nil {
		l.log.Debug("anti-entropy: send failed", "peer", peer, "err", err)
		l.endLocked(s, false)
		return
	}
	l.log.Debug("anti-entropy session started", "peer", peer, "why", why, "session", s.key.id)
}

// live reports whether s is still under way.
func (l *Link) live(s *session) bool {
	l.ae.mu.Lock()
	defer l.ae.mu.Unlock()
	return l.ae.sessions[s.key] == s
}

// endLocked ends s (whose mu the caller holds) as completed or failed,
// unless it has already ended.
func (l *Link) endLocked(s *session, ok bool) {
	l.ae.mu.Lock()
	if l.ae.sessions[s.key] != s {
		l.ae.mu.Unlock()
		return
	}
	delete(l.ae.sessions, s.key)
	l.ae.mu.Unlock()
	if ok {
		l.countN(&l.stats.SessionsCompleted, 1)
		return
	}
	l.countN(&l.stats.SessionsFailed, 1)
	if s.why == whyRejoin && s.retry < rejoinRetries {
		// The member it picked was busy or went away: try another of
		// those that re-joined, soon.
		time.AfterFunc(l.jitter(rejoinJitter), func() { l.rejoinSync(s.retry + 1) })
	}
}

// sendReconcile sends one reconcile message to peer over a reliable
// stream.
func (l *Link) sendReconcile(peer string, id uint64, initiator bool, body []byte) error {
	to := l.peerNode(peer)
	if to == nil {
		return fmt.Errorf("gossip: %s is neither a live member nor remembered", peer)
	}
	msg, err := (&message{typ: msgReconcile, from: l.name, session: id, initiator: initiator, body: body}).encode(nil)
	if err != nil {
		return err
	}
	l.countN(&l.stats.ReconcileBytesSent, len(msg))
	if err := l.ml.SendReliable(to, msg); err != nil {
		l.countN(&l.stats.SendErrors, 1)
		return err
	}
	return nil
}

// onReconcile handles one reconcile message, on a send worker.
func (l *Link) onReconcile(m *message, size int) {
	l.countN(&l.stats.ReconcileBytesReceived, size)
	now := time.Now()
	key := sessionKey{peer: m.from, id: m.session, mine: !m.initiator}
	l.ae.mu.Lock()
	if l.ae.closed {
		l.ae.mu.Unlock()
		return
	}
	s := l.ae.sessions[key]
	var dropped int
	if s == nil {
		if !m.initiator || len(m.body) == 0 {
			// A reply for a session that has ended here, or the end of
			// one that never started: nothing to do.
			l.ae.mu.Unlock()
			l.countN(&l.stats.StaleReconcile, 1)
			return
		}
		dropped = l.ae.gcLocked(now)
		refuse := false
		for k := range l.ae.sessions {
			if k.peer != m.from {
				continue
			}
			// One session per pair: when both start one at once, the
			// one started by the lower name goes on; the other is
			// dropped without counting it as failed.
			if k.mine && l.name < m.from {
				refuse = true
				continue
			}
			delete(l.ae.sessions, k)
		}
		if len(l.ae.sessions) >= l.cfg.MaxSessions {
			refuse = true
		}
		if refuse {
			l.ae.mu.Unlock()
			l.countN(&l.stats.SessionsFailed, dropped)
			l.countN(&l.stats.SessionsRefused, 1)
			if err := l.sendReconcile(m.from, m.session, false, nil); err != nil {
				l.log.Debug("anti-entropy: refusal not sent", "peer", m.from, "err", err)
			}
			return
		}
		s = &session{key: key, why: whyPeer, r: store.NewReconciler(l.node.Store(), l.node.Clock().Now())}
		l.ae.sessions[key] = s
		l.countN(&l.stats.SessionsAnswered, 1)
	}
	s.last = now
	l.ae.mu.Unlock()
	l.countN(&l.stats.SessionsFailed, dropped)

	s.mu.Lock()
	defer s.mu.Unlock()
	if !l.live(s) {
		return
	}
	if len(m.body) == 0 {
		l.log.Debug("anti-entropy: peer ended the session", "peer", m.from, "session", m.session)
		l.endLocked(s, false)
		return
	}
	reply, has, _, done, err := s.r.Respond(m.body)
	if err != nil {
		l.countN(&l.stats.BadReconcile, 1)
		l.log.Debug("anti-entropy: bad reconcile message", "peer", m.from, "err", err)
		l.endLocked(s, false)
		if err := l.sendReconcile(m.from, m.session, key.mine, nil); err != nil {
			l.log.Debug("anti-entropy: end not sent", "peer", m.from, "err", err)
		}
		return
	}
	// Both sides learn the whole difference; each fetches what it lacks
	// and pushes nothing unasked, so a record crosses once (the side
	// that lacks it knows what it is already fetching elsewhere).
	l.fetch(m.from, has)
	if reply != nil {
		if err := l.sendReconcile(m.from, m.session, key.mine, reply); err != nil {
			l.log.Debug("anti-entropy: send failed", "peer", m.from, "err", err)
			l.endLocked(s, false)
			return
		}
	}
	if done || reply == nil {
		l.endLocked(s, true)
	}
}

// fetch asks peer for the ids it has and this node lacks, skipping those
// already asked for; on a send worker.
func (l *Link) fetch(peer string, ids []record.ID) {
	if len(ids) == 0 {
		return
	}
	to := l.peerNode(peer)
	if to == nil {
		return
	}
	want := make([]record.ID, 0, len(ids))
	now := time.Now()
	stranger := !l.alive(peer) // a member re-joining that this node has not heard of yet
	for _, id := range ids {
		if l.node.Known(id) {
			continue
		}
		l.ae.mu.Lock()
		f, asked := l.ae.fetching[id]
		if !asked || now.Sub(f.at) > fetchWait {
			l.ae.fetching[id] = fetchMark{at: now, quiet: stranger || now.Sub(l.ae.rejoinSeen) <= rejoinWindow}
			want = append(want, id)
		}
		l.ae.mu.Unlock()
	}
	for len(want) > 0 {
		chunk := want[:min(len(want), maxIDs)]
		want = want[len(chunk):]
		msg, err := (&message{typ: msgFetch, from: l.name, ids: chunk}).encode(nil)
		if err != nil {
			return
		}
		if err := l.ml.SendReliable(to, msg); err != nil {
			l.countN(&l.stats.SendErrors, 1)
			l.log.Debug("anti-entropy: fetch not sent", "peer", peer, "err", err)
			l.ae.mu.Lock()
			for _, id := range chunk {
				delete(l.ae.fetching, id) // let another session ask
			}
			l.ae.mu.Unlock()
			return
		}
		l.countN(&l.stats.FetchSent, 1)
	}
}

// serveFetch sends the records a peer asked for, each over a reliable
// stream; on a send worker.
func (l *Link) serveFetch(peer string, ids []record.ID) {
	if to := l.peerNode(peer); to != nil {
		l.pushStored(to, ids, true, &l.stats.AntiEntropySent)
	}
}

// notePush notes a pushed record that answers a fetch: it is counted,
// and marked if it was asked for, or arrives, during a re-join burst (see
// repaired).
func (l *Link) notePush(raw []byte) {
	l.ae.mu.Lock()
	defer l.ae.mu.Unlock()
	if len(l.ae.fetching) == 0 {
		return
	}
	id := record.IDOf(raw)
	f, ok := l.ae.fetching[id]
	if !ok {
		return
	}
	delete(l.ae.fetching, id)
	if f.quiet || time.Since(l.ae.rejoinSeen) <= rejoinWindow {
		l.ae.repaired[id] = time.Now()
	}
	l.countN(&l.stats.AntiEntropyFetched, 1)
}

// repaired reports (once) whether the node offers back a record that
// anti-entropy fetched within rejoinWindow of a member re-joining (or
// from a member not yet known to be alive: one re-joining). Such a
// record is not pushed on: when members re-join (a healed partition, a
// restart) every member that sees it syncs with one of them, so each
// repairs itself by its own session, and pushing the repaired records on
// as news would cost Fanout copies per member on top. At other times a
// repaired record (one the pushes missed) is likely news to others too,
// and spreads like a new one.
func (l *Link) repaired(id record.ID) bool {
	l.ae.mu.Lock()
	defer l.ae.mu.Unlock()
	if _, ok := l.ae.repaired[id]; ok {
		delete(l.ae.repaired, id)
		return true
	}
	return false
}

// rejoinedMember notes that a member this node knew came back (after a
// partition, a crash or a restart) and schedules a sync with one of the
// members that re-joined, within rejoinJitter. Called by NotifyJoin,
// under memberlist's lock: it only takes the link's own locks.
func (l *Link) rejoinedMember(name string) {
	l.ae.mu.Lock()
	defer l.ae.mu.Unlock()
	if l.ae.closed {
		return
	}
	l.ae.rejoinSeen = time.Now()
	l.ae.rejoined = append(l.ae.rejoined, name)
	if len(l.ae.rejoined) > 1024 {
		l.ae.rejoined = l.ae.rejoined[len(l.ae.rejoined)-1024:]
	}
	if l.ae.rejoinTimer != nil {
		return // a sync is pending: it will pick among these
	}
	wait := l.jitter(rejoinJitter)
	if quiet := time.Until(l.ae.rejoinLast.Add(rejoinQuiet)); quiet > wait {
		wait = quiet
	}
	l.ae.rejoinTimer = time.AfterFunc(wait, func() { l.rejoinSync(0) })
}

// rejoinSync starts a session with a random member among those that
// re-joined and are alive.
func (l *Link) rejoinSync(retry int) {
	l.ae.mu.Lock()
	if l.ae.closed {
		l.ae.mu.Unlock()
		return
	}
	if retry == 0 {
		l.ae.burst, l.ae.rejoined = l.ae.rejoined, nil
		l.ae.rejoinTimer = nil
		l.ae.rejoinLast = time.Now()
	}
	names := l.ae.burst
	l.ae.mu.Unlock()
	if len(names) == 0 || l.ml == nil {
		return
	}
	alive := map[string]bool{}
	for _, m := range l.ml.Members() {
		alive[m.Name] = true
	}
	var cands []string
	for _, n := range names {
		if alive[n] && n != l.name {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return
	}
	l.syncRetry(cands[l.randIntN(len(cands))], whyRejoin, retry)
}

// Reconcile reconciles the store with one live member now, as the
// AntiEntropyInterval backstop does. A member that depends on the mesh
// alone (a pole whose gateway is gone) calls it every few seconds, so that
// a record every push and notice to it missed (a burst that overflowed
// its socket) arrives within seconds, not within the backstop's interval.
//
// The member is one that wrote to this one in the last wroteWindow: a
// member that does not list this one (membership spreads slowly in a
// large mesh) has no address to answer a session at. Without any, a
// random member is first introduced to this one by a push/pull (a
// memberlist join), in the background. Reconcile does not block; equal
// stores cost one round trip.
func (l *Link) Reconcile() {
	if peer := l.pickWriter(); peer != "" {
		l.sync(peer, whyPeriodic)
		return
	}
	peers := l.pick(1, "")
	if len(peers) != 1 {
		return
	}
	p := peers[0]
	l.mu.Lock()
	if l.closed || l.introducing {
		l.mu.Unlock()
		return
	}
	l.introducing = true
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			l.introducing = false
			l.mu.Unlock()
		}()
		if _, err := l.ml.Join([]string{p.FullAddress().Addr}); err != nil {
			l.log.Debug("reconcile: introducing this member failed", "to", p.Name, "err", err)
			return
		}
		l.countN(&l.stats.Introductions, 1)
		l.sync(p.Name, whyPeriodic)
	}()
}

// wroteWindow is how recently a member must have written for Reconcile
// to count on it knowing this one.
const wroteWindow = time.Minute

// pickWriter returns a random live member that wrote within wroteWindow,
// or "", forgetting older writers.
func (l *Link) pickWriter() string {
	now := time.Now()
	live := map[string]bool{}
	for _, m := range l.ml.Members() {
		live[m.Name] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var cands []string
	for name, at := range l.wrote {
		switch {
		case now.Sub(at) > wroteWindow:
			delete(l.wrote, name)
		case live[name] && name != l.name:
			cands = append(cands, name)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	slices.Sort(cands) // map order is random; the seeded rng decides
	return cands[l.rng.IntN(len(cands))]
}

// antiEntropyRound reconciles with one random live member: the backstop.
func (l *Link) antiEntropyRound() {
	if peers := l.pick(1, ""); len(peers) == 1 {
		l.sync(peers[0].Name, whyPeriodic)
	}
}

// Summaries travel in memberlist's push/pull (LocalState and
// MergeRemoteState):
//
//	byte 0     version (1)
//	byte 1     n, the sender's name length (1–64)
//	n bytes    the sender's memberlist name
//	16 bytes   store.Fingerprint of the sender's records that expire
//	           after its clock
//	uvarint    how many records that is (shortest encoding)
//
// and nothing after. Two members whose summaries differ reconcile; the
// one whose name sorts lower starts the session.
type summary struct {
	name  string
	fp    [16]byte
	count uint64
}

const summaryVersion = 1

// ErrBadSummary wraps every summary decoding error.
var ErrBadSummary = fmt.Errorf("gossip: bad summary")

func (s *summary) appendTo(dst []byte) []byte {
	dst = append(dst, summaryVersion, byte(len(s.name)))
	dst = append(dst, s.name...)
	dst = append(dst, s.fp[:]...)
	return binary.AppendUvarint(dst, s.count)
}

// parseSummary decodes a summary strictly.
func parseSummary(b []byte) (summary, error) {
	var s summary
	if len(b) < 2 {
		return s, fmt.Errorf("%w: %d bytes", ErrBadSummary, len(b))
	}
	if b[0] != summaryVersion {
		return s, fmt.Errorf("%w: version %d, want %d", ErrBadSummary, b[0], summaryVersion)
	}
	n := int(b[1])
	if n == 0 || n > maxName || len(b) < 2+n+16+1 {
		return s, fmt.Errorf("%w: name of %d bytes in %d bytes", ErrBadSummary, n, len(b))
	}
	s.name = string(b[2 : 2+n])
	if err := record.ValidateNodeID(s.name); err != nil {
		return summary{}, fmt.Errorf("%w: sender: %v", ErrBadSummary, err)
	}
	copy(s.fp[:], b[2+n:])
	rest := b[2+n+16:]
	c, k := binary.Uvarint(rest)
	if k <= 0 || k != len(rest) {
		return summary{}, fmt.Errorf("%w: count: bad uvarint or trailing bytes", ErrBadSummary)
	}
	if len(binary.AppendUvarint(nil, c)) != k {
		return summary{}, fmt.Errorf("%w: count is not in its shortest encoding", ErrBadSummary)
	}
	s.count = c
	return s, nil
}

// localSummary summarises this node's store now.
func (l *Link) localSummary() (summary, error) {
	now := l.node.Clock().Now().UnixMilli()
	fp, n, err := l.node.Store().SharedFingerprint(store.Bound{Expires: now + 1}, store.MaxBound)
	if err != nil {
		return summary{}, err
	}
	return summary{name: l.name, fp: fp, count: uint64(n)}, nil
}

// mergeSummary compares a peer's summary with this node's and starts a
// session if they differ and this node's name sorts lower.
func (l *Link) mergeSummary(buf []byte) {
	peer, err := parseSummary(buf)
	if err != nil {
		l.countN(&l.stats.BadSummaries, 1)
		l.log.Debug("bad push/pull summary ignored", "err", err)
		return
	}
	if peer.name == l.name || !(l.name < peer.name) {
		return // the peer starts the session, if one is needed
	}
	ours, err := l.localSummary()
	if err != nil {
		l.log.Error("anti-entropy: summary", "err", err)
		return
	}
	if ours.fp == peer.fp && ours.count == peer.count {
		return
	}
	l.sync(peer.name, whyPushPull)
}

// jitter returns a random duration in [0, d).
func (l *Link) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(l.randInt64N(int64(d)))
}

func (l *Link) randIntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.IntN(n)
}

func (l *Link) randInt64N(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Int64N(n)
}

func (l *Link) randUint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Uint64()
}

// alive reports whether name is a live member.
func (l *Link) alive(name string) bool { return l.member(name) != nil }

// peerNode returns the live member called name or, failing that, the
// member this node remembers under that name: during a heal, a member
// may hear from another before it has heard that the other is alive,
// and it must still be able to answer.
func (l *Link) peerNode(name string) *memberlist.Node {
	if m := l.member(name); m != nil {
		return m
	}
	l.peers.mu.Lock()
	p := l.peers.peers[name]
	l.peers.mu.Unlock()
	if p == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(p.addr)
	if err != nil {
		return nil
	}
	return &memberlist.Node{Name: name, Addr: ap.Addr().AsSlice(), Port: ap.Port()}
}
