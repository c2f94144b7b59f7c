package desk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/desk"
)

// TestOfficerKeyAtRest: an enrolled key is sealed in the database, and
// appears in no JSON, audit entry or error; it opens only with the right
// DataKey; enrolment checks the certificate.
func TestOfficerKeyAtRest(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	p := testPKI()
	pub, key, _ := ed25519.GenerateKey(nil)
	cert, err := p.CA.Issue(trust.Identity{Role: trust.RoleOperator, ID: "otto"}, pub, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.desk.EnrolOfficerKey(root, "otto", key, cert)
	if err != nil {
		t.Fatal(err)
	}

	secretForms := [][]byte{key, key.Seed(), []byte(string(key.Seed()))}
	js, _ := json.Marshal(k)
	for _, s := range secretForms {
		if bytes.Contains(js, s) {
			t.Error("OfficerKey JSON holds key material")
		}
	}
	e.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				for _, s := range secretForms {
					if bytes.Contains(v, s) || bytes.Contains(k, s) {
						t.Errorf("bucket %s key %q holds key material in clear", name, k)
					}
				}
				return nil
			})
		})
	})
	for _, en := range e.aud.Take() {
		js, _ := json.Marshal(en)
		for _, s := range secretForms {
			if bytes.Contains(js, s) {
				t.Errorf("audit entry %s holds key material", en.Action)
			}
		}
	}

	// Otto's new key signs an emergency.
	sam, otto := e.login("sam"), e.login("otto")
	e.publish(sam, otto, draftReq("emergency", "city"))
	recs := e.records()
	sigs := recs[len(recs)-1].Signatures()
	if len(sigs) != 2 || !bytes.Equal(sigs[1].KID, mustHex(t, k.KeyID)) {
		t.Errorf("signatures %d, officer kid mismatch", len(sigs))
	}

	// Another desk on the same file with the wrong DataKey cannot unseal.
	o := e.opts
	o.DataKey = bytes.Repeat([]byte{9}, 32)
	d2, err := desk.New(e.db, o)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d2.Draft(sam, draftReq("emergency", "city"))
	d2.Submit(sam, a.ID)
	otto = e.reauth("otto")
	if _, err := d2.Approve(otto, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = d2.Publish(ctx(), otto, a.ID)
	if err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("Publish with the wrong DataKey: %v", err)
	}
	for _, s := range secretForms {
		if err != nil && strings.Contains(err.Error(), string(s)) {
			t.Error("error holds key material")
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnrolChecks: enrolment refuses keys and certificates that do not
// belong together or to the officer, and non-admins.
func TestEnrolChecks(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	p := testPKI()
	pub, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	issue := func(id trust.Identity, pub ed25519.PublicKey, ca *trust.CA) *x509.Certificate {
		c, err := ca.Issue(id, pub, e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	otherRoot, _ := trust.NewRoot("elsewhere", e.clk.Now())
	otherCA, _ := otherRoot.NewCityCA(e.clk.Now())
	good := issue(trust.Identity{Role: trust.RoleOperator, ID: "otto"}, pub, p.CA)
	for _, tc := range []struct {
		name string
		by   string
		key  ed25519.PrivateKey
		cert *x509.Certificate
		want error
		says string
	}{
		{"not an admin", "sam", key, good, desk.ErrForbidden, "user.manage"},
		{"key mismatch", "root", other, good, desk.ErrInvalid, "does not match"},
		{"another officer's cert", "root", key, issue(trust.Identity{Role: trust.RoleOperator, ID: "olly"}, pub, p.CA), desk.ErrInvalid, "operator/otto"},
		{"a server cert", "root", key, issue(trust.Identity{Role: trust.RoleServer, ID: "otto"}, pub, p.CA), desk.ErrInvalid, "operator/otto"},
		{"another city", "root", key, issue(trust.Identity{Role: trust.RoleOperator, ID: "otto"}, pub, otherCA), desk.ErrInvalid, "city CA"},
		{"no cert", "root", key, nil, desk.ErrInvalid, "no certificate"},
	} {
		_, err := e.desk.EnrolOfficerKey(e.login(tc.by), "otto", tc.key, tc.cert)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.want, tc.says)
		}
	}
	if err := e.desk.RemoveOfficerKey(root, "otto"); err != nil {
		t.Fatal(err)
	}
	// Without a key an officer cannot approve an emergency.
	sam := e.login("sam")
	a, _ := e.desk.Draft(sam, draftReq("emergency", "city"))
	e.desk.Submit(sam, a.ID)
	if _, err := e.desk.Approve(e.login("otto"), a.ID); !errors.Is(err, desk.ErrNoOfficerKey) {
		t.Errorf("approve without a key: %v", err)
	}
	if _, err := e.desk.OfficerKeyInfo(root, "otto"); !errors.Is(err, desk.ErrNotFound) {
		t.Errorf("info after removal: %v", err)
	}
}
