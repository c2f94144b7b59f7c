package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

// verdictSummary is what the accept tests compare.
type verdictSummary struct {
	Signers []Identity
	Tier    record.Tier
}

func TestVerifyAccepts(t *testing.T) {
	f := testFixture()
	target := record.ID{1, 2, 3}
	kind := func(k record.Kind, b record.Body) func(*record.Record) {
		return func(r *record.Record) {
			r.Kind, r.Body = k, b
			if k == record.KindUpdate || k == record.KindCancel {
				r.Supersedes = []record.ID{target}
			}
		}
	}
	at := record.MillisOf(t0)
	tests := []struct {
		name    string
		r       *record.Record
		signers []*node
	}{
		{"informational by the device for itself",
			rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1), []*node{f.dev1}},
		{"advisory by the gateway for its zone",
			rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), []*node{f.gw1}},
		{"warning by the server for the city",
			rec(record.TierWarning, record.City, "server-1", 1), []*node{f.server}},
		{"warning by the server for a device",
			rec(record.TierWarning, record.DeviceScope("pole-0002"), "server-1", 1), []*node{f.server}},
		{"emergency by server then operator",
			rec(record.TierEmergency, record.City, "server-1", 1), []*node{f.server, f.operator}},
		{"emergency by operator then server",
			rec(record.TierEmergency, record.ZoneScope("z2"), "server-1", 1), []*node{f.operator, f.server}},
		{"ipaws by the server",
			rec(record.TierIPAWS, record.ZoneScope("z1"), "server-1", 1), []*node{f.server}},
		{"update by the server",
			with(rec(record.TierWarning, record.City, "server-1", 1), kind(record.KindUpdate, alertBody(0))), []*node{f.server}},
		{"cancel by the gateway",
			with(rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), kind(record.KindCancel, &record.Cancel{Reason: "all clear"})), []*node{f.gw1}},
		{"activation by the server",
			with(rec(record.TierWarning, record.ZoneScope("z1"), "server-1", 1), kind(record.KindActivation, &record.Activation{Protocol: target})), []*node{f.server}},
		{"informational activation by the device",
			with(rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1), kind(record.KindActivation, &record.Activation{Protocol: target})), []*node{f.dev1}},
		{"ack by the device",
			with(rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1),
				kind(record.KindAck, &record.Ack{Record: target, Device: "pole-0001", State: record.AckReceived, At: at})), []*node{f.dev1}},
		{"health by the gateway",
			with(rec(record.TierInformational, record.DeviceScope("gw-1"), "gw-1", 1),
				kind(record.KindHealth, &record.Health{Uptime: 10, Rung: "ethernet"})), []*node{f.gw1}},
		{"health by the device",
			with(rec(record.TierInformational, record.DeviceScope("pole-0002"), "pole-0002", 1),
				kind(record.KindHealth, &record.Health{Uptime: 10, Rung: "mesh"})), []*node{f.dev2}},
		{"command by the server",
			with(rec(record.TierWarning, record.DeviceScope("pole-0001"), "server-1", 1),
				kind(record.KindCommand, &record.Command{Action: "brightness", Value: 40})), []*node{f.server}},
		{"revocation by the city CA",
			with(rec(record.TierWarning, record.City, "metropolis", 1),
				kind(record.KindRevocation, &record.Revocation{Serials: [][]byte{{0x7f}}})), []*node{f.caNode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var signers []record.Signer
			var want verdictSummary
			for _, n := range tt.signers {
				s := n.signer()
				if n == f.caNode {
					s, _ = record.NewSigner(n.key, n.cert.Raw, true)
				}
				signers = append(signers, s)
				want.Signers = append(want.Signers, n.id)
			}
			want.Tier = tt.r.Tier
			r := mustSign(t, tt.r, signers...)
			v := newTestVerifier(t, Config{})
			vd, err := v.Accept(r, t0.Add(time.Minute))
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if vd.Record != r {
				t.Errorf("Verdict.Record is not the record verified")
			}
			if diff := cmp.Diff(want, verdictSummary{vd.Signers, vd.Tier}); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

// rootIssued returns a server certificate issued directly by the root,
// skipping the city CA.
func rootIssued(t testing.TB, f *fixture) *node {
	t.Helper()
	id := Identity{Role: RoleServer, ID: "server-9"}
	key := seedKey("root-issued")
	tmpl, err := template(id, "metropolis", t0)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(nil, tmpl, f.root.Cert, key.Public(), f.root.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &node{id: id, key: key, cert: cert, ca: f.root}
}

// noSAN returns a certificate from the city CA with no cityarray URI SAN.
func noSAN(t testing.TB, f *fixture) *node {
	t.Helper()
	key := seedKey("no-san")
	tmpl, err := template(Identity{Role: RoleServer, ID: "server-1"}, "metropolis", t0)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.URIs = nil
	der, err := x509.CreateCertificate(nil, tmpl, f.ca.Cert, key.Public(), f.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &node{id: Identity{Role: RoleServer, ID: "server-1"}, key: key, cert: cert, ca: f.ca}
}

func TestVerifyRejects(t *testing.T) {
	f := testFixture()
	now := t0.Add(time.Minute)
	ack := func(r *record.Record) {
		r.Kind = record.KindAck
		r.Body = &record.Ack{Record: record.ID{9}, Device: r.Origin, State: record.AckDisplayed, At: record.MillisOf(t0)}
	}
	activation := func(r *record.Record) {
		r.Kind, r.Body = record.KindActivation, &record.Activation{Protocol: record.ID{5}}
	}
	revocation := func(r *record.Record) {
		r.Kind, r.Body = record.KindRevocation, &record.Revocation{Serials: [][]byte{{1}}}
	}
	command := func(r *record.Record) {
		r.Kind, r.Body = record.KindCommand, &record.Command{Action: "brightness", Value: 10}
	}
	caSigner, _ := record.NewSigner(f.ca.Key, f.ca.Cert.Raw, true)
	mismatched := f.server.signer()
	mismatched.Chain = [][]byte{f.server2.cert.Raw, f.ca.Cert.Raw} // kid of server-1, chain of server-2
	tests := []struct {
		name    string
		r       *record.Record
		signers []record.Signer
		want    Reason
	}{
		// Roles and scopes.
		{"device signs a warning", rec(record.TierWarning, record.DeviceScope("pole-0001"), "pole-0001", 1),
			[]record.Signer{f.dev1.signer()}, ReasonRoleNotAllowed},
		{"device signs an advisory", rec(record.TierAdvisory, record.ZoneScope("z1"), "pole-0001", 1),
			[]record.Signer{f.dev1.signer()}, ReasonRoleNotAllowed},
		{"device signs for another device", rec(record.TierInformational, record.DeviceScope("pole-0002"), "pole-0001", 1),
			[]record.Signer{f.dev1.signer()}, ReasonScopeNotAllowed},
		{"device signs informational for its zone", rec(record.TierInformational, record.ZoneScope("z1"), "pole-0001", 1),
			[]record.Signer{f.dev1.signer()}, ReasonScopeNotAllowed},
		{"device self-activates at advisory", with(rec(record.TierAdvisory, record.DeviceScope("pole-0001"), "pole-0001", 1), activation),
			[]record.Signer{f.dev1.signer()}, ReasonRoleNotAllowed},
		{"device self-activates at warning", with(rec(record.TierWarning, record.DeviceScope("pole-0001"), "pole-0001", 1), activation),
			[]record.Signer{f.dev1.signer()}, ReasonRoleNotAllowed},
		{"gateway signs outside its zone", rec(record.TierAdvisory, record.ZoneScope("z2"), "gw-1", 1),
			[]record.Signer{f.gw1.signer()}, ReasonScopeNotAllowed},
		{"gateway signs an advisory for the city", rec(record.TierAdvisory, record.City, "gw-1", 1),
			[]record.Signer{f.gw1.signer()}, ReasonScopeNotAllowed},
		{"gateway signs an advisory for a device", rec(record.TierAdvisory, record.DeviceScope("pole-0001"), "gw-1", 1),
			[]record.Signer{f.gw1.signer()}, ReasonScopeNotAllowed},
		{"gateway signs a warning", rec(record.TierWarning, record.ZoneScope("z1"), "gw-1", 1),
			[]record.Signer{f.gw1.signer()}, ReasonRoleNotAllowed},
		{"gateway signs informational", rec(record.TierInformational, record.DeviceScope("gw-1"), "gw-1", 1),
			[]record.Signer{f.gw1.signer()}, ReasonRoleNotAllowed},
		{"server signs an advisory", rec(record.TierAdvisory, record.ZoneScope("z1"), "server-1", 1),
			[]record.Signer{f.server.signer()}, ReasonRoleNotAllowed},
		{"operator signs a warning", rec(record.TierWarning, record.City, "officer-7", 1),
			[]record.Signer{f.operator.signer()}, ReasonRoleNotAllowed},
		{"city CA signs a warning", rec(record.TierWarning, record.City, "metropolis", 1),
			[]record.Signer{caSigner}, ReasonRoleNotAllowed},
		{"server alone signs an emergency", rec(record.TierEmergency, record.City, "server-1", 1),
			[]record.Signer{f.server.signer()}, ReasonMissingCosigner},
		{"operator alone signs an emergency", rec(record.TierEmergency, record.City, "officer-7", 1),
			[]record.Signer{f.operator.signer()}, ReasonMissingCosigner},
		{"two servers sign an emergency", rec(record.TierEmergency, record.City, "server-1", 1),
			[]record.Signer{f.server.signer(), f.server2.signer()}, ReasonMissingCosigner},
		{"two operators sign an emergency", rec(record.TierEmergency, record.City, "officer-7", 1),
			[]record.Signer{f.operator.signer(), f.operator2.signer()}, ReasonMissingCosigner},
		{"gateway and operator sign an emergency", rec(record.TierEmergency, record.City, "gw-1", 1),
			[]record.Signer{f.gw1.signer(), f.operator.signer()}, ReasonRoleNotAllowed},
		{"three signers on an emergency", rec(record.TierEmergency, record.City, "server-1", 1),
			[]record.Signer{f.server.signer(), f.operator.signer(), f.operator2.signer()}, ReasonExtraSigner},
		{"two signers on a warning", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{f.server.signer(), f.operator.signer()}, ReasonExtraSigner},
		{"ack at warning", with(rec(record.TierWarning, record.DeviceScope("pole-0001"), "pole-0001", 1), ack),
			[]record.Signer{f.dev1.signer()}, ReasonTierNotAllowed},
		{"ack by a gateway", with(rec(record.TierInformational, record.DeviceScope("gw-1"), "gw-1", 1), ack),
			[]record.Signer{f.gw1.signer()}, ReasonRoleNotAllowed},
		{"ack for another device", with(rec(record.TierInformational, record.DeviceScope("pole-0002"), "pole-0001", 1), ack),
			[]record.Signer{f.dev1.signer()}, ReasonScopeNotAllowed},
		{"command by a device", with(rec(record.TierWarning, record.DeviceScope("pole-0001"), "pole-0001", 1), command),
			[]record.Signer{f.dev1.signer()}, ReasonRoleNotAllowed},
		{"command at informational", with(rec(record.TierInformational, record.DeviceScope("pole-0001"), "server-1", 1), command),
			[]record.Signer{f.server.signer()}, ReasonTierNotAllowed},
		{"revocation by the server", with(rec(record.TierWarning, record.City, "server-1", 1), revocation),
			[]record.Signer{f.server.signer()}, ReasonRoleNotAllowed},
		{"revocation for a zone", with(rec(record.TierWarning, record.ZoneScope("z1"), "metropolis", 1), revocation),
			[]record.Signer{caSigner}, ReasonScopeNotAllowed},
		// Origin.
		{"origin is another server", rec(record.TierWarning, record.City, "server-2", 1),
			[]record.Signer{f.server.signer()}, ReasonOriginMismatch},
		{"emergency origin is the operator", rec(record.TierEmergency, record.City, "officer-7", 1),
			[]record.Signer{f.server.signer(), f.operator.signer()}, ReasonOriginMismatch},
		{"device claims another device's origin", rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0002", 1),
			[]record.Signer{f.dev1.signer()}, ReasonOriginMismatch},
		// Chains.
		{"signer from a different city root", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{f.otherServer.signer()}, ReasonBadChain},
		{"unknown kid without chain", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{f.server.kidOnly()}, ReasonUnknownSigner},
		{"x5chain leaf is not the kid's certificate", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{mismatched}, ReasonBadChain},
		{"leaf issued by the root directly", rec(record.TierWarning, record.City, "server-9", 1),
			[]record.Signer{rootIssued(t, f).signer()}, ReasonBadChain},
		{"certificate without identity", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{noSAN(t, f).signer()}, ReasonBadChain},
		{"x5chain without the city CA", rec(record.TierWarning, record.City, "server-1", 1),
			[]record.Signer{func() record.Signer { s := f.server.signer(); s.Chain = s.Chain[:1]; return s }()}, ReasonBadChain},
		// Time.
		{"expired", with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
			r.Issued, r.Expires = t0.Add(-2*time.Hour), t0.Add(-DefaultSkew)
		}), []record.Signer{f.server.signer()}, ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustSign(t, tt.r, tt.signers...)
			v := newTestVerifier(t, Config{})
			vd, err := v.Verify(r, now)
			if vd != nil || err == nil {
				t.Fatalf("Verify accepted %v", r)
			}
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("Verify error %T %v is not a *RejectError", err, err)
			}
			if re.Reason != tt.want {
				t.Errorf("Verify: reason %q (%v), want %q", re.Reason, err, tt.want)
			}
			if got := err.Error(); got != string(re.Reason)+": "+re.Detail {
				t.Errorf("Error() = %q, want reason: detail", got)
			}
		})
	}
}

