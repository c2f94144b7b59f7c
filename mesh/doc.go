// Package mesh is the sync layer every CITYARRAY node shares (DESIGN §2):
// a Replica that takes records from any link, verifies them against the
// city's trust tiers, deduplicates them, and hands them to the store and
// to its other links.
//
// # The replica
//
// Replica is a state machine with no I/O and no clock, in the manner of
// etcd's raft: its inputs are records (from a link, or published by this
// node) with the time they arrived, and each step fills an Output: records
// to persist, records to forward, and events (accepted, rejected with its
// reason, not stored). A record is verified once: after that, its id is
// known and a copy costs a map lookup; a rejected record's id is
// remembered too (in a bounded ring), so a flood of the same forgery costs
// a hash and a lookup, not a signature check. A record that is rejected is
// never stored or forwarded.
//
// # The node
//
// Node is the thin driver around a Replica: one goroutine takes what the
// links deliver (Deliver never blocks; a full inbox drops and counts),
// runs it through the replica in batches, stores each batch in one bbolt
// transaction, then offers the accepted records to every link, then
// reports the events. A record that cannot be stored is not forwarded.
// The verifier's state (time floor, replay windows, revocations) is saved
// next to the store, so a restarted node still refuses replays.
//
// On a server, signature checks would cap acks at one core, so a node may
// run verify workers (NodeConfig.VerifyWorkers) in front of its goroutine:
// they parse what the links deliver and check the signatures
// (trust.Verifier.CheckSignatures, which remembers by record id that these
// exact bytes verified) on every core, and pass the records on in the
// order Deliver took them, so a record naming its signer by kid still
// follows the one that carried the chain. The replica then does only the
// cheap part of Verify (the signers' validity and revocation at its own
// time, the tier table, expiry, replay) and Commit, in order, as before;
// it stays the one sequential state machine and imports no I/O. Deliver
// still never blocks. A pole, and a simulated city of many nodes in one
// process, run without workers.
//
// # Links
//
// A Link is declared here, by its consumer: a name and a non-blocking
// Offer. Gossip (mesh/gossip), MQTT and LoRa implement it; tests use an
// in-memory one.
package mesh
