package record

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/veraison/go-cose"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// testSigner returns a deterministic signer; record does not parse
// certificates, so the "certificate" is any stable bytes.
func testSigner(t testing.TB, seed byte, withChain bool) Signer {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	s, err := NewSigner(key, []byte("cert-"+string(rune('a'+seed))), withChain, []byte("city-ca-cert"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func warningAlert() *Record {
	return &Record{
		Kind: KindAlert, Tier: TierWarning, Scope: ZoneScope("z1"),
		Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Seq: 7,
		Body: &Alert{
			Texts: map[string]AlertText{"en": {
				Short: "Flash flood warning: move to higher ground now",
				Long:  "The river is rising fast. Leave low areas near the river and move to higher ground now. Do not drive through water.",
				Speak: "Flash flood warning. Move to higher ground now.",
			}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met", Icon: "flood",
		},
	}
}

func mustSign(t testing.TB, r *Record, signers ...Signer) *Record {
	t.Helper()
	out, err := Sign(r, signers...)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

var cmpRecord = cmp.Options{
	cmpopts.IgnoreUnexported(Record{}),
	cmpopts.EquateEmpty(),
}

func TestSignParseRoundTrip(t *testing.T) {
	s := testSigner(t, 1, false)
	for _, r := range sampleRecords() {
		t.Run(r.Kind.String(), func(t *testing.T) {
			signed := mustSign(t, r, s)
			if got, want := signed.ID(), IDOf(signed.Raw()); got != want {
				t.Errorf("id %v, want sha256 of bytes %v", got, want)
			}
			again, err := Parse(signed.Raw())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(r, again, cmpRecord); diff != "" {
				t.Errorf("parse(sign(r)) differs (-want +got):\n%s", diff)
			}
			out, err := AppendMarshal([]byte("x"), again)
			if err != nil || !bytes.Equal(out[1:], signed.Raw()) || out[0] != 'x' {
				t.Errorf("AppendMarshal = %x, %v; want prefix + the signed bytes", out, err)
			}
			if err := again.VerifySignature(0, s.Key.Public().(ed25519.PublicKey)); err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			other := testSigner(t, 2, false)
			if err := again.VerifySignature(0, other.Key.Public().(ed25519.PublicKey)); !errors.Is(err, ErrSignature) {
				t.Errorf("VerifySignature with the wrong key = %v, want ErrSignature", err)
			}
		})
	}
}

func TestTwoSigners(t *testing.T) {
	server, officer := testSigner(t, 1, true), testSigner(t, 2, false)
	r := warningAlert()
	r.Tier = TierEmergency
	signed := mustSign(t, r, server, officer)
	if !bytes.HasPrefix(signed.Raw(), tagSign) {
		t.Fatalf("two signers: not a COSE_Sign: % x", signed.Raw()[:4])
	}
	sigs := signed.Signatures()
	if len(sigs) != 2 || !bytes.Equal(sigs[0].KID, server.KID) || !bytes.Equal(sigs[1].KID, officer.KID) {
		t.Fatalf("signatures = %+v", sigs)
	}
	if diff := cmp.Diff(server.Chain, sigs[0].Chain); diff != "" {
		t.Errorf("x5chain (-want +got):\n%s", diff)
	}
	for i, s := range []Signer{server, officer} {
		if err := signed.VerifySignature(i, s.Key.Public().(ed25519.PublicKey)); err != nil {
			t.Errorf("signature %d: %v", i, err)
		}
	}
	if err := signed.VerifySignature(0, officer.Key.Public().(ed25519.PublicKey)); err == nil {
		t.Error("signature 0 verified with the officer's key")
	}
	one := mustSign(t, warningAlert(), server)
	if !bytes.HasPrefix(one.Raw(), tagSign1) {
		t.Errorf("one signer: not a COSE_Sign1")
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	s := testSigner(t, 1, false)
	tests := []struct {
		name   string
		mutate func(*Record)
		want   error
		text   string
	}{
		{"unknown kind", func(r *Record) { r.Kind = 99 }, ErrUnknownKind, ""},
		{"unknown tier", func(r *Record) { r.Tier = 0 }, ErrUnknownTier, ""},
		{"bad scope", func(r *Record) { r.Scope = "street:5" }, ErrBadScope, "street:5"},
		{"empty zone", func(r *Record) { r.Scope = "zone:" }, ErrBadScope, "empty id"},
		{"expires before issued", func(r *Record) { r.Expires = r.Issued }, ErrBadEnvelope, "expires"},
		{"no origin", func(r *Record) { r.Origin = "" }, ErrBadEnvelope, "origin"},
		{"cancel without supersedes", func(r *Record) { r.Kind, r.Body = KindCancel, &Cancel{} }, ErrBadEnvelope, "supersedes"},
		{"alert with supersedes", func(r *Record) { r.Supersedes = []ID{{1}} }, ErrBadEnvelope, "supersedes"},
		{"wrong body", func(r *Record) { r.Body = &Cancel{} }, ErrBadBody, "*record.Alert"},
		{"short text too long", func(r *Record) {
			r.Body.(*Alert).Texts["en"] = AlertText{Short: strings.Repeat("é", MaxShortText+1)}
		}, ErrBadBody, "91 characters, at most 90"},
		{"long text too long", func(r *Record) {
			r.Body.(*Alert).Texts["en"] = AlertText{Short: "x", Long: strings.Repeat("字", MaxLongText+1)}
		}, ErrBadBody, "361 characters"},
		{"bad language", func(r *Record) { r.Body.(*Alert).Texts = map[string]AlertText{"english": {Short: "x"}} }, ErrBadBody, "english"},
		{"non-canonical language", func(r *Record) { r.Body.(*Alert).Texts = map[string]AlertText{"es-mx": {Short: "x"}} }, ErrBadBody, `"es-MX"`},
		{"bad severity", func(r *Record) { r.Body.(*Alert).Severity = "Bad" }, ErrBadBody, "severity"},
		{"control character", func(r *Record) { r.Body.(*Alert).Texts["en"] = AlertText{Short: "a\x1b[2J"} }, ErrBadBody, "control"},
		{"bad status", func(r *Record) { r.Body.(*Alert).Status = "Draft" }, ErrBadBody, `status "Draft"`},
		{"health with an empty fault", func(r *Record) {
			r.Kind, r.Tier, r.Scope, r.Body = KindHealth, TierInformational, DeviceScope("pole-1"), &Health{Rung: "mesh", Faults: []string{""}}
		}, ErrBadBody, "empty fault"},
		{"health with too many faults", func(r *Record) {
			r.Kind, r.Tier, r.Scope, r.Body = KindHealth, TierInformational, DeviceScope("pole-1"), &Health{Rung: "mesh", Faults: make([]string, 17)}
		}, ErrBadBody, "17 faults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := warningAlert()
			tt.mutate(r)
			_, err := Sign(r, s)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Sign = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestProtocolPlaceholders(t *testing.T) {
	s := testSigner(t, 1, false)
	p := sampleProtocol(3)
	mustSign(t, &Record{Kind: KindProtocol, Tier: TierWarning, Scope: City, Issued: t0, Expires: t0.Add(48 * time.Hour), Origin: "server-1", Body: p}, s)
	p.Texts["en"] = AlertText{Short: "Go to {shelter} by {time}"}
	_, err := Sign(&Record{Kind: KindProtocol, Tier: TierWarning, Scope: City, Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Body: p}, s)
	if err == nil || !strings.Contains(err.Error(), "{time}") {
		t.Errorf("undeclared placeholder: %v", err)
	}
	p.AutoTier = TierEmergency
	p.Texts["en"] = AlertText{Short: "Go to {shelter}"}
	if _, err := Sign(&Record{Kind: KindProtocol, Tier: TierWarning, Scope: City, Issued: t0, Expires: t0.Add(time.Hour), Origin: "server-1", Body: p}, s); err == nil {
		t.Error("a protocol that lets a pole self-activate an emergency was signed")
	}
}

// TestVerifyMatchesGoCOSE holds VerifySignature's own Sig_structure to
// go-cose's: both must accept what Sign made and refuse a flipped bit.
func TestVerifyMatchesGoCOSE(t *testing.T) {
	server, officer := testSigner(t, 1, false), testSigner(t, 2, false)
	verifier := func(s Signer) cose.Verifier {
		v, err := cose.NewVerifier(cose.AlgorithmEdDSA, pubOf(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e := warningAlert()
	e.Tier = TierEmergency
	one, two := mustSign(t, warningAlert(), server), mustSign(t, e, server, officer)
	for _, flip := range []bool{false, true} {
		b1, b2 := bytes.Clone(one.Raw()), bytes.Clone(two.Raw())
		if flip {
			b1[len(b1)-1] ^= 1
			b2[len(b2)-1] ^= 1
		}
		var m1 cose.Sign1Message
		if err := m1.UnmarshalCBOR(b1); err != nil {
			t.Fatal(err)
		}
		var m2 cose.SignMessage
		if err := m2.UnmarshalCBOR(b2); err != nil {
			t.Fatal(err)
		}
		r1, err1 := Parse(b1)
		r2, err2 := Parse(b2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		theirs1 := m1.Verify(nil, verifier(server)) == nil
		theirs2 := m2.Verify(nil, verifier(server), verifier(officer)) == nil
		ours1 := r1.VerifySignature(0, pubOf(server)) == nil
		ours2 := r2.VerifySignature(0, pubOf(server)) == nil && r2.VerifySignature(1, pubOf(officer)) == nil
		if theirs1 != !flip || ours1 != theirs1 || theirs2 != !flip || ours2 != theirs2 {
			t.Errorf("flip=%v: go-cose %v/%v, ours %v/%v", flip, theirs1, theirs2, ours1, ours2)
		}
	}
}

func TestProtocolFill(t *testing.T) {
	p := sampleProtocol(2)
	for _, tc := range []struct {
		params map[string]string
		want   error
		text   string
	}{
		{nil, ErrMissingParam, "param shelter: required by protocol flood-evacuation"},
		{map[string]string{"shelter": ""}, ErrMissingParam, "param shelter: required by protocol flood-evacuation"},
		{map[string]string{"shelter": "City Hall", "time": "5pm"}, ErrUnknownParam, "param time: protocol flood-evacuation has no such parameter (it takes [shelter])"},
	} {
		err := p.CheckParams(tc.params)
		var pe *ParamError
		if !errors.Is(err, tc.want) || !errors.As(err, &pe) || err.Error() != tc.text {
			t.Errorf("CheckParams(%v) = %v, want %v: %q", tc.params, err, tc.want, tc.text)
		}
	}
	params := map[string]string{"shelter": "City Hall"}
	if err := p.CheckParams(params); err != nil {
		t.Fatal(err)
	}
	a := p.Alert(params)
	if got := a.Texts["en"].Short; got != "[en] Flood: go to City Hall now" {
		t.Errorf("filled short text %q", got)
	}
	if got := a.Texts["es"].Speak; got != "[es] Flood. Go to City Hall now." {
		t.Errorf("filled speak text %q", got)
	}
	if a.Severity != p.Severity || a.Icon != p.Icon || len(a.Texts) != 2 {
		t.Errorf("alert %+v", a)
	}
	if err := a.validate(); err != nil {
		t.Errorf("the filled alert is not valid: %v", err)
	}
}