// wantReason fails t unless err is a *RejectError with reason want.
func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", want)
	}
	if got := ReasonOf(err); got != want {
		t.Fatalf("reason %q (%v), want %q", got, err, want)
	}
	if !errors.Is(err, &RejectError{Reason: want}) {
		t.Errorf("errors.Is(err, &RejectError{%q}) is false", want)
	}
}

func TestVerifyForgedSignatureByte(t *testing.T) {
	f := testFixture()
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	raw := bytes.Clone(r.Raw())
	raw[len(raw)-1] ^= 0x01 // the last byte of a COSE_Sign1 is the signature's
	forged, err := record.Parse(raw)
	if err != nil {
		t.Fatalf("Parse of a flipped signature byte: %v (want it to parse and fail to verify)", err)
	}
	_, err = newTestVerifier(t, Config{}).Verify(forged, t0)
	wantReason(t, err, ReasonBadSignature)
}

func TestVerifyForgedPayloadByte(t *testing.T) {
	f := testFixture()
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	raw := bytes.Replace(r.Raw(), []byte("higher ground"), []byte("lower  ground"), 1)
	if bytes.Equal(raw, r.Raw()) {
		t.Fatal("text not found in the record")
	}
	forged, err := record.Parse(raw)
	if err != nil {
		t.Fatalf("Parse of an edited alert text: %v (want it to parse and fail to verify)", err)
	}
	_, err = newTestVerifier(t, Config{}).Verify(forged, t0)
	wantReason(t, err, ReasonBadSignature)
}

