package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pkiDir makes a city PKI with a server, an officer and a device, through
// the commands a technician would type.
func pkiDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	for _, args := range [][]string{
		{"keys", "init", "--dir", dir, "--city", "Testville"},
		{"keys", "issue", "--dir", dir, "--role", "server", "--id", "server-1"},
		{"keys", "issue", "--dir", dir, "--role", "operator", "--id", "ada"},
		{"keys", "issue", "--dir", dir, "--role", "device", "--id", "pole-1", "--zone", "z1"},
		{"keys", "issue", "--dir", dir, "--role", "gateway", "--id", "gw-1", "--zone", "z1"},
	} {
		if r := runArgs(t, args...); r.err != nil {
			t.Fatalf("%v: %v\n%s", args, r.err, r.stderr)
		}
	}
	return dir
}

func sign(t *testing.T, dir, out string, extra ...string) runResult {
	t.Helper()
	args := append([]string{"record", "sign", "--out", out}, extra...)
	return runArgs(t, args...)
}

func signer(dir, id string) []string {
	return []string{"--key", filepath.Join(dir, id+".key"), "--cert", filepath.Join(dir, id+".pem")}
}

func verify(t *testing.T, dir, file string, extra ...string) runResult {
	t.Helper()
	return runArgs(t, append([]string{"record", "verify", "--roots", filepath.Join(dir, "root.pem"), file}, extra...)...)
}

// exitCode returns the code run's error asks main to exit with.
func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

var okLine = regexp.MustCompile(`^ok [0-9a-f]{64} (\S+) (\S+) (\S+)\n$`)

func TestRecordSignVerify(t *testing.T) {
	dir := pkiDir(t)
	work := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		want   string // the verify line: "ok kind tier signer" or "rejected: reason"
		signFn string // a sign error instead
	}{
		{"warning by server", append([]string{"--kind", "alert", "--tier", "warning", "--scope", "zone:z1", "--text", "en=Flood warning", "--text", "es=Alerta de inundación"}, signer(dir, "server-1")...),
			"ok alert warning cityarray://server/server-1", ""},
		{"emergency by server and officer", append(append([]string{"--kind", "alert", "--tier", "emergency", "--scope", "city", "--text", "en=Evacuate now"}, signer(dir, "server-1")...), signer(dir, "ada")...),
			"ok alert emergency cityarray://server/server-1+cityarray://operator/ada", ""},
		{"emergency by server alone", append([]string{"--kind", "alert", "--tier", "emergency", "--scope", "city", "--text", "en=Evacuate now"}, signer(dir, "server-1")...),
			"rejected: missing-cosigner", ""},
		{"warning by a device", append([]string{"--kind", "alert", "--tier", "warning", "--scope", "zone:z1", "--text", "en=Fake"}, signer(dir, "pole-1")...),
			"rejected: role-not-allowed", ""},
		{"advisory by gateway in its zone", append([]string{"--kind", "alert", "--tier", "advisory", "--scope", "zone:z1", "--text", "en=Road closed"}, signer(dir, "gw-1")...),
			"ok alert advisory cityarray://zone/z1/gateway/gw-1", ""},
		{"advisory by gateway outside its zone", append([]string{"--kind", "alert", "--tier", "advisory", "--scope", "zone:z2", "--text", "en=Road closed"}, signer(dir, "gw-1")...),
			"rejected: scope-not-allowed", ""},
		{"informational by device for itself", append([]string{"--kind", "alert", "--tier", "informational", "--scope", "device:pole-1", "--text", "en=12:00"}, signer(dir, "pole-1")...),
			"ok alert informational cityarray://zone/z1/device/pole-1", ""},
		{"text too long", append([]string{"--kind", "alert", "--tier", "warning", "--scope", "city", "--text", "en=" + strings.Repeat("x", 91)}, signer(dir, "server-1")...),
			"", "91 characters, at most 90"},
		{"bad text flag", append([]string{"--kind", "alert", "--tier", "warning", "--scope", "city", "--text", "Flood"}, signer(dir, "server-1")...),
			"", "want LANG=TEXT"},
		{"no key", []string{"--kind", "alert", "--tier", "warning", "--scope", "city", "--text", "en=x"},
			"", "give --key and --cert once per signer"},
		{"bad scope", append([]string{"--kind", "alert", "--tier", "warning", "--scope", "street:5", "--text", "en=x"}, signer(dir, "server-1")...),
			"", "street:5"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(work, strings.ReplaceAll(tt.name, " ", "-")+".cose")
			s := sign(t, dir, out, tt.args...)
			if tt.signFn != "" {
				if s.err == nil || !strings.Contains(s.err.Error(), tt.signFn) {
					t.Fatalf("sign = %v, want an error containing %q", s.err, tt.signFn)
				}
				return
			}
			if s.err != nil {
				t.Fatalf("sign: %v", s.err)
			}
			v := verify(t, dir, out)
			if strings.HasPrefix(tt.want, "ok ") {
				m := okLine.FindStringSubmatch(v.stdout)
				if v.err != nil || m == nil || "ok "+strings.Join(m[1:], " ") != tt.want {
					t.Fatalf("verify = %q, %v; want %q", v.stdout, v.err, tt.want)
				}
				return
			}
			if exitCode(v.err) != 1 || !strings.HasPrefix(v.err.Error(), tt.want+":") {
				t.Fatalf("verify = %v (exit %d), want %q and exit 1", v.err, exitCode(v.err), tt.want)
			}
			_ = i
		})
	}
}

