package desk

import (
	"context"
	"crypto/cipher"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// Clock tells the time. The server passes the system clock; tests pass a
// fake one. The package never reads the time any other way.
type Clock interface{ Now() time.Time }

// Publisher takes a signed record and distributes it: the server passes its
// mesh.Node, whose Publish verifies, stores and offers the record to every
// link, and returns the verifier's *trust.RejectError if it refuses it.
type Publisher interface {
	Publish(ctx context.Context, rec *record.Record) error
}

// Auditor appends to the audit log (an *audit.Log).
type Auditor interface {
	Append(audit.Entry) (int64, error)
}

// Tracker learns which records belong to which alert, so that delivery
// acks for any of them count for the alert (a *fleet.Fleet). Track is
// called with each new record id before the record is handed to the
// Publisher, so no ack can arrive before its record is known.
type Tracker interface {
	Track(alertID string, recordIDs []record.ID, scope record.Scope, publishedAt time.Time)
}

// Options configure a Desk. Start from DefaultOptions and set the fields
// only the server can supply; New checks all of them and reports every
// problem at once.
type Options struct {
	// Clock tells the time. Required.
	Clock Clock
	// Rand supplies alert ids, nonces and new officer keys:
	// crypto/rand.Reader in production. Required.
	Rand io.Reader
	// Server signs every record the desk issues; ServerID is its node id
	// (the records' origin, the id in its certificate). Required.
	Server   record.Signer
	ServerID string
	// CityCA is the city CA. With its key, CreateOfficerKey issues officer
	// certificates from it; its certificate checks enrolled officer
	// certificates and travels in the x5chain of officer signatures.
	// Optional, but without it officer signatures carry only the leaf.
	CityCA *trust.CA
	// DataKey (32 bytes) seals officer keys at rest with
	// XChaCha20-Poly1305. Required. Losing it means every officer key is
	// enrolled again.
	DataKey []byte
	// Publisher distributes signed records (the mesh node). Required.
	Publisher Publisher
	// Auditor receives an entry for every transition and refusal.
	// Required.
	Auditor Auditor
	// Tracker, if set, learns every record id issued for an alert.
	Tracker Tracker
	// DeviceZone places a device in its zone, for zone operators'
	// device scopes (fleet's DeviceZone). Without it device scopes are
	// refused to zone operators.
	DeviceZone auth.DeviceZoneFunc
	// Logger receives delivery retries and failures. Nil discards.
	Logger *slog.Logger

	// TwoPersonWarning and TwoPersonEmergency require the approver of an
	// alert of that tier to be someone other than its author and
	// submitter. DefaultOptions: emergency yes, warning no.
	TwoPersonWarning   bool
	TwoPersonEmergency bool
	// FreshTOTP is how recent the officer's TOTP entry must be for the
	// officer's key to sign (DESIGN §4: 5 minutes).
	FreshTOTP time.Duration
	// RenewEvery is how often Renew re-issues a published warning; it must
	// be well below the displays' 5-minute timeout. Renew re-issues a
	// warning once RenewEvery minus a tenth of it has passed since its last
	// record, so a tick that comes a little early still renews.
	RenewEvery time.Duration
	// ProtocolLifetime is the lifetime of a protocol record, and
	// ProtocolRefresh how often Renew re-signs it (48 h and 24 h).
	ProtocolLifetime time.Duration
	ProtocolRefresh  time.Duration
	// MaxLifetime bounds an alert's lifetime.
	MaxLifetime time.Duration
	// CancelLifetime is the least lifetime of a cancel record, so that it
	// keeps travelling to poles that come back after the alert expired.
	CancelLifetime time.Duration
	// OfficerKIDOnly leaves the officer's certificate chain out of
	// emergency signatures (receivers must have it cached). By default
	// the chain travels, so every pole can check the co-signature.
	OfficerKIDOnly bool
}

// DefaultOptions returns the production settings, without the parts only
// the server can supply (Clock, Rand, Server, ServerID, CityCA, DataKey,
// Publisher, Auditor, Tracker, DeviceZone, Logger).
func DefaultOptions() Options {
	return Options{
		TwoPersonEmergency: true,
		FreshTOTP:          auth.FreshWindow,
		RenewEvery:         time.Minute,
		ProtocolLifetime:   48 * time.Hour,
		ProtocolRefresh:    24 * time.Hour,
		MaxLifetime:        7 * 24 * time.Hour,
		CancelLifetime:     time.Hour,
	}
}

// WarningTimeout is how long a display shows a warning after its last
// record was issued unless it is renewed (DESIGN §4).
const WarningTimeout = 5 * time.Minute

func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("desk: options: "+format, args...)) }
	if o.Clock == nil {
		bad("Clock is required")
	}
	if o.Rand == nil {
		bad("Rand is required")
	}
	if o.Server.Key == nil || len(o.Server.KID) != record.KIDSize {
		bad("Server signer is required")
	}
	if err := record.ValidateNodeID(o.ServerID); err != nil {
		bad("ServerID: %v", err)
	}
	if len(o.DataKey) != chacha20poly1305.KeySize {
		bad("DataKey must be %d bytes, is %d", chacha20poly1305.KeySize, len(o.DataKey))
	}
	if o.Publisher == nil {
		bad("Publisher is required")
	}
	if o.Auditor == nil {
		bad("Auditor is required")
	}
	if o.CityCA != nil && o.CityCA.Cert == nil {
		bad("CityCA has no certificate")
	}
	if o.FreshTOTP <= 0 || o.FreshTOTP > 15*time.Minute {
		bad("FreshTOTP %v: want more than 0, at most 15m", o.FreshTOTP)
	}
	if o.RenewEvery <= 0 || o.RenewEvery > WarningTimeout/2 {
		bad("RenewEvery %v: want more than 0, at most %v (half the display timeout)", o.RenewEvery, WarningTimeout/2)
	}
	if o.ProtocolLifetime <= 0 || o.ProtocolRefresh <= 0 || o.ProtocolRefresh >= o.ProtocolLifetime {
		bad("ProtocolRefresh %v must be more than 0 and less than ProtocolLifetime %v", o.ProtocolRefresh, o.ProtocolLifetime)
	}
	if o.MaxLifetime < time.Minute {
		bad("MaxLifetime %v: want at least 1m", o.MaxLifetime)
	}
	if o.CancelLifetime < time.Minute {
		bad("CancelLifetime %v: want at least 1m", o.CancelLifetime)
	}
	return errors.Join(errs...)
}

