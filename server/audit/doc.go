// Package audit is the control server's tamper-evident audit log (DESIGN
// §2, "server"): every login, permission change, alert action, key use and
// configuration change is an Entry, appended to a log whose entries are
// the leaves of an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog) and
// whose tree head is signed, at least every minute, as a checkpoint in the
// sumdb note format (golang.org/x/mod/sumdb/note) with the server's
// Ed25519 key. The log is append-only: nothing in this package rewrites or
// deletes an entry, except Prune, which removes whole segments older than
// the retention period.
//
//	l, err := audit.Open(dir, audit.Options{Key: serverKey, KeyName: "cityarray-audit/server-1", Clock: clock})
//	idx, err := l.Append(audit.Entry{Actor: "ada", Role: "officer", Action: "alert.approve", Target: alertID, Outcome: "ok", RemoteIP: ip})
//	t := time.NewTicker(audit.CheckpointInterval)
//	go l.Run(ctx, t.C) // a signed checkpoint every minute the log grew
//
// Offline, `cityarray audit verify DIR --key KEY` (Verify) checks all of
// it and names the first bad entry; `cityarray audit prove --entry N DIR`
// (ProveDir, CheckProof) shows that one entry is in a signed tree.
//
// # Entries
//
// An entry is one line of JSON (format version 1), written by
// encoding/json from a fixed struct, so it is compact, has its keys in a
// fixed order (detail keys sorted) and never holds a raw newline:
//
//	{"v":1,"seq":17,"time":1767225600000,"actor":"ada","role":"officer","action":"alert.approve",
//	 "target":"a1b2","outcome":"ok","ip":"192.0.2.7","detail":{"tier":"warning"}}
//
// v is the format version (EntryVersion); seq the entry's index in the
// log, from 0; time unix milliseconds, stamped by Append from the
// injected Clock; actor a user id or "system"; action a dotted lower-case
// verb ("login.ok", "login.fail", "alert.approve", "key.use",
// "config.change", "perm.change", "request.refused"); outcome a short word
// ("ok", "denied", "error"). role, target, ip and detail are left out when
// empty. An encoded entry is at most MaxEntrySize (64 KiB). Decoding
// (ParseEntry) is strict: unknown fields, another version, trailing data
// or a field that Validate refuses are errors.
//
// Secrets never enter the log: Validate refuses (ErrSecret) a detail key
// that LooksSecret (password, passphrase, secret, totp, token, cookie,
// credential, a key name ending in "key", …; see LooksSecret for the
// list) and a detail value holding a PEM private key. Name keys by key_id
// or key_fingerprint.
//
// The leaf hash of entry i is tlog.RecordHash(line) = SHA-256(0x00 ‖
// line), over the line's bytes without its newline; interior nodes are
// SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1).
//
// # On-disk layout
//
// A log is one directory, mode 0700:
//
//	DIR/seg-00000000000000000000.jsonl.gz   sealed segment: entries 0…4095, gzip, mode 0400
//	DIR/seg-00000000000000004096.jsonl.gz   sealed segment: entries 4096…8191
//	DIR/seg-00000000000000008192.jsonl      the live segment: entries 8192…, appended to
//	DIR/hashes                              stored hashes of the tree
//	DIR/checkpoints                         every signed checkpoint, oldest first
//	DIR/verifier.key                        the note verifier key(s) of the checkpoint signer
//
// Segment files. A segment is named seg-<index of its first entry, 20
// decimal digits> with .jsonl while live and .jsonl.gz once sealed. Its
// content (decompressed for a sealed one) is the entry lines one after
// another, each line the entry's JSON followed by one byte 0x0A; nothing
// else: no header, no padding. Entry seq values in a segment run from the
// name's index up by one, and each segment starts where the previous one
// ended. The live segment is sealed once it holds Options.SegmentEntries
// entries (default 4096) or Options.SegmentBytes bytes (default 8 MiB; a
// batch may take it past that): its bytes are gzipped (RFC 1952, one
// member, no name, no time) to seg-<first>.jsonl.gz, and a new, empty live
// segment is started. A sealed segment is never written again.
//
// hashes. The tree's stored hashes in tlog's storage order
// (tlog.StoredHashIndex): for each entry i in turn, the
// tlog.StoredHashes(i, line) it adds, each 32 raw bytes, no header. Hash
// number k is at byte 32·k; entry i's leaf hash is hash
// tlog.StoredHashIndex(0, i); a log of n entries has
// 32·tlog.StoredHashCount(n) bytes (about 64 bytes per entry). It lets
// Checkpoint (tlog.TreeHash) and Prove (tlog.ProveRecord) read log₂ n
// hashes instead of recomputing the tree. It is derived data: Open
// recomputes the part for the live segment, and rebuilds all of it from
// the segments if it is short. Prune keeps it whole, so the tree of pruned
// entries stays checkable.
//
// checkpoints. Signed notes one after another, each followed by one extra
// 0x0A (a blank line), so that a record ends at the first blank line after
// a signature line. See "Checkpoints" for a note's bytes.
//
// verifier.key. One note verifier key per line, the signer's name, "+",
// the key hash (8 hex digits) and "+", the base64 of 0x01 and the 32-byte
// Ed25519 public key (VerifierKey). Open adds the current key if it is
// missing; an old key stays, since it verifies the older checkpoints.
//
// # Checkpoints
//
// Checkpoint(now) signs the tree head as a note (c2sp.org/tlog-checkpoint
// with one extension line):
//
//	cityarray-audit/server-1
//	8200
//	CD9nKzVeW/m2or5LcPx+CvPlcBRCKmHq/hU4Qw51X3I=
//	time 1767225660000
//
//	— cityarray-audit/server-1 Az3grlgt…
//
// The lines are the origin (the key name, Options.KeyName), the tree size
// in decimal, the base64 RFC 6962 root hash of the first size entries, and
// "time " with the signing time in unix milliseconds; then a blank line
// and the signature line: "— ", the key name, a space, and the base64 of
// the 4-byte key hash followed by the 64-byte Ed25519 signature of the
// text. NewSigner makes the note.Signer from a crypto/ed25519 key; the key
// hash is the first four bytes, big-endian, of SHA-256(name ‖ 0x0A ‖ 0x01
// ‖ public key). Any note.Open with the verifier key opens it.
//
// The verifier key is what a verifier needs: Log.VerifierKey returns it,
// Open writes it to DIR/verifier.key, and VerifierKey(name, pub) computes
// it from the server certificate's public key (`cityarray audit verify
// --key` also takes the certificate file itself). Trusting DIR/verifier.key
// alone proves little, since whoever rewrote the log could rewrite it:
// Verify and the CLI say so when they do.
//
// Run(ctx, tick) writes a checkpoint at each tick (every
// CheckpointInterval, one minute, in the server) if the log grew since
// the last one, and Close writes one if entries are uncovered, so an entry
// is signed within a minute of its append. Checkpoint sizes never
// decrease; each root must equal the tree hash of the log's first size
// entries, which is also what makes successive checkpoints consistent.
//
// # Durability and concurrency
//
// Append and AppendBatch return only after the entry's line is written to
// the live segment and fsynced: an Append that returned nil survives kill
// -9 and power loss. The hash file is written after the fsync but synced
// only when a segment is sealed and at Close, since Open can recompute it;
// checkpoints are fsynced one by one.
//
// Appends are group-committed: concurrent appenders join one batch, which
// the first of them writes with a single write and fsync while the next
// batch fills, so the fsync cost is shared (BenchmarkAppend measures both
// a single appender, one fsync per entry, and concurrent ones). A server
// that audits every request gets thousands of entries per second from
// concurrency alone; AppendBatch gives the same to one goroutine.
//
// # Crash behaviour
//
// A crash (kill -9 or power loss) at any instant loses no acknowledged
// entry and leaves nothing that Open cannot repair:
//
//   - torn append: the live segment ends in a line without its newline;
//     Open truncates it. Such an entry was never acknowledged.
//   - lost write: after a power cut, a line holding NUL bytes (a block the
//     file system allocated but never wrote) and everything after it were
//     written after the last fsync that returned, so were never
//     acknowledged either; Open truncates from there. Any other bad line
//     in the live segment is damage, not a crash: Open refuses it
//     (ErrCorrupt) and `cityarray audit verify` says what is wrong.
//   - hash file behind or ahead: Open truncates it to the hashes of the
//     sealed segments (fsynced before each seal) and recomputes the live
//     segment's; if it is shorter than that, it rebuilds it from the
//     segments.
//   - interrupted seal: sealing syncs the hash file, writes the gzip to a
//     temporary file, fsyncs it, links it into place and fsyncs the
//     directory, creates the next live segment, then removes the old live
//     file. Open removes temporary files, and a live segment whose sealed
//     copy exists; if the last segment is sealed, it starts the next live
//     one.
//   - torn checkpoint: Open truncates an unfinished last record of the
//     checkpoints file. It then checks that the latest checkpoint verifies,
//     covers no more entries than the log holds, and has the root of the
//     hash file's tree.
//
// Only one process may have a log open for writing. Verify and ProveDir
// only read; they may run while the server writes (Verify takes the
// checkpoints that exist when it starts), but a segment sealed while
// Verify runs makes it fail with a missing file: run it again, or verify
// a copy.
//
// # Retention
//
// Entries are kept for RetentionYears (7) years. Prune(now) deletes whole
// sealed segments, oldest first, whose every entry is older than
// RetentionCutoff(now) (seven calendar years before now) and that the
// latest checkpoint covers; it stops at the first segment that does not
// qualify and never deletes the live segment, a younger segment, or part
// of a segment. The hash file keeps the pruned entries' hashes, so the
// tree and every checkpoint remain verifiable; Verify reports pruned
// entries in Report.Pruned and ProveDir refuses them with ErrPruned.
//
// # Verification
//
// Verify streams every segment in order, checks each entry's format and
// seq, recomputes the tree in a compact range (log₂ n hashes), and checks
// each checkpoint (signature, origin, non-decreasing size) when the log
// reaches its size. It reports the first problem in log order as a
// *TamperError: a changed byte in a sealed or live segment, a deleted,
// inserted or reordered entry, a missing segment, a forged checkpoint, or
// a log truncated below a checkpoint's size. To name the exact entry whose
// bytes changed, it checks that the hash file's leaves since the last good
// checkpoint lead to the next signed root, and then compares them with
// the recomputed ones.
package audit
