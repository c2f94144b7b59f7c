package fleet

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// Device is one pole as the server knows it: from its certificate and its
// latest health report.
type Device struct {
	ID         string    `json:"id"`
	Zone       string    `json:"zone"`
	Serial     string    `json:"serial,omitempty"` // certificate serial, lower-case hex
	Cert       []byte    `json:"cert,omitempty"`   // DER
	NotAfter   time.Time `json:"not_after,omitzero"`
	Registered time.Time `json:"registered"`

	// LastHeard is when the server received its latest health report;
	// Health is that report and HealthIssued the device's own time on it.
	LastHeard    time.Time      `json:"last_heard,omitzero"`
	HealthIssued time.Time      `json:"health_issued,omitzero"`
	Health       *record.Health `json:"health,omitempty"`

	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	Revocation   record.ID `json:"revocation,omitzero"`
}

// Register adds a device to the registry from its certificate (a device
// certificate of the city PKI: its identity gives the id and zone), or
// updates it when the device was re-provisioned with a new certificate
// (which clears a revocation of the old one: the new serial is not
// revoked). It is audited as device.register by "system".
func (f *Fleet) Register(cert *x509.Certificate) (*Device, error) {
	if cert == nil {
		return nil, fmt.Errorf("fleet: register: %w: no certificate", ErrInvalid)
	}
	id, err := trust.IdentityOf(cert)
	if err != nil {
		return nil, fmt.Errorf("fleet: register: %w: %v", ErrInvalid, err)
	}
	if id.Role != trust.RoleDevice {
		return nil, fmt.Errorf("fleet: register: %w: %s is not a device", ErrInvalid, id)
	}
	now := f.opts.Clock.Now()
	f.mu.Lock()
	d := f.setCertLocked(id, cert, now)
	dev := *d
	delete(f.dirtyDev, d.ID)
	f.mu.Unlock()
	if err := f.db.Update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketDevices), []byte(dev.ID), &dev) }); err != nil {
		f.mu.Lock()
		f.dirtyDev[dev.ID] = struct{}{}
		f.mu.Unlock()
		return nil, fmt.Errorf("fleet: register %s: %w", dev.ID, err)
	}
	_, _ = f.opts.Auditor.Append(audit.Entry{Actor: "system", Action: "device.register", Target: dev.ID, Outcome: "ok",
		Detail: map[string]string{"zone": dev.Zone, "serial": dev.Serial}})
	return &dev, nil
}

// setCertLocked records cert for the device id names. Call with mu held.
func (f *Fleet) setCertLocked(id trust.Identity, cert *x509.Certificate, now time.Time) *Device {
	serial := trust.SerialString(cert)
	d := f.devices[id.ID]
	if d == nil {
		d = &Device{ID: id.ID, Registered: now}
		f.devices[id.ID] = d
	}
	if d.Zone != id.Zone {
		f.unzoneLocked(d)
		d.Zone = id.Zone
		if f.byZone[d.Zone] == nil {
			f.byZone[d.Zone] = map[string]struct{}{}
		}
		f.byZone[d.Zone][d.ID] = struct{}{}
	}
	if d.Serial != serial {
		if d.Serial != "" {
			delete(f.bySerial, d.Serial)
		}
		d.Serial, d.Cert, d.NotAfter = serial, cert.Raw, cert.NotAfter.UTC()
		d.Revoked, d.RevokedAt, d.RevokedBy, d.RevokeReason, d.Revocation = false, time.Time{}, "", "", record.ID{}
		f.bySerial[serial] = d.ID
	}
	f.dirtyDev[d.ID] = struct{}{}
	return d
}

func (f *Fleet) unzoneLocked(d *Device) {
	if z := f.byZone[d.Zone]; z != nil {
		delete(z, d.ID)
		if len(z) == 0 {
			delete(f.byZone, d.Zone)
		}
	}
}