func TestVerifyForgedTierByte(t *testing.T) {
	// An advisory re-labelled as a warning: policy sees a gateway signing a
	// warning before the signature is even checked.
	f := testFixture()
	r := mustSign(t, rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), f.gw1.signer())
	// The payload map: 8 entries (no supersedes), key 1 (kind) = 1 (alert), key 2 (tier)
	// = 2 (advisory).
	old := []byte{0xa8, 0x01, 0x01, 0x02, 0x02}
	i := bytes.Index(r.Raw(), old)
	if i < 0 {
		t.Fatal("tier not found")
	}
	raw := bytes.Clone(r.Raw())
	raw[i+4] = 0x03
	forged, err := record.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, err = newTestVerifier(t, Config{}).Verify(forged, t0)
	wantReason(t, err, ReasonRoleNotAllowed)
}

func TestVerifyForgedKID(t *testing.T) {
	f := testFixture()
	s := f.server.signer()
	s.KID = bytes.Clone(s.KID)
	s.KID[0] ^= 0xff
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), s)
	_, err := newTestVerifier(t, Config{}).Verify(r, t0)
	wantReason(t, err, ReasonBadChain)
}

func TestParseRefusesTruncated(t *testing.T) {
	f := testFixture()
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	for _, n := range []int{0, 1, len(r.Raw()) / 2, len(r.Raw()) - 1} {
		if _, err := record.Parse(r.Raw()[:n]); !errors.Is(err, record.ErrMalformed) {
			t.Errorf("Parse of %d of %d bytes: %v, want ErrMalformed", n, len(r.Raw()), err)
		}
	}
}

