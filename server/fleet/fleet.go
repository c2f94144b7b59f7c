package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
)

// Clock tells the time. The server passes the system clock; tests pass a
// fake one.
type Clock interface{ Now() time.Time }

// Publisher distributes a signed record (the server's mesh.Node).
type Publisher interface {
	Publish(ctx context.Context, rec *record.Record) error
}

// Auditor appends to the audit log (an *audit.Log).
type Auditor interface {
	Append(audit.Entry) (int64, error)
}

// Options configure a Fleet.
type Options struct {
	// Clock tells the time (registrations, revocations, pruning). Required.
	Clock Clock
	// CA is the city CA with its key: it signs revocation records.
	// Without it Revoke fails.
	CA *trust.CA
	// Publisher distributes revocation records. Required for Revoke.
	Publisher Publisher
	// Auditor receives registrations and revocations. Required.
	Auditor Auditor
	// Logger receives flush failures. Nil discards.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	if o.Clock == nil {
		errs = append(errs, errors.New("fleet: options: Clock is required"))
	}
	if o.Auditor == nil {
		errs = append(errs, errors.New("fleet: options: Auditor is required"))
	}
	if o.CA != nil && (o.CA.Cert == nil || o.CA.Key == nil) {
		errs = append(errs, errors.New("fleet: options: CA needs its certificate and key"))
	}
	return errors.Join(errs...)
}

// Sentinel errors; every error a Fleet method returns for a refused
// request wraps one of them.
var (
	ErrNotFound  = errors.New("fleet: not found")                   // HTTP 404
	ErrForbidden = errors.New("fleet: forbidden")                   // HTTP 403
	ErrInvalid   = errors.New("fleet: invalid request")             // HTTP 400/422
	ErrState     = errors.New("fleet: wrong state")                 // HTTP 409
	ErrRefused   = errors.New("fleet: record refused by the mesh")  // HTTP 502
	ErrNoCA      = errors.New("fleet: no city CA key to sign with") // HTTP 503
)

// StatusCode maps an error from this package to the HTTP status a handler
// should answer with, or 500 for anything else (storage failures).
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrState):
		return http.StatusConflict
	case errors.Is(err, ErrRefused):
		return http.StatusBadGateway
	case errors.Is(err, ErrNoCA):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Fleet is the server's view of its devices (the registry) and of what
// they did with each alert (delivery tracking). Its methods are safe for
// concurrent use; Observe is cheap enough for the node's event loop.
type Fleet struct {
	db   *bbolt.DB
	opts Options
	log  *slog.Logger

	// mu guards the registry.
	mu       sync.RWMutex
	devices  map[string]*Device
	byZone   map[string]map[string]struct{}
	bySerial map[string]string // serial (hex) → device id
	dirtyDev map[string]struct{}

	// tmu guards the tracking indexes; each tracked alert has its own
	// lock for its acks.
	tmu      sync.RWMutex
	byRecord map[record.ID]*tracked
	alerts   map[string]*tracked

	// flushMu serialises Flush.
	flushMu sync.Mutex
	// revokeMu serialises Revoke; lastRevocation keeps revocation seqs
	// (the issue time in milliseconds) strictly increasing.
	revokeMu       sync.Mutex
	lastRevocation time.Time

	acks       atomic.Uint64 // acks counted toward a tracked alert
	untracked  atomic.Uint64 // acks for records no alert owns
	mismatched atomic.Uint64 // acks whose device is not their signer
	unknown    atomic.Uint64 // health reports from devices not in the registry
}

// Counters are running totals of records Observe could not use.
type Counters struct {
	Acks           uint64 // acks counted toward a tracked alert
	UntrackedAcks  uint64 // acks of records that belong to no tracked alert
	MismatchedAcks uint64 // acks naming a device other than their signer
	UnknownHealth  uint64 // health reports from unregistered nodes without a device certificate
}

// New opens the fleet on db (the server's bbolt file; the fleet uses only
// buckets whose names start with "fleet.") and loads the registry and the
// delivery state into memory.
func New(db *bbolt.DB, opts Options) (*Fleet, error) {
	if db == nil {
		return nil, errors.New("fleet: options: nil database")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{
		db: db, opts: opts, log: log.With("component", "fleet"),
		devices: map[string]*Device{}, byZone: map[string]map[string]struct{}{}, bySerial: map[string]string{},
		dirtyDev: map[string]struct{}{},
		byRecord: map[record.ID]*tracked{}, alerts: map[string]*tracked{},
	}
	if err := db.Update(createBuckets); err != nil {
		return nil, fmt.Errorf("fleet: open: %w", err)
	}
	if err := f.load(); err != nil {
		return nil, fmt.Errorf("fleet: open: %w", err)
	}
	return f, nil
}

// Counters returns the running totals.
func (f *Fleet) Counters() Counters {
	return Counters{Acks: f.acks.Load(), UntrackedAcks: f.untracked.Load(), MismatchedAcks: f.mismatched.Load(), UnknownHealth: f.unknown.Load()}
}

// Observe takes a record the node accepted (the server calls it from
// mesh.NodeConfig.OnEvent): an ack counts toward its alert's delivery, a
// health report updates its device, a revocation marks the devices whose
// certificates it revokes. Other kinds are ignored. Acks cost a map lookup
// and a short lock; nothing is written until Flush.
func (f *Fleet) Observe(rec *record.Record, now time.Time) { f.observe(rec, now, true) }

// observe is Observe; count says whether acks count in Counters.
func (f *Fleet) observe(rec *record.Record, now time.Time, count bool) {
	switch rec.Kind {
	case record.KindAck:
		a, ok := rec.Body.(*record.Ack)
		if !ok {
			return
		}
		if a.Device != rec.Origin {
			// The tier table binds an ack's scope and origin to its
			// signer, not the device named in its body.
			if count {
				f.mismatched.Add(1)
			}
			return
		}
		f.tmu.RLock()
		t := f.byRecord[a.Record]
		f.tmu.RUnlock()
		if t == nil {
			if count {
				f.untracked.Add(1)
			}
			return
		}
		t.observe(a)
		if count {
			f.acks.Add(1)
		}
	case record.KindHealth:
		if h, ok := rec.Body.(*record.Health); ok {
			f.observeHealth(rec, h, now)
		}
	case record.KindRevocation:
		if r, ok := rec.Body.(*record.Revocation); ok {
			f.observeRevocation(r, rec, now)
		}
	}
}
