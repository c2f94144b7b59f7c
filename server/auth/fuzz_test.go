package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=32,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=65536,t=1,p=2$x$y")
	f.Add("$argon2id$v=19$m=4194305,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		if err := h.Params.validate(); err != nil {
			t.Fatalf("parsePHC accepted out-of-bounds params %+v: %v", h.Params, err)
		}
		if got := h.String(); got != s {
			t.Fatalf("not canonical: %q parses, formats as %q", s, got)
		}
	})
}

func FuzzSessionToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("cat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("____________________________________________")
	f.Fuzz(func(t *testing.T, s string) {
		if parseSessionToken(s) == nil {
			b, err := b64url.DecodeString(s)
			if err != nil || len(b) != tokenBytes || b64url.EncodeToString(b) != s {
				t.Fatalf("accepted non-canonical session token %q", s)
			}
		}
		if parseAPIToken(s) == nil {
			if !strings.HasPrefix(s, apiTokenPrefix) || parseSessionToken(s[len(apiTokenPrefix):]) != nil {
				t.Fatalf("accepted bad API token %q", s)
			}
		}
	})
}

// FuzzRequestCredentials feeds arbitrary Cookie and Authorization headers
// to the request parsers.
func FuzzRequestCredentials(f *testing.F) {
	f.Add("__Host-cityarray_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer cat_x")
	f.Add("a=b; __Host-cityarray_session=\"x\"; c", "bearer  ")
	f.Add(";;;=", "Basic")
	f.Fuzz(func(t *testing.T, cookie, authz string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Authorization", authz)
		if tok, err := SessionToken(r, true); err == nil && parseSessionToken(tok) != nil {
			t.Fatalf("SessionToken returned malformed %q", tok)
		}
		if tok, ok := BearerToken(r); ok && !strings.Contains(authz, tok) {
			t.Fatalf("BearerToken %q not from header %q", tok, authz)
		}
	})
}

func FuzzTOTPCode(f *testing.F) {
	f.Add("123456")
	f.Add("123 456")
	f.Add("١٢٣٤٥٦")
	f.Add("12345\x00")
	f.Fuzz(func(t *testing.T, s string) {
		code, err := parseTOTPCode(s)
		if err == nil {
			if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("parseTOTPCode(%q) = %q", s, code)
			}
		}
		step, err := checkTOTP("JBSWY3DPEHPK3PXP", s, t0, 0)
		if err == nil && (code == "" || step == 0) {
			t.Fatalf("checkTOTP accepted %q (parsed %q) at step %d", s, code, step)
		}
	})
}

func FuzzOneTimeCode(f *testing.F) {
	f.Add("ABCD-EFGH-IJKL-MNOP")
	f.Add("abcd efgh ijkl mnop")
	f.Add("ABCD-EFGH-IJKL-MNO1")
	f.Fuzz(func(t *testing.T, s string) {
		code, err := parseOneTimeCode(s)
		if err != nil {
			return
		}
		if len(code) != codeChars || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("parseOneTimeCode(%q) = %q", s, code)
		}
		if again, err := parseOneTimeCode(code); err != nil || again != code {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, code, again, err)
		}
	})
}
