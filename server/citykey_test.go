package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

// TestCityCAKeyOptional: without the city CA's key the server runs, and
// the two endpoints that need it answer 503 no-city-ca.
func TestCityCAKeyOptional(t *testing.T) {
	pki := newTestPKI(t)
	d, err := trust.LoadDir(pki.dir, func() ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	cert, err := d.City.Issue(trust.Identity{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(pki.dir, trust.CityKeyFile)); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Now().Truncate(time.Second)}
	srv, err := New(testConfig(t, pki, clk), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := runServer(t, srv, clk)
	if ts.cityCAKey {
		t.Fatal("a city CA key without city.key")
	}
	_, admin := ts.bootstrapAdmin(t)
	ts.createUser(t, admin, "olly", "officer")
	wantProblem(t, ts, ts.do(t, admin, "POST", "/api/v1/officers/olly/key", nil), 503, ProblemNoCityCA)
	if _, err := ts.Fleet().Register(cert); err != nil {
		t.Fatal(err)
	}
	p := wantProblem(t, ts, ts.do(t, admin, "POST", "/api/v1/devices/pole-1/revoke", reasonRequest{Reason: "stolen"}), 503, ProblemNoCityCA)
	if !strings.Contains(p.Detail, "keys revoke") {
		t.Errorf("detail %q", p.Detail)
	}
}

// TestCityCAKeyEncrypted: an encrypted city.key opens with the passphrase
// from the environment variable the configuration names; named but not
// openable, the server does not start; found only by default and not
// openable, it is skipped.
func TestCityCAKeyEncrypted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	pass := []byte("a long city passphrase")
	if _, err := trust.InitDir(dir, "testville", now, pass); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.IssueInDir(dir, trust.Identity{Role: trust.RoleServer, ID: "server-1"}, now,
		func() ([]byte, error) { return pass, nil }, nil); err != nil {
		t.Fatal(err)
	}
	pki := testPKI{dir: dir, server: "server-1"}
	clk := &fakeClock{now: now.Truncate(time.Second)}

	// Found by default, no passphrase configured: skipped.
	srv, err := New(testConfig(t, pki, clk), testLogger(t))
	if err != nil {
		t.Fatalf("New without a city passphrase: %v", err)
	}
	if srv.cityCAKey {
		t.Error("an encrypted city key opened without its passphrase")
	}
	srv.Close()

	// Named, with its passphrase in the environment: used.
	t.Setenv("TEST_CITY_PASSPHRASE", string(pass))
	cfg := testConfig(t, pki, clk)
	cfg.PKI.CityPassphraseEnv = "TEST_CITY_PASSPHRASE"
	srv, err = New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New with the city passphrase: %v", err)
	}
	if !srv.cityCAKey {
		t.Error("the city key was not loaded")
	}
	srv.Close()

	// Named, and the passphrase wrong: the server does not start.
	t.Setenv("TEST_CITY_PASSPHRASE", "wrong")
	cfg = testConfig(t, pki, clk)
	cfg.PKI.CityPassphraseEnv = "TEST_CITY_PASSPHRASE"
	_, err = New(cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "pki.city_key") {
		t.Errorf("New with a wrong city passphrase: %v", err)
	}
	// And CheckFiles says so too.
	if err := CheckFiles(cfg); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "pki.city_key") {
		t.Errorf("CheckFiles: %v", err)
	}
}