// observeHealth updates a device from its health report. A device not yet
// registered is added when the report carries its certificate (x5chain).
func (f *Fleet) observeHealth(rec *record.Record, h *record.Health, now time.Time) {
	f.mu.Lock()
	d := f.devices[rec.Origin]
	f.mu.Unlock()
	var id trust.Identity
	var cert *x509.Certificate
	if d == nil {
		cert, id = deviceCert(rec)
		if cert == nil {
			f.unknown.Add(1)
			return
		}
	}
	hc := *h
	f.mu.Lock()
	defer f.mu.Unlock()
	if d = f.devices[rec.Origin]; d == nil {
		if cert == nil {
			f.unknown.Add(1)
			return
		}
		d = f.setCertLocked(id, cert, now)
	}
	if rec.Issued.Before(d.HealthIssued) {
		return // an older report that arrived late
	}
	d.LastHeard, d.HealthIssued, d.Health = now, rec.Issued.UTC(), &hc
	f.dirtyDev[d.ID] = struct{}{}
}

// deviceCert returns the device certificate a record's only signature
// carries in its x5chain, if it names the record's origin.
func deviceCert(rec *record.Record) (*x509.Certificate, trust.Identity) {
	sigs := rec.Signatures()
	if len(sigs) != 1 || len(sigs[0].Chain) == 0 {
		return nil, trust.Identity{}
	}
	cert, err := x509.ParseCertificate(sigs[0].Chain[0])
	if err != nil {
		return nil, trust.Identity{}
	}
	id, err := trust.IdentityOf(cert)
	if err != nil || id.Role != trust.RoleDevice || id.ID != rec.Origin {
		return nil, trust.Identity{}
	}
	return cert, id
}

// observeRevocation marks the devices whose certificates rec revokes.
func (f *Fleet) observeRevocation(r *record.Revocation, rec *record.Record, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range r.Serials {
		id, ok := f.bySerial[hex.EncodeToString(s)]
		if !ok {
			continue
		}
		d := f.devices[id]
		if d.Revoked {
			continue
		}
		d.Revoked, d.RevokedAt, d.RevokeReason, d.Revocation = true, now, r.Reason, rec.ID()
		f.dirtyDev[id] = struct{}{}
	}
}

// Device returns the device id, and false if the registry does not know it.
func (f *Fleet) Device(id string) (Device, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.devices[id]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Devices returns the devices of zone (all of them when zone is empty),
// ordered by id.
func (f *Fleet) Devices(zone string) []Device {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Device, 0, len(f.devices))
	if zone == "" {
		for _, d := range f.devices {
			out = append(out, *d)
		}
	} else {
		for id := range f.byZone[zone] {
			out = append(out, *f.devices[id])
		}
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// DeviceZone tells which zone a device is in (an auth.DeviceZoneFunc for
// zone operators' device scopes).
func (f *Fleet) DeviceZone(id string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.devices[id]
	if !ok || d.Zone == "" {
		return "", false
	}
	return d.Zone, true
}

// Revoke revokes a device's certificate (device.revoke, admins): it has
// Options.CA sign a revocation record for the certificate's serial, hands
// it to the publisher (every node then refuses records the device signs),
// marks the device revoked and audits device.revoke. Revocation records
// use their issue time in milliseconds as seq, so Revoke keeps those
// times strictly increasing.
func (f *Fleet) Revoke(ctx context.Context, by *auth.Principal, id, reason string) (*Device, error) {
	if err := by.Require(auth.PermDeviceRevoke); err != nil {
		f.refused(by, id, "needs "+string(auth.PermDeviceRevoke))
		return nil, fmt.Errorf("fleet: revoke %s: %w: needs %s (role %q)", id, ErrForbidden, auth.PermDeviceRevoke, by.Role())
	}
	if len(reason) > 256 {
		return nil, fmt.Errorf("fleet: revoke %s: %w: reason longer than 256 bytes", id, ErrInvalid)
	}
	if f.opts.CA == nil || f.opts.Publisher == nil {
		return nil, fmt.Errorf("fleet: revoke %s: %w", id, ErrNoCA)
	}
	f.revokeMu.Lock()
	defer f.revokeMu.Unlock()
	f.mu.RLock()
	d, ok := f.devices[id]
	var serial string
	revoked := false
	if ok {
		serial, revoked = d.Serial, d.Revoked
	}
	f.mu.RUnlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("fleet: revoke %s: %w: no such device", id, ErrNotFound)
	case serial == "":
		return nil, fmt.Errorf("fleet: revoke %s: %w: its certificate is unknown (Register it first)", id, ErrState)
	case revoked:
		return nil, fmt.Errorf("fleet: revoke %s: %w: already revoked", id, ErrState)
	}
	sb, err := hex.DecodeString(serial)
	if err != nil {
		return nil, fmt.Errorf("fleet: revoke %s: stored serial: %w", id, err)
	}
	now := f.opts.Clock.Now().Truncate(time.Millisecond)
	if !now.After(f.lastRevocation) {
		now = f.lastRevocation.Add(time.Millisecond)
	}
	rec, err := trust.NewRevocation(f.opts.CA, [][]byte{sb}, reason, now)
	if err != nil {
		return nil, fmt.Errorf("fleet: revoke %s: %w", id, err)
	}
	if err := f.opts.Publisher.Publish(ctx, rec); err != nil {
		_, _ = f.opts.Auditor.Append(entry(by, "device.revoke", id, "error", map[string]string{"serial": serial, "reason": err.Error()}))
		if trust.ReasonOf(err) == "" {
			return nil, fmt.Errorf("fleet: revoke %s: publishing the revocation: %w", id, err)
		}
		return nil, fmt.Errorf("fleet: revoke %s: %w: %v", id, ErrRefused, err)
	}
	f.lastRevocation = now
	f.mu.Lock()
	d.Revoked, d.RevokedAt, d.RevokedBy, d.RevokeReason, d.Revocation = true, now, by.UserID(), reason, rec.ID()
	dev := *d
	delete(f.dirtyDev, id)
	f.mu.Unlock()
	if err := f.db.Update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketDevices), []byte(id), &dev) }); err != nil {
		f.mu.Lock()
		f.dirtyDev[id] = struct{}{}
		f.mu.Unlock()
		f.log.Error("storing a revocation", "device", id, "err", err)
	}
	_, _ = f.opts.Auditor.Append(entry(by, "device.revoke", id, "ok", map[string]string{
		"serial": serial, "record": rec.ID().String(), "reason": reason, "zone": dev.Zone}))
	return &dev, nil
}

