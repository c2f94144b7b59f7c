package gateway

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/server/auth"
)

// The local operator accounts' files in the data directory: the accounts
// (auth's bbolt database: argon2id password hashes, sealed TOTP secrets,
// one-time recovery codes) and the keys that seal them (auth.Keys, as
// the server keeps its own: JSON, mode 0600, refused if group or others
// may read it).
const (
	OperatorsFile    = "operators.db"
	OperatorKeysFile = "operators.keys"
)

// Operators are the gateway's local accounts: the people who may issue
// Advisory alerts for its zone at the gateway itself, with a password and
// a TOTP code, while the control server is unreachable. The first account
// (Init) is the gateway's administrator, who adds the others (Add); both
// may issue advisories. It is server/auth on a database of its own, with
// its lockout and rate limits.
type Operators struct {
	svc  *auth.Service
	db   *bbolt.DB
	zone string
}

// OpenOperators opens the operator accounts in dataDir for a gateway of
// zone, making the sealing keys on first use. The database is the
// gateway's while it runs: managing accounts (`cityarray gateway operator`)
// needs it stopped.
func OpenOperators(dataDir, zone string, clk clock.Clock, log *slog.Logger) (*Operators, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("operators: %w", err)
	}
	keys, _, err := auth.LoadOrCreateKeys(filepath.Join(dataDir, OperatorKeysFile), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("operators: %w", err)
	}
	path := filepath.Join(dataDir, OperatorsFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("operators: %s is in use: is the gateway running? Stop it to manage its operators", path)
	}
	if err != nil {
		return nil, fmt.Errorf("operators: %w", err)
	}
	opts := auth.DefaultOptions()
	opts.Clock, opts.Rand = clk, rand.Reader
	opts.DataKey, opts.CSRFKey = keys.DataKey, keys.CSRFKey
	opts.Issuer = "CITYARRAY gateway " + zone
	opts.Audit = func(ev auth.Event) {
		log.Info("operator account", "action", ev.Action, "actor", ev.Actor, "target", ev.Target, "outcome", ev.Outcome,
			"reason", ev.Reason, "remote", ev.RemoteIP.String())
	}
	svc, err := auth.New(db, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("operators: %w", err)
	}
	return &Operators{svc: svc, db: db, zone: zone}, nil
}

// Close closes the accounts' database.
func (o *Operators) Close() error { return o.db.Close() }

// console is the address of what is done at the gateway itself (the
// accounts' management, by `cityarray gateway operator`), for the
// accounts' lockout, rate limits and audit.
var console = netip.MustParseAddr("127.0.0.1")

// Init creates the first account, the gateway's administrator, and
// returns its setup code (for Setup). It fails once any account exists.
func (o *Operators) Init(id, name string) (string, error) {
	return o.svc.Bootstrap(id, name, console)
}

// Add has admin (logged in with Login) create an operator of the
// gateway's zone and returns its setup code.
func (o *Operators) Add(admin *auth.Principal, id, name string) (string, error) {
	return o.svc.CreateUser(admin, auth.NewUser{ID: id, DisplayName: name, Role: auth.RoleZoneOperator, Zones: []string{o.zone}})
}

// StartSetup checks id's setup code and returns its new TOTP secret.
func (o *Operators) StartSetup(id, code string) (auth.Enrolment, error) {
	return o.svc.StartSetup(id, code, console)
}

// FinishSetup sets id's password and confirms its TOTP with a code; it
// returns the recovery codes.
func (o *Operators) FinishSetup(id, code, password, totpCode string) ([]string, error) {
	return o.svc.FinishSetup(id, code, password, totpCode, console)
}

// Login checks a user's password and TOTP code (or a recovery code) at
// the console, as Init and the setup steps are, and returns the
// principal and a function that ends the session.
func (o *Operators) Login(user, password, code string) (*auth.Principal, func(), error) {
	return o.login(user, password, code, console)
}

// login is Login from ip.
func (o *Operators) login(user, password, code string, ip netip.Addr) (*auth.Principal, func(), error) {
	token, _, err := o.svc.Login(auth.Credentials{UserID: user, Password: password, Code: code, RemoteIP: ip})
	if err != nil {
		return nil, nil, err
	}
	p, err := o.svc.AuthenticateSession(token, ip)
	if err != nil {
		return nil, nil, err
	}
	return p, func() { _ = o.svc.Logout(token, ip) }, nil
}

// ErrNotZoneOperator refuses an advisory from someone who is neither the
// gateway's administrator nor an operator of its zone.
var ErrNotZoneOperator = errors.New("gateway: not an operator of this gateway's zone")

// Authorize logs user in (password and a fresh TOTP code: one login per
// request, nothing kept) and checks that it may issue advisories here.
func (o *Operators) Authorize(user, password, code string, ip netip.Addr) error {
	p, logout, err := o.login(user, password, code, ip)
	if err != nil {
		return err
	}
	defer logout()
	if p.Role() == auth.RoleAdmin || (p.Role() == auth.RoleZoneOperator && slices.Contains(p.Zones(), o.zone)) {
		return nil
	}
	return ErrNotZoneOperator
}

// List returns the accounts, as admin sees them.
func (o *Operators) List(admin *auth.Principal) ([]auth.User, error) { return o.svc.Users(admin) }
