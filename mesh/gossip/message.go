package gossip

import (
	"errors"
	"fmt"

	"github.com/cityarray/cityarray/mesh/record"
)

// Messages travel as memberlist user messages (encrypted and labelled by
// memberlist). Layout:
//
//	byte 0      version (1)
//	byte 1      type: 1 push, 2 ihave, 3 graft, 4 reconcile, 5 fetch
//	byte 2      n, the sender's name length (1–64)
//	3 … 3+n     the sender's memberlist name (its node id)
//	then, by type:
//	  push       the record's signed bytes, to the end
//	  ihave      k (1–maxIDs), then k × 32-byte record ids: "I have these"
//	  graft      k (1–maxIDs), then k × 32-byte record ids: "send me these"
//	  reconcile  8-byte session id (big-endian), 1 flag byte (bit 0:
//	             from the initiator), then a mesh/store reconciliation
//	             message; an empty one ends the session (refused, or
//	             abandoned after an error)
//	  fetch      k (1–maxIDs), then k × 32-byte record ids: "send me
//	             these" (anti-entropy; answered by pushes over reliable
//	             streams)
//
// Decode is strict: anything else is an error that says what is wrong.

const (
	msgVersion = 1
	maxName    = 64
	maxIDs     = 64
)

// msgType is a gossip message type.
type msgType byte

const (
	msgPush      msgType = 1
	msgIHave     msgType = 2
	msgGraft     msgType = 3
	msgReconcile msgType = 4
	msgFetch     msgType = 5
)

func (t msgType) String() string {
	switch t {
	case msgPush:
		return "push"
	case msgIHave:
		return "ihave"
	case msgGraft:
		return "graft"
	case msgReconcile:
		return "reconcile"
	case msgFetch:
		return "fetch"
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// ErrBadMessage wraps every decoding error.
var ErrBadMessage = errors.New("gossip: bad message")

// message is a decoded gossip message.
type message struct {
	typ       msgType
	from      string
	record    []byte      // push
	ids       []record.ID // ihave, graft, fetch
	session   uint64      // reconcile
	initiator bool        // reconcile: sent by the side that initiated
	body      []byte      // reconcile
}

func appendHeader(dst []byte, t msgType, from string) []byte {
	dst = append(dst, msgVersion, byte(t), byte(len(from)))
	return append(dst, from...)
}

// encode appends m's encoding to dst.
func (m *message) encode(dst []byte) ([]byte, error) {
	if len(m.from) == 0 || len(m.from) > maxName {
		return nil, fmt.Errorf("%w: sender name of %d bytes", ErrBadMessage, len(m.from))
	}
	dst = appendHeader(dst, m.typ, m.from)
	switch m.typ {
	case msgPush:
		if len(m.record) == 0 {
			return nil, fmt.Errorf("%w: empty push", ErrBadMessage)
		}
		dst = append(dst, m.record...)
	case msgIHave, msgGraft, msgFetch:
		if len(m.ids) == 0 || len(m.ids) > maxIDs {
			return nil, fmt.Errorf("%w: %s of %d ids (1–%d)", ErrBadMessage, m.typ, len(m.ids), maxIDs)
		}
		dst = append(dst, byte(len(m.ids)))
		for _, id := range m.ids {
			dst = append(dst, id[:]...)
		}
	case msgReconcile:
		var flags byte
		if m.initiator {
			flags = 1
		}
		dst = append(dst, byte(m.session>>56), byte(m.session>>48), byte(m.session>>40), byte(m.session>>32),
			byte(m.session>>24), byte(m.session>>16), byte(m.session>>8), byte(m.session), flags)
		dst = append(dst, m.body...)
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadMessage, m.typ)
	}
	return dst, nil
}

// decode parses b strictly. The returned message aliases b.
func decode(b []byte) (*message, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrBadMessage, len(b))
	}
	if b[0] != msgVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadMessage, b[0], msgVersion)
	}
	m := &message{typ: msgType(b[1])}
	n := int(b[2])
	if n == 0 || n > maxName || len(b) < 3+n {
		return nil, fmt.Errorf("%w: sender name of %d bytes in a %d-byte message", ErrBadMessage, n, len(b))
	}
	m.from = string(b[3 : 3+n])
	if err := record.ValidateNodeID(m.from); err != nil {
		return nil, fmt.Errorf("%w: sender: %v", ErrBadMessage, err)
	}
	rest := b[3+n:]
	switch m.typ {
	case msgPush:
		if len(rest) == 0 {
			return nil, fmt.Errorf("%w: empty push", ErrBadMessage)
		}
		if len(rest) > record.MaxSize {
			return nil, fmt.Errorf("%w: pushed record of %d bytes, at most %d", ErrBadMessage, len(rest), record.MaxSize)
		}
		m.record = rest
	case msgIHave, msgGraft, msgFetch:
		if len(rest) == 0 {
			return nil, fmt.Errorf("%w: %s without a count", ErrBadMessage, m.typ)
		}
		k := int(rest[0])
		if k == 0 || k > maxIDs || len(rest) != 1+32*k {
			return nil, fmt.Errorf("%w: %s of %d ids in %d bytes", ErrBadMessage, m.typ, k, len(rest)-1)
		}
		m.ids = make([]record.ID, k)
		for i := range m.ids {
			copy(m.ids[i][:], rest[1+32*i:])
		}
	case msgReconcile:
		if len(rest) < 9 {
			return nil, fmt.Errorf("%w: reconcile of %d bytes, shorter than its header", ErrBadMessage, len(rest))
		}
		for _, c := range rest[:8] {
			m.session = m.session<<8 | uint64(c)
		}
		if rest[8]&^1 != 0 {
			return nil, fmt.Errorf("%w: reconcile flags 0x%02x", ErrBadMessage, rest[8])
		}
		m.initiator = rest[8] == 1
		m.body = rest[9:]
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrBadMessage, b[1])
	}
	return m, nil
}
