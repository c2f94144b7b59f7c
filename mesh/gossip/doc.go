// Package gossip is the mesh link that poles, gateways and servers on one
// IP island share (DESIGN §5): hashicorp/memberlist for membership and
// failure detection, and a dissemination protocol of its own, because
// memberlist's piggybacked broadcasts are neither fast nor reliable enough
// for alerts (see ../shared/reference/mesh.md).
//
// # Membership
//
// Every member's node meta carries its leaf certificate and a signature,
// by the certificate's key, over the city label and its name. The alive
// and merge delegates refuse a member whose certificate does not chain to
// the city root, names another id, or whose signature fails. Packets and
// streams are encrypted with memberlist's keyring (AES-GCM; the first key
// encrypts, every key decrypts, so keys rotate without a flag day) and
// carry the city label.
//
// # Dissemination
//
// A record the node accepts (published here, or received for the first
// time from any link) is pushed at once to Fanout random members, and
// every receiver does the same on first receipt: an epidemic that does not
// wait for a gossip tick. Records over ReliableAbove bytes go by
// memberlist's reliable stream. LazyFanout other members get only an "I
// have" notice with the record id; one that has not received the record
// GraftTimeout later asks ("graft") the member that announced it, and asks
// the next announcer, with a doubled wait, if that fails too. Pushes cost a
// packet each; the notices are a few dozen bytes; the graft path repairs
// the few members the pushes miss under loss, in a few round trips rather
// than a gossip interval.
//
// Messages are memberlist user messages with a small strict layout (see
// message.go); a message that does not decode is dropped and counted. A
// pushed record goes to the node like any other: verified before it is
// stored or forwarded, so a member cannot inject what the tier table
// refuses.
package gossip
