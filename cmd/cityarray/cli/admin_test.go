package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
)

// adminWorld is a fresh control server in this process whose first admin
// is bootstrapped as `server init` does, not yet set up.
type adminWorld struct {
	t         *testing.T
	l         *city.LocalServer
	rootCode  string
	passwords map[string]string // user → password, once set up
	secrets   map[string]string // user → TOTP secret, once set up
}

func newAdminWorld(t *testing.T) *adminWorld {
	t.Helper()
	l, err := city.StartLocalServer(context.Background(), city.LocalServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logAuthEntries(t, l.Audit().Dir())
		}
		if err := l.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	code, err := l.Auth().Bootstrap("root", "Admin root", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &adminWorld{t: t, l: l, rootCode: code, passwords: map[string]string{}, secrets: map[string]string{}}
}

// logAuthEntries logs the login and setup entries of the audit log in dir:
// when a login the test expected to work is refused, their reasons say why.
func logAuthEntries(t *testing.T, dir string) {
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.jsonl"))
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Logf("audit: %v", err)
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"action":"login.`) || strings.Contains(line, `"action":"mfa.`) || strings.Contains(line, `"action":"setup.`) {
				t.Logf("audit: %s", line)
			}
		}
	}
}

// run runs cityarray with args after the server flags of cmd ("admin" or
// "alert"); prompt answers the questions (nil: no terminal); envs is the
// environment.
func (w *adminWorld) run(prompt func(e *env, stdout *bytes.Buffer) func(string, bool) (string, error),
	envs map[string]string, cmd string, args ...string) runResult {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	if prompt != nil {
		e.prompt = prompt(e, &stdout)
	}
	e.getenv = func(k string) string { return envs[k] }
	full := append([]string{cmd, "--server", w.l.HTTPURL(), "--ca", w.l.WebCAFile}, args...)
	err := execute(context.Background(), newRootCmd(e), e, full)
	return runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// login answers a login as who: its password (asked without echo) and a
// TOTP code.
func (w *adminWorld) login(who string) func(*env, *bytes.Buffer) func(string, bool) (string, error) {
	return func(*env, *bytes.Buffer) func(string, bool) (string, error) {
		return func(label string, secret bool) (string, error) {
			switch {
			case label == "password for "+who:
				if !secret {
					w.t.Errorf("the password was asked with echo")
				}
				return w.passwords[who], nil
			case label == "TOTP code":
				return w.l.Code(w.secrets[who])
			}
			w.t.Errorf("asked %q", label)
			return "", nil
		}
	}
}

// as runs `cityarray admin --as who args…`, logging in.
func (w *adminWorld) as(who string, args ...string) runResult {
	w.t.Helper()
	return w.run(w.login(who), nil, "admin", append([]string{"--as", who}, args...)...)
}

var secretRE = regexp.MustCompile(`(?m)^  secret: ([A-Z2-7]+)$`)

// setup answers `admin setup` for who: the setup code (if code is not
// empty), the new passwords in turn (each asked twice), and TOTP codes
// from the secret the command printed.
func (w *adminWorld) setup(who, code string, passwords ...string) func(*env, *bytes.Buffer) func(string, bool) (string, error) {
	return func(_ *env, stdout *bytes.Buffer) func(string, bool) (string, error) {
		n := 0
		return func(label string, secret bool) (string, error) {
			switch label {
			case "setup code for " + who:
				if !secret || code == "" {
					w.t.Errorf("setup code asked (secret %v, code %q)", secret, code)
				}
				return code, nil
			case "new password for " + who, "new password again":
				if !secret {
					w.t.Errorf("%q asked with echo", label)
				}
				pw := passwords[n/2]
				n++
				return pw, nil
			case "TOTP code":
				m := secretRE.FindStringSubmatch(stdout.String())
				if m == nil {
					w.t.Fatalf("TOTP code asked before the secret was shown: %q", stdout.String())
				}
				w.secrets[who] = m[1]
				return w.l.Code(m[1])
			}
			w.t.Errorf("asked %q", label)
			return "", nil
		}
	}
}

var setupCodeRE = regexp.MustCompile(`setup code \(shown once[^)]*\): (\S+)`)

func setupCodeOf(t *testing.T, r runResult) string {
	t.Helper()
	m := setupCodeRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no setup code in %q", r.stdout)
	}
	return m[1]
}

