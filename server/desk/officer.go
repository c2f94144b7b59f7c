package desk

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
)

// OfficerKey describes an officer's enrolled signing key: the certificate
// and its fingerprint, never the key.
type OfficerKey struct {
	Officer    string    `json:"officer"`
	KeyID      string    `json:"key_id"` // SHA-256 of the certificate, hex: the kid of its signatures
	Serial     string    `json:"serial"`
	NotAfter   time.Time `json:"not_after"`
	Enrolled   time.Time `json:"enrolled"`
	EnrolledBy string    `json:"enrolled_by"`
	Cert       []byte    `json:"cert"` // DER
}

// officerRec is what desk.officers stores: the public description and the
// sealed key seed (nonce ‖ ciphertext ‖ tag).
type officerRec struct {
	OfficerKey
	Sealed []byte `json:"sealed"`
}

const sealLabel = "cityarray/desk/officer-key/v1\x00"

func sealAD(officer, kid string) []byte { return []byte(sealLabel + officer + "\x00" + kid) }

var errUnseal = errors.New("sealed officer key does not open (wrong DataKey or tampered record)")

// officerUse says whose key co-signed a record, for the audit log.
type officerUse struct {
	officer string
	keyID   string
}

// EnrolOfficerKey stores an officer's Ed25519 key and certificate (issued
// by the city CA for the identity cityarray://operator/<officerID>),
// sealed under Options.DataKey, replacing any earlier one. Admins only
// (user.manage). The key is checked against the certificate and, when
// Options.CityCA is set, the certificate against the CA.
func (d *Desk) EnrolOfficerKey(by *auth.Principal, officerID string, key ed25519.PrivateKey, cert *x509.Certificate) (*OfficerKey, error) {
	const op = "enrol"
	now := d.now()
	if err := require(by, op, "officer key", officerID, auth.PermUserManage); err != nil {
		return nil, d.refused(by, "officer_key", op, officerID, err)
	}
	if err := d.checkOfficerCert(officerID, key, cert, now); err != nil {
		return nil, d.refused(by, "officer_key", op, officerID, err)
	}
	k, err := d.storeOfficerKey(by, officerID, key.Seed(), cert, now)
	if err != nil {
		return nil, err
	}
	_ = d.audit(entry(by, "officer_key.enrol", officerID, "ok", map[string]string{"key_id": k.KeyID, "serial": k.Serial}))
	return k, nil
}

// CreateOfficerKey makes a new Ed25519 key for an officer, has
// Options.CityCA (which must hold its key) certify it as
// cityarray://operator/<officerID>, and enrols it as EnrolOfficerKey does.
// The key never leaves the desk. Admins only (user.manage).
func (d *Desk) CreateOfficerKey(by *auth.Principal, officerID string) (*OfficerKey, error) {
	const op = "create"
	now := d.now()
	if err := require(by, op, "officer key", officerID, auth.PermUserManage); err != nil {
		return nil, d.refused(by, "officer_key", op, officerID, err)
	}
	if d.opts.CityCA == nil || d.opts.CityCA.Key == nil {
		return nil, &Error{Op: op, What: "officer key", ID: officerID, Kind: ErrState, Detail: "the desk holds no city CA key to issue officer certificates (Options.CityCA)"}
	}
	id := trust.Identity{Role: trust.RoleOperator, ID: officerID}
	if err := id.Validate(); err != nil {
		return nil, d.refused(by, "officer_key", op, officerID, &Error{Op: op, What: "officer key", ID: officerID, Kind: ErrInvalid, Detail: err.Error()})
	}
	pub, key, err := ed25519.GenerateKey(d.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("desk: create officer key: %w", err)
	}
	defer clear(key)
	cert, err := d.opts.CityCA.Issue(id, pub, now)
	if err != nil {
		return nil, fmt.Errorf("desk: create officer key %s: %w", officerID, err)
	}
	k, err := d.storeOfficerKey(by, officerID, key.Seed(), cert, now)
	if err != nil {
		return nil, err
	}
	_ = d.audit(entry(by, "officer_key.create", officerID, "ok", map[string]string{"key_id": k.KeyID, "serial": k.Serial}))
	return k, nil
}

// RemoveOfficerKey deletes an officer's key: the officer can no longer
// co-sign. Revoke the certificate too (fleet or `cityarray keys revoke`)
// if the key may have leaked. Admins only (user.manage).
func (d *Desk) RemoveOfficerKey(by *auth.Principal, officerID string) error {
	const op = "remove"
	if err := require(by, op, "officer key", officerID, auth.PermUserManage); err != nil {
		return d.refused(by, "officer_key", op, officerID, err)
	}
	var keyID string
	err := d.db.Update(func(tx *bbolt.Tx) error {
		var rec officerRec
		b := tx.Bucket(bucketOfficers)
		ok, err := getJSON(b, []byte(officerID), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return &Error{Op: op, What: "officer key", ID: officerID, Kind: ErrNotFound, Detail: "no key enrolled"}
		}
		keyID = rec.KeyID
		return b.Delete([]byte(officerID))
	})
	if err != nil {
		return err
	}
	_ = d.audit(entry(by, "officer_key.remove", officerID, "ok", map[string]string{"key_id": keyID}))
	return nil
}