func TestRecordVerifyRejectsTampering(t *testing.T) {
	dir := pkiDir(t)
	f := filepath.Join(t.TempDir(), "r.cose")
	if r := sign(t, dir, f, append([]string{"--kind", "alert", "--tier", "warning", "--scope", "city", "--text", "en=Boil water", "--expires", "1h"}, signer(dir, "server-1")...)...); r.err != nil {
		t.Fatal(r.err)
	}
	good, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(filepath.Dir(f), name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-5] ^= 1
	text := []byte(strings.Replace(string(good), "Boil water", "Boil Water", 1))
	tests := []struct {
		name, file string
		extra      []string
		want       string
	}{
		{"flipped signature byte", write("flipped.cose", flipped), nil, "rejected: bad-signature"},
		{"changed text", write("text.cose", text), nil, "rejected: bad-signature"},
		{"truncated", write("short.cose", good[:len(good)/2]), nil, "rejected: malformed"},
		{"expired", f, []string{"--at", time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)}, "rejected: expired"},
		{"other city", f, []string{"--roots", filepath.Join(pkiDir(t), "root.pem")}, "rejected: bad-chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"record", "verify", "--roots", filepath.Join(dir, "root.pem"), tt.file}
			if len(tt.extra) > 0 && tt.extra[0] == "--roots" {
				args = []string{"record", "verify", "--roots", tt.extra[1], tt.file}
			} else {
				args = append(args, tt.extra...)
			}
			v := runArgs(t, args...)
			if exitCode(v.err) != 1 || !strings.HasPrefix(v.err.Error(), tt.want) {
				t.Fatalf("verify = %v (exit %d), want %q", v.err, exitCode(v.err), tt.want)
			}
		})
	}
}

func TestKeysRevoke(t *testing.T) {
	dir := pkiDir(t)
	f := filepath.Join(t.TempDir(), "r.cose")
	if r := sign(t, dir, f, append([]string{"--kind", "alert", "--tier", "informational", "--scope", "device:pole-1", "--text", "en=Hello"}, signer(dir, "pole-1")...)...); r.err != nil {
		t.Fatal(r.err)
	}
	show := runArgs(t, "keys", "show", filepath.Join(dir, "pole-1.pem"))
	m := regexp.MustCompile(`serial:\s+([0-9a-f]+)`).FindStringSubmatch(show.stdout)
	if show.err != nil || m == nil {
		t.Fatalf("keys show: %v\n%s", show.err, show.stdout)
	}
	rev := filepath.Join(t.TempDir(), "rev.cose")
	if r := runArgs(t, "keys", "revoke", "--dir", dir, "--serial", m[1], "--reason", "pole stolen", "--out", rev); r.err != nil {
		t.Fatalf("keys revoke: %v", r.err)
	}
	if v := verify(t, dir, f); v.err != nil {
		t.Fatalf("before revocation: %v", v.err)
	}
	v := verify(t, dir, f, "--revocation", rev)
	if exitCode(v.err) != 1 || !strings.HasPrefix(v.err.Error(), "rejected: revoked") {
		t.Fatalf("after revocation: %v, want rejected: revoked", v.err)
	}
	if r := runArgs(t, "keys", "revoke", "--dir", dir, "--serial", "zz"); r.err == nil {
		t.Error("a bad serial was accepted")
	}
}

