package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

// desk is the cast of the alert tests: an admin, a supervisor, two
// officers with keys, zone operators of z1 and z2, a technician.
type deskCast struct {
	admin, sam, olly, otto, zed, zack, tess cred
	people                                  map[string]person
}

func newDeskCast(t *testing.T, ts *testServer) *deskCast {
	t.Helper()
	c := &deskCast{people: map[string]person{}}
	_, c.admin = ts.bootstrapAdmin(t)
	add := func(id string, role auth.Role, zones ...string) cred {
		p := ts.createUser(t, c.admin, id, role, zones...)
		c.people[id] = p
		return ts.login(t, p)
	}
	c.sam = add("sam", auth.RoleSupervisor)
	c.olly = add("olly", auth.RoleOfficer)
	c.otto = add("otto", auth.RoleOfficer)
	c.zed = add("zed", auth.RoleZoneOperator, "z1")
	c.zack = add("zack", auth.RoleZoneOperator, "z2")
	c.tess = add("tess", auth.RoleTechnician)
	for _, o := range []string{"olly", "otto"} {
		var k desk.OfficerKey
		ts.do(t, c.admin, "POST", "/api/v1/officers/"+o+"/key", nil).want(t, 201).json(t, &k)
		if k.Officer != o || len(k.KeyID) != 64 {
			t.Fatalf("officer key %+v", k)
		}
	}
	return c
}

func alertBody(text string) *record.Alert {
	return &record.Alert{Texts: map[string]record.AlertText{"en": {Short: text}},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}
}

func draftOf(tier, scope string) desk.DraftRequest {
	return desk.DraftRequest{Tier: tier, Scope: scope, Lifetime: "2h", Alert: alertBody("Flash flood: move to higher ground")}
}

// alert drafts, submits and (if approver is set) approves an alert over
// HTTP, and returns it.
func (ts *testServer) alert(t *testing.T, author, approver cred, req desk.DraftRequest) desk.Alert {
	t.Helper()
	var a desk.Alert
	ts.do(t, author, "POST", "/api/v1/alerts", req).want(t, 201).json(t, &a)
	ts.do(t, author, "POST", "/api/v1/alerts/"+a.ID+"/submit", nil).want(t, 200)
	if approver.user != "" {
		ts.do(t, approver, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil).want(t, 200).json(t, &a)
	}
	return a
}

// pole is a device node of zone z1 connected to the server's broker with
// mesh/mqttlink, on the server's clock.
type pole struct {
	node   *mesh.Node
	store  *store.Store
	link   *mqttlink.Link
	signer record.Signer
	id     string
	seen   chan record.ID
	seq    uint64
}

func startPole(t *testing.T, ts *testServer, id, zone string) *pole {
	t.Helper()
	d, err := trust.LoadDir(ts.Config().PKI.Dir, func() ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := d.City.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone}, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := record.NewSigner(key, cert.Raw, true, d.City.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{d.Root}, TrustedClock: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, id+".db"), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := &pole{store: st, signer: signer, id: id, seen: make(chan record.ID, 100)}
	p.node, err = mesh.NewNode(mesh.NodeConfig{ID: id, Store: st, Verifier: v, Clock: ts.clk, Logger: testLogger(t),
		OnEvent: func(ev mesh.Event) {
			if ev.Kind == mesh.EventAccepted {
				select {
				case p.seen <- ev.ID:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.node.Run(ctx) }()
	p.link, err = mqttlink.New(mqttlink.Config{Node: p.node, Brokers: []string{"tls://" + ts.MQTTAddr().String()},
		Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw, d.City.Cert.Raw}, PrivateKey: key, Leaf: cert},
		Verifier:    v, Logger: testLogger(t), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.link.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pole %s: %v", id, err)
		}
		st.Close()
	})
	eventually(t, 10*time.Second, "the pole to connect", p.link.Connected)
	return p
}

// waitRecord waits until the pole has accepted id.
func (p *pole) waitRecord(t *testing.T, id record.ID) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-p.seen:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("pole %s never accepted record %s", p.id, id.Short())
		}
	}
}