// OfficerKeyInfo returns the description of an officer's enrolled key
// (user.read).
func (d *Desk) OfficerKeyInfo(by *auth.Principal, officerID string) (*OfficerKey, error) {
	if err := require(by, "read", "officer key", officerID, auth.PermUserRead); err != nil {
		return nil, err
	}
	var rec officerRec
	err := d.db.View(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketOfficers), []byte(officerID), &rec)
		if err == nil && !ok {
			err = &Error{Op: "read", What: "officer key", ID: officerID, Kind: ErrNotFound, Detail: "no key enrolled"}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	k := rec.OfficerKey
	return &k, nil
}

func (d *Desk) checkOfficerCert(officerID string, key ed25519.PrivateKey, cert *x509.Certificate, now time.Time) error {
	bad := func(format string, args ...any) error {
		return &Error{Op: "enrol", What: "officer key", ID: officerID, Kind: ErrInvalid, Detail: fmt.Sprintf(format, args...)}
	}
	if cert == nil {
		return bad("no certificate")
	}
	if len(key) != ed25519.PrivateKeySize {
		return bad("the key is not an Ed25519 private key")
	}
	id, err := trust.IdentityOf(cert)
	if err != nil {
		return bad("certificate: %v", err)
	}
	if id.Role != trust.RoleOperator || id.ID != officerID {
		return bad("the certificate names %s, want cityarray://operator/%s", id, officerID)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return bad("the key does not match the certificate")
	}
	if now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return bad("the certificate is not valid now (valid %s to %s)", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if d.opts.CityCA != nil {
		if err := cert.CheckSignatureFrom(d.opts.CityCA.Cert); err != nil {
			return bad("the certificate is not issued by the city CA: %v", err)
		}
	}
	return nil
}

func (d *Desk) storeOfficerKey(by *auth.Principal, officerID string, seed []byte, cert *x509.Certificate, now time.Time) (*OfficerKey, error) {
	kid := hex.EncodeToString(record.Fingerprint(cert.Raw))
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(seed)+d.aead.Overhead())
	if _, err := io.ReadFull(d.opts.Rand, nonce); err != nil {
		return nil, fmt.Errorf("desk: enrol officer key: %w", err)
	}
	rec := officerRec{
		OfficerKey: OfficerKey{
			Officer: officerID, KeyID: kid, Serial: trust.SerialString(cert), NotAfter: cert.NotAfter.UTC(),
			Enrolled: now, EnrolledBy: by.UserID(), Cert: cert.Raw,
		},
		Sealed: d.aead.Seal(nonce, nonce, seed, sealAD(officerID, kid)),
	}
	if err := d.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketOfficers), []byte(officerID), &rec)
	}); err != nil {
		return nil, fmt.Errorf("desk: enrol officer key: %w", err)
	}
	k := rec.OfficerKey
	return &k, nil
}

// hasOfficerKey reports whether officerID has an enrolled key.
func hasOfficerKey(tx *bbolt.Tx, officerID string) bool {
	return tx.Bucket(bucketOfficers).Get([]byte(officerID)) != nil
}

// officerSigner is the one place an officer's key is unsealed. It checks,
// in this order, that by may sign emergencies, that by entered a TOTP
// code within Options.FreshTOTP, and that by has an enrolled key; then
// returns a signer for that key and a function that wipes it. Every
// method that makes an emergency signature goes through here.
func (d *Desk) officerSigner(tx *bbolt.Tx, op, alertID string, by *auth.Principal, now time.Time) (record.Signer, func(), *officerUse, error) {
	none := func() {}
	if !by.Can(auth.PermAlertSignEmergency) {
		return record.Signer{}, none, nil, alertErr(op, alertID, ErrForbidden, "an emergency needs the signature of an officer (%s); %s is %q", auth.PermAlertSignEmergency, by.UserID(), by.Role())
	}
	if !by.FreshTOTP(now, d.opts.FreshTOTP) {
		return record.Signer{}, none, nil, alertErr(op, alertID, ErrFreshTOTPRequired, "%s must enter a TOTP code (within %v) before the officer key signs", by.UserID(), d.opts.FreshTOTP)
	}
	var rec officerRec
	ok, err := getJSON(tx.Bucket(bucketOfficers), []byte(by.UserID()), &rec)
	if err != nil {
		return record.Signer{}, none, nil, err
	}
	if !ok {
		return record.Signer{}, none, nil, alertErr(op, alertID, ErrNoOfficerKey, "officer %s has no enrolled signing key", by.UserID())
	}
	seed, err := d.unseal(by.UserID(), rec.KeyID, rec.Sealed)
	if err != nil {
		return record.Signer{}, none, nil, fmt.Errorf("desk: officer %s: %w", by.UserID(), err)
	}
	if len(seed) != ed25519.SeedSize {
		clear(seed)
		return record.Signer{}, none, nil, fmt.Errorf("desk: officer %s: %w", by.UserID(), errUnseal)
	}
	key := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	wipe := func() { clear(key) }
	var chain [][]byte
	if d.opts.CityCA != nil {
		chain = append(chain, d.opts.CityCA.Cert.Raw)
	}
	s, err := record.NewSigner(key, rec.Cert, !d.opts.OfficerKIDOnly, chain...)
	if err != nil {
		wipe()
		return record.Signer{}, none, nil, fmt.Errorf("desk: officer %s: %w", by.UserID(), err)
	}
	return s, wipe, &officerUse{officer: by.UserID(), keyID: rec.KeyID}, nil
}

func (d *Desk) unseal(officer, kid string, sealed []byte) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+d.aead.Overhead() {
		return nil, errUnseal
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	seed, err := d.aead.Open(nil, nonce, ct, sealAD(officer, kid))
	if err != nil {
		return nil, errUnseal
	}
	return seed, nil
}