func TestKeysShowNeverPrintsPrivateKey(t *testing.T) {
	dir := pkiDir(t)
	key, err := os.ReadFile(filepath.Join(dir, "server-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	r := runArgs(t, "keys", "show", filepath.Join(dir, "server-1.key"))
	if r.err != nil || !strings.Contains(r.stdout, "public key:") {
		t.Fatalf("keys show key: %v\n%s", r.err, r.stdout)
	}
	body := strings.Join(strings.Split(string(key), "\n")[1:2], "")
	if strings.Contains(r.stdout+r.stderr, body) {
		t.Error("keys show printed the private key")
	}
	if st, _ := os.Stat(filepath.Join(dir, "server-1.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestKeysRefusesNonsense(t *testing.T) {
	dir := pkiDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--role", "device", "--id", "pole-9"}, "has no zone"},
		{[]string{"--role", "operator", "--id", "bob", "--zone", "z1"}, "has zone"},
		{[]string{"--role", "server", "--id", "server-2", "--zone", "z1"}, "has zone"},
		{[]string{"--role", "mayor", "--id", "x"}, "mayor"},
		{[]string{"--role", "device", "--id", "pole 9", "--zone", "z1"}, "not allowed"},
		{[]string{"--role", "server", "--id", "server-1"}, "exists"},
	}
	for _, tt := range tests {
		r := runArgs(t, append([]string{"keys", "issue", "--dir", dir}, tt.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("keys issue %v = %v, want an error containing %q", tt.args, r.err, tt.want)
		}
	}
	if r := runArgs(t, "keys", "init", "--dir", dir, "--city", "Again"); r.err == nil {
		t.Error("keys init over an existing PKI succeeded")
	}
}

func TestRecordSignJSONAndInspect(t *testing.T) {
	dir := pkiDir(t)
	work := t.TempDir()
	js := filepath.Join(work, "cmd.json")
	if err := os.WriteFile(js, []byte(`{"kind":"command","tier":"warning","scope":"device:pole-1","body":{"action":"brightness","value":40}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "cmd.cose")
	if r := sign(t, dir, out, append([]string{"--json", js}, signer(dir, "server-1")...)...); r.err != nil {
		t.Fatalf("sign --json: %v", r.err)
	}
	if v := verify(t, dir, out); v.err != nil || !strings.Contains(v.stdout, " command warning ") {
		t.Fatalf("verify: %q %v", v.stdout, v.err)
	}
	in := runArgs(t, "record", "inspect", out)
	if in.err != nil || !strings.Contains(in.stdout, `"action": "brightness"`) || !strings.Contains(in.stdout, `"kind": "command"`) {
		t.Fatalf("inspect: %v\n%s", in.err, in.stdout)
	}
	if err := os.WriteFile(js, []byte(`{"kind":"command","tier":"warning","scope":"city","body":{"action":"brightness","colour":"red"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sign(t, dir, out, append([]string{"--json", js}, signer(dir, "server-1")...)...); r.err == nil || !strings.Contains(r.err.Error(), "colour") {
		t.Fatalf("an unknown JSON field was accepted: %v", r.err)
	}
	// The published vectors are hex; inspect reads them too.
	vec := runArgs(t, "record", "inspect", "../../../testdata/records/01-warning-alert-en.hex")
	if vec.err != nil || !strings.Contains(vec.stdout, `"tier": "warning"`) {
		t.Fatalf("inspect a hex vector: %v", vec.err)
	}
}