func (f *Fleet) refused(by *auth.Principal, id, reason string) {
	_, _ = f.opts.Auditor.Append(entry(by, "device.refused", id, "denied", map[string]string{"op": "revoke", "reason": reason}))
}

func entry(p *auth.Principal, action, target, outcome string, detail map[string]string) audit.Entry {
	e := audit.Entry{Actor: p.UserID(), Role: string(p.Role()), Action: action, Target: target, Outcome: outcome,
		RemoteIP: p.RemoteIP(), Detail: detail}
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	return e
}

// inScope returns the ids of the devices scope names, unrevoked, sorted.
// A device scope names its device even if the registry does not know it.
func (f *Fleet) inScope(scope record.Scope) []string {
	kind, id := scope.Split()
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	switch kind {
	case record.ScopeCity:
		out = make([]string, 0, len(f.devices))
		for id, d := range f.devices {
			if !d.Revoked {
				out = append(out, id)
			}
		}
	case record.ScopeZone:
		out = make([]string, 0, len(f.byZone[id]))
		for did := range f.byZone[id] {
			if !f.devices[did].Revoked {
				out = append(out, did)
			}
		}
	case record.ScopeDevice:
		if d, ok := f.devices[id]; !ok || !d.Revoked {
			out = []string{id}
		}
	}
	slices.Sort(out)
	return out
}

// deviceInfo returns the LastHeard and zone of each id.
func (f *Fleet) deviceInfo(ids []string) ([]time.Time, []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	heard := make([]time.Time, len(ids))
	zones := make([]string, len(ids))
	for i, id := range ids {
		if d, ok := f.devices[id]; ok {
			heard[i], zones[i] = d.LastHeard, d.Zone
		}
	}
	return heard, zones
}

// Certificates returns the certificates of the devices that are not
// revoked, parsed, with the ids of those whose stored certificate does not
// parse. The server hands them to its verifier at start, so that records
// naming their signer by kid alone verify before the device sends its
// chain again.
func (f *Fleet) Certificates() (certs []*x509.Certificate, bad []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for id, d := range f.devices {
		if d.Revoked || len(d.Cert) == 0 {
			continue
		}
		c, err := x509.ParseCertificate(d.Cert)
		if err != nil {
			bad = append(bad, id)
			continue
		}
		certs = append(certs, c)
	}
	slices.Sort(bad)
	return certs, bad
}
