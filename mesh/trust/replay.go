package trust

// window is one origin's anti-replay window, as in IPsec (RFC 4303
// §3.4.3): the highest sequence number accepted and a bitmap of which of
// the len(bits)*64 numbers at and below it have been accepted. Bit d (bit
// d%64 of word d/64) stands for seq top-d.
type window struct {
	top  uint64
	bits []uint64
}

func newWindow(size int, seq uint64) *window {
	w := &window{top: seq, bits: make([]uint64, size/64)}
	w.bits[0] = 1
	return w
}

// size returns how many sequence numbers the window remembers.
func (w *window) size() uint64 { return uint64(len(w.bits)) * 64 }

// fresh reports whether seq may be accepted: newer than every seq seen, or
// inside the window and not seen. A nil window (an origin never seen) takes
// any seq.
func (w *window) fresh(seq uint64) bool {
	if w == nil || seq > w.top {
		return true
	}
	d := w.top - seq
	if d >= w.size() {
		return false
	}
	return w.bits[d/64]&(1<<(d%64)) == 0
}

// mark records seq as seen. The caller has checked fresh(seq).
func (w *window) mark(seq uint64) {
	if seq > w.top {
		w.shift(seq - w.top)
		w.top = seq
	}
	d := w.top - seq
	if d < w.size() {
		w.bits[d/64] |= 1 << (d % 64)
	}
}

// shift moves every bit n places towards the old end, as top grows by n.
func (w *window) shift(n uint64) {
	if n >= w.size() {
		clear(w.bits)
		return
	}
	ws, bs := int(n/64), n%64
	for k := len(w.bits) - 1; k >= 0; k-- {
		var v uint64
		if k-ws >= 0 {
			v = w.bits[k-ws] << bs
			if bs > 0 && k-ws-1 >= 0 {
				v |= w.bits[k-ws-1] >> (64 - bs)
			}
		}
		w.bits[k] = v
	}
}

// merge folds o into w: the union of what either has seen. Both have the
// same size.
func (w *window) merge(o *window) {
	if o.top > w.top {
		w.shift(o.top - w.top)
		w.top = o.top
	}
	c := &window{top: o.top, bits: append([]uint64(nil), o.bits...)}
	if d := w.top - o.top; d > 0 {
		c.shift(d)
	}
	for i := range w.bits {
		w.bits[i] |= c.bits[i]
	}
}