func TestParseRefusesOversized(t *testing.T) {
	b := make([]byte, record.MaxSize+1)
	b[0] = 0xd2
	if _, err := record.Parse(b); !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("Parse of %d bytes: %v, want ErrTooLarge", len(b), err)
	}
}

func TestVerifyUnsigned(t *testing.T) {
	_, err := newTestVerifier(t, Config{}).Verify(rec(record.TierWarning, record.City, "server-1", 1), t0)
	wantReason(t, err, ReasonMalformed)
	_, err = newTestVerifier(t, Config{}).Verify(nil, t0)
	wantReason(t, err, ReasonMalformed)
}

func TestVerifyExpiry(t *testing.T) {
	f := testFixture()
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	tests := []struct {
		now  time.Time
		want Reason
	}{
		{r.Expires.Add(-time.Millisecond), ""},
		{r.Expires, ""}, // within the skew
		{r.Expires.Add(DefaultSkew - time.Millisecond), ""},
		{r.Expires.Add(DefaultSkew), ReasonExpired},
		{r.Expires.Add(24 * time.Hour), ReasonExpired},
	}
	for _, tt := range tests {
		_, err := newTestVerifier(t, Config{}).Verify(r, tt.now)
		if got := ReasonOf(err); got != tt.want || (err != nil) != (tt.want != "") {
			t.Errorf("Verify at expires%+v: %v, want %q", tt.now.Sub(r.Expires), err, tt.want)
		}
	}
}

func TestVerifyCertExpired(t *testing.T) {
	f := testFixture()
	later := f.server.cert.NotAfter.Add(time.Hour)
	r := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued, r.Expires = later, later.Add(time.Hour)
	}), f.server.signer())
	for _, cached := range []bool{false, true} {
		v := newTestVerifier(t, Config{TrustedClock: true})
		if cached {
			if err := v.AddCertificates(t0, f.server.cert, f.ca.Cert); err != nil {
				t.Fatal(err)
			}
		}
		_, err := v.Verify(r, later)
		wantReason(t, err, ReasonCertExpired)
	}
}

func TestVerifyCertNotYetValid(t *testing.T) {
	f := testFixture()
	early := t0.Add(-time.Hour) // before the certificates' NotBefore
	r := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued, r.Expires = early, early.Add(2*time.Hour)
	}), f.server.signer())
	_, err := newTestVerifier(t, Config{TrustedClock: true}).Verify(r, early)
	wantReason(t, err, ReasonCertExpired)
}

