package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/cmd/cityarray/city"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
)

// alertWorld is a control server in this process with the people the
// alert commands need, and how to run them as each.
type alertWorld struct {
	t         *testing.T
	l         *city.LocalServer
	people    map[string]*city.Person
	tokenFile string
	token     string
	caFile    string
}

func newAlertWorld(t *testing.T) *alertWorld {
	t.Helper()
	ctx := context.Background()
	l, err := city.StartLocalServer(ctx, city.LocalServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	w := &alertWorld{t: t, l: l, people: map[string]*city.Person{}}
	_, admin, err := l.Bootstrap(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		id    string
		role  auth.Role
		zones []string
	}{{"sam", auth.RoleSupervisor, nil}, {"olly", auth.RoleOfficer, nil}, {"otto", auth.RoleOfficer, nil},
		{"zed", auth.RoleZoneOperator, []string{"z1"}}, {"feed", auth.RoleIntegration, nil}} {
		if w.people[p.id], err = l.AddPerson(ctx, admin, p.id, p.role, p.zones...); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []string{"olly", "otto"} {
		if err := admin.Do(ctx, "POST", "/api/v1/officers/"+o+"/key", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w.token, err = l.Token(ctx, admin, "feed", auth.PermAlertRead, auth.PermAlertDraft, auth.PermAlertSubmit); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if w.tokenFile, err = city.WriteFile(dir, "token", []byte(w.token+"\n")); err != nil {
		t.Fatal(err)
	}
	w.caFile = l.WebCAFile
	return w
}

// as runs `cityarray alert` as who: "token" (the token file), "env" (the
// token in $CITYARRAY_TOKEN), a person's id (logging in, answering the
// questions), or "" (no credentials, no terminal).
func (w *alertWorld) as(who string, args ...string) runResult {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	envs := map[string]string{}
	full := []string{"alert", "--server", w.l.HTTPURL(), "--ca", w.caFile}
	switch who {
	case "token":
		full = append(full, "--token-file", w.tokenFile)
	case "env":
		envs[envToken] = w.token
	case "":
	default:
		p := w.people[who]
		full = append(full, "--user", who)
		e.prompt = func(label string, secret bool) (string, error) {
			switch {
			case strings.HasPrefix(label, "password"):
				if !secret {
					w.t.Errorf("the password was asked with echo")
				}
				return p.Password, nil
			case label == "TOTP code":
				return w.l.Code(p.Secret)
			}
			w.t.Errorf("asked %q", label)
			return "", nil
		}
	}
	e.getenv = func(k string) string { return envs[k] }
	full = append(full, args...)
	err := execute(context.Background(), newRootCmd(e), e, full)
	return runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func (r runResult) ok(t *testing.T) runResult {
	t.Helper()
	if r.err != nil {
		t.Fatalf("error %v\nstdout %s\nstderr %s", r.err, r.stdout, r.stderr)
	}
	return r
}

func (r runResult) fails(t *testing.T, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("no error; stdout %s", r.stdout)
	}
	t.Logf("error (exit %d): %v", exitCodeOf(r.err), r.err)
	if exitCodeOf(r.err) == 0 {
		t.Errorf("error %v without an exit code", r.err)
	}
	for _, s := range want {
		if !strings.Contains(r.err.Error(), s) {
			t.Errorf("error %q lacks %q", r.err, s)
		}
	}
}

var submittedRE = regexp.MustCompile(`alert ([a-z2-7]{16}) submitted for approval`)

func submittedID(t *testing.T, r runResult) string {
	t.Helper()
	m := submittedRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no alert id in %q", r.stdout)
	}
	return m[1]
}

// TestAlertCommands runs a warning and an emergency through the alert
// commands against a real server: a token drafts and submits, people
// approve and publish, refusals read as such, status follows the acks.
func TestAlertCommands(t *testing.T) {
	w := newAlertWorld(t)

	r := w.as("token", "send", "--scope", "zone:z1", "--text", "en=Flash flood: move to higher ground",
		"--long", "en=The river is rising fast. Leave low areas now.", "--text", "es=Inundación: suba a terreno alto",
		"--expires", "2h", "--category", "Met").ok(t)
	id := submittedID(t, r)
	if !strings.Contains(r.stdout, "cityarray alert approve "+id) {
		t.Errorf("no next step in %q", r.stdout)
	}
	// Refusals: a zone operator may not approve, nor may an API token.
	w.as("zed", "approve", id).fails(t, "refused:", "alert.approve")
	w.as("token", "approve", id).fails(t, "refused:", "API tokens may only read, draft and submit")
	w.as("sam", "approve", id).ok(t)
	r = w.as("sam", "publish", id).ok(t)
	if !strings.Contains(r.stdout, "alert "+id+" published") {
		t.Errorf("publish said %q", r.stdout)
	}
	w.as("sam", "publish", id).fails(t, "refused:", "only an approved alert can be published")

	r = w.as("env", "list", "--json").ok(t)
	var list []desk.Alert
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --json: %v: %s", err, r.stdout)
	}
	if len(list) != 1 || list[0].ID != id || list[0].State != desk.StatePublished || list[0].Content.Texts["es"].Short == "" {
		t.Errorf("list %+v", list)
	}
	r = w.as("token", "list", "--state", "published").ok(t)
	if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "Flash flood") {
		t.Errorf("list:\n%s", r.stdout)
	}
	if r := w.as("token", "list", "--state", "draft").ok(t); strings.Contains(r.stdout, id) {
		t.Errorf("list --state draft shows the published alert:\n%s", r.stdout)
	}

	// A pole of z1 acknowledges: status follows.
	var a desk.AlertView
	if err := w.l.TokenSession("feed", w.token).Do(context.Background(), "GET", "/api/v1/alerts/"+id, nil, &a); err != nil {
		t.Fatal(err)
	}
	r = w.as("token", "status", id, "--json").ok(t)
	var st deliveryStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Alert != id || st.State != desk.StatePublished {
		t.Fatalf("status --json: %v: %s", err, r.stdout)
	}
	done := make(chan runResult, 1)
	go func() { done <- w.as("token", "status", id, "--watch", "--interval", "100ms") }()
	// Whether the watch starts before or after the ack, it must end once
	// every device in scope is reached.
	ackFromPole(t, w.l, "pole-1", "z1", a.Alert.Current)
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("status --watch did not end when every device was reached")
	}
	r.ok(t)
	t.Logf("status --watch:\n%s", r.stdout)
	if !strings.Contains(r.stdout, "1 devices in scope, 1 reached: received 1, displayed 1") {
		t.Errorf("status --watch:\n%s", r.stdout)
	}

	// Cancelled with a reason.
	w.as("sam", "cancel", id).fails(t, "--reason is required")
	r = w.as("sam", "cancel", id, "--reason", "river fell").ok(t)
	if !strings.Contains(r.stdout, "cancelled: cancel record") {
		t.Errorf("cancel said %q", r.stdout)
	}

	// An emergency: its author may not approve it; another officer
	// approves and publishes it (co-signing within 5 minutes of the TOTP
	// code of this command's login).
	r = w.as("otto", "send", "--tier", "emergency", "--scope", "city", "--text", "en=Evacuate the river district now").ok(t)
	eid := submittedID(t, r)
	if !strings.Contains(r.stdout, "an officer other than its author") {
		t.Errorf("send said %q", r.stdout)
	}
	w.as("otto", "approve", eid).fails(t, "refused: approval needs a second person")
	w.as("sam", "approve", eid).fails(t, "refused:", "officer")
	w.as("olly", "approve", eid).ok(t)
	w.as("otto", "send", "--publish", eid).fails(t, "refused by the two-person rule", "olly")
	r = w.as("olly", "send", "--publish", eid).ok(t)
	t.Logf("publish:\n%s", r.stdout)
	if !strings.Contains(r.stdout, "published: emergency, city") {
		t.Errorf("publish said %q", r.stdout)
	}
}

