package server

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// Access says who may call a route.
type Access int

// Access levels. Deny by default: a route is public only if registered so.
const (
	// AccessPermission: a principal whose role (and token scopes) grant
	// the route's permission. What Handle registers.
	AccessPermission Access = iota
	// AccessAuthenticated: any principal (their own account: me, logout,
	// password, reauth).
	AccessAuthenticated
	// AccessPublic: anyone (health, login, setup, the API description).
	AccessPublic
	// AccessLoopbackOrPermission: anyone from a loopback address, others
	// with the permission (metrics).
	AccessLoopbackOrPermission
)

func (a Access) String() string {
	switch a {
	case AccessPermission:
		return "permission"
	case AccessAuthenticated:
		return "authenticated"
	case AccessPublic:
		return "public"
	case AccessLoopbackOrPermission:
		return "loopback-or-permission"
	}
	return "access(" + strconv.Itoa(int(a)) + ")"
}

// Route is one registered endpoint.
type Route struct {
	Method  string // "GET", "POST", "DELETE"…
	Path    string // ServeMux path pattern, "/api/v1/users/{id}"
	Access  Access
	Perm    auth.Permission // for AccessPermission and AccessLoopbackOrPermission
	Doc     Operation       // its OpenAPI description
	handler http.Handler
}

// Pattern returns "METHOD PATH", the ServeMux pattern.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// RouteOption changes how a route is registered.
type RouteOption func(*Route)

// WithDoc describes the route in the OpenAPI document; routes registered
// without one appear with their pattern only.
func WithDoc(op Operation) RouteOption { return func(r *Route) { r.Doc = op } }

// Handle registers h for pattern ("POST /api/v1/alerts") for principals
// granted perm, with everything every API route gets: authentication
// (session cookie with CSRF, or bearer token), the IP allowlist and rate
// limits (in auth), RBAC (deny unless perm), the access log, metrics and
// an audit entry for every refusal and every state-changing request. The
// handler finds the principal with PrincipalFrom. It panics on a pattern
// without a method, an invalid permission or a duplicate, as
// http.ServeMux does: those are programming errors.
func (s *Server) Handle(pattern string, perm auth.Permission, h http.Handler, opts ...RouteOption) {
	if !perm.Valid() {
		panic(fmt.Sprintf("server: Handle(%q): invalid permission %q", pattern, perm))
	}
	s.handle(pattern, AccessPermission, perm, h, opts...)
}

func (s *Server) handle(pattern string, access Access, perm auth.Permission, h http.Handler, opts ...RouteOption) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(method, "/ ") {
		panic(fmt.Sprintf("server: route %q: want \"METHOD /path\"", pattern))
	}
	rt := Route{Method: method, Path: path, Access: access, Perm: perm, handler: h}
	for _, o := range opts {
		o(&rt)
	}
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	for _, r := range s.routes {
		if r.Pattern() == rt.Pattern() {
			panic(fmt.Sprintf("server: route %q registered twice", pattern))
		}
	}
	s.routes = append(s.routes, rt)
	s.mux.Handle(rt.Pattern(), s.guard(rt))
}

// Routes returns every registered route, sorted by path then method.
func (s *Server) Routes() []Route {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	out := slices.Clone(s.routes)
	slices.SortFunc(out, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// reqInfo is what the middleware knows about a request; handlers and the
// guard fill in the route and the principal.
type reqInfo struct {
	id        string
	ip        netip.Addr
	route     string
	principal *auth.Principal
	problem   string // problem type written, if any
	anonLimit int    // refusals by the anonymous limiter not audited since the last one that was
	noAudit   bool   // the anonymous limiter suppressed this refusal's audit entry
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// PrincipalFrom returns who the request acts as (nil on public routes).
func PrincipalFrom(ctx context.Context) *auth.Principal { return infoFrom(ctx).principal }

// RequestID returns the request's id, as sent in X-Request-Id and logged.
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

// RemoteIP returns the request's client address.
func RemoteIP(ctx context.Context) netip.Addr { return infoFrom(ctx).ip }

// guard applies a route's access rule before its handler.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.route = rt.Pattern()
		switch rt.Access {
		case AccessPublic:
		case AccessLoopbackOrPermission:
			if info.ip.IsLoopback() {
				break
			}
			fallthrough
		default:
			p, err := s.auth.AuthenticateRequest(r, info.ip)
			if err != nil {
				s.WriteError(w, r, err)
				return
			}
			info.principal = p
			if rt.Access != AccessAuthenticated && !p.Can(rt.Perm) {
				// The permission a route needs is public (the OpenAPI
				// document lists it), so the refusal names it.
				s.WriteError(w, r, NewProblem(http.StatusForbidden, ProblemForbidden, "this needs the permission "+string(rt.Perm)+
					", which your role (or API token) does not grant"))
				return
			}
		}
		rt.handler.ServeHTTP(w, r)
	})
}

