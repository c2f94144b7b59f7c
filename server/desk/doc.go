// Package desk is the control server's alert desk: the lifecycle of Warning
// and Emergency alerts and of protocols (pre-approved templates), and the
// only place the server signs them (DESIGN §3, §4).
//
// It is a library with no routes. The HTTP layer decodes requests with
// DecodeDraft, DecodeUpdate and DecodeProtocol, authenticates a
// *auth.Principal, calls one method per request, and maps errors with
// StatusCode. The server calls Renew every minute and wires Options: its
// mesh.Node as the Publisher, its audit log as the Auditor, and fleet as the
// Tracker and DeviceZone. Every method is safe for concurrent use.
//
//	d, err := desk.New(db, opts)
//	a, err := d.Draft(zoneOp, req)          // draft
//	_, err = d.Submit(zoneOp, a.ID)         // → submitted
//	_, err = d.Approve(supervisor, a.ID)    // → approved
//	a, err = d.Publish(ctx, supervisor, a.ID) // → published: signed, handed to the mesh
//	rep, err := d.Renew(ctx, now)           // every minute
//
// # States and transitions
//
// An alert moves through these states; every transition is checked, stored
// in the alert's history (who, when, from, to, why, which record) and
// appended to the audit log under the action named:
//
//	from                         to         method   action          permission (and scope)          signs
//	—                            draft      Draft    alert.draft     alert.draft                     —
//	draft                        draft      Edit     alert.edit      alert.draft, author only        —
//	draft                        submitted  Submit   alert.submit    alert.submit                    —
//	submitted                    approved   Approve  alert.approve   alert.approve (+ rules below)   —
//	submitted, approved          draft      Reject   alert.reject    alert.approve, reason required  —
//	approved                     published  Publish  alert.publish   alert.publish (+ rules below)   alert or activation
//	published                    published  Update   alert.update    alert.publish                   update
//	published                    published  Renew    (not audited)   — (system, warnings only)       update
//	published                    expired    Renew    alert.expire    — (system)                      —
//	draft, submitted, approved   cancelled  Cancel   alert.cancel    alert.cancel, or the author     —
//	published                    cancelled  Cancel   alert.cancel    alert.cancel                    cancel
//
// "Updated" is not a state of its own: an update is a transition from
// published to published, with its record in the history. Expiry is
// recorded by the next Renew after the alert's lifetime ends. Cancelled
// and expired are final. Every refused operation is audited as
// alert.refused (protocol.refused, officer_key.refused) with the operation
// and the reason; an operation the mesh refuses is undone and audited with
// outcome "error".
//
// Every transition checks the principal's permission (auth.Permission) and
// that it may act on the alert's scope (Principal.AllowedScope): a
// zone_operator only in its zones, a device scope counting as the device's
// zone through Options.DeviceZone, never city. Drafting and editing check
// the new scope too, so an edit cannot move an alert out of reach.
// Reading (Get, List) needs alert.read and is not limited by scope.
//
// The desk authors warning and emergency alerts only: advisory alerts are
// signed by zone gateways, informational records by devices, and IPAWS
// alerts arrive as FEMA CAP messages, which the desk does not take yet;
// drafting any of them fails with ErrUnsupportedTier naming the tier.
//
// # Two-person rule
//
// With Options.TwoPersonEmergency (the default) the approver of an
// emergency must be neither its author nor its submitter; with
// Options.TwoPersonWarning (off by default: warnings are routine and
// time-critical, and a supervisor often writes and sends one) the same
// holds for warnings. An emergency is approved only by an officer
// (alert.sign_emergency) with an enrolled key, and published only by the
// officer who approved it, since that officer's key co-signs it. Updates
// and cancels of a published alert are one person's act, audited.
//
// # Signing
//
// The tier table (mesh/trust) decides what the mesh accepts; the desk
// signs accordingly:
//
//	tier       alert, activation, update, cancel           protocol
//	warning    server key (COSE_Sign1)                     server key, city scope
//	emergency  server key + the acting officer's key      —
//	           (COSE_Sign, two signers, origin = server)
//
// A cancel or update carries its alert's tier. The tier table would accept
// a warning-tier cancel signed by the server alone, and mesh/store honours
// a cancel whatever its tier, so cancelling an emergency at warning tier
// would let the server key alone withdraw an emergency: the desk never does
// that. Cancelling or updating an emergency needs an officer with a fresh
// TOTP entry, like publishing it; a supervisor cannot cancel an emergency.
//
// An officer's key signs only through one function, which checks, in this
// order, alert.sign_emergency, a TOTP entry in the officer's session within
// Options.FreshTOTP (5 minutes; Principal.FreshTOTP, so never for an API
// token), and an enrolled key; otherwise it fails with ErrForbidden,
// ErrFreshTOTPRequired ("re-enter your code": auth.Service.Reauthenticate,
// then retry) or ErrNoOfficerKey, and nothing is signed. Each use of an
// officer key is audited as key.use with the key's fingerprint.
//
// Officer keys are Ed25519 keys certified by the city CA as
// cityarray://operator/<user id>. CreateOfficerKey makes one (issued by
// Options.CityCA), EnrolOfficerKey stores one made elsewhere (checked
// against its certificate and the CA), RemoveOfficerKey deletes one; all
// three are for admins (user.manage). The key's 32-byte seed is sealed with
// XChaCha20-Poly1305 under Options.DataKey (random nonce; the officer id
// and key fingerprint as additional data, so a sealed key copied to another
// officer does not open) and unsealed only inside the signing transaction,
// then wiped. No key material appears in an error, a log line, an audit
// entry or any JSON the package returns.
//
// Sequence numbers: each record's seq is the server origin's last seq plus
// one, reserved in the same bbolt transaction that signs the record and
// stores its bytes; the bytes leave the process only after that
// transaction commits, so a seq is never reused, even across a crash. New
// lifts the last seq to the current time in Unix milliseconds when it is
// lower, so that a database restored from a backup, or records signed with
// the server key by `cityarray record sign` (which uses the time), cannot
// make the desk reuse or fall behind a seq the network has seen. Within a
// run seqs are consecutive, so the verifiers' replay window (1024 numbers)
// leaves room to resend a record after many others. One mutex covers
// signing and the hand-off to the publisher, so records reach the mesh in
// seq order; the Publisher must therefore never call back into the desk.
//
// # Publishing
//
// A signed record is handed to Options.Publisher (the server's mesh.Node,
// which verifies it with the tier table, stores it and offers it to every
// link) after Options.Tracker has learned its id. If the publisher refuses
// it (a *trust.RejectError) the operation is undone and fails with
// ErrRefused; if it fails otherwise (a timeout) the operation stands, the
// call returns ErrNotDelivered with the alert, and the record waits in
// desk.unsent until Renew hands it over again. Records signed before a
// crash are resent the same way. The publish path does no password hashing
// and reads only the alert, its protocol and its records.
//
// An alert drafted from a protocol is published as an activation of the
// protocol's current record, with the parameters, when it expires no later
// than that record; otherwise, so that it can never outlive the template
// poles have cached, as an alert with the texts filled in. Either way its
// texts are filled in and checked against the record format (a parameter
// may make a short text longer than 90 characters) at draft and at
// publication.
//
// # Renewal
//
// Displays drop a warning 5 minutes after its last record was issued
// (WarningTimeout). Renew re-issues each published warning whose last
// record is Options.RenewEvery old (1 minute, less a tenth for early ticks)
// as an update record with the same message, Issued = now, the alert's own
// expiry, and Supersedes = the previous record, until the alert expires or
// is cancelled. An activation is renewed as an update with the filled-in
// texts (the record format allows supersedes only on updates and cancels,
// and an update carries an alert body). Emergencies are never renewed: they
// do not time out, and no timer holds an officer's key.
//
// A cancel or an update names every record the alert was published as, or
// the original and the newest 63 when there are more (the record format
// allows 64); the older renewals were each superseded by the next and have
// timed out. A renewal names only the record it renews, to stay small.
//
// Renew also re-signs each published protocol every Options.ProtocolRefresh
// (24 h) with a new seq and a lifetime of Options.ProtocolLifetime (48 h),
// so caches keep it; a retired protocol is no longer refreshed.
//
// # Device commands
//
// Command signs a command record for one device (device.command; a
// technician's job): a test pattern, brightness or volume (0 to 100), at
// warning tier, scope device:<id>, valid DefaultCommandLifetime unless
// asked otherwise (at most MaxCommandLifetime), signed by the server key
// with the desk's next seq. It lives here because the server has one
// sequence: a command signed with a seq of its own would leave the
// verifiers' replay windows behind either the alerts or the commands. It
// is audited as device.command (action, value, record, seq) and refused as
// device.refused; a command the mesh refuses changes nothing at the desk,
// and one whose hand-off failed waits in desk.unsent like any record.
//
// # Storage
//
// The desk takes the server's open *bbolt.DB and uses only buckets whose
// names start with "desk."; each operation is one write transaction (plus
// one to record the hand-off to the publisher); values are JSON.
//
//	desk.meta       "schema" → "1"
//	desk.seq        origin → last seq (8 bytes, big-endian)
//	desk.alerts     alert id → Alert
//	desk.bystate    state code ‖ created (ns, sign bit flipped) ‖ alert id → ∅
//	desk.bycreated  created ‖ alert id → ∅
//	desk.history    alert id ‖ 0x00 ‖ n (8 bytes) → Transition
//	desk.records    alert id ‖ 0x00 ‖ n (8 bytes) → RecordRef
//	desk.active     alert id → ∅ for every published alert (what Renew reads)
//	desk.unsent     record id → the signed bytes (and the alert, protocol or device), until the publisher took them
//	desk.protocols  template name → Protocol
//	desk.officers   officer id → certificate, fingerprint and sealed key seed
//
// Alert ids are 10 bytes from Options.Rand in lower-case base32. List walks
// desk.bystate (or desk.bycreated) backwards from an opaque cursor (the last
// key it returned), so a page costs its length.
//
// # Audit
//
// Entries are appended after the transaction commits (the actor's user id,
// role and address; the alert id as target; tier, scope, states, reason,
// record id, seq and officer key fingerprint as details). An audit failure
// is logged and never undoes what was done: an alert must not stay off the
// street because the audit disk is full.
//
// # Time and randomness
//
// The package never reads the system clock: Options.Clock tells the time,
// Renew takes it as an argument, and Options.Rand supplies ids, nonces and
// new keys.
package desk