// ackFromPole has a new pole of zone sign an ack (received, then
// displayed) of rec and hands it to the server's node, as the broker does.
func ackFromPole(t *testing.T, l *city.LocalServer, id, zone string, of record.ID) {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	cert, err := l.PKI.City.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone}, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := record.NewSigner(key, cert.Raw, true, l.PKI.City.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	now := l.Clock.Now().Truncate(time.Millisecond)
	for i, st := range []record.AckState{record.AckReceived, record.AckDisplayed} {
		r, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(id),
			Issued: now, Expires: now.Add(time.Hour), Origin: id, Seq: uint64(i + 1),
			Body: &record.Ack{Record: of, Device: id, State: st, At: record.MillisOf(now)}}, s)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Node().Deliver(mesh.Source{Link: "test", Peer: id}, r.Raw()) {
			t.Fatal("the node refused the ack")
		}
	}
}

// TestAlertCommandErrors: what goes wrong before or without the server
// reads clearly, with exit code 2 for the command line and 1 for refusals.
func TestAlertCommandErrors(t *testing.T) {
	w := newAlertWorld(t)
	w.as("", "list").fails(t, "no API token", "no terminal")
	w.as("token", "send", "--text", "en=x").fails(t, "--scope is required")
	w.as("token", "send", "--scope", "city").fails(t, "--text")
	w.as("token", "send", "--scope", "city", "--text", "en").fails(t, "LANG=TEXT")
	w.as("token", "send", "--scope", "city", "--tier", "advisory", "--text", "en=x").fails(t, "warning or emergency")
	w.as("token", "send", "--scope", "city", "--text", "en=x", "--expires", "soon").fails(t, "--expires")
	w.as("token", "send", "--scope", "city", "--text", "en=x", "--protocol", "flood").fails(t, "not both")
	w.as("token", "send", "--scope", "galaxy", "--text", "en=x").fails(t, "invalid:", "scope")
	w.as("token", "send", "--scope", "city", "--text", "en="+strings.Repeat("x", 120)).fails(t, "invalid:", "short")
	w.as("zed", "send", "--scope", "zone:z2", "--text", "en=x").fails(t, "refused: outside your zones")
	w.as("token", "status", "bcdefghijklmnopq").fails(t, "not found")
	w.as("token", "list", "--state", "bogus").fails(t, "--state")

	// A server whose certificate is not trusted, and one that is not there.
	var stdout, stderr bytes.Buffer
	e := newEnv(&stdout, &stderr)
	e.getenv = func(k string) string {
		if k == envToken {
			return w.token
		}
		return ""
	}
	err := execute(context.Background(), newRootCmd(e), e, []string{"alert", "--server", w.l.HTTPURL(), "list"})
	if err == nil || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("untrusted certificate: %v", err)
	}
	err = execute(context.Background(), newRootCmd(e), e, []string{"alert", "--server", "https://127.0.0.1:1", "--ca", w.caFile, "list"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("no server: %v", err)
	}
	err = execute(context.Background(), newRootCmd(e), e, []string{"alert", "--server", "ftp://x", "list"})
	if err == nil || exitCodeOf(err) != 2 {
		t.Errorf("bad --server: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	err = execute(context.Background(), newRootCmd(e), e, []string{"alert", "--server", w.l.HTTPURL(), "--ca", bad, "list"})
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad --ca: %v", err)
	}
}
