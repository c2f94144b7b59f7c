package trust

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

func TestDirLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	d, err := initDir(dir, "metropolis", t0, []byte("ca pass"), fastKDF)
	if err != nil {
		t.Fatalf("InitDir: %v", err)
	}
	modes := map[string]os.FileMode{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		modes[e.Name()] = fi.Mode().Perm()
	}
	want := map[string]os.FileMode{"root.pem": 0o644, "root.key": 0o600, "city.pem": 0o644, "city.key": 0o600}
	if diff := cmp.Diff(want, modes); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}

	// Again: refused, nothing changed.
	if _, err := initDir(dir, "metropolis", t0, nil, fastKDF); !errors.Is(err, ErrExists) {
		t.Errorf("second InitDir: %v, want ErrExists", err)
	}

	// Load without the key, then with it.
	ro, err := LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ro.City.Key != nil || !ro.Root.Equal(d.Root) || !ro.City.Cert.Equal(d.City.Cert) {
		t.Error("LoadDir(nil) loaded the key or other certificates")
	}
	if _, err := ro.Issue(Identity{Role: RoleServer, ID: "server-1"}, t0, nil); !errors.Is(err, ErrNotCA) {
		t.Errorf("Issue without the CA key: %v, want ErrNotCA", err)
	}
	if _, err := LoadDir(dir, pass("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("LoadDir with a wrong passphrase: %v", err)
	}
	rw, err := LoadDir(dir, pass("ca pass"))
	if err != nil {
		t.Fatal(err)
	}

	// Issue a server (key unencrypted) and a device (key encrypted).
	now := t0.Add(time.Hour)
	srv, err := rw.issue(Identity{Role: RoleServer, ID: "server-1"}, now, nil, fastKDF)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	dev, err := rw.issue(Identity{Role: RoleDevice, ID: "pole-0001", Zone: "z1"}, now, []byte("pole pass"), fastKDF)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got := []string{filepath.Base(dev.CertPath), filepath.Base(dev.KeyPath)}; !cmp.Equal(got, []string{"pole-0001.pem", "pole-0001.key"}) {
		t.Errorf("device files %v", got)
	}
	certs, err := ReadCertFile(srv.CertPath)
	if err != nil || len(certs) != 2 || !certs[0].Equal(srv.Cert) || !certs[1].Equal(d.City.Cert) {
		t.Errorf("server.pem: %d certificates, %v; want the leaf then the city CA", len(certs), err)
	}
	if _, err := rw.issue(Identity{Role: RoleServer, ID: "server-1"}, now, nil, fastKDF); !errors.Is(err, ErrExists) {
		t.Errorf("issuing server-1 again: %v, want ErrExists", err)
	}
	for _, id := range []string{"root", "city"} {
		if _, err := rw.issue(Identity{Role: RoleServer, ID: id}, now, nil, fastKDF); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("issuing %q: %v, want ErrBadIdentity", id, err)
		}
	}

	// A node signs with its files; a verifier built from the directory
	// accepts it, by kid alone.
	v, err := NewVerifier(rw.Config())
	if err != nil {
		t.Fatal(err)
	}
	s, id, err := LoadSigner(dev.CertPath, dev.KeyPath, pass("pole pass"), false)
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	if diff := cmp.Diff(dev.Identity, id); diff != "" {
		t.Errorf("LoadSigner identity (-want +got):\n%s", diff)
	}
	r := mustSign(t, &record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-0001"),
		Issued: now, Expires: now.Add(time.Hour), Origin: "pole-0001", Seq: 1, Body: &record.Health{Uptime: 1, Rung: "wifi"}}, s)
	if err := v.AddCertificates(now, dev.Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Accept(r, now); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	// With its chain, a verifier that has only the root accepts too.
	s, _, err = LoadSigner(srv.CertPath, srv.KeyPath, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Chain) != 2 {
		t.Errorf("signer chain has %d certificates, want 2", len(s.Chain))
	}
	v2, _ := NewVerifier(Config{Roots: rw.Config().Roots})
	if _, err := v2.Accept(mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued, r.Expires = now, now.Add(time.Hour)
	}), s), now); err != nil {
		t.Fatalf("Accept with chain: %v", err)
	}

	// Revoke the device through the directory.
	rv, err := rw.Revoke([][]byte{Serial(dev.Cert)}, "pole stolen", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ApplyRevocation(rv, now); err != nil {
		t.Fatal(err)
	}
	devSigner, _, _ := LoadSigner(dev.CertPath, dev.KeyPath, pass("pole pass"), false)
	r3 := mustSign(t, &record.Record{Kind: record.KindHealth, Tier: record.TierInformational, Scope: record.DeviceScope("pole-0001"),
		Issued: now, Expires: now.Add(time.Hour), Origin: "pole-0001", Seq: 3, Body: &record.Health{Uptime: 3, Rung: "wifi"}}, devSigner)
	_, err = v.Verify(r3, now)
	wantReason(t, err, ReasonRevoked)

	// A key that is not the certificate's.
	if _, _, err := LoadSigner(srv.CertPath, dev.KeyPath, pass("pole pass"), false); !errors.Is(err, ErrBadKey) {
		t.Errorf("LoadSigner with the wrong key: %v, want ErrBadKey", err)
	}
}

func TestInitDirPublic(t *testing.T) {
	// The exported entry points, with unencrypted keys to stay fast.
	dir := t.TempDir()
	if _, err := InitDir(dir, "metropolis", t0, nil); err != nil {
		t.Fatal(err)
	}
	l, err := IssueInDir(dir, Identity{Role: RoleGateway, ID: "gw-1", Zone: "z1"}, t0, nil, nil)
	if err != nil {
		t.Fatalf("IssueInDir: %v", err)
	}
	if id, err := IdentityOf(l.Cert); err != nil || id != l.Identity {
		t.Errorf("issued %v, %v", id, err)
	}
	if _, err := IssueInDir(dir, Identity{Role: RoleGateway, ID: "gw-1"}, t0, nil, nil); !errors.Is(err, ErrBadIdentity) {
		t.Errorf("gateway without zone: %v, want ErrBadIdentity", err)
	}
	if _, err := InitDir(dir, "metropolis", t0, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second InitDir: %v, want ErrExists", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("LoadDir of a missing directory succeeded")
	}
}
