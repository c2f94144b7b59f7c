package netsim

import "time"

// delivery is one packet on the wire. at is on the network's time base
// (an offset from Network.epoch); seq breaks ties in send order.
type delivery struct {
	at   time.Duration
	seq  uint64
	from *node
	to   *port
	data []byte
}

func (a *delivery) before(b *delivery) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// scheduler is a min-heap of deliveries drained by one goroutine
// (Network.run). It is guarded by Network.mu. A typed heap instead of
// container/heap avoids boxing every packet in an interface.
type scheduler struct {
	heap []delivery
	seq  uint64

	wake    chan struct{}      // cap 1: a new earliest delivery was pushed
	syncReq chan chan struct{} // tests: run one pass, then close the channel
	stop    chan struct{}
	done    chan struct{}
}

func newScheduler() scheduler {
	return scheduler{
		wake:    make(chan struct{}, 1),
		syncReq: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (s *scheduler) push(d delivery) {
	s.seq++
	d.seq = s.seq
	s.heap = append(s.heap, d)
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.heap[i].before(&s.heap[p]) {
			break
		}
		s.heap[i], s.heap[p] = s.heap[p], s.heap[i]
		i = p
	}
	if i == 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) pop() delivery {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = delivery{} // drop references for the GC
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].before(&h[l]) {
			m = r
		}
		if !h[m].before(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}

// run is the scheduler goroutine: it delivers every due packet, then sleeps
// until the earliest pending one, a wake-up, or Close.
func (n *Network) run() {
	s := &n.sched
	defer close(s.done)
	timer := n.clock.NewTimer(time.Hour)
	timer.Stop()
	var syncs []chan struct{}
	for {
		n.mu.Lock()
		now := n.now()
		for len(s.heap) > 0 && s.heap[0].at <= now {
			d := s.pop()
			n.deliverLocked(&d)
		}
		wait := time.Duration(-1)
		if len(s.heap) > 0 {
			wait = s.heap[0].at - now
		}
		n.mu.Unlock()
		for _, c := range syncs {
			close(c)
		}
		syncs = syncs[:0]
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-timer.C():
		case <-s.wake:
		case c := <-s.syncReq:
			syncs = append(syncs, c)
		case <-s.stop:
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// deliverLocked hands one packet to its receiver, or drops it if the
// network changed while it was in flight. It never blocks.
func (n *Network) deliverLocked(d *delivery) {
	to := d.to
	switch {
	case to.closed && to.crashed:
		n.dropLocked(d.from, dropCrash)
	case to.closed:
		n.dropLocked(d.from, dropUnreachable)
	case !n.sameGroupLocked(d.from.name, to.node.name):
		n.dropLocked(d.from, dropPartition)
	case !to.deliver(d.from, d.data, n.epoch.Add(d.at)):
		n.dropLocked(d.from, dropOverflow)
	default:
		to.node.stats.packetsRecv.Add(1)
		to.node.stats.bytesRecv.Add(uint64(len(d.data)))
	}
}

// sync makes the scheduler run one full pass (delivering everything due at
// the clock's current time) and waits for it. Tests use it with a fake
// clock to know that nothing more is due.
func (n *Network) sync() {
	c := make(chan struct{})
	select {
	case n.sched.syncReq <- c:
		<-c
	case <-n.sched.done:
	}
}