// ServeHTTP is the API's outer layer, around the ServeMux: a request id,
// security headers, the per-address limit for every request, problem
// documents for unknown paths and methods, panics turned into 500s, and,
// when the request ends, metrics, the access log and the audit entry.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{id: newRequestID(), ip: remoteAddr(r)}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	h := sw.Header()
	h.Set("X-Request-Id", info.id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "request_id", info.id, "route", info.route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wrote {
				s.WriteError(sw, r, fmt.Errorf("panic: %v", v))
			}
		}
		s.finish(sw, r, info, time.Since(start))
	}()
	if ok, suppressed := s.anon.allow(info.ip, s.clock.Now()); !ok {
		info.noAudit, info.anonLimit = suppressed < 0, suppressed
		p := NewProblem(http.StatusTooManyRequests, ProblemRateLimited, "too many requests from your address; slow down")
		p.RetryAfter = 1
		s.WriteError(sw, r, p)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched(sw, r)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// unmatched answers a path no route has (404) or a method its route does
// not take (405, with Allow), as problem documents.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	cw := &captureWriter{header: http.Header{}}
	h.ServeHTTP(cw, r)
	if cw.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", cw.header.Get("Allow"))
		s.WriteError(w, r, NewProblem(http.StatusMethodNotAllowed, ProblemMethod, "this path does not take "+r.Method))
		return
	}
	s.WriteError(w, r, NewProblem(http.StatusNotFound, ProblemNotFound, "no such endpoint: see /api/openapi.json"))
}

// finish records a finished request: metrics, access log, audit.
func (s *Server) finish(sw *statusWriter, r *http.Request, info *reqInfo, d time.Duration) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	s.metrics.observe(info.route, r.Method, status, d)
	level := slog.LevelInfo
	if info.route == "GET /healthz" || info.route == "GET /readyz" || info.route == "GET /metrics" {
		level = slog.LevelDebug
	}
	attrs := []any{"request_id", info.id, "method", metricMethod(r.Method), "route", info.route,
		"path", cleanText(r.URL.EscapedPath(), 256), "status", status, "bytes", sw.bytes,
		"duration_ms", float64(d.Microseconds()) / 1000, "remote_ip", info.ip.String()}
	if p := info.principal; p != nil {
		attrs = append(attrs, "user", p.UserID(), "role", string(p.Role()))
	}
	if info.problem != "" {
		attrs = append(attrs, "problem", strings.TrimPrefix(info.problem, ProblemTypePrefix))
	}
	s.log.Log(r.Context(), level, "http request", attrs...)
	s.auditRequest(r, info, status)
}

// auditRequest writes the audit entry of a request, if it needs one:
// every refusal (401, 403, 423, 429), every other client error on a known
// route, every server error, and every state-changing request.
func (s *Server) auditRequest(r *http.Request, info *reqInfo, status int) {
	changing := !(r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions)
	var action, outcome string
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		status == http.StatusLocked || status == http.StatusTooManyRequests:
		action, outcome = "request.refused", "denied"
	case status >= 500:
		action, outcome = "request.error", "error"
	case status >= 400 && info.route != "":
		action, outcome = "request.invalid", "fail"
	case changing && info.route != "" && status < 400:
		action, outcome = "request.done", "ok"
	default:
		return
	}
	if info.noAudit {
		return
	}
	e := audit.Entry{Actor: "anonymous", Action: action, Outcome: outcome, RemoteIP: info.ip,
		Target: r.URL.EscapedPath(),
		Detail: map[string]string{"method": metricMethod(r.Method), "status": strconv.Itoa(status), "request_id": info.id}}
	if info.route != "" {
		e.Detail["route"] = info.route
	}
	if info.problem != "" {
		e.Detail["problem"] = strings.TrimPrefix(info.problem, ProblemTypePrefix)
	}
	if info.anonLimit > 0 {
		e.Detail["suppressed"] = strconv.Itoa(info.anonLimit)
	}
	if p := info.principal; p != nil {
		e.Actor, e.Role = p.UserID(), string(p.Role())
		if _, ok := p.Token(); ok {
			e.Detail["via"] = "api-token"
		} else {
			e.Detail["via"] = "session"
		}
	}
	s.AuditEntry(e)
}

