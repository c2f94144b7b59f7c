package audit

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	many := map[string]string{}
	for i := range maxDetailKeys + 1 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name string
		mod  func(*Entry)
		want error  // nil, ErrInvalidEntry or ErrSecret
		msg  string // a substring of the error
	}{
		{"valid", func(*Entry) {}, nil, ""},
		{"system actor, no ip", func(e *Entry) { e.Actor, e.RemoteIP, e.Role = "system", netip.Addr{}, "" }, nil, ""},
		{"key id is fine", func(e *Entry) {
			e.Action = "key.use"
			e.Detail = map[string]string{"key_id": "k1", "key_fingerprint": "ab:cd"}
		}, nil, ""},
		{"no actor", func(e *Entry) { e.Actor = "" }, ErrInvalidEntry, "actor is required"},
		{"control char in actor", func(e *Entry) { e.Actor = "ada\nroot" }, ErrInvalidEntry, "control"},
		{"long target", func(e *Entry) { e.Target = strings.Repeat("x", maxTarget+1) }, ErrInvalidEntry, "target is"},
		{"upper-case action", func(e *Entry) { e.Action = "Login.OK" }, ErrInvalidEntry, "action"},
		{"empty action", func(e *Entry) { e.Action = "" }, ErrInvalidEntry, "action"},
		{"action with space", func(e *Entry) { e.Action = "login ok" }, ErrInvalidEntry, "action"},
		{"no outcome", func(e *Entry) { e.Outcome = "" }, ErrInvalidEntry, "outcome"},
		{"ip with zone", func(e *Entry) { e.RemoteIP = netip.MustParseAddr("fe80::1%eth0") }, ErrInvalidEntry, "zone"},
		{"password", func(e *Entry) { e.Detail = map[string]string{"password": "hunter2"} }, ErrSecret, `"password"`},
		{"new_password", func(e *Entry) { e.Detail = map[string]string{"new_password": "x"} }, ErrSecret, "new_password"},
		{"TOTP code", func(e *Entry) { e.Detail = map[string]string{"TOTP-Code": "123456"} }, ErrSecret, "TOTP-Code"},
		{"otp", func(e *Entry) { e.Detail = map[string]string{"otp": "123456"} }, ErrSecret, "otp"},
		{"session token", func(e *Entry) { e.Detail = map[string]string{"session_token": "x"} }, ErrSecret, "session_token"},
		{"api key", func(e *Entry) { e.Detail = map[string]string{"API_Key": "x"} }, ErrSecret, "API_Key"},
		{"private key", func(e *Entry) { e.Detail = map[string]string{"private-key": "x"} }, ErrSecret, "private-key"},
		{"client secret", func(e *Entry) { e.Detail = map[string]string{"clientSecret": "x"} }, ErrSecret, "clientSecret"},
		{"PEM value", func(e *Entry) {
			e.Detail = map[string]string{"note": "-----BEGIN PRIVATE KEY-----\nMC4C..."}
		}, ErrSecret, "PEM private key"},
		{"bad detail key", func(e *Entry) { e.Detail = map[string]string{"a b": "x"} }, ErrInvalidEntry, "detail key"},
		{"too many details", func(e *Entry) { e.Detail = many }, ErrInvalidEntry, "detail fields"},
		{"invalid UTF-8 value", func(e *Entry) { e.Detail = map[string]string{"x": "\xff"} }, ErrInvalidEntry, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entry(1)
			tt.mod(&e)
			err := e.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestLooksSecret(t *testing.T) {
	for _, k := range []string{"password", "Passwd", "passphrase", "db.secret", "totp", "refresh_token",
		"apikey", "signing_key", "SSH-KEYS", "pin", "pwd", "cookie", "authorization", "credentials", "seed"} {
		if !LooksSecret(k) {
			t.Errorf("LooksSecret(%q) = false", k)
		}
	}
	for _, k := range []string{"key_id", "key_fingerprint", "footprint", "tier", "zone", "user", "role", "reason", "keyid", "spinner"} {
		if LooksSecret(k) {
			t.Errorf("LooksSecret(%q) = true", k)
		}
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry(3)
	e.Seq, e.Time = 42, time.UnixMilli(1767225600123).UTC()
	line, err := e.marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"seq":42,"time":1767225600123,"actor":"user-3","role":"operator","action":"alert.approve","target":"alert-3","outcome":"ok","ip":"192.0.2.7","detail":{"n":"3","tier":"warning"}}`
	if diff := cmp.Diff(want, string(line)); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	got, err := ParseEntry(line)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ParseEntry (-want +got):\n%s", diff)
	}
}

func TestParseEntryErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{``, "not valid JSON"},
		{`{"v":1`, "not valid JSON"},
		{`[1]`, "not valid JSON"},
		{`{"v":1,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok"} {}`, "data after the object"},
		{`{"v":1,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok","extra":1}`, "unknown field"},
		{`{"v":2,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok"}`, "format version 2"},
		{`{"v":1,"seq":-1,"time":0,"actor":"a","action":"x","outcome":"ok"}`, "negative seq"},
		{`{"v":1,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok","ip":"300.1.1.1"}`, "remote IP"},
		{`{"v":1,"seq":0,"time":0,"actor":"","action":"x","outcome":"ok"}`, "actor is required"},
		{`{"v":1,"seq":0,"time":0,"actor":"a","action":"x","outcome":"ok","detail":{"password":"p"}}`, "names a secret"},
		{`{"v":1,"seq":0,"time":"now","actor":"a","action":"x","outcome":"ok"}`, "not valid JSON"},
	}
	for _, tt := range tests {
		_, err := ParseEntry([]byte(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseEntry(%q) = %v, want an error containing %q", tt.line, err, tt.want)
		}
	}
}

func TestEntryTooLarge(t *testing.T) {
	e := entry(1)
	e.Detail = map[string]string{}
	for i := range 20 {
		e.Detail[fmt.Sprintf("k%d", i)] = strings.Repeat("x", maxDetailValue)
	}
	err := checkEntry(&e)
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), "at most 65536") {
		t.Fatalf("checkEntry = %v, want too large", err)
	}
}
