package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

// Cadences of the desk and the fleet (see # Lifecycle).
const (
	renewEvery     = time.Minute         // desk.Renew: warnings re-issued, expiries, protocols
	flushEvery     = time.Second         // fleet.Flush: acks and health reports to disk
	pruneEvery     = time.Hour           // fleet.Prune: delivery tracking of old alerts
	fleetRetention = 30 * 24 * time.Hour // how long an alert's deliveries are kept
)

// newDeskAndFleet opens the alert desk and the fleet on the server state
// and wires them as server/desk and server/fleet ask: the node publishes
// what they sign, the audit log hears what they do, the fleet tracks the
// desk's records and places devices in zones, and every record the node
// accepts reaches the fleet (acks, health, revocations, new devices).
func (s *Server) newDeskAndFleet(pki *pkiFiles, keys auth.Keys, logger *slog.Logger) error {
	cityKey, skipped, err := loadCityCA(s.cfg.PKI, pki.cityCert)
	if err != nil {
		return err
	}
	if skipped != "" {
		s.log.Warn("city CA key not used: officer keys cannot be created and devices cannot be revoked from the API", "why", skipped)
	}
	// The CA's certificate always: it checks officer certificates and
	// travels in officer signatures. Its key only if the server has it.
	deskCA := &trust.CA{Cert: pki.cityCert, Key: cityKey}
	var fleetCA *trust.CA
	if cityKey != nil {
		fleetCA = deskCA
		s.cityCAKey = true
	}

	auditor := auditorFunc(s.auditAppend)
	if s.fleet, err = fleet.New(s.db, fleet.Options{Clock: s.clock, CA: fleetCA, Publisher: s.node, Auditor: auditor, Logger: logger}); err != nil {
		return fmt.Errorf("server: fleet: %w", err)
	}
	s.addCloser("fleet", func() error {
		// The last acks and health reports of the run, after the node
		// stopped and before the server state closes.
		_, err := s.fleet.Flush()
		return err
	})

	signer, err := record.NewSigner(s.key, pki.leaf.Raw, true, pki.cityCert.Raw)
	if err != nil {
		return fmt.Errorf("server: desk signer: %w", err)
	}
	o := desk.DefaultOptions()
	o.Clock, o.Rand = s.clock, s.rand
	o.Server, o.ServerID = signer, s.ident.ID
	o.CityCA = deskCA
	// A key of its own for officer keys, derived from the data key, so
	// that no key serves two ciphers.
	o.DataKey = deriveKey(keys.DataKey, "desk officer keys")
	o.Publisher, o.Auditor = s.node, auditor
	o.Tracker, o.DeviceZone = s.fleet, s.fleet.DeviceZone
	o.Logger = logger
	if s.desk, err = desk.New(s.db, o); err != nil {
		return fmt.Errorf("server: desk: %w", err)
	}

	// The fleet keeps a second of tracking and acks in memory: after a
	// crash, tell it again which records are whose, and replay what the
	// mesh stored since its last flush.
	alerts, err := s.desk.Retrack()
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	replayed, err := s.fleet.Replay(s.store)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.log.Info("delivery tracking restored", "alerts", alerts, "records_replayed", replayed)

	// The verifier caches the certificates of the chains it verified, in
	// memory: give it back those of the registered devices, so that their
	// records naming the signer by kid alone verify after a restart.
	certs, bad := s.fleet.Certificates()
	if len(bad) > 0 {
		s.log.Warn("registered devices whose stored certificate does not parse", "devices", bad)
	}
	if err := s.verifier.AddCertificates(s.clock.Now(), certs...); err != nil {
		s.log.Warn("registered device certificates the verifier refused (expired, revoked or not of this city)", "err", err)
	}

	s.registerQ = make(chan *x509.Certificate, 1024)
	s.OnMeshEvent(s.observeMesh)
	return nil
}

// auditAdvisory writes a gateway's advisory (an alert, update, activation
// or cancel at the Advisory tier) to the audit log when it reaches the
// server: who signed it, for which zone, when it was issued and how long
// it took to arrive (a gateway issues advisories while the server is
// unreachable; they arrive when its link returns).
func (s *Server) auditAdvisory(r *record.Record, gw trust.Identity, received time.Time) {
	d := map[string]string{
		"kind": r.Kind.String(), "scope": string(r.Scope), "zone": gw.Zone,
		"issued": r.Issued.UTC().Format(time.RFC3339), "expires": r.Expires.UTC().Format(time.RFC3339),
		"arrived_after": received.Sub(r.Issued).Round(time.Second).String(),
	}
	if a, ok := r.Body.(*record.Alert); ok && len(a.Texts) > 0 {
		lang := slices.Min(slices.Collect(maps.Keys(a.Texts)))
		d["text"] = lang + ": " + a.Texts[lang].Short
	}
	if len(r.Supersedes) > 0 {
		ids := make([]string, len(r.Supersedes))
		for i, id := range r.Supersedes {
			ids[i] = id.String()
		}
		d["supersedes"] = strings.Join(ids, ",")
	}
	if err := s.AuditEntry(audit.Entry{Actor: gw.ID, Role: string(gw.Role), Action: "advisory." + r.Kind.String(),
		Target: r.ID().String(), Outcome: "ok", Detail: d}); err != nil {
		s.log.Error("auditing a gateway's advisory", "record", r.ID().Short(), "err", err)
	}
}