// AuditEntry appends e to the audit log after making its text fields fit
// (control characters replaced, lengths cut). A failure is logged and
// counted, and makes Ready fail until the server restarts: the log refuses
// appends after an I/O error.
func (s *Server) AuditEntry(e audit.Entry) error {
	e.Actor = cleanText(e.Actor, 128)
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	e.Role = cleanText(e.Role, 64)
	e.Target = cleanText(e.Target, 256)
	if e.Detail != nil {
		d := make(map[string]string, len(e.Detail))
		for k, v := range e.Detail {
			d[k] = cleanText(v, 4096)
		}
		e.Detail = d
	}
	if _, err := s.audit.Append(e); err != nil {
		s.metrics.auditFails.Inc()
		s.log.Error("audit append failed", "action", e.Action, "err", err)
		if !errorsIsInvalidEntry(err) {
			why := "appends fail: " + err.Error()
			s.auditBroken.Store(&why)
		}
		return err
	}
	s.metrics.auditWrites.Inc()
	return nil
}

// auditAuthEvent is auth's audit hook.
func (s *Server) auditAuthEvent(ev auth.Event) {
	d := map[string]string{}
	if ev.Reason != "" {
		d["reason"] = string(ev.Reason)
	}
	if ev.Detail != "" {
		d["detail"] = ev.Detail
	}
	s.AuditEntry(audit.Entry{Actor: ev.Actor, Action: ev.Action, Target: ev.Target, Outcome: string(ev.Outcome),
		RemoteIP: ev.RemoteIP, Detail: d})
}

// cleanText makes s fit an audit or log field: valid UTF-8, control
// characters as '?', at most max bytes.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureWriter takes what the ServeMux's own 404/405 handler writes.
type captureWriter struct {
	header http.Header
	status int
}

func (w *captureWriter) Header() http.Header { return w.header }
func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// ipLimiter is the per-address token bucket every request passes before
// authentication, with a bounded table (least recently used forgotten).
// So that a flood cannot flood the audit log, only the first refusal per
// address per minute is audited, carrying the count of those that were
// not.
type ipLimiter struct {
	limit   Limit
	maxKeys int
	mu      sync.Mutex
	lru     *list.List // of *ipBucket, most recent first
	byKey   map[netip.Prefix]*list.Element
}

type ipBucket struct {
	key        netip.Prefix
	lim        *rate.Limiter
	lastAudit  time.Time
	suppressed int
}

func newIPLimiter(l Limit, maxKeys int) *ipLimiter {
	return &ipLimiter{limit: l, maxKeys: max(maxKeys, 1), lru: list.New(), byKey: map[netip.Prefix]*list.Element{}}
}

// allow takes a token for ip at now. When it refuses, suppressed is -1 if
// this refusal's audit entry should be skipped, else the number of
// refusals skipped since the last audited one.
func (l *ipLimiter) allow(ip netip.Addr, now time.Time) (ok bool, suppressed int) {
	if l.limit.Every <= 0 {
		return true, 0
	}
	key := ipKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *ipBucket
	if el, found := l.byKey[key]; found {
		l.lru.MoveToFront(el)
		b = el.Value.(*ipBucket)
	} else {
		b = &ipBucket{key: key, lim: rate.NewLimiter(rate.Every(l.limit.Every), l.limit.Burst)}
		l.byKey[key] = l.lru.PushFront(b)
		for l.lru.Len() > l.maxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.byKey, old.Value.(*ipBucket).key)
		}
	}
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	if now.Sub(b.lastAudit) < time.Minute {
		b.suppressed++
		return false, -1
	}
	n := b.suppressed
	b.lastAudit, b.suppressed = now, 0
	return false, n
}

// ipKey groups IPv6 addresses by /64, as auth does.
func ipKey(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, 32)
}

func errorsIsInvalidEntry(err error) bool {
	return errors.Is(err, audit.ErrInvalidEntry) || errors.Is(err, audit.ErrSecret)
}