// ack has the pole sign an ack of rec and publish it: its device link
// sends it through the outbox.
func (p *pole) ack(t *testing.T, now time.Time, of record.ID, state record.AckState) {
	t.Helper()
	p.seq++
	r, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(p.id),
		Issued: now, Expires: now.Add(time.Hour), Origin: p.id, Seq: p.seq,
		Body: &record.Ack{Record: of, Device: p.id, State: state, At: record.MillisOf(now)}}, p.signer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.node.Publish(ctx, r); err != nil {
		t.Fatalf("pole %s: ack: %v", p.id, err)
	}
}

// wantProblem checks that r is a problem document of status and type
// slug, and that its request was audited; it returns the problem.
func wantProblem(t *testing.T, ts *testServer, r response, status int, slug string) Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	p := r.problem(t)
	if p.Type != ProblemTypePrefix+slug || p.Status != status || p.Detail == "" {
		t.Fatalf("problem %+v, want %s", p, slug)
	}
	if id := r.header.Get("X-Request-Id"); !auditedRequestIDs(t, ts)[id] {
		t.Errorf("refused request %s not audited", id)
	}
	return p
}

// TestWarningLifecycle: a zone operator drafts a warning for its zone
// over HTTP, a supervisor approves and publishes it, a pole subscribed
// through mesh/mqttlink to the server's broker receives the signed
// record, sends signed acks (received, displayed) through its outbox, and
// the delivery status and list show them.
func TestWarningLifecycle(t *testing.T) {
	ts := startServer(t, nil)
	c := newDeskCast(t, ts)
	p := startPole(t, ts, "pole-1", "z1")

	a := ts.alert(t, c.zed, cred{}, draftOf("warning", "zone:z1"))
	// A zone operator may not approve; the supervisor may.
	wantProblem(t, ts, ts.do(t, c.zed, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil), 403, ProblemForbidden)
	ts.do(t, c.sam, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil).want(t, 200)
	// Status before publication is a conflict, not an empty answer.
	wantProblem(t, ts, ts.do(t, c.sam, "GET", "/api/v1/alerts/"+a.ID+"/status", nil), 409, ProblemWrongState)
	ts.do(t, c.sam, "POST", "/api/v1/alerts/"+a.ID+"/publish", nil).want(t, 200).json(t, &a)
	if a.State != desk.StatePublished || a.Current == (record.ID{}) {
		t.Fatalf("published alert %+v", a)
	}
	p.waitRecord(t, a.Current)
	rec, err := p.store.Get(a.Current)
	if err != nil || rec.Tier != record.TierWarning || rec.Origin != "server-1" || rec.Scope != "zone:z1" {
		t.Fatalf("the pole holds %v (%v)", rec, err)
	}

	now := ts.clk.Now()
	p.ack(t, now, a.Current, record.AckReceived)
	p.ack(t, now.Add(time.Second), a.Current, record.AckDisplayed)
	var st deliveryStatusJSON
	eventually(t, 10*time.Second, "the acks in the delivery status", func() bool {
		ts.do(t, c.zed, "GET", "/api/v1/alerts/"+a.ID+"/status", nil).want(t, 200).json(t, &st)
		return st.Received == 1 && st.Displayed == 1 && st.InScope == 1
	})
	if st.NotReached != 0 || st.Reached != 1 || st.State != desk.StatePublished || st.Tier != record.TierWarning || st.PublishedAt.IsZero() {
		t.Errorf("status %+v", st)
	}
	// The pole's outbox is empty once the server's receipts came back.
	eventually(t, 10*time.Second, "the pole's outbox to drain", func() bool {
		a, tel, err := p.store.OutboxLen()
		return err == nil && a+tel == 0
	})
	var page PageResponse[fleet.DeviceDelivery]
	ts.do(t, c.sam, "GET", "/api/v1/alerts/"+a.ID+"/deliveries", nil).want(t, 200).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Device != "pole-1" || page.Items[0].State != fleet.Displayed || !page.Items[0].Received {
		t.Errorf("deliveries %+v", page.Items)
	}
	ts.do(t, c.sam, "GET", "/api/v1/alerts/"+a.ID+"/deliveries?state=not-reached", nil).want(t, 200).json(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("not-reached deliveries %+v", page.Items)
	}
	// The pole was registered from its first record.
	var dev fleet.Device
	ts.do(t, c.zed, "GET", "/api/v1/devices/pole-1", nil).want(t, 200).json(t, &dev)
	if dev.Zone != "z1" || dev.Serial == "" {
		t.Errorf("device %+v", dev)
	}
	var devs PageResponse[fleet.Device]
	ts.do(t, c.zed, "GET", "/api/v1/devices?zone=z1", nil).want(t, 200).json(t, &devs)
	if len(devs.Items) != 1 {
		t.Errorf("devices of z1: %+v", devs.Items)
	}

	// A technician's command reaches the pole as a server-signed record.
	var cmd commandJSON
	ts.do(t, c.tess, "POST", "/api/v1/devices/pole-1/command", map[string]any{"action": "brightness", "value": 30}).want(t, 202).json(t, &cmd)
	p.waitRecord(t, cmd.Record)

	// The list shows it published; the view has its history and record.
	var list PageResponse[desk.Alert]
	ts.do(t, c.sam, "GET", "/api/v1/alerts?state=published", nil).want(t, 200).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != a.ID {
		t.Errorf("published alerts %+v", list.Items)
	}
	var view desk.AlertView
	ts.do(t, c.sam, "GET", "/api/v1/alerts/"+a.ID, nil).want(t, 200).json(t, &view)
	if len(view.Records) != 1 || len(view.History) != 4 {
		t.Errorf("view: %d records, %d transitions", len(view.Records), len(view.History))
	}

	// Cancelled: the pole gets the cancel record.
	ts.do(t, c.sam, "POST", "/api/v1/alerts/"+a.ID+"/cancel", reasonRequest{Reason: "river fell"}).want(t, 200).json(t, &a)
	if a.State != desk.StateCancelled {
		t.Fatalf("cancelled alert %+v", a)
	}
	p.waitRecord(t, a.Current)
}

