// Command genvectors writes the published record test vectors: signed
// records made with fixed keys, each as hex with a JSON description, so that
// another implementation can check its encoder, parser and verifier against
// this one. Run it with `go generate ./mesh/record`.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/cityarray/cityarray/mesh/record"
)

func main() {
	out := flag.String("out", "testdata/records", "directory to write the vectors to")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatalf("genvectors: %v", err)
	}
}

// key is a fixed test signer: its seed, and an opaque stand-in for its
// certificate (record does not interpret certificates; the kid is the
// SHA-256 of these bytes).
type key struct {
	Name      string `json:"name"`
	Seed      string `json:"seed"`
	PublicKey string `json:"public_key"`
	Cert      string `json:"certificate_bytes"`
	KID       string `json:"kid"`

	signer record.Signer
}

func newKey(name string, withChain bool) key {
	seed := sha256.Sum256([]byte("cityarray test vector key " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	cert := []byte("placeholder certificate of " + name)
	s, err := record.NewSigner(priv, cert, withChain)
	if err != nil {
		log.Fatal(err)
	}
	return key{
		Name: name, Seed: hex.EncodeToString(seed[:]),
		PublicKey: hex.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Cert:      hex.EncodeToString(cert), KID: hex.EncodeToString(s.KID), signer: s,
	}
}

// vector is one published case.
type vector struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Valid       bool            `json:"valid"`
	Error       string          `json:"error,omitempty"` // text the rejection contains
	SignatureOK *bool           `json:"signature_ok,omitempty"`
	ID          string          `json:"id,omitempty"`
	Size        int             `json:"size"`
	Signers     []key           `json:"signers"`
	Record      json.RawMessage `json:"record,omitempty"`

	raw []byte
}

var (
	t0      = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	server  = newKey("server-1", false)
	officer = newKey("officer-ada", false)
	device  = newKey("pole-0042", false)
	chained = newKey("gateway-z1", true)
)

func run(dir string) error {
	vs, err := vectors()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.hex"))
	olds, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range append(old, olds...) {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for i, v := range vs {
		base := filepath.Join(dir, fmt.Sprintf("%02d-%s", i+1, v.Name))
		v.Size = len(v.raw)
		if v.Valid {
			r, err := record.Parse(v.raw)
			if err != nil {
				return fmt.Errorf("%s: a valid vector does not parse: %w", v.Name, err)
			}
			v.ID = r.ID().String()
			if v.Record, err = json.MarshalIndent(r, "  ", "  "); err != nil {
				return err
			}
		}
		desc, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(base+".hex", []byte(wrapHex(v.raw)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(base+".json", append(desc, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func wrapHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for len(h) > 64 {
		sb.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	sb.WriteString(h + "\n")
	return sb.String()
}

func alertBody(langs ...string) *record.Alert {
	a := &record.Alert{Texts: map[string]record.AlertText{}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met", Icon: "flood"}
	for _, l := range langs {
		a.Texts[l] = record.AlertText{
			Short: "Flash flood warning: move to higher ground now",
			Long:  "The river is rising fast. Leave low areas near the river and move to higher ground now. Do not drive through water.",
			Speak: "Flash flood warning. Move to higher ground now.",
		}
	}
	return a
}

func env(k record.Kind, tier record.Tier, scope record.Scope, origin string, seq uint64, b record.Body) *record.Record {
	return &record.Record{Kind: k, Tier: tier, Scope: scope, Issued: t0, Expires: t0.Add(time.Hour), Origin: origin, Seq: seq, Body: b}
}

func signed(name, desc string, r *record.Record, keys ...key) (vector, error) {
	signers := make([]record.Signer, len(keys))
	for i, k := range keys {
		signers[i] = k.signer
	}
	s, err := record.Sign(r, signers...)
	if err != nil {
		return vector{}, fmt.Errorf("%s: %w", name, err)
	}
	ok := true
	return vector{Name: name, Description: desc, Valid: true, SignatureOK: &ok, Signers: keys, raw: s.Raw()}, nil
}

// rawSigned signs an arbitrary payload as a COSE_Sign1, so that an invalid
// payload arrives with a valid signature: a parser must reject it for what
// it is, not for its signature.
func rawSigned(name, desc, wantErr string, payload []byte) (vector, error) {
	cs, err := cose.NewSigner(cose.AlgorithmEdDSA, server.signer.Key)
	if err != nil {
		return vector{}, err
	}
	h := cose.Headers{Protected: cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm:   cose.AlgorithmEdDSA,
		cose.HeaderLabelContentType: record.ContentType,
		cose.HeaderLabelKeyID:       server.signer.KID,
	}}
	b, err := cose.Sign1(nil, cs, h, payload, nil)
	if err != nil {
		return vector{}, err
	}
	return vector{Name: name, Description: desc, Error: wantErr, Signers: []key{server}, raw: b}, nil
}

func vectors() ([]vector, error) {
	var vs []vector
	add := func(v vector, err error) error {
		if err == nil {
			vs = append(vs, v)
		}
		return err
	}
	proto := &record.Protocol{
		Template: "flood-evacuation", Params: []string{"shelter"}, Texts: map[string]record.AlertText{},
		Severity: "Severe", Urgency: "Immediate", Certainty: "Likely", Category: "Met", Icon: "flood", AutoTier: record.TierAdvisory,
	}
	for _, l := range []string{"en", "es", "zh-Hant", "vi", "tl", "ko", "ru", "ar", "fa", "hi", "pa", "ja", "fr", "pt", "so"} {
		proto.Texts[l] = record.AlertText{Short: "[" + l + "] Flood: go to {shelter} now", Long: "[" + l + "] The river is flooding. Leave low ground and go to {shelter} now."}
	}
	protoRec := env(record.KindProtocol, record.TierWarning, record.City, "server-1", 2, proto)
	protoRec.Expires = t0.Add(48 * time.Hour)
	em := env(record.KindAlert, record.TierEmergency, record.City, "server-1", 3, alertBody("en", "es"))
	ack := env(record.KindAck, record.TierInformational, record.DeviceScope("pole-0042"), "pole-0042", 1,
		&record.Ack{Record: record.ID{0xab}, Device: "pole-0042", State: record.AckDisplayed, At: record.MillisOf(t0.Add(time.Second))})
	cancel := env(record.KindCancel, record.TierWarning, record.ZoneScope("z1"), "server-1", 5, &record.Cancel{Reason: "all clear"})
	cancel.Supersedes = []record.ID{{0xab}}
	for _, f := range []func() error{
		func() error {
			return add(signed("warning-alert-en", "A warning for zone z1 in one language, COSE_Sign1 signed by the server, chain referenced by kid.",
				env(record.KindAlert, record.TierWarning, record.ZoneScope("z1"), "server-1", 1, alertBody("en")), server))
		},
		func() error {
			return add(signed("emergency-two-signers", "A city-wide emergency in two languages, COSE_Sign signed by the server and an officer.", em, server, officer))
		},
		func() error {
			return add(signed("protocol-15-languages", "A flood-evacuation protocol template in 15 languages with a {shelter} parameter.", protoRec, server))
		},
		func() error {
			return add(signed("activation", "Activates a cached protocol for zone z1 with its parameter.",
				env(record.KindActivation, record.TierWarning, record.ZoneScope("z1"), "server-1", 4,
					&record.Activation{Protocol: record.ID{0xcd}, Params: map[string]string{"shelter": "Lincoln High School"}}), server))
		},
		func() error {
			return add(signed("ack-displayed", "A device's ack that it displayed a record.", ack, device))
		},
		func() error { return add(signed("cancel", "Cancels the record it supersedes.", cancel, server)) },
		func() error {
			return add(signed("advisory-with-x5chain", "A zone advisory whose signer's certificate travels in the x5chain header.",
				env(record.KindAlert, record.TierAdvisory, record.ZoneScope("z1"), "gateway-z1", 1, alertBody("en")), chained))
		},
	} {
		if err := f(); err != nil {
			return nil, err
		}
	}
	good := vs[0].raw
	p, err := payloadOf(good)
	if err != nil {
		return nil, err
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5] ^= 1
	no := false
	vs = append(vs, vector{Name: "flipped-signature", Description: "Vector 1 with one signature bit flipped: it parses, and its signature must not verify.",
		Valid: true, SignatureOK: &no, Signers: []key{server}, raw: flipped})
	for _, c := range []struct {
		name, desc, err string
		payload         []byte
	}{
		{"non-canonical-integer", "The kind is encoded with a one-byte head (0x18 0x01) instead of inline.", "not in canonical encoding", replace(p, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0x18, 0x01, 0x02})},
		{"duplicate-key", "The payload map has key 1 twice.", "duplicate map key", replace(p, []byte{0x01, 0x01, 0x02, 0x03}, []byte{0x01, 0x01, 0x01, 0x01})},
		{"indefinite-length", "The payload map uses an indefinite length.", "indefinite", append(append([]byte{0xbf}, p[1:]...), 0xff)},
		{"unknown-field", "The payload has an extra key 10.", "unknown field", append(append([]byte{p[0] + 1}, p[1:]...), 0x0a, 0x01)},
		{"unknown-kind", "The kind is 13.", "unknown kind", replace(p, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0x0d, 0x02})},
	} {
		if err := add(rawSigned(c.name, c.desc, c.err, c.payload)); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func payloadOf(b []byte) ([]byte, error) {
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(b); err != nil {
		return nil, err
	}
	var check map[int]cbor.RawMessage
	if err := cbor.Unmarshal(m.Payload, &check); err != nil {
		return nil, err
	}
	return m.Payload, nil
}

func replace(b, old, new []byte) []byte {
	if bytes.Count(b, old) != 1 {
		log.Fatalf("pattern % x is not unique", old)
	}
	return bytes.Replace(b, old, new, 1)
}
