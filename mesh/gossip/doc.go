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
// the next announcer GraftTimeout after that if the record has still not
// come, then with a doubled wait each time. Pushes cost a packet each; the
// notices are a few dozen bytes; the graft path repairs the few members
// the pushes miss under loss, in a few round trips rather than a gossip
// interval.
//
// A record Config.AnnounceOnly names is not pushed: it came by a medium the
// neighbours share (a pole's zone broker sends every pole of the zone the
// same alert), so pushing it would cost each neighbour a copy to receive
// and drop. It is announced instead, AnnounceDelay (1 s) after it came, to
// Fanout members, with whatever else came meanwhile in the same notice; a
// member that lacks it grafts it and pushes it on as a record new to it.
// The notices are for a pole whose uplink failed unnoticed; one that knows
// it has none reconciles every few seconds (Link.Reconcile).
//
// # Anti-entropy
//
// Pushes and grafts are best effort; anti-entropy is the repair of last
// resort. Two members reconcile their stores with mesh/store's range
// fingerprints (a Negentropy-style exchange over the (expires, id) keys
// of the records that have not expired): the initiator sends
// store.Reconciler.Initiate, each side passes every message it receives
// to Respond and sends back the reply, until one is done. A session is
// keyed by the peer and an id the initiator picks; its messages go by
// memberlist's reliable stream from the link's send workers (never from
// memberlist's handlers), one message of a session at a time. At most
// MaxSessions (8) run at once and one per pair of members (when two start
// one at once, the one started by the lower name goes on); a session
// silent for 30 s is dropped. A reconcile message with an empty body ends
// a session (refused, or abandoned after a bad message).
//
// Both sides learn the whole difference. Each asks for what it lacks
// with "fetch" messages and is answered with pushes over reliable
// streams; neither pushes unasked, so a record crosses once, and an id
// already asked for (in another session) is not asked again for 10 s.
// What arrives is delivered to the node like any push: verified, never
// trusted. A record fetched from a member that had just re-joined is not
// pushed on (every member syncs with a re-joined member by itself, see
// below); one fetched from any other member spreads like a new record.
//
// Sessions start on three triggers:
//
//   - memberlist's push/pull: LocalState carries a summary (name,
//     fingerprint and count of the live records, see summary); if the
//     summaries differ, the member whose name sorts lower starts a
//     session with the other;
//   - a re-join: when a member this node knew comes back (NotifyJoin
//     after a partition, crash or restart), the node syncs at once with
//     one random member among those that re-joined within a second; a
//     burst of re-joins (a healed partition) costs each member one
//     session, and a failed one is retried with another member;
//   - every AntiEntropyInterval (30 s), with one random member: the
//     backstop.
//
// # Re-join
//
// memberlist forgets a dead member after GossipToTheDeadTime and never
// contacts it again, so two halves of a partition that outlast it never
// merge by themselves. The link remembers every member it has seen alive
// (name, address, last seen; forgotten after 72 h unseen, or when it
// leaves on purpose) and, if SnapshotPath is set, keeps them in a JSON
// snapshot written atomically when they change (Serf's snapshot). Run
// tries, on start and every RejoinInterval (10 s), to Join remembered
// members that are not alive: up to 8 of them in random order, one at a
// time, stopping at the first that answers (one Join brings its whole
// side back; memberlist gossips the rest). After the first round, a
// member runs a round with probability 3 / live members, so that each
// side of a partition makes about three attempts per interval rather than
// one per member: a Join is a full push/pull of the member list, and a
// side that all re-joined at once would pay that hundreds of times over.
// That heals a partition of any length, and brings a restarted node back
// to the members of its snapshot.
//
// Messages are memberlist user messages with a small strict layout (see
// message.go); a message that does not decode is dropped and counted. A
// pushed record goes to the node like any other: verified before it is
// stored or forwarded, so a member cannot inject what the tier table
// refuses.
package gossip