func TestVerifyFutureTrustedClock(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{TrustedClock: true})
	future := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued, r.Expires = t0.Add(time.Hour), t0.Add(2*time.Hour)
	}), f.server.signer())
	_, err := v.Accept(future, t0)
	wantReason(t, err, ReasonNotYetValid)
	if fl := v.Floor(); !fl.IsZero() {
		t.Errorf("floor %v after a rejection, want zero", fl)
	}
	// Within the skew: accepted, and the floor moves to its issue time.
	near := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 2), func(r *record.Record) {
		r.Issued, r.Expires = t0.Add(DefaultSkew), t0.Add(time.Hour)
	}), f.server.signer())
	if _, err := v.Accept(near, t0); err != nil {
		t.Fatalf("Accept within skew: %v", err)
	}
	if want := t0.Add(DefaultSkew); !v.Floor().Equal(want) {
		t.Errorf("floor %v, want %v", v.Floor(), want)
	}
}

func TestVerifyFutureUntrustedClockAdvancesFloor(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	day := t0.Add(24 * time.Hour)
	future := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued, r.Expires = day, day.Add(time.Hour)
	}), f.server.signer())
	// Verify alone does not move the floor.
	if _, err := v.Verify(future, t0); err != nil {
		t.Fatalf("Verify of a future record with an untrusted clock: %v", err)
	}
	if fl := v.Floor(); !fl.IsZero() {
		t.Fatalf("Verify moved the floor to %v", fl)
	}
	if _, err := v.Accept(future, t0); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if !v.Floor().Equal(day) {
		t.Fatalf("floor %v, want %v", v.Floor(), day)
	}
	// The clock still says t0: a record that expired before the floor is
	// expired, though the clock says it is fresh.
	stale := mustSign(t, rec(record.TierWarning, record.City, "server-1", 2), f.server.signer())
	_, err := v.Verify(stale, t0)
	wantReason(t, err, ReasonExpired)
}

func TestVerifyClockBehindFloor(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{TrustedClock: true})
	later := t0.Add(3 * time.Hour)
	newer := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 5), func(r *record.Record) {
		r.Issued, r.Expires = later, later.Add(time.Hour)
	}), f.server.signer())
	if _, err := v.Accept(newer, later); err != nil {
		t.Fatal(err)
	}
	// The node reboots with its clock back at t0 (state restored): the
	// record issued at t0 for an hour is not fresh.
	w := newTestVerifier(t, Config{TrustedClock: true})
	if err := w.Restore(v.State()); err != nil {
		t.Fatal(err)
	}
	old := mustSign(t, rec(record.TierWarning, record.City, "server-2", 1), f.server2.signer())
	_, err := w.Verify(old, t0.Add(time.Minute))
	wantReason(t, err, ReasonExpired)
}

func TestDeviceRecordsDoNotMoveFloor(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	far := t0.Add(30 * 24 * time.Hour)
	r := mustSign(t, with(rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1), func(r *record.Record) {
		r.Issued, r.Expires = far, far.Add(time.Hour)
	}), f.dev1.signer())
	if _, err := v.Accept(r, t0); err != nil {
		t.Fatal(err)
	}
	if fl := v.Floor(); !fl.IsZero() {
		t.Errorf("a device record moved the floor to %v", fl)
	}
}

func TestVerifyReplayed(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{ReplayWindow: 64})
	sign := func(seq uint64, short string) *record.Record {
		return mustSign(t, with(rec(record.TierWarning, record.City, "server-1", seq), func(r *record.Record) {
			r.Body.(*record.Alert).Texts["en"] = record.AlertText{Short: short}
		}), f.server.signer())
	}
	if _, err := v.Accept(sign(100, "a"), t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		seq  uint64
		want Reason
	}{
		{"same seq, other record", 100, ReasonReplayed},
		{"older, inside the window", 99, ""},
		{"that one again", 99, ReasonReplayed},
		{"oldest inside the window", 100 - 63, ""},
		{"older than the window", 100 - 64, ReasonReplayed},
		{"newer", 500, ""},
		{"now far outside the window", 100, ReasonReplayed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Accept(sign(tt.seq, tt.name), t0)
			if got := ReasonOf(err); got != tt.want || (err != nil) != (tt.want != "") {
				t.Fatalf("Accept seq %d: %v, want %q", tt.seq, err, tt.want)
			}
		})
	}
	// Another origin has its own window.
	if _, err := v.Accept(mustSign(t, rec(record.TierWarning, record.City, "server-2", 100), f.server2.signer()), t0); err != nil {
		t.Errorf("server-2 seq 100: %v", err)
	}
}

func TestVerifyIdenticalCopyReplayed(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	if _, err := v.Accept(r, t0); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(r, t0)
	wantReason(t, err, ReasonReplayed)
}

