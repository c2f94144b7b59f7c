package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
)

// TestEdgeCheckConfig: --check-config passes a good file with its PKI and
// lists every problem of a bad one, with exit codes 0, 1 and 2.
func TestEdgeCheckConfig(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	now := time.Now()
	if _, err := trust.InitDir(pki, "testville", now, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.IssueInDir(pki, trust.Identity{Role: trust.RoleDevice, ID: "pole-7", Zone: "z1"}, now, nil, nil); err != nil {
		t.Fatal(err)
	}
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "data_dir: data\npki: {dir: pki, device_id: pole-7}\nuplink: {gateways: [tls://gw-1.lan:8883]}\ndisplay: {backend: sim}\n")
	wrongID := write("wrong.yaml", "data_dir: data\npki: {dir: pki, device_id: pole-8, cert: pki/pole-7.pem, key: pki/pole-7.key}\nuplink: {gateways: [tls://gw-1.lan:8883]}\n")
	bad := write("bad.yaml", "data_dir: data\npki: {dir: pki, device_id: pole-7}\ndisplay: {backend: lcd, fps: 0}\nsurprise: 1\n")

	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		e := newEnv(&out, &errb)
		err := execute(context.Background(), newRootCmd(e), e, args)
		return out.String() + errb.String(), err
	}
	if out, err := run("edge", "--check-config", "--config", good); err != nil || !strings.Contains(out, "configuration ok") {
		t.Errorf("good config: %v: %s", err, out)
	}
	for _, tc := range []struct {
		file string
		code int
		want []string
	}{
		{wrongID, 1, []string{`names device "pole-7", the configuration says "pole-8"`}},
		{bad, 1, []string{`bad.yaml:4: unknown field "surprise"`}},
	} {
		_, err := run("edge", "--check-config", "--config", tc.file)
		ee, ok := err.(exitError)
		if !ok || ee.code != tc.code {
			t.Errorf("%s: %v, want exit %d", tc.file, err, tc.code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(ee.msg, w) {
				t.Errorf("%s: %q lacks %q", tc.file, ee.msg, w)
			}
		}
	}
	if _, err := run("edge"); err == nil || err.(exitError).code != 2 {
		t.Errorf("no --config: %v, want exit 2", err)
	}
}

// TestGatewayCheckConfig: `gateway --check-config` passes a good file with
// its PKI and refuses a pole's certificate.
func TestGatewayCheckConfig(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	now := time.Now()
	if _, err := trust.InitDir(pki, "testville", now, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []trust.Identity{{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"}, {Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}} {
		if _, err := trust.IssueInDir(pki, id, now, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("gw.yaml", "data_dir: gw\npki: {dir: pki, gateway_id: gw-1}\nserver: {brokers: [tls://ops.lan:8883]}\n")
	pole := write("pole.yaml", "data_dir: gw\npki: {dir: pki, gateway_id: gw-1, cert: pki/pole-1.pem, key: pki/pole-1.key}\nserver: {brokers: [tls://ops.lan:8883]}\n")
	run := func(args ...string) error {
		var out, errb bytes.Buffer
		e := newEnv(&out, &errb)
		return execute(context.Background(), newRootCmd(e), e, args)
	}
	if err := run("gateway", "--check-config", "--config", good); err != nil {
		t.Errorf("good config: %v", err)
	}
	err := run("gateway", "--check-config", "--config", pole)
	if ee, ok := err.(exitError); !ok || ee.code != 1 || !strings.Contains(ee.msg, "is a device certificate") {
		t.Errorf("a pole's certificate: %v", err)
	}
}