func (w *adminWorld) users(who string) map[string]userView {
	w.t.Helper()
	r := w.as(who, "user", "list", "--json").ok(w.t)
	var list []userView
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		w.t.Fatalf("user list --json: %v: %s", err, r.stdout)
	}
	m := map[string]userView{}
	for _, u := range list {
		m[u.ID] = u
	}
	return m
}

const (
	rootPW = "copper lantern quiet harbor"
	ollyPW = "violet ferry under seven bridges"
)

// TestAdminCommands sets the first admin up, adds people and tokens and
// changes them, all through `cityarray admin` against a real server.
func TestAdminCommands(t *testing.T) {
	w := newAdminWorld(t)

	// The first admin finishes setup: a password the policy refuses, then
	// a good one.
	r := w.run(w.setup("root", w.rootCode, "short", rootPW), nil, "admin", "setup", "--user", "root").ok(t)
	t.Logf("setup:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	if !strings.Contains(r.stdout, "otpauth://totp/") || !secretRE.MatchString(r.stdout) {
		t.Errorf("no otpauth URL or secret in %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "refused: password") {
		t.Errorf("the policy refusal was not shown: %q", r.stderr)
	}
	codes := regexp.MustCompile(`(?m)^  (\S+)$`).FindAllString(strings.SplitN(r.stdout, "Recovery codes", 2)[1], -1)
	if len(codes) < 5 || !strings.Contains(r.stdout, "store them offline") {
		t.Errorf("recovery codes %v in %q", codes, r.stdout)
	}
	for _, s := range []string{rootPW, w.rootCode} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("setup printed a password or the setup code")
		}
	}
	w.passwords["root"] = rootPW
	// The setup code is spent.
	w.run(w.setup("root", w.rootCode, rootPW), nil, "admin", "setup", "--user", "root").fails(t, "setup of root: refused: wrong user or setup code")

	// Logging in works now.
	if u := w.users("root")["root"]; u.Role != "admin" || u.SetupPending || !u.MFAEnrolled {
		t.Errorf("root after setup: %+v", u)
	}

	// A new officer: the setup code add prints works (read from a file).
	r = w.as("root", "user", "add", "--id", "olly", "--name", "Olly Officer", "--role", "officer").ok(t)
	code := setupCodeOf(t, r)
	if !strings.Contains(r.stdout, "cityarray admin setup --user olly") {
		t.Errorf("add said %q", r.stdout)
	}
	codeFile, err := city.WriteFile(t.TempDir(), "code", []byte(code+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.run(w.setup("olly", "", ollyPW), nil, "admin", "setup", "--user", "olly", "--code-file", codeFile).ok(t)
	w.passwords["olly"] = ollyPW
	w.run(w.login("olly"), nil, "alert", "--user", "olly", "list").ok(t)

	// Role changes; bad roles and zones read clearly.
	r = w.as("root", "user", "role", "olly", "--role", "zone_operator", "--zone", "z1", "--zone", "z2").ok(t)
	if !strings.Contains(r.stdout, "olly is now zone_operator in z1, z2") {
		t.Errorf("role said %q", r.stdout)
	}
	if u := w.users("root")["olly"]; u.Role != "zone_operator" || strings.Join(u.Zones, ",") != "z1,z2" {
		t.Errorf("olly after role: %+v", u)
	}
	w.as("root", "user", "role", "olly", "--role", "supervisor").ok(t)
	w.as("root", "user", "role", "olly", "--role", "boss").fails(t, `--role "boss": not a role; one of admin, supervisor`)
	w.as("root", "user", "add", "--id", "x1", "--name", "X", "--role", "boss").fails(t, `--role "boss"`)
	w.as("root", "user", "add", "--id", "x1", "--name", "X", "--role", "zone_operator").fails(t, "invalid: zones:")
	w.as("root", "user", "role", "nobody", "--role", "viewer").fails(t, "not found")

	// Disable, enable, reset.
	w.as("root", "user", "disable", "olly").ok(t)
	w.run(w.login("olly"), nil, "alert", "--user", "olly", "list").fails(t, "not signed in")
	w.as("root", "user", "enable", "olly").ok(t)
	w.run(w.login("olly"), nil, "alert", "--user", "olly", "list").ok(t)
	w.as("root", "user", "unlock", "olly").ok(t)
	r = w.as("root", "user", "reset", "olly").ok(t)
	code2 := setupCodeOf(t, r)
	if u := w.users("root")["olly"]; !u.SetupPending {
		t.Errorf("olly after reset: %+v", u)
	}
	w.run(w.setup("olly", code2, "a brand new harbor lantern"), nil, "admin", "setup", "--user", "olly").ok(t)

	// Tokens: one for an integration user, written to a 0600 file, reads
	// alerts until it is revoked.
	r = w.as("root", "user", "add", "--id", "feed", "--name", "Feed", "--role", "integration").ok(t)
	if !strings.Contains(r.stdout, "integration user") || setupCodeRE.MatchString(r.stdout) {
		t.Errorf("add integration said %q", r.stdout)
	}
	tokFile := filepath.Join(t.TempDir(), "feed.token")
	r = w.as("root", "token", "create", "--user", "feed", "--name", "ci", "--scope", "alert.read", "--scope", "alert.draft",
		"--expires", "48h", "--out", tokFile).ok(t)
	fi, err := os.Stat(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	secret, _ := os.ReadFile(tokFile)
	if len(bytes.TrimSpace(secret)) == 0 || strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(secret))) {
		t.Errorf("token file %q, output %q", secret, r.stdout)
	}
	tokID := regexp.MustCompile(`token ([0-9a-f]{16}) created for feed`).FindStringSubmatch(r.stdout)
	if tokID == nil {
		t.Fatalf("create said %q", r.stdout)
	}
	w.as("root", "token", "create", "--user", "feed", "--name", "ci", "--scope", "alert.read", "--out", tokFile).fails(t, "exists")
	w.run(nil, nil, "alert", "--token-file", tokFile, "list").ok(t)

	r = w.as("root", "token", "list", "--user", "feed", "--json").ok(t)
	var toks []tokenView
	if err := json.Unmarshal([]byte(r.stdout), &toks); err != nil || len(toks) != 1 || toks[0].ID != tokID[1] {
		t.Errorf("token list --json: %v: %s", err, r.stdout)
	}
	r = w.as("root", "token", "list", "--user", "feed").ok(t)
	if !strings.Contains(r.stdout, tokID[1]) || !strings.Contains(r.stdout, "alert.read,alert.draft") {
		t.Errorf("token list:\n%s", r.stdout)
	}

	// A token with user.read may list users, but not add them.
	r = w.as("root", "token", "create", "--user", "root", "--name", "ro", "--scope", "user.read").ok(t)
	roSecret := strings.TrimSpace(r.stdout[strings.LastIndex(strings.TrimSpace(r.stdout), "\n")+1:])
	if !strings.Contains(r.stdout, "shown only now") || roSecret == "" {
		t.Fatalf("create without --out said %q", r.stdout)
	}
	env := map[string]string{envToken: roSecret}
	w.run(nil, env, "admin", "user", "list").ok(t)
	w.run(nil, env, "admin", "user", "add", "--id", "x2", "--name", "X", "--role", "viewer").fails(t, "refused:")
	w.as("root", "token", "create", "--user", "feed", "--name", "bad", "--scope", "alert.publish").fails(t, "invalid:", "scopes[0]")

	w.as("root", "token", "revoke", tokID[1]).ok(t)
	w.run(nil, nil, "alert", "--token-file", tokFile, "list").fails(t, "not signed in")
	w.as("root", "token", "revoke", tokID[1]).fails(t, "revoke "+tokID[1])
}

// TestAdminCommandErrors: mistakes on the command line fail before
// anything is sent, with exit code 2.
func TestAdminCommandErrors(t *testing.T) {
	w := newAdminWorld(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"setup"}, "--user is required"},
		{[]string{"setup", "--user", "root"}, "run it on a terminal"},
		{[]string{"user", "add", "--id", "x1", "--role", "viewer"}, "--name are required"},
		{[]string{"user", "add", "--id", "x1", "--name", "X"}, "--role is required"},
		{[]string{"token", "create", "--user", "x1", "--name", "n"}, "--scope is required"},
		{[]string{"token", "create", "--user", "x1", "--name", "n", "--scope", "alert.read", "--expires", "soon"}, "--expires"},
		{[]string{"user", "list"}, "no terminal"},
	} {
		r := w.run(nil, nil, "admin", c.args...)
		r.fails(t, c.want)
		if exitCodeOf(r.err) != 2 {
			t.Errorf("%v: exit %d", c.args, exitCodeOf(r.err))
		}
	}
}
