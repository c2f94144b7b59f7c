package trust

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// State is the part of a Verifier that must survive a restart: the time
// floor, every origin's replay window and the revoked serials. It is plain
// data (JSON-serialisable) for the caller to persist after each Commit
// batch and hand back to Restore on start.
type State struct {
	Floor   time.Time              `json:"floor"`
	Windows map[string]WindowState `json:"windows,omitempty"` // by origin
	Revoked []string               `json:"revoked,omitempty"` // serials, lower-case hex, sorted
}

// WindowState is one origin's replay window: the highest sequence number
// accepted, and a bitmap of those seen at and below it (bit k of byte j is
// set when seq Top-(8j+k) was accepted).
type WindowState struct {
	Top  uint64 `json:"top"`
	Seen []byte `json:"seen"`
}

// State returns a copy of the verifier's state.
func (v *Verifier) State() State {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := State{Floor: v.floor, Windows: make(map[string]WindowState, len(v.windows))}
	for o, w := range v.windows {
		seen := make([]byte, 0, len(w.bits)*8)
		for _, b := range w.bits {
			seen = binary.LittleEndian.AppendUint64(seen, b)
		}
		s.Windows[o] = WindowState{Top: w.top, Seen: seen}
	}
	for serial := range v.revoked {
		s.Revoked = append(s.Revoked, hex.EncodeToString([]byte(serial)))
	}
	slices.Sort(s.Revoked)
	return s
}

// Restore merges s into the verifier's state: the later floor, the union of
// the revoked serials and of the sequence numbers seen. Merging never
// forgets anything, so restoring an old state is safe. A window saved with
// a smaller ReplayWindow treats the numbers it did not cover as seen.
func (v *Verifier) Restore(s State) error {
	revoked := make([]string, 0, len(s.Revoked))
	for _, h := range s.Revoked {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("trust: restore: revoked serial %q is not hex", h)
		}
		revoked = append(revoked, string(normSerial(b)))
	}
	windows := make(map[string]*window, len(s.Windows))
	for o, ws := range s.Windows {
		if len(ws.Seen) == 0 {
			return fmt.Errorf("trust: restore: origin %q has an empty window", o)
		}
		windows[o] = v.windowFrom(ws)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s.Floor.After(v.floor) {
		v.floor = s.Floor
	}
	for _, r := range revoked {
		v.revoked[r] = struct{}{}
	}
	for o, w := range windows {
		if old := v.windows[o]; old != nil {
			old.merge(w)
		} else {
			v.windows[o] = w
		}
	}
	return nil
}

// windowFrom converts a saved window to this verifier's window size.
func (v *Verifier) windowFrom(ws WindowState) *window {
	w := &window{top: ws.Top, bits: make([]uint64, v.windowSize/64)}
	covered := uint64(len(ws.Seen)) * 8
	for d := uint64(0); d < w.size(); d++ {
		if d >= covered || ws.Seen[d/8]&(1<<(d%8)) != 0 {
			w.bits[d/64] |= 1 << (d % 64)
		}
	}
	return w
}