func TestCommitRace(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	r := mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer())
	a, err := v.Verify(r, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(r, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Commit(a); err != nil {
		t.Fatal(err)
	}
	wantReason(t, v.Commit(b), ReasonReplayed)
	other := newTestVerifier(t, Config{})
	if err := other.Commit(a); err == nil {
		t.Error("Commit of another verifier's verdict succeeded")
	}
}

func TestRevocation(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	alert := func(seq uint64) *record.Record {
		return mustSign(t, rec(record.TierWarning, record.City, "server-1", seq), f.server.signer())
	}
	if _, err := v.Accept(alert(1), t0); err != nil {
		t.Fatal(err)
	}
	rv, err := NewRevocation(f.ca, [][]byte{Serial(f.server.cert)}, "key stolen", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ApplyRevocation(rv, t0); err != nil {
		t.Fatalf("ApplyRevocation: %v", err)
	}
	_, err = v.Verify(alert(2), t0) // chain cached: revocation still applies
	wantReason(t, err, ReasonRevoked)
	// Other signers are unaffected.
	if _, err := v.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-2", 1), f.server2.signer()), t0); err != nil {
		t.Errorf("server-2 after revoking server-1: %v", err)
	}
	// The revocation survives State/Restore, and an uncached chain is
	// checked too.
	w := newTestVerifier(t, Config{})
	if err := w.Restore(v.State()); err != nil {
		t.Fatal(err)
	}
	_, err = w.Verify(alert(3), t0)
	wantReason(t, err, ReasonRevoked)
	// Applying the same revocation again is a replay.
	wantReason(t, v.ApplyRevocation(rv, t0), ReasonReplayed)
}

func TestRevokeCityCA(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	rv, err := NewRevocation(f.ca, [][]byte{Serial(f.ca.Cert)}, "city CA compromised", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ApplyRevocation(rv, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(mustSign(t, rec(record.TierInformational, record.DeviceScope("pole-0001"), "pole-0001", 1), f.dev1.signer()), t0)
	wantReason(t, err, ReasonRevoked)
}

func TestApplyRevocationRefuses(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	err := v.ApplyRevocation(mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer()), t0)
	wantReason(t, err, ReasonMalformed)
	// A revocation from another city's CA does not chain.
	rv, err := NewRevocation(f.otherCA, [][]byte{Serial(f.server.cert)}, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, v.ApplyRevocation(rv, t0), ReasonBadChain)
	if _, err := v.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.server.signer()), t0); err != nil {
		t.Errorf("after a refused revocation: %v", err)
	}
}

func TestNewRevocationRecord(t *testing.T) {
	f := testFixture()
	now := t0.Add(1500 * time.Microsecond)
	rv, err := NewRevocation(f.ca, [][]byte{{0, 0, 0x12, 0x34}}, "pole stolen", now)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Kind    record.Kind
		Tier    record.Tier
		Scope   record.Scope
		Origin  string
		Seq     uint64
		Issued  time.Time
		Expires time.Time
		Body    *record.Revocation
		Chain   int
	}
	got := summary{rv.Kind, rv.Tier, rv.Scope, rv.Origin, rv.Seq, rv.Issued, rv.Expires, rv.Body.(*record.Revocation), len(rv.Signatures()[0].Chain)}
	want := summary{
		Kind: record.KindRevocation, Tier: record.TierWarning, Scope: record.City, Origin: "metropolis",
		Seq: uint64(t0.UnixMilli()) + 1, Issued: t0.Add(time.Millisecond), Expires: f.ca.Cert.NotAfter,
		Body:  &record.Revocation{Serials: [][]byte{{0x12, 0x34}}, Reason: "pole stolen"},
		Chain: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revocation (-want +got):\n%s", diff)
	}
	if _, err := NewRevocation(f.root, [][]byte{{1}}, "", t0); !errors.Is(err, ErrNotCA) {
		t.Errorf("NewRevocation by the root: %v, want ErrNotCA", err)
	}
	if _, err := NewRevocation(&CA{Cert: f.ca.Cert}, [][]byte{{1}}, "", t0); !errors.Is(err, ErrNotCA) {
		t.Errorf("NewRevocation without the key: %v, want ErrNotCA", err)
	}
}

func TestAddCertificates(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{}) // no intermediates: the city CA comes with the batch
	if err := v.AddCertificates(t0, f.server.cert, f.ca.Cert, f.dev1.cert); err != nil {
		t.Fatalf("AddCertificates: %v", err)
	}
	for _, n := range []*node{f.server, f.dev1} {
		var r *record.Record
		if n == f.server {
			r = rec(record.TierWarning, record.City, n.id.ID, 1)
		} else {
			r = rec(record.TierInformational, record.DeviceScope(n.id.ID), n.id.ID, 1)
		}
		if _, err := v.Verify(mustSign(t, r, n.kidOnly()), t0); err != nil {
			t.Errorf("%s by kid: %v", n.id, err)
		}
	}
	// A revocation by kid only verifies too: the city CA is cached.
	caKidOnly, _ := record.NewSigner(f.ca.Key, f.ca.Cert.Raw, false)
	rv := mustSign(t, &record.Record{Kind: record.KindRevocation, Tier: record.TierWarning, Scope: record.City,
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "metropolis", Seq: 1, Body: &record.Revocation{Serials: [][]byte{{1}}}}, caKidOnly)
	if err := v.ApplyRevocation(rv, t0); err != nil {
		t.Errorf("revocation by kid: %v", err)
	}

	err := v.AddCertificates(t0, f.otherServer.cert, f.otherCA.Cert)
	if err == nil {
		t.Fatal("AddCertificates of another city's certificates succeeded")
	}
	wantReason(t, err, ReasonBadChain)
	if _, err := v.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), f.otherServer.kidOnly()), t0); ReasonOf(err) != ReasonUnknownSigner {
		t.Errorf("other city's server by kid: %v, want unknown-signer", err)
	}
	// Expired at add time.
	wantReason(t, v.AddCertificates(f.operator.cert.NotAfter.Add(time.Second), f.operator.cert), ReasonCertExpired)
}

