// Package store keeps a node's signed records, its outbox of acks and
// telemetry, and the range fingerprints that anti-entropy compares, in one
// bbolt file (DESIGN §6). Every node, edge, gateway or server, has one.
//
// The store does not verify signatures or apply the tier table: it keeps
// what the replica (package mesh) has already accepted. It does enforce
// what storage owns: dedupe by id, expiry, supersession, the protocol TTL,
// the disk budget and the outbox bound. Time is always passed in, never
// read from the system clock.
//
// # Bucket layout
//
// All keys that hold a time use unix milliseconds with the sign bit
// flipped, big-endian, so that byte order is time order; ids are the 32-byte
// record.ID. Index keys put the expiry before the id so that records
// arriving together, which mostly expire at nearby times, land on a few
// pages: a batch then rewrites a few pages per index rather than one per
// record (only rec, keyed by id, takes random inserts).
//
//	meta    "magic" → "cityarray/store"; "schema" → uint32 (2);
//	        "bytes", "count" → uint64 totals of stored records;
//	        "outseq", "outacks", "outtel", "outdropped" → uint64 outbox counters
//	rec     id → entry: a versioned header (kind, tier, issued, expires, last
//	        refresh, seq, origin, scope) followed by the signed bytes; the
//	        layout is documented in entry.go
//	exp     (expires, id) → ∅     every record; the anti-entropy key space
//	disp    (expires, id) → ∅     alerts, updates and activations only
//	scope   (uvarint len, scope, expires, id) → ∅
//	kind    (kind, expires, id) → ∅
//	tier    (tier, expires, id) → ∅   eviction order
//	proto   (last refresh, id) → ∅    protocols only
//	sup     id → uint64 ms, then (tier, len, scope) per claimant: the
//	        superseded set, how long each entry lasts and who superseded it
//	supexp  (until, id) → ∅       the superseded set by expiry, for the sweep
//	outack  seq → data            acks waiting to be delivered
//	outtel  seq → data            telemetry waiting to be delivered
//
// Each Put, Sweep and outbox operation is one bbolt transaction, so the
// record, its index entries and the counters change together or not at
// all. Active seeks the display index at now and reads forward, so expired
// records that wait for a sweep cost it nothing.
//
// Supersession: a cancel or an update puts every id it names into the
// superseded set, whether that record is stored or not, so that a cancel
// that overtakes its alert still suppresses it when the alert arrives.
// It may supersede only what its signer could have published: a record
// never supersedes one of a higher tier, and below warning (gateways and
// devices, bound to their zone or device) only one of the same scope.
// Each entry keeps the tier and scope of the records that named it, so
// that an alert arriving after a cancel without that right stays active;
// refusals are logged and counted (Stats.SupersedeRefused).
// The entry lasts until both the superseding and the superseded record
// have expired (the later of the two expiries known), so that a cancel
// that expires before its alert does not bring the alert back. The
// superseded record itself is kept until it expires, so that anti-entropy
// peers agree and stop offering it.
//
// Retention: records are kept until they expire; protocols until
// min(expiry, last refresh + ProtocolTTL), where a refresh is a Put of an
// id already stored. Sweep deletes what has run out in transactions of at
// most 5,000 deletions (a fraction of a second of writer lock each). The disk budget (Options.MaxBytes) counts the
// signed bytes of stored records; when a record does not fit, Put sweeps,
// then evicts records of a lower tier (lowest first, soonest-expiring
// first), and otherwise refuses with ErrFull, saying how much is needed.
//
// # Crash safety
//
// bbolt runs with fsync on: a transaction writes its pages, fsyncs, writes
// one of the two meta pages and fsyncs again, and Put returns only after
// that. A record whose Put returned survives kill -9 and power loss; a
// transaction cut short leaves the previous meta page in charge and the
// file as it was. TestCrash proves the first half by SIGKILLing a writer
// fifty times and checking every acknowledged record.
//
// Open checks the whole file before use and never repairs it:
//
//   - it reads both meta pages itself: a single bad one is what a power cut
//     during a commit leaves, so Open logs it and uses the other, as bbolt
//     does; two bad ones are corruption;
//   - it checks that the file is not shorter than the meta page says;
//   - it walks every page reachable from the root with bounds checks, so
//     that bbolt, whose checker runs on its own goroutine where a memory
//     fault could not be caught, never follows a bad page id;
//   - it runs bbolt's tx.Check;
//   - it hashes every stored record (bbolt has no checksums on data pages,
//     but records are content-addressed, so a flipped bit shows), decodes
//     every entry, checks that every index entry exists and no index holds
//     more, and compares the counters;
//   - it checks the store header and schema.
//
// Any failure is an error wrapping ErrCorrupt (or ErrNotStore, ErrSchema)
// that names the file and the problem. Panics bbolt raises on garbage are
// recovered, with memory faults turned into panics while bbolt reads. A
// file of zero bytes is a new store. The check reads the whole file:
// about 0.6 s for 100,000 records on the development VM.
//
// # Anti-entropy
//
// Two stores converge by comparing their sets of (expires, id) keys, as in
// Negentropy (Nostr NIP-77, hoytech/negentropy). Fingerprint hashes the
// sum of the ids in a range (mod 2^256) with their count, so it needs no
// tree and no state; Keys lists a range.
//
// A Reconciler runs the exchange as messages (layout in reconcile.go) that
// the gossip layer carries. The initiator splits its whole set into
// sixteen ranges of equal count and sends their fingerprints. The other
// side compares each with its own: equal ranges are skipped; a range that
// differs is split sixteen ways again, or, when it holds at most 32
// records, sent as a list of ids. The side that receives an id list
// compares it with its own records in that range and answers with a diff:
// the ids it has that the sender lacks, and the ids the sender has that it
// lacks. So after the exchange both sides know the whole symmetric
// difference, the cost is about log16(n) round trips and a few hundred
// bytes per differing record, and identical sets take one round trip. The
// initiator's clock, carried in every message, decides which records are
// in the set (those that expire after it), so both sides compare the same
// set. A message is at most MaxMessage (64 KiB) bytes; a side that runs out
// of room covers the rest of the key space with one fingerprint, and the
// next round resolves it.
//
// # Outbox
//
// Acks and telemetry wait in the outbox until the uplink confirms them
// (Enqueue, Peek, Ack). Sequence numbers increase across both classes and
// are never reused. The outbox holds at most Options.MaxOutbox entries;
// when it is full, the oldest telemetry entry is dropped, and an ack is
// refused with ErrOutboxFull only when the outbox holds nothing but acks.
package store