// auditorFunc adapts AuditEntry to the desk's and the fleet's Auditor.
type auditorFunc func(e audit.Entry) (int64, error)

func (f auditorFunc) Append(e audit.Entry) (int64, error) { return f(e) }

// auditAppend appends through AuditEntry, which sanitises, counts and
// marks the server unready when appends fail. The desk and the fleet do
// not use the index.
func (s *Server) auditAppend(e audit.Entry) (int64, error) {
	return 0, s.AuditEntry(e)
}

// observeMesh runs on the node's goroutine for every event: it hands
// accepted records to the fleet (cheap: acks are a map lookup) and queues
// the certificate of a device the registry does not know yet for
// registration, which writes to disk and so runs on a goroutine of its own.
func (s *Server) observeMesh(ev mesh.Event) {
	if ev.Kind != mesh.EventAccepted || ev.Record == nil {
		return
	}
	s.fleet.Observe(ev.Record, s.clock.Now())
	if len(ev.Signers) == 1 && ev.Signers[0].Role == trust.RoleGateway && ev.Record.Tier == record.TierAdvisory {
		// A gateway's advisory (issued while this server was down, or
		// not): into the audit log, off the node's goroutine.
		r, gw, now := ev.Record, ev.Signers[0], s.clock.Now()
		go s.auditAdvisory(r, gw, now)
	}
	if len(ev.Signers) != 1 || ev.Signers[0].Role != trust.RoleDevice {
		return
	}
	id := ev.Signers[0].ID
	if _, known := s.fleet.DeviceZone(id); known {
		return
	}
	if _, queued := s.registering.LoadOrStore(id, true); queued {
		return
	}
	cert := signerCert(ev.Record, s.verifier)
	if cert == nil {
		s.registering.Delete(id)
		return
	}
	select {
	case s.registerQ <- cert:
	default:
		s.registering.Delete(id) // the device's next record tries again
	}
}

// signerCert returns the certificate of a record's only signer: from its
// x5chain, or else from the verifier, which has verified the chain of
// every signer whose record it accepted.
func signerCert(r *record.Record, v *trust.Verifier) *x509.Certificate {
	sigs := r.Signatures()
	if len(sigs) != 1 {
		return nil
	}
	if len(sigs[0].Chain) > 0 {
		if c, err := x509.ParseCertificate(sigs[0].Chain[0]); err == nil {
			return c
		}
	}
	c, _ := v.Certificate(sigs[0].KID)
	return c
}

// registerDevices registers the devices observeMesh queued, until ctx
// ends.
func (s *Server) registerDevices(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case cert := <-s.registerQ:
			d, err := s.fleet.Register(cert)
			if err != nil {
				s.log.Warn("device not registered", "subject", cert.Subject.CommonName, "err", err)
			} else {
				s.log.Info("device registered on first record", "device", d.ID, "zone", d.Zone)
			}
			if id, err := trust.IdentityOf(cert); err == nil {
				s.registering.Delete(id.ID)
			}
		}
	}
}

// renewAlerts runs desk.Renew every renewEvery, and fleet.Prune every
// pruneEvery, until ctx ends.
func (s *Server) renewAlerts(ctx context.Context) {
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(lastPrune) >= pruneEvery {
				lastPrune = time.Now()
				if n, err := s.fleet.Prune(s.clock.Now().Add(-fleetRetention)); err != nil {
					s.log.Error("fleet prune", "err", err)
				} else if n > 0 {
					s.log.Info("fleet prune: stopped tracking old alerts", "alerts", n)
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			rep, err := s.desk.Renew(rctx, s.clock.Now())
			cancel()
			if err != nil {
				s.log.Error("alert renewal", "err", err)
			}
			if rep != (desk.RenewReport{}) {
				s.log.Debug("alert renewal", "renewed", rep.Renewed, "expired", rep.Expired, "protocols", rep.Protocols, "resent", rep.Resent)
			}
		}
	}
}

// flushFleet runs fleet.Flush every flushEvery until ctx ends.
func (s *Server) flushFleet(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.fleet.Flush(); err != nil {
				s.log.Error("fleet flush", "err", err)
			}
		}
	}
}

// Desk returns the alert desk.
func (s *Server) Desk() *desk.Desk { return s.desk }

// Fleet returns the device registry and delivery tracking.
func (s *Server) Fleet() *fleet.Fleet { return s.fleet }

// registration is the state observeMesh and registerDevices share.
type registration struct {
	registerQ   chan *x509.Certificate
	registering sync.Map // device id → true while queued
}
