// Package trust is the CITYARRAY city PKI and the one place that decides
// whether a signed record may be used (DESIGN §3, §4): who signed it, whether
// that signer may sign it, and whether it is current, unrevoked and not
// replayed. A forged or wrongly signed record never gets past Verify.
//
// The package has three parts: the PKI (NewRoot, NewCityCA, Issue and the
// key, certificate and directory files the `cityarray keys` command uses),
// identities (Identity, IdentityOf), and the Verifier, a pure state machine
// with no I/O whose State the caller persists.
//
// # The hierarchy
//
// Every city has one root CA, self-signed, whose key can live offline: it
// signs only the city CA. The city CA issues every leaf and signs revocation
// records. All keys are Ed25519; certificates are X.509 (crypto/x509).
//
//	role      URI SAN                              validity  basic constraints  key usage
//	root CA   cityarray://root/<city>              20 years  CA, MaxPathLen 1   CertSign, CRLSign
//	city CA   cityarray://ca/<city>                10 years  CA, MaxPathLen 0   CertSign, CRLSign
//	server    cityarray://server/<id>               2 years  not a CA           DigitalSignature
//	gateway   cityarray://zone/<zone>/gateway/<id>  2 years  not a CA           DigitalSignature
//	operator  cityarray://operator/<id>             1 year   not a CA           DigitalSignature
//	device    cityarray://zone/<zone>/device/<id>   5 years  not a CA           DigitalSignature
//
// NotBefore is backdated 5 minutes; a leaf never outlives its city CA.
// Serials are random 16-byte numbers (top bit clear, so the DER integer is
// positive); the subject is CN=<id>, O=<city> for a leaf, and
// CN=<city> root or CN=<city> city CA, O=<city> for the authorities (the
// subject is for people: identity is the URI SAN alone).
// The city CA signs revocations under its CRLSign usage: a revocation record
// is this system's CRL.
//
// A signer's chain must be exactly leaf → city CA → root (the city CA alone
// → root for revocations), with the city CA and root naming the same city.
//
// # The URI SAN identity
//
// A certificate names its holder in exactly one URI SAN with the cityarray
// scheme (URIs of other schemes are ignored). The role and, for gateways and
// devices, the zone come from it and from nothing else (not the subject).
// Ids and zones follow record.ValidateNodeID; only the canonical form is
// accepted (no escapes, ports, queries or trailing slashes). A device or
// gateway must have a zone, a server or operator must not, and the CA flag
// must match the role. The id is what a record's origin and device scopes
// name, so ids are unique across roles in a city.
//
// # The tier table
//
// Verify applies DESIGN §4 exactly. For the kinds whose tier is chosen by
// the author (alert, update, cancel, activation, protocol):
//
//	informational  one signer, a device        scope device:<its id>
//	advisory       one signer, a gateway       scope zone:<its zone>
//	warning        one signer, a server        any scope
//	emergency      a server and an operator    any scope (two signatures, either order)
//	ipaws          one signer, a server        any scope
//
// The other kinds have a fixed tier:
//
//	kind                          tier           signer              scope
//	ack                           informational  a device            device:<its id>
//	health, telemetry, anomaly    informational  a device or gateway device:<its id>
//	command, update-announcement  warning        a server            any
//	revocation                    warning        the city CA         city
//
// A record's origin is its signer's id (for an emergency, the server's).
// The two emergency signatures must come from different keys: a server key
// certified a second time as an operator is still one signer. A
// device-signed activation above informational is refused: self-activation
// of cached protocols at the tier their upstream signer allowed is not yet
// implemented. Checks run cheapest first, so the reason is the first rule
// broken: signer (unknown-signer, bad-chain, cert-expired, revoked), then
// policy (tier-not-allowed, extra-signer, missing-cosigner, role-not-allowed,
// scope-not-allowed, origin-mismatch), then the signatures (bad-signature),
// then time (expired, not-yet-valid) and replay (replayed). Time and replay
// reasons are therefore reported only for authentic records.
//
// Verify trusts that r's fields are those its signed bytes hold: pass only
// records from record.Parse or record.Sign, unmodified.
//
// CheckSignatures runs the costly half of Verify ahead, on any goroutine:
// signers, policy and the ed25519 signatures, but no time or replay
// check. It remembers, by record id (the SHA-256 of the signed bytes),
// which keys verified the record, and the record's Verify then skips the
// signatures; every other rule is still applied by Verify at its own time.
// Records checked but never verified are forgotten beyond
// Config.SignatureCache.
//
// # Time trust
//
// Verify takes now from the caller's clock and computes the effective time
// max(now, floor), where the floor is the newest issue time among accepted
// records signed by a server, a gateway or the city CA (devices are the
// nodes without trusted clocks, so their records never move the floor: one
// pole with a clock years ahead must not expire every alert in its cluster).
// A record is expired when the effective time ≥ expires + Skew; so a node
// whose clock is behind the floor (a pole after a reboot without an RTC)
// never treats a record as fresh that the network has already seen expire.
//
// With Config.TrustedClock, a record issued more than Skew after now is
// refused as not yet valid and the floor never passes now + Skew. Without
// it, future records are accepted and move the floor forward, and
// certificates are checked at max(effective time, issued): an authentic
// record proves it is at least as late as its issue time. The floor can get
// no further than the signer's certificate's expiry, since certificates
// must be valid at that time.
//
// # Revocation
//
// A revocation record lists certificate serials and is signed by the city
// CA (NewRevocation). ApplyRevocation verifies and accepts one (Accept and
// Commit do the same for any revocation they accept); from then on every
// record whose signer's chain holds a revoked serial (leaf, city CA or root)
// is rejected as revoked, cached chains included. Serials are compared as
// unsigned big-endian numbers, ignoring the issuer: they are random 128-bit
// numbers. Revoked serials are part of State.
//
// # Replay
//
// Each origin's seq must increase. Per origin the Verifier keeps an IPsec
// style window (RFC 4303 §3.4.3): the highest seq accepted and a bitmap of
// the ReplayWindow seqs at and below it. A seq already accepted, or older
// than the window, is rejected as replayed; a seq inside the window not yet
// seen is accepted, so records that arrive out of order over different
// links are not lost. Verify only reads this state; Commit (or Accept)
// records the seq and advances the floor, once the caller has decided to
// keep the record. Callers deduplicate by record id before calling Verify:
// a second copy of a committed record is rejected as replayed, which for a
// duplicate is noise rather than an attack. State and Restore carry the
// floor, windows and revoked serials across restarts; Restore merges, so it
// never forgets.
//
// # Files
//
// Key files are PEM, mode 0600, written atomically (temp file, fsync,
// rename or link, fsync of the directory) and never overwritten unless the
// caller passes Overwrite. Without a passphrase a key is a PKCS#8 "PRIVATE
// KEY"; with one it is a "CITYARRAY ENCRYPTED PRIVATE KEY" block whose
// headers name argon2id (t=3, 64 MiB, p=4, random 16-byte salt) and
// XChaCha20-Poly1305 (random 24-byte nonce), sealing the PKCS#8 DER with the
// headers as associated data. ReadKeyFile refuses key files group or others
// can read. Certificate files are PEM, mode 0644. Nothing here logs or
// prints key material.
package trust