func TestVerifyWithConfiguredIntermediate(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{Intermediates: []*x509.Certificate{f.ca.Cert}})
	s := f.gw1.signer()
	s.Chain = s.Chain[:1] // leaf only: the city CA comes from the config
	if _, err := v.Verify(mustSign(t, rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), s), t0); err != nil {
		t.Fatal(err)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	f := testFixture()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no roots", Config{}},
		{"city CA as root", Config{Roots: []*x509.Certificate{f.ca.Cert}}},
		{"leaf as root", Config{Roots: []*x509.Certificate{f.server.cert}}},
		{"intermediate of another city", Config{Roots: []*x509.Certificate{f.root.Cert}, Intermediates: []*x509.Certificate{f.otherCA.Cert}}},
		{"leaf as intermediate", Config{Roots: []*x509.Certificate{f.root.Cert}, Intermediates: []*x509.Certificate{f.server.cert}}},
		{"negative skew", Config{Roots: []*x509.Certificate{f.root.Cert}, Skew: -time.Second}},
		{"huge window", Config{Roots: []*x509.Certificate{f.root.Cert}, ReplayWindow: 1 << 20}},
	}
	for _, tt := range tests {
		if _, err := NewVerifier(tt.cfg); err == nil {
			t.Errorf("%s: NewVerifier succeeded", tt.name)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	for _, seq := range []uint64{1, 3, 200} {
		if _, err := v.Accept(mustSign(t, rec(record.TierWarning, record.City, "server-1", seq), f.server.signer()), t0); err != nil {
			t.Fatal(err)
		}
	}
	rv, _ := NewRevocation(f.ca, [][]byte{Serial(f.dev2.cert)}, "", t0)
	if err := v.ApplyRevocation(rv, t0); err != nil {
		t.Fatal(err)
	}
	st := v.State()
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back); diff != "" {
		t.Fatalf("JSON round trip (-want +got):\n%s", diff)
	}
	w := newTestVerifier(t, Config{})
	if err := w.Restore(back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, w.State()); diff != "" {
		t.Errorf("restored state (-want +got):\n%s", diff)
	}
	for seq, want := range map[uint64]Reason{1: ReasonReplayed, 2: "", 3: ReasonReplayed, 200: ReasonReplayed, 201: ""} {
		_, err := w.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", seq), f.server.signer()), t0)
		if ReasonOf(err) != want || (err != nil) != (want != "") {
			t.Errorf("seq %d after restore: %v, want %q", seq, err, want)
		}
	}
	_, err = w.Verify(mustSign(t, rec(record.TierInformational, record.DeviceScope("pole-0002"), "pole-0002", 1), f.dev2.signer()), t0)
	wantReason(t, err, ReasonRevoked)

	// A verifier with a bigger window treats what the saved one did not
	// cover as seen; a smaller one keeps what it can.
	big := newTestVerifier(t, Config{ReplayWindow: 4096})
	if err := big.Restore(back); err != nil {
		t.Fatal(err)
	}
	_, err = big.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", 2), f.server.signer()), t0)
	if err != nil {
		t.Errorf("seq 2 inside the saved window: %v", err)
	}
	small := newTestVerifier(t, Config{ReplayWindow: 64})
	if err := small.Restore(back); err != nil {
		t.Fatal(err)
	}
	_, err = small.Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", 100), f.server.signer()), t0)
	wantReason(t, err, ReasonReplayed)

	if err := w.Restore(State{Revoked: []string{"xyz"}}); err == nil {
		t.Error("Restore of a bad serial succeeded")
	}
}

func TestRestoreMerges(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	if _, err := v.Accept(mustSign(t, rec(record.TierWarning, record.City, "server-1", 10), f.server.signer()), t0); err != nil {
		t.Fatal(err)
	}
	old := v.State()
	later := t0.Add(time.Hour)
	if _, err := v.Accept(mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 20), func(r *record.Record) {
		r.Issued, r.Expires = later, later.Add(time.Hour)
	}), f.server.signer()), later); err != nil {
		t.Fatal(err)
	}
	if err := v.Restore(old); err != nil {
		t.Fatal(err)
	}
	if !v.Floor().Equal(later) {
		t.Errorf("floor went back to %v", v.Floor())
	}
	for _, seq := range []uint64{10, 20} {
		_, err := v.Verify(mustSign(t, with(rec(record.TierWarning, record.City, "server-1", seq), func(r *record.Record) {
			r.Issued, r.Expires = later, later.Add(time.Hour)
		}), f.server.signer()), later)
		wantReason(t, err, ReasonReplayed)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	f := testFixture()
	v := newTestVerifier(t, Config{})
	var rs []*record.Record
	for i := range 8 {
		rs = append(rs, mustSign(t, rec(record.TierWarning, record.City, "server-1", uint64(i+1)), f.server.signer()))
	}
	rv, _ := NewRevocation(f.ca, [][]byte{Serial(f.dev2.cert)}, "", t0)
	var wg sync.WaitGroup
	errs := make([]error, len(rs))
	for i, r := range rs {
		wg.Go(func() { _, errs[i] = v.Accept(r, t0) })
	}
	wg.Go(func() { v.ApplyRevocation(rv, t0) })
	wg.Go(func() { v.State() })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
}

