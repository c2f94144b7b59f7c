package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetSessionCookie(t *testing.T) {
	tests := []struct {
		secure bool
		want   string
	}{
		{true, "__Host-cityarray_session=TOKEN; Path=/; HttpOnly; Secure; SameSite=Strict"},
		{false, "cityarray_session=TOKEN; Path=/; HttpOnly; SameSite=Strict"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		SetSessionCookie(w, "TOKEN", tt.secure)
		if got := w.Header().Get("Set-Cookie"); got != tt.want {
			t.Errorf("secure=%v: Set-Cookie %q, want %q", tt.secure, got, tt.want)
		}
		w = httptest.NewRecorder()
		ClearSessionCookie(w, tt.secure)
		c := w.Result().Cookies()
		if len(c) != 1 || c[0].MaxAge != -1 || c[0].Name != cookieName(tt.secure) {
			t.Errorf("ClearSessionCookie = %+v", c)
		}
	}
}

func TestSessionTokenFromRequest(t *testing.T) {
	good := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name   string
		cookie string
		secure bool
		want   error
	}{
		{"secure cookie", "__Host-cityarray_session=" + good, true, nil},
		{"plain cookie in secure mode", "cityarray_session=" + good, true, ErrUnauthenticated},
		{"plain cookie in dev mode", "cityarray_session=" + good, false, nil},
		{"none", "", true, ErrUnauthenticated},
		{"malformed", "__Host-cityarray_session=abc", true, ErrInvalidCredentials},
		{"padded", "__Host-cityarray_session=" + good + "=", true, ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			got, err := SessionToken(r, tt.secure)
			if !errors.Is(err, tt.want) || (tt.want == nil && (err != nil || got != good)) {
				t.Errorf("SessionToken = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer cat_abc", "cat_abc", true},
		{"bearer cat_abc", "cat_abc", true},
		{"Basic dXNlcjpwdw==", "", false},
		{"Bearer", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tt.header)
		got, ok := BearerToken(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCSRFToken(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.s.CSRFToken("session-one"), e.s.CSRFToken("session-two")
	if a == b || a != e.s.CSRFToken("session-one") {
		t.Fatal("CSRF token is not a function of the session")
	}
	other := testOptions(e.clk, e.rec)
	other.CSRFKey = []byte("another key, another key, another key")
	s2, _ := New(e.db, other)
	if s2.CSRFToken("session-one") == a {
		t.Error("CSRF token does not depend on the key")
	}
}

func TestAuthenticateRequest(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TrustedOrigins = []string{"https://ops.example.org"} })
	_, root := e.login(t, e.admin(t))
	bob := e.user(t, root, "bob", RoleSupervisor)
	tok, _ := e.login(t, bob)
	csrf := e.s.CSRFToken(tok)
	apiSecret, _, err := e.s.CreateToken(root, "root", "ci", []Permission{PermHealthRead}, e.clk.Now().Add(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    error
		user    string
	}{
		{"GET with cookie", "GET", map[string]string{"Cookie": SessionCookie + "=" + tok}, nil, "bob"},
		{"POST with cookie and CSRF", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: csrf}, nil, "bob"},
		{"POST without CSRF", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok}, ErrCSRF, ""},
		{"POST with another session's CSRF", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: e.s.CSRFToken("x")}, ErrCSRF, ""},
		{"DELETE with CSRF in lower case", "DELETE", map[string]string{"Cookie": SessionCookie + "=" + tok, "x-csrf-token": csrf}, nil, "bob"},
		{"PUT cross-site", "PUT", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: csrf, "Sec-Fetch-Site": "cross-site"}, ErrCSRF, ""},
		{"POST same-origin", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: csrf, "Sec-Fetch-Site": "same-origin"}, nil, "bob"},
		{"POST from a foreign Origin", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: csrf, "Origin": "https://evil.example"}, ErrCSRF, ""},
		{"POST from a trusted Origin", "POST", map[string]string{"Cookie": SessionCookie + "=" + tok, CSRFHeader: csrf, "Origin": "https://ops.example.org", "Sec-Fetch-Site": "cross-site"}, nil, "bob"},
		{"POST with bearer, no CSRF needed", "POST", map[string]string{"Authorization": "Bearer " + apiSecret}, nil, "root"},
		{"bearer wins over cookie", "GET", map[string]string{"Authorization": "Bearer " + apiSecret, "Cookie": SessionCookie + "=" + tok}, nil, "root"},
		{"bad bearer", "GET", map[string]string{"Authorization": "Bearer cat_nope"}, ErrInvalidCredentials, ""},
		{"basic auth", "GET", map[string]string{"Authorization": "Basic Ym9iOmJvYg=="}, ErrInvalidCredentials, ""},
		{"nothing", "GET", nil, ErrUnauthenticated, ""},
		{"insecure cookie name", "GET", map[string]string{"Cookie": InsecureSessionCookie + "=" + tok}, ErrUnauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://ctl.example.org/api/alerts", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			p, err := e.s.AuthenticateRequest(r, ipA)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("AuthenticateRequest = %v, want %v", err, tt.want)
			}
			if err == nil && p.UserID() != tt.user {
				t.Errorf("principal %s, want %s", p.UserID(), tt.user)
			}
			if err != nil && StatusCode(err) == http.StatusOK {
				t.Errorf("StatusCode(%v) = 200", err)
			}
		})
	}
}

func TestStatusCode(t *testing.T) {
	got := map[string]int{}
	for name, err := range map[string]error{
		"nil": nil, "invalid": wrap("login", ErrInvalidCredentials), "forbidden": ErrForbidden,
		"csrf": ErrCSRF, "locked": ErrLocked, "rate": ErrRateLimited, "policy": wrap("x", ErrPasswordShort),
		"notfound": ErrNotFound, "exists": ErrExists, "init": ErrAlreadyInitialised, "other": errors.New("disk"),
		"mfa": ErrMFARequired, "ip": ErrIPNotAllowed,
	} {
		got[name] = StatusCode(err)
	}
	want := map[string]int{"nil": 200, "invalid": 401, "forbidden": 403, "csrf": 403, "locked": 423, "rate": 429,
		"policy": 400, "notfound": 404, "exists": 409, "init": 409, "other": 500, "mfa": 401, "ip": 403}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StatusCode (-want +got):\n%s", diff)
	}
}