// Desk is the alert desk: the lifecycle of Warning and Emergency alerts and
// of protocols, and the only place the server signs them. Its methods are
// safe for concurrent use.
type Desk struct {
	db   *bbolt.DB
	opts Options
	log  *slog.Logger
	aead cipher.AEAD

	// signMu serialises everything that signs: from reserving a seq to
	// handing the record to the publisher. Records therefore reach the
	// mesh in seq order, and a failed hand-off can be undone before
	// anything else touches the alert.
	signMu sync.Mutex
}

// New opens the desk on db (the server's bbolt file; the desk uses only
// buckets whose names start with "desk."), creating its buckets.
func New(db *bbolt.DB, opts Options) (*Desk, error) {
	if db == nil {
		return nil, errors.New("desk: options: nil database")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(opts.DataKey)
	if err != nil {
		return nil, fmt.Errorf("desk: data key: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Rand = &lockedReader{r: opts.Rand}
	d := &Desk{db: db, opts: opts, log: log.With("component", "desk"), aead: aead}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		return raiseSeqFloor(tx, opts.ServerID, opts.Clock.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("desk: open: %w", err)
	}
	return d, nil
}

func (d *Desk) now() time.Time { return d.opts.Clock.Now() }

// newID returns a fresh alert id: 10 random bytes in lower-case base32.
func (d *Desk) newID() (string, error) {
	var b [10]byte
	if _, err := io.ReadFull(d.opts.Rand, b[:]); err != nil {
		return "", fmt.Errorf("desk: new id: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// reserveSeq returns the next sequence number of origin (the last one plus
// one) and stores it in tx. Since the record is signed in the same
// transaction and leaves the process only after it commits, a seq is never
// used twice, even across a crash. Consecutive numbers keep the verifiers'
// replay windows (1024 numbers) wide enough for a record resent minutes
// later; see raiseSeqFloor for the start.
func reserveSeq(tx *bbolt.Tx, origin string) (uint64, error) {
	b := tx.Bucket(bucketSeq)
	var last uint64
	if v := b.Get([]byte(origin)); len(v) == 8 {
		last = be.Uint64(v)
	}
	var v [8]byte
	be.PutUint64(v[:], last+1)
	return last + 1, b.Put([]byte(origin), v[:])
}

// raiseSeqFloor lifts origin's last seq to now in Unix milliseconds if it
// is lower. New calls it, so that a database restored from a backup, or
// records signed with the server key by `cityarray record sign` (which uses
// the time as seq), never make the desk reuse or fall behind a seq the
// network has seen, as long as the clock is not behind.
func raiseSeqFloor(tx *bbolt.Tx, origin string, now time.Time) error {
	b := tx.Bucket(bucketSeq)
	var last uint64
	if v := b.Get([]byte(origin)); len(v) == 8 {
		last = be.Uint64(v)
	}
	ms := now.UnixMilli()
	if ms <= 0 || uint64(ms) <= last {
		return nil
	}
	var v [8]byte
	be.PutUint64(v[:], uint64(ms))
	return b.Put([]byte(origin), v[:])
}

// lockedReader makes a reader safe for concurrent use (Options.Rand may be
// a seeded generator in tests).
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// audit appends e to the audit log. A failure is logged and returned, but
// never undoes what was done: the transition is already committed.
func (d *Desk) audit(e audit.Entry) error {
	if _, err := d.opts.Auditor.Append(e); err != nil {
		d.log.Error("audit append failed", "action", e.Action, "target", e.Target, "err", err)
		return fmt.Errorf("desk: audit %s: %w", e.Action, err)
	}
	return nil
}

// entry starts an audit entry for principal p.
func entry(p *auth.Principal, action, target, outcome string, detail map[string]string) audit.Entry {
	e := audit.Entry{Actor: "system", Action: action, Target: target, Outcome: outcome, Detail: detail}
	if p != nil {
		e.Actor, e.Role, e.RemoteIP = p.UserID(), string(p.Role()), p.RemoteIP()
	}
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	return e
}

// refused audits a refused operation ("alert.refused", "protocol.refused"
// or "officer_key.refused") with the reason, and returns err.
func (d *Desk) refused(p *auth.Principal, what, op, target string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	var de *Error
	var fe *FieldError
	if !errors.As(err, &de) && !errors.As(err, &fe) {
		return err // a storage failure, not a refusal
	}
	reason := err.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	_ = d.audit(entry(p, what+".refused", target, "denied", map[string]string{"op": op, "reason": reason}))
	return err
}

// require checks a permission.
func require(p *auth.Principal, op, what, id string, perm auth.Permission) error {
	if p.Can(perm) {
		return nil
	}
	return &Error{Op: op, What: what, ID: id, Kind: ErrForbidden, Detail: fmt.Sprintf("%s needs %s (role %q)", op, perm, p.Role())}
}

// requireOn checks a permission on alert id, then that p may act on its
// scope.
func (d *Desk) requireOn(p *auth.Principal, op, id string, perm auth.Permission, scope record.Scope) error {
	if err := require(p, op, "alert", id, perm); err != nil {
		return err
	}
	return d.requireScope(p, op, id, scope)
}

// requireScope checks that p may act on scope.
func (d *Desk) requireScope(p *auth.Principal, op, id string, scope record.Scope) error {
	if p.AllowedScope(string(scope), d.opts.DeviceZone) {
		return nil
	}
	return alertErr(op, id, ErrOutOfScope, "%s may not act on %s (zones %v)", p.UserID(), scope, p.Zones())
}
