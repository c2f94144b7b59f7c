package record

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublishedVectors checks this implementation against the vectors in
// testdata/records, as another implementation would.
func TestPublishedVectors(t *testing.T) {
	files, err := filepath.Glob("../../testdata/records/*.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("vectors: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var v struct {
				Valid       bool
				Error       string
				SignatureOK *bool `json:"signature_ok"`
				ID          string
				Size        int
				Signers     []struct {
					PublicKey string `json:"public_key"`
				}
				Record json.RawMessage
			}
			desc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(desc, &v); err != nil {
				t.Fatal(err)
			}
			h, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".hex")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := hex.DecodeString(strings.ReplaceAll(string(h), "\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != v.Size {
				t.Fatalf("%d bytes, description says %d", len(raw), v.Size)
			}
			r, err := Parse(raw)
			if !v.Valid {
				if err == nil || !strings.Contains(err.Error(), v.Error) {
					t.Fatalf("Parse = %v, want an error containing %q", err, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.ID().String() != v.ID {
				t.Errorf("id %s, want %s", r.ID(), v.ID)
			}
			for i, s := range v.Signers {
				pub, _ := hex.DecodeString(s.PublicKey)
				err := r.VerifySignature(i, ed25519.PublicKey(pub))
				if (err == nil) != *v.SignatureOK {
					t.Errorf("signature %d: %v, want ok=%v", i, err, *v.SignatureOK)
				}
			}
			var want, got any
			mine, _ := json.Marshal(r)
			json.Unmarshal(v.Record, &want)
			json.Unmarshal(mine, &got)
			if a, b := mustJSON(want), mustJSON(got); a != b {
				t.Errorf("readable form differs:\nwant %s\ngot  %s", a, b)
			}
		})
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
