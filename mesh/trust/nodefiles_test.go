package trust_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

func TestLoadNode(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	if _, err := trust.InitDir(dir, "testville", now, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []trust.Identity{{Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}, {Role: trust.RoleDevice, ID: "pole-2", Zone: "z1"}, {Role: trust.RoleServer, ID: "server-1"}} {
		if _, err := trust.IssueInDir(dir, id, now, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	files := func(id string) trust.NodeFiles {
		return trust.NodeFiles{RootCert: filepath.Join(dir, trust.RootCertFile), Cert: filepath.Join(dir, id+".pem"), Key: filepath.Join(dir, id+".key")}
	}
	n, err := trust.LoadNode(files("pole-1"), trust.RoleDevice, "pole-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if n.Identity.ID != "pole-1" || n.Identity.Zone != "z1" || n.City != "testville" || len(n.TLS.Certificate) != 2 {
		t.Errorf("loaded %+v", n.Identity)
	}
	if _, err := n.Verifier(true, now); err != nil {
		t.Errorf("Verifier: %v", err)
	}
	mixed := files("pole-1")
	mixed.Key = filepath.Join(dir, "pole-2.key")
	leafOnly := files("pole-1")
	leafOnly.Cert = filepath.Join(t.TempDir(), "leaf.pem")
	pem, _ := os.ReadFile(filepath.Join(dir, "pole-1.pem"))
	first := string(pem)[:strings.Index(string(pem), "-----END CERTIFICATE-----")+len("-----END CERTIFICATE-----\n")]
	if err := os.WriteFile(leafOnly.Cert, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    trust.NodeFiles
		role trust.Role
		id   string
		want string
	}{
		{files("server-1"), trust.RoleDevice, "", "is a server certificate; issue one with `cityarray keys issue --role device`"},
		{files("pole-1"), trust.RoleDevice, "pole-7", `names device "pole-1", the configuration says "pole-7"`},
		{mixed, trust.RoleDevice, "", "key does not belong to the certificate"},
		{leafOnly, trust.RoleDevice, "", "holds only the device's certificate: append the city CA's"},
	} {
		if _, err := trust.LoadNode(tc.f, tc.role, tc.id, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadNode = %v, want %q", err, tc.want)
		}
	}
}