// TestZoneOperatorScope: a zone operator cannot target another zone, the
// city or a device outside its zones, by drafting or by editing; each
// refusal is a problem document and audited.
func TestZoneOperatorScope(t *testing.T) {
	ts := startServer(t, nil)
	c := newDeskCast(t, ts)
	// Devices the registry knows, in z1 and z2.
	for _, p := range []string{"pole-9", "pole-1"} {
		if _, err := ts.Fleet().Register(mustDeviceCert(t, ts, p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, scope := range []string{"zone:z2", "city", "device:pole-9", "device:pole-404"} {
		r := ts.do(t, c.zed, "POST", "/api/v1/alerts", draftOf("warning", scope))
		wantProblem(t, ts, r, 403, ProblemOutOfScope)
	}
	ts.do(t, c.zed, "POST", "/api/v1/alerts", draftOf("warning", "device:pole-1")).want(t, 201)
	var a desk.Alert
	ts.do(t, c.zed, "POST", "/api/v1/alerts", draftOf("warning", "zone:z1")).want(t, 201).json(t, &a)
	wantProblem(t, ts, ts.do(t, c.zed, "PUT", "/api/v1/alerts/"+a.ID, draftOf("warning", "zone:z2")), 403, ProblemOutOfScope)
	// Another zone's alert cannot be submitted or cancelled by zed.
	b := ts.alert(t, c.zack, cred{}, draftOf("warning", "zone:z2"))
	wantProblem(t, ts, ts.do(t, c.zed, "POST", "/api/v1/alerts/"+b.ID+"/cancel", nil), 403, ProblemForbidden)
	var refused int
	es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 1<<20, ts.Audit().Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Action == "alert.refused" && e.Actor == "zed" {
			refused++
		}
	}
	if refused < 6 {
		t.Errorf("%d alert.refused entries for zed, want at least 6", refused)
	}
}

// mustDeviceCert issues a device certificate of zone from the test PKI.
func mustDeviceCert(t *testing.T, ts *testServer, id string) *x509.Certificate {
	t.Helper()
	d, err := trust.LoadDir(ts.Config().PKI.Dir, func() ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	zone := map[string]string{"pole-1": "z1", "pole-9": "z2"}[id]
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	cert, err := d.City.Issue(trust.Identity{Role: trust.RoleDevice, ID: id, Zone: zone}, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// emergencies counts the emergency records in the server's store.
func emergencies(t *testing.T, ts *testServer) []record.ID {
	t.Helper()
	keys, err := ts.Store().Keys(store.MinBound, store.MaxBound, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []record.ID
	for _, k := range keys {
		r, err := ts.Store().Get(k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Tier == record.TierEmergency {
			out = append(out, k.ID)
		}
	}
	return out
}

// TestEmergencyNeedsFreshTOTP: an officer's key co-signs an Emergency
// only within 5 minutes of a TOTP entry. Past that, publishing, updating
// and cancelling one all answer 401 reauth-required, audited, and sign
// nothing; after POST /api/v1/reauth the same request goes through.
func TestEmergencyNeedsFreshTOTP(t *testing.T) {
	ts := startServer(t, nil)
	c := newDeskCast(t, ts)
	p := startPole(t, ts, "pole-1", "z1")

	a := ts.alert(t, c.otto, cred{}, draftOf("emergency", "zone:z1"))
	// Two-person rule: otto wrote it, so otto may not approve it.
	pr := wantProblem(t, ts, ts.do(t, c.otto, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil), 403, ProblemTwoPerson)
	if pr.Title != "Two-person rule" {
		t.Errorf("title %q", pr.Title)
	}
	// A supervisor may not approve an emergency (no officer key).
	wantProblem(t, ts, ts.do(t, c.sam, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil), 403, ProblemForbidden)
	ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil).want(t, 200)

	ts.clk.Advance(6 * time.Minute) // olly's login TOTP is stale now
	before := emergencies(t, ts)
	pr = wantProblem(t, ts, ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/publish", nil), 401, ProblemReauthRequired)
	if !strings.Contains(pr.Detail, ReauthPath) {
		t.Errorf("detail %q does not name %s", pr.Detail, ReauthPath)
	}
	if got := emergencies(t, ts); len(got) != len(before) {
		t.Fatalf("an emergency record was signed without a fresh TOTP entry")
	}

	// Re-enter the code, publish: co-signed by the server and olly.
	var rr reauthResponse
	ts.do(t, c.olly, "POST", ReauthPath, reauthRequest{TOTPCode: ts.code(t, c.people["olly"].secret)}).want(t, 200).json(t, &rr)
	if !rr.FreshUntil.After(ts.clk.Now()) {
		t.Errorf("fresh until %v", rr.FreshUntil)
	}
	ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/publish", nil).want(t, 200).json(t, &a)
	p.waitRecord(t, a.Current)
	rec, err := ts.Store().Get(a.Current)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Tier != record.TierEmergency || len(rec.Signatures()) != 2 {
		t.Fatalf("published %s with %d signatures", rec, len(rec.Signatures()))
	}

	// Five minutes later the key is locked again: update and cancel fail.
	ts.clk.Advance(6 * time.Minute)
	before = emergencies(t, ts)
	upd := desk.UpdateRequest{Alert: alertBody("Flash flood: stay on upper floors"), Reason: "worse"}
	wantProblem(t, ts, ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/update", upd), 401, ProblemReauthRequired)
	wantProblem(t, ts, ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/cancel", reasonRequest{Reason: "over"}), 401, ProblemReauthRequired)
	// A supervisor may not withdraw an emergency with the server key alone.
	wantProblem(t, ts, ts.do(t, c.sam, "POST", "/api/v1/alerts/"+a.ID+"/cancel", reasonRequest{Reason: "over"}), 403, ProblemForbidden)
	if got := emergencies(t, ts); len(got) != len(before) {
		t.Fatalf("an emergency record was signed without a fresh TOTP entry")
	}
	ts.do(t, c.olly, "POST", ReauthPath, reauthRequest{TOTPCode: ts.code(t, c.people["olly"].secret)}).want(t, 200)
	ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/update", upd).want(t, 200).json(t, &a)
	p.waitRecord(t, a.Current)
	ts.do(t, c.olly, "POST", "/api/v1/alerts/"+a.ID+"/cancel", reasonRequest{Reason: "over"}).want(t, 200).json(t, &a)
	p.waitRecord(t, a.Current)
	if rec, err := ts.Store().Get(a.Current); err != nil || rec.Kind != record.KindCancel || rec.Tier != record.TierEmergency || len(rec.Signatures()) != 2 {
		t.Errorf("the cancel record: %v (%v)", rec, err)
	}
}

// TestNoStaleEmergencySignature walks every registered endpoint that
// changes state, as an officer whose TOTP entry is stale and as every
// other role, against an approved and a published emergency: no request
// produces an emergency-tier record.
func TestNoStaleEmergencySignature(t *testing.T) {
	ts := startServer(t, nil)
	c := newDeskCast(t, ts)
	approved := ts.alert(t, c.otto, c.olly, draftOf("emergency", "zone:z1"))
	published := ts.alert(t, c.olly, c.otto, draftOf("emergency", "city"))
	ts.do(t, c.otto, "POST", ReauthPath, reauthRequest{TOTPCode: ts.code(t, c.people["otto"].secret)}).want(t, 200)
	ts.do(t, c.otto, "POST", "/api/v1/alerts/"+published.ID+"/publish", nil).want(t, 200)
	// An emergency protocol cannot exist (protocols are warning tier),
	// but an emergency drafted from one could: save and publish one.
	proto := map[string]any{"template": "flood", "params": []string{"area"},
		"texts":    map[string]any{"en": map[string]any{"short": "Flood in {area}: go up"}},
		"severity": "Severe", "urgency": "Immediate", "certainty": "Observed", "category": "Met"}
	ts.do(t, c.sam, "POST", "/api/v1/protocols", proto).want(t, 201)
	ts.do(t, c.sam, "POST", "/api/v1/protocols/flood/publish", nil).want(t, 200)
	ts.clk.Advance(6 * time.Minute)
	before := emergencies(t, ts)

	bodies := map[string]any{
		"POST /api/v1/alerts/{id}/update":   desk.UpdateRequest{Alert: alertBody("Changed"), Reason: "x"},
		"POST /api/v1/alerts/{id}/cancel":   reasonRequest{Reason: "x"},
		"POST /api/v1/alerts/{id}/reject":   reasonRequest{Reason: "x"},
		"PUT /api/v1/alerts/{id}":           draftOf("emergency", "city"),
		"POST /api/v1/alerts":               desk.DraftRequest{Tier: "emergency", Scope: "city", Lifetime: "1h", Protocol: "flood", Params: map[string]string{"area": "x"}},
		"POST /api/v1/devices/{id}/command": map[string]any{"action": "test-pattern"},
	}
	walked := 0
	routes := ts.Routes()
	// What ends an alert's way to publication (reject, cancel) comes
	// last, so that the signing endpoints meet the alerts as they are.
	last := func(rt Route) bool {
		return strings.HasSuffix(rt.Path, "/cancel") || strings.HasSuffix(rt.Path, "/reject")
	}
	slices.SortStableFunc(routes, func(a, b Route) int {
		switch {
		case last(a) && !last(b):
			return 1
		case last(b) && !last(a):
			return -1
		}
		return 0
	})
	for _, rt := range routes {
		if rt.Method == "GET" || rt.Path == "/api/v1/logout" || rt.Path == "/api/v1/password" || rt.Path == ReauthPath ||
			strings.HasPrefix(rt.Path, "/api/v1/setup") || rt.Path == "/api/v1/login" {
			continue
		}
		for _, id := range []string{approved.ID, published.ID} {
			path := strings.NewReplacer("{id}", id, "{name}", "flood").Replace(rt.Path)
			body, ok := bodies[rt.Pattern()]
			if !ok && rt.Method != "DELETE" {
				body = "{}"
			}
			for _, who := range []cred{c.olly, c.otto, c.sam, c.zed, c.tess} {
				r := ts.do(t, who, rt.Method, path, body)
				if r.status < 300 && slices.Contains([]string{"publish", "update"}, rt.Path[strings.LastIndex(rt.Path, "/")+1:]) &&
					strings.HasPrefix(rt.Path, "/api/v1/alerts/") {
					t.Errorf("%s %s as %s: %d: %s", rt.Method, path, who.user, r.status, r.body)
				}
				walked++
			}
		}
	}
	if walked < 100 {
		t.Fatalf("walked only %d requests", walked)
	}
	if got := emergencies(t, ts); len(got) != len(before) {
		t.Errorf("%d emergency records before the walk, %d after", len(before), len(got))
	}
	// The officers were refused for want of a fresh code, by publish,
	// update and cancel, and each refusal is in the audit log.
	es, _, err := readAuditEntries(ts.Audit().Dir(), 0, 1<<20, ts.Audit().Size())
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, e := range es {
		if e.Action == "alert.refused" && strings.Contains(e.Detail["reason"], "TOTP") {
			ops[e.Detail["op"]] = true
		}
	}
	for _, op := range []string{"publish", "update", "cancel"} {
		if !ops[op] {
			t.Errorf("no fresh-TOTP refusal of %s in the audit log (got %v)", op, ops)
		}
	}
}
