package cli

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
)

// auditClock is a Clock that ticks a second per reading.
type auditClock struct{ t time.Time }

func (c *auditClock) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

// auditLog writes an audit log with the library: 30 entries in segments
// of 8 (entries 0–23 sealed, 24–29 live) and one checkpoint at size 30,
// signed with the key of the PKI's server-1. It returns the log directory
// and the signer's verifier key string.
func auditLog(t *testing.T, pki string) (string, string) {
	t.Helper()
	key, err := trust.ReadKeyFile(filepath.Join(pki, "server-1.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "audit")
	clock := &auditClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := audit.Open(dir, audit.Options{Key: key, KeyName: "cityarray-audit/server-1", Clock: clock, SegmentEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		e := audit.Entry{Actor: fmt.Sprintf("user-%d", i), Role: "officer", Action: "alert.approve",
			Target: fmt.Sprintf("alert-%d", i), Outcome: "ok", Detail: map[string]string{"tier": "warning"}}
		if _, err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // checkpoints the 30 entries
		t.Fatal(err)
	}
	return dir, l.VerifierKey()
}

var auditOK = regexp.MustCompile(`^ok: 30 entries, 1 checkpoints, latest size 30 root [A-Za-z0-9+/]{43}=\n$`)

func TestAuditVerify(t *testing.T) {
	pki := pkiDir(t)
	dir, vkey := auditLog(t, pki)
	work := t.TempDir()
	vkeyFile := filepath.Join(work, "server.vkey")
	os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o600)
	pubFile := filepath.Join(work, "server.pub")
	cert, err := trust.ReadCertFile(filepath.Join(pki, "server-1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(cert[0].PublicKey.(ed25519.PublicKey))
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)

	for name, key := range map[string]string{
		"verifier key string":  vkey,
		"verifier key file":    vkeyFile,
		"server certificate":   filepath.Join(pki, "server-1.pem"),
		"PEM public key":       pubFile,
		"directory's own file": "",
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"audit", "verify", dir}
			if key != "" {
				args = append(args, "--key", key)
			}
			r := runArgs(t, args...)
			if r.err != nil || !auditOK.MatchString(r.stdout) {
				t.Fatalf("verify: %v\nstdout %q\nstderr %q", r.err, r.stdout, r.stderr)
			}
			trusting := strings.Contains(r.stderr, "warning: trusting the directory's own verifier.key")
			if trusting != (key == "") {
				t.Errorf("stderr %q: want the warning about the directory's key only without --key", r.stderr)
			}
		})
	}

	// A checkpoint signed by another key (the city CA's certificate) fails.
	r := runArgs(t, "audit", "verify", dir, "--key", filepath.Join(pki, "ada.pem"))
	if exitCode(r.err) != 1 || r.err.Error() != "tampered: checkpoint 0: not signed by a trusted key (signed by cityarray-audit/server-1+"+vkeyHash(vkey)+")" {
		t.Errorf("verify with another key: %v", r.err)
	}
	if r := runArgs(t, "audit", "verify", dir, "--key", "no-such-file"); r.err == nil || !strings.Contains(r.err.Error(), "neither a verifier key") {
		t.Errorf("verify with a bad --key: %v", r.err)
	}
}

func vkeyHash(vkey string) string { return strings.Split(vkey, "+")[1] }

// TestAuditVerifyTampered flips bytes in a copy of the log and checks that
// the command names the entry.
func TestAuditVerifyTampered(t *testing.T) {
	pki := pkiDir(t)
	base, vkey := auditLog(t, pki)
	live := "seg-00000000000000000024.jsonl"
	sealed := "seg-00000000000000000008.jsonl.gz"
	tests := []struct {
		name   string
		tamper func(dir string)
		want   string
	}{
		{"a byte in the live segment", func(dir string) {
			editFile(t, filepath.Join(dir, live), false, `"user-27"`, `"user-72"`)
		}, "tampered: entry 27: hash does not match checkpoint 0 at size 30"},
		{"a byte in a sealed segment", func(dir string) {
			editFile(t, filepath.Join(dir, sealed), true, `"alert-11"`, `"alert-17"`)
		}, "tampered: entry 11: hash does not match checkpoint 0 at size 30"},
		{"JSON broken in the live segment", func(dir string) {
			editFile(t, filepath.Join(dir, live), false, `{"v":1,"seq":25,`, `{"v":1,"seq":25 `)
		}, "tampered: entry 25: not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			os.CopyFS(dir, os.DirFS(base))
			tt.tamper(dir)
			r := runArgs(t, "audit", "verify", dir, "--key", vkey)
			if exitCode(r.err) != 1 || !strings.HasPrefix(r.err.Error(), tt.want) {
				t.Fatalf("verify = %v (exit %d), want %q", r.err, exitCode(r.err), tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

// editFile replaces old by new in a segment file, gunzipping and gzipping
// a sealed one.
func editFile(t *testing.T, path string, gz bool, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(zr)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not in %s", old, path)
	}
	b = bytes.Replace(b, []byte(old), []byte(new), 1)
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditProve(t *testing.T) {
	pki := pkiDir(t)
	dir, vkey := auditLog(t, pki)

	r := runArgs(t, "audit", "prove", "--entry", "5", dir, "--key", filepath.Join(pki, "server-1.pem"))
	if r.err != nil {
		t.Fatalf("prove: %v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{
		"entry 5:\n  {\"v\":1,\"seq\":5,",
		"user-5 (officer) alert.approve alert-5: ok tier=\"warning\"",
		"checkpoint: size 30, root ",
		"  | cityarray-audit/server-1\n  | 30\n",
		"proof: 5 hashes, leaf to root:\n   0 ",
		"proof ok: entry 5 is in the tree of checkpoint size 30\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("prove output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runArgs(t, "audit", "prove", "--entry", "29", "--json", dir)
	if r.err != nil || !strings.Contains(r.stderr, "warning: trusting the directory's own verifier.key") {
		t.Fatalf("prove --json: %v\nstderr %q", r.err, r.stderr)
	}
	var p audit.Proof
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Index != 29 {
		t.Fatalf("prove --json output: %v\n%s", err, r.stdout)
	}
	proof := r.stdout
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(proofFile, []byte(proof), 0o600)
	r = runArgs(t, "audit", "verify-proof", "--key", vkey, proofFile)
	if r.err != nil || !strings.HasPrefix(r.stdout, "ok: entry 29 is in the tree of checkpoint size 30 root ") {
		t.Fatalf("verify-proof: %v\n%s", r.err, r.stdout)
	}
	os.WriteFile(proofFile, []byte(strings.Replace(proof, "user-29", "user-92", 1)), 0o600)
	if r := runArgs(t, "audit", "verify-proof", "--key", vkey, proofFile); exitCode(r.err) != 1 || !strings.HasPrefix(r.err.Error(), "bad proof:") {
		t.Fatalf("verify-proof of a changed entry: %v", r.err)
	}

	if r := runArgs(t, "audit", "prove", "--entry", "30", dir); r.err == nil || !strings.Contains(r.err.Error(), "no checkpoint covers") {
		t.Fatalf("prove of an uncovered entry: %v", r.err)
	}
}
