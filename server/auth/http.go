package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain, so no other host or path can set it.
const (
	SessionCookie         = "__Host-cityarray_session"
	InsecureSessionCookie = "cityarray_session"
	// CSRFHeader carries the CSRF token on state-changing cookie requests.
	CSRFHeader = "X-CSRF-Token"
)

func cookieName(secure bool) string {
	if secure {
		return SessionCookie
	}
	return InsecureSessionCookie
}

// SetSessionCookie sets the session cookie: HttpOnly, SameSite=Strict,
// Path=/, and with secure (always, outside development) Secure and the
// __Host- name. It has no Max-Age: it lasts until the browser closes, and
// the server ends the session itself.
func SetSessionCookie(w http.ResponseWriter, token string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(secure), Value: token, Path: "/",
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

// ClearSessionCookie tells the browser to drop the session cookie (at
// logout).
func ClearSessionCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(secure), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

// SessionToken returns the well-formed session token from r's cookie, or
// ErrUnauthenticated if there is none, or ErrInvalidCredentials if it is
// malformed. With secure, only the __Host- cookie counts.
func SessionToken(r *http.Request, secure bool) (string, error) {
	c, err := r.Cookie(cookieName(secure))
	if err != nil {
		return "", wrap("session cookie", ErrUnauthenticated)
	}
	if parseSessionToken(c.Value) != nil {
		return "", wrap("session cookie", ErrInvalidCredentials)
	}
	return c.Value, nil
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header, and whether there was such a header. The scheme is matched
// without regard to case, as RFC 9110 says.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// CSRFToken is the CSRF token for a session: HMAC-SHA256 of the session
// token under Options.CSRFKey, unpadded base64url. Give it to the page
// (not in a cookie); the page sends it back in the X-CSRF-Token header.
// It changes with the session and needs no storage.
func (s *Service) CSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, s.opts.CSRFKey)
	m.Write([]byte("cityarray/auth/csrf/v1\x00" + sessionToken))
	return b64url.EncodeToString(m.Sum(nil))
}

// safeMethod reports whether a method changes nothing (RFC 9110 §9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// CheckCSRF checks the X-CSRF-Token header of a state-changing request
// authenticated by the session cookie sessionToken, in constant time.
// Safe methods (GET, HEAD, OPTIONS, TRACE) pass: handlers must not change
// anything on them.
func (s *Service) CheckCSRF(r *http.Request, sessionToken string) error {
	if safeMethod(r.Method) {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	want := s.CSRFToken(sessionToken)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return wrap("check CSRF", fmt.Errorf("%w: missing or wrong %s header", ErrCSRF, CSRFHeader))
	}
	return nil
}

// CheckOrigin refuses a state-changing request that a browser marks as
// cross-site: Sec-Fetch-Site other than same-origin or none, or else an
// Origin header whose host is not the request's, unless the origin is in
// Options.TrustedOrigins. Requests without either header (not from a
// browser) pass. It is net/http's CrossOriginProtection, as a check.
func (s *Service) CheckOrigin(r *http.Request) error {
	if err := s.origin.Check(r); err != nil {
		return wrap("check origin", fmt.Errorf("%w: %v", ErrCSRF, err))
	}
	return nil
}

// AuthenticateRequest is what an HTTP middleware calls: an
// "Authorization: Bearer" API token if there is one, else the session
// cookie, for which state-changing requests must also pass CheckOrigin and
// CheckCSRF. ip is the client address as the server determines it (it
// knows its proxies). The principal's Can and AllowedScope then decide
// each handler.
func (s *Service) AuthenticateRequest(r *http.Request, ip netip.Addr) (*Principal, error) {
	if tok, ok := BearerToken(r); ok {
		return s.AuthenticateToken(tok, ip)
	}
	if r.Header.Get("Authorization") != "" {
		return nil, wrap("authenticate", fmt.Errorf("%w: unsupported Authorization scheme", ErrInvalidCredentials))
	}
	token, err := SessionToken(r, !s.opts.InsecureCookie)
	if err != nil {
		return nil, err
	}
	if !safeMethod(r.Method) {
		err := s.CheckOrigin(r)
		if err == nil {
			err = s.CheckCSRF(r, token)
		}
		if err != nil {
			s.emit(Event{Action: ActionAccessDenied, Outcome: OutcomeDenied, RemoteIP: ip, Reason: ReasonCSRF,
				Detail: r.Method + " " + r.URL.Path})
			return nil, err
		}
	}
	return s.AuthenticateSession(token, ip)
}