func TestReasonOf(t *testing.T) {
	err := fmt.Errorf("ingest: %w", &RejectError{Reason: ReasonRevoked, Detail: "x"})
	if diff := cmp.Diff(ReasonRevoked, ReasonOf(err)); diff != "" {
		t.Error(diff)
	}
	if ReasonOf(errors.New("other")) != "" {
		t.Error("ReasonOf of a plain error is not empty")
	}
	if got, want := err.Error(), "ingest: revoked: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestUntrustedClockBootstrap(t *testing.T) {
	// A pole boots with its clock a year behind, before every certificate
	// was issued. Without a trusted clock the record's own issue time
	// vouches for the time; with one, the certificates are not yet valid.
	f := testFixture()
	behind := t0.AddDate(-1, 0, 0)
	r := mustSign(t, with(rec(record.TierWarning, record.City, "server-1", 1), func(r *record.Record) {
		r.Issued = t0.Add(time.Minute)
	}), f.server.signer())
	v := newTestVerifier(t, Config{})
	if _, err := v.Accept(r, behind); err != nil {
		t.Fatalf("untrusted clock: %v", err)
	}
	if !v.Floor().Equal(r.Issued) {
		t.Errorf("floor %v, want %v", v.Floor(), r.Issued)
	}
	// Now the floor carries the pole: a record issued at t0 verifies
	// though the clock still says a year ago.
	r2 := mustSign(t, rec(record.TierAdvisory, record.ZoneScope("z1"), "gw-1", 1), f.gw1.signer())
	if _, err := v.Verify(r2, behind); err != nil {
		t.Errorf("after the floor moved: %v", err)
	}
	_, err := newTestVerifier(t, Config{TrustedClock: true}).Verify(r, behind)
	wantReason(t, err, ReasonCertExpired)
}

func TestVerifyKeyUsage(t *testing.T) {
	f := testFixture()
	mk := func(id Identity, parent *CA, usage x509.KeyUsage) *node {
		key := seedKey("usage " + id.String())
		tmpl, err := template(id, "metropolis", t0)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.KeyUsage = usage
		cert, err := create(tmpl, parent.Cert, key.Public().(ed25519.PublicKey), parent.Key)
		if err != nil {
			t.Fatal(err)
		}
		return &node{id: id, key: key, cert: cert, ca: parent}
	}
	srv := mk(Identity{Role: RoleServer, ID: "server-1"}, f.ca, x509.KeyUsageKeyEncipherment)
	_, err := newTestVerifier(t, Config{}).Verify(mustSign(t, rec(record.TierWarning, record.City, "server-1", 1), srv.signer()), t0)
	wantReason(t, err, ReasonBadChain)
	if !strings.Contains(err.Error(), "digital-signature key usage") {
		t.Errorf("detail %q does not name the key usage", err)
	}

	ca := mk(Identity{Role: RoleCA, ID: "metropolis"}, f.root, x509.KeyUsageCertSign)
	ca.key = seedKey("usage " + ca.id.String())
	s, _ := record.NewSigner(ca.key, ca.cert.Raw, true)
	rv := mustSign(t, &record.Record{Kind: record.KindRevocation, Tier: record.TierWarning, Scope: record.City,
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "metropolis", Seq: 1, Body: &record.Revocation{Serials: [][]byte{{1}}}}, s)
	err = newTestVerifier(t, Config{}).ApplyRevocation(rv, t0)
	wantReason(t, err, ReasonBadChain)
	if !strings.Contains(err.Error(), "CRL-sign key usage") {
		t.Errorf("detail %q does not name the key usage", err)
	}
}

func TestEmergencyOneKeyTwoCertificates(t *testing.T) {
	// A mis-issued operator certificate for the server's own key must not
	// let the server alone sign an emergency.
	f := testFixture()
	opCert, err := f.ca.Issue(Identity{Role: RoleOperator, ID: "officer-x"}, f.server.key.Public().(ed25519.PublicKey), t0)
	if err != nil {
		t.Fatal(err)
	}
	op := &node{id: Identity{Role: RoleOperator, ID: "officer-x"}, key: f.server.key, cert: opCert, ca: f.ca}
	r := mustSign(t, rec(record.TierEmergency, record.City, "server-1", 1), f.server.signer(), op.signer())
	_, err = newTestVerifier(t, Config{}).Verify(r, t0)
	wantReason(t, err, ReasonMissingCosigner)
}
