package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cityarray/cityarray/server/audit"
	"github.com/cityarray/cityarray/server/auth"
)

// apiFunc is a handler that returns its error instead of writing it.
type apiFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

func (s *Server) api(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r, PrincipalFrom(r.Context())); err != nil {
			s.WriteError(w, r, err)
		}
	})
}

// Decode reads r's JSON body into v with DecodeJSON and the configured
// size cap.
func (s *Server) Decode(r *http.Request, v any) error {
	return DecodeJSON(r, s.cfg.HTTP.MaxBodyBytes, v)
}

// registerRoutes adds the foundation's endpoints. Each has its OpenAPI
// description in openapi.go (docs), which TestOpenAPICoversRoutes holds to
// the registry.
func (s *Server) registerRoutes() {
	pub := func(pattern string, h http.Handler) { s.handle(pattern, AccessPublic, "", h, WithDoc(docs[pattern])) }
	self := func(pattern string, f apiFunc) {
		s.handle(pattern, AccessAuthenticated, "", s.api(f), WithDoc(docs[pattern]))
	}
	perm := func(pattern string, p auth.Permission, f apiFunc) {
		s.Handle(pattern, p, s.api(f), WithDoc(docs[pattern]))
	}

	pub("GET /healthz", http.HandlerFunc(s.healthz))
	pub("GET /readyz", http.HandlerFunc(s.readyz))
	s.handle("GET /metrics", AccessLoopbackOrPermission, auth.PermMetricsRead, s.metrics.handler(), WithDoc(docs["GET /metrics"]))
	pub("GET /api/openapi.json", http.HandlerFunc(s.openapi))

	pub("POST /api/v1/setup/start", s.api(s.setupStart))
	pub("POST /api/v1/setup/finish", s.api(s.setupFinish))
	pub("POST /api/v1/login", s.api(s.login))
	self("POST /api/v1/logout", s.logout)
	self("POST /api/v1/reauth", s.reauth)
	self("GET /api/v1/me", s.me)
	self("POST /api/v1/password", s.changePassword)

	perm("GET /api/v1/users", auth.PermUserRead, s.listUsers)
	perm("POST /api/v1/users", auth.PermUserManage, s.createUser)
	perm("GET /api/v1/users/{id}", auth.PermUserRead, s.getUser)
	perm("POST /api/v1/users/{id}/role", auth.PermUserManage, s.setRole)
	perm("POST /api/v1/users/{id}/disable", auth.PermUserManage, s.setDisabled(true))
	perm("POST /api/v1/users/{id}/enable", auth.PermUserManage, s.setDisabled(false))
	perm("POST /api/v1/users/{id}/unlock", auth.PermUserManage, s.unlockUser)
	perm("POST /api/v1/users/{id}/reset", auth.PermUserManage, s.resetUser)

	perm("GET /api/v1/tokens", auth.PermTokenManage, s.listTokens)
	perm("POST /api/v1/tokens", auth.PermTokenManage, s.createToken)
	perm("DELETE /api/v1/tokens/{id}", auth.PermTokenManage, s.revokeToken)

	perm("GET /api/v1/audit", auth.PermAuditRead, s.listAudit)
	perm("GET /api/v1/audit/proof/{n}", auth.PermAuditRead, s.auditProof)
}

// --- health

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := s.readiness()
	if err := s.Ready(); err != nil {
		// The checks say which component, never why: the cause is in the log.
		var names []string
		for k, v := range checks {
			if v != "ok" {
				names = append(names, k+": "+v)
			}
		}
		slices.Sort(names)
		s.log.Warn("not ready", "why", err)
		WriteJSON(w, http.StatusServiceUnavailable, readyResponse{Status: "not ready: " + strings.Join(names, ", "), Checks: checks})
		return
	}
	WriteJSON(w, http.StatusOK, readyResponse{Status: "ready", Checks: checks})
}

// --- setup and sessions

type setupStartRequest struct {
	User      string `json:"user"`
	SetupCode string `json:"setup_code"`
}

type setupStartResponse struct {
	Secret     string `json:"totp_secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

func requireFields(fields ...[2]string) error {
	var errs []FieldError
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			errs = append(errs, BodyField(f[0], "required"))
		}
	}
	if len(errs) > 0 {
		return ValidationProblem(errs...)
	}
	return nil
}

func (s *Server) setupStart(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var req setupStartRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if err := requireFields([2]string{"user", req.User}, [2]string{"setup_code", req.SetupCode}); err != nil {
		return err
	}
	en, err := s.auth.StartSetup(req.User, req.SetupCode, RemoteIP(r.Context()))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, setupStartResponse{Secret: en.Secret, OTPAuthURL: en.URL})
	return nil
}

type setupFinishRequest struct {
	User      string `json:"user"`
	SetupCode string `json:"setup_code"`
	Password  string `json:"password"`
	TOTPCode  string `json:"totp_code"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
	Note          string   `json:"note"`
}

func (s *Server) setupFinish(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var req setupFinishRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if err := requireFields([2]string{"user", req.User}, [2]string{"setup_code", req.SetupCode},
		[2]string{"password", req.Password}, [2]string{"totp_code", req.TOTPCode}); err != nil {
		return err
	}
	rc, err := s.auth.FinishSetup(req.User, req.SetupCode, req.Password, req.TOTPCode, RemoteIP(r.Context()))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: rc,
		Note: "each code logs in once in place of a TOTP code; they are shown only now: store them offline"})
	return nil
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	TOTPCode string `json:"totp_code"`
}

type loginResponse struct {
	User      string    `json:"user"`
	Role      auth.Role `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	Expires   time.Time `json:"expires"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var req loginRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if err := requireFields([2]string{"user", req.User}, [2]string{"password", req.Password}); err != nil {
		return err
	}
	ip := RemoteIP(r.Context())
	tok, sess, err := s.auth.Login(auth.Credentials{UserID: req.User, Password: req.Password, Code: req.TOTPCode, RemoteIP: ip})
	if err != nil {
		return err
	}
	p, err := s.auth.AuthenticateSession(tok, ip)
	if err != nil {
		return err
	}
	infoFrom(r.Context()).principal = p
	auth.SetSessionCookie(w, tok, !s.cfg.HTTP.InsecureHTTPLoopback)
	WriteJSON(w, http.StatusOK, loginResponse{User: p.UserID(), Role: p.Role(), CSRFToken: s.auth.CSRFToken(tok), Expires: sess.Expires})
	return nil
}

// sessionToken returns the session token of a request authenticated by a
// session, or a 400 for an API token.
func (s *Server) sessionToken(r *http.Request, p *auth.Principal, what string) (string, error) {
	if _, ok := p.Session(); !ok {
		return "", NewProblem(http.StatusBadRequest, ProblemBadRequest, what+" needs a browser session, not an API token")
	}
	return auth.SessionToken(r, !s.cfg.HTTP.InsecureHTTPLoopback)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
		return err
	}
	tok, err := s.sessionToken(r, p, "logout")
	if err != nil {
		return err
	}
	if err := s.auth.Logout(tok, RemoteIP(r.Context())); err != nil {
		return err
	}
	auth.ClearSessionCookie(w, !s.cfg.HTTP.InsecureHTTPLoopback)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type reauthRequest struct {
	TOTPCode string `json:"totp_code"`
}

type reauthResponse struct {
	FreshUntil time.Time `json:"fresh_until"`
}

func (s *Server) reauth(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var req reauthRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if err := requireFields([2]string{"totp_code", req.TOTPCode}); err != nil {
		return err
	}
	tok, err := s.sessionToken(r, p, "re-authentication")
	if err != nil {
		return err
	}
	sess, err := s.auth.Reauthenticate(tok, req.TOTPCode, RemoteIP(r.Context()))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, reauthResponse{FreshUntil: sess.LastTOTP.Add(auth.FreshWindow)})
	return nil
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var req passwordRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if err := requireFields([2]string{"current_password", req.CurrentPassword}, [2]string{"new_password", req.NewPassword}); err != nil {
		return err
	}
	if _, err := s.sessionToken(r, p, "a password change"); err != nil {
		return err
	}
	if err := s.auth.ChangePassword(p, req.CurrentPassword, req.NewPassword); err != nil {
		var pe *auth.PolicyError
		if errors.As(err, &pe) {
			prob := problemFor(err)
			prob.Errors = []FieldError{BodyField("new_password", pe.Error())}
			return prob
		}
		return err
	}
	// Every session of the user ended, this one too.
	auth.ClearSessionCookie(w, !s.cfg.HTTP.InsecureHTTPLoopback)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- users

// userJSON is a user as the API shows it: no secrets, no hashes.
type userJSON struct {
	ID                string            `json:"id"`
	DisplayName       string            `json:"display_name"`
	Role              auth.Role         `json:"role"`
	Zones             []string          `json:"zones,omitempty"`
	Disabled          bool              `json:"disabled"`
	PasswordSet       bool              `json:"password_set"`
	MFAEnrolled       bool              `json:"mfa_enrolled"`
	RecoveryCodesLeft int               `json:"recovery_codes_left"`
	SetupPending      bool              `json:"setup_pending"`
	SetupExpires      *time.Time        `json:"setup_expires,omitempty"`
	FailedLogins      int               `json:"failed_logins"`
	LockedUntil       *time.Time        `json:"locked_until,omitempty"`
	PasswordChanged   *time.Time        `json:"password_changed,omitempty"`
	Created           time.Time         `json:"created"`
	Updated           time.Time         `json:"updated"`
	Permissions       []auth.Permission `json:"permissions,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toUserJSON(u auth.User) userJSON {
	return userJSON{ID: u.ID, DisplayName: u.DisplayName, Role: u.Role, Zones: u.Zones, Disabled: u.Disabled,
		PasswordSet: u.PasswordSet, MFAEnrolled: u.MFAEnrolled, RecoveryCodesLeft: u.RecoveryCodesLeft,
		SetupPending: u.SetupPending, SetupExpires: optTime(u.SetupExpires), FailedLogins: u.FailedLogins,
		LockedUntil: optTime(u.LockedUntil), PasswordChanged: optTime(u.PasswordChanged),
		Created: u.Created, Updated: u.Updated}
}

type meResponse struct {
	User        userJSON          `json:"user"`
	Via         string            `json:"via"` // "session" or "api-token"
	Permissions []auth.Permission `json:"permissions"`
	Session     *sessionJSON      `json:"session,omitempty"`
	Token       *tokenJSON        `json:"token,omitempty"`
}

type sessionJSON struct {
	ID         string     `json:"id"`
	Created    time.Time  `json:"created"`
	Expires    time.Time  `json:"expires"`
	FreshUntil *time.Time `json:"fresh_until,omitempty"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var resp meResponse
	if _, isToken := p.Token(); isToken {
		// An API token may not read user records (auth keeps them to
		// people); it learns what the principal says.
		resp.User = userJSON{ID: p.UserID(), Role: p.Role(), Zones: p.Zones()}
	} else {
		u, err := s.auth.User(p, p.UserID())
		if err != nil {
			return err
		}
		resp.User = toUserJSON(u)
	}
	resp.Via = "session"
	for _, perm := range auth.Permissions() {
		if p.Can(perm) {
			resp.Permissions = append(resp.Permissions, perm)
		}
	}
	if sess, ok := p.Session(); ok {
		sj := &sessionJSON{ID: sess.ID, Created: sess.Created, Expires: sess.Expires}
		if !sess.LastTOTP.IsZero() {
			sj.FreshUntil = optTime(sess.LastTOTP.Add(auth.FreshWindow))
		}
		resp.Session = sj
	}
	if tok, ok := p.Token(); ok {
		resp.Via = "api-token"
		tj := toTokenJSON(tok)
		resp.Token = &tj
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

// userIDRE is auth's user id syntax (NewUser.ID); checking it here gives
// a clear 400 for a malformed path id before anything is looked up.
var userIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

func pathUserID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !userIDRE.MatchString(id) {
		return "", ValidationProblem(FieldError{Field: "id", Detail: "a user id is 2 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"})
	}
	return id, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := s.ParsePage(r, "users")
	if err != nil {
		return err
	}
	users, err := s.auth.Users(p)
	if err != nil {
		return err
	}
	i, _ := slices.BinarySearchFunc(users, pg.After, func(u auth.User, id string) int { return strings.Compare(u.ID, id) })
	if pg.After != "" && i < len(users) && users[i].ID == pg.After {
		i++
	}
	resp := PageResponse[userJSON]{Items: []userJSON{}}
	for _, u := range users[i:min(i+pg.Limit, len(users))] {
		resp.Items = append(resp.Items, toUserJSON(u))
	}
	if i+pg.Limit < len(users) {
		resp.NextCursor = s.NextCursor("users", users[i+pg.Limit-1].ID)
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

type createUserRequest struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	Role        auth.Role `json:"role"`
	Zones       []string  `json:"zones"`
}

type setupCodeResponse struct {
	User         userJSON   `json:"user"`
	SetupCode    string     `json:"setup_code,omitempty"`
	SetupExpires *time.Time `json:"setup_expires,omitempty"`
	Note         string     `json:"note"`
}

func checkRole(role auth.Role, zones []string) []FieldError {
	var errs []FieldError
	switch {
	case role == "":
		errs = append(errs, BodyField("role", "required"))
	case !role.Valid():
		errs = append(errs, BodyField("role", "unknown role; one of "+roleList()))
	case role == auth.RoleZoneOperator && len(zones) == 0:
		errs = append(errs, BodyField("zones", "a zone_operator needs at least one zone"))
	case role != auth.RoleZoneOperator && len(zones) > 0:
		errs = append(errs, BodyField("zones", "only a zone_operator has zones"))
	}
	return errs
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var req createUserRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	var errs []FieldError
	if !userIDRE.MatchString(req.ID) {
		errs = append(errs, BodyField("id", "2 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"))
	}
	if strings.TrimSpace(req.DisplayName) == "" {
		errs = append(errs, BodyField("display_name", "required"))
	}
	errs = append(errs, checkRole(req.Role, req.Zones)...)
	if len(errs) > 0 {
		return ValidationProblem(errs...)
	}
	code, err := s.auth.CreateUser(p, auth.NewUser{ID: req.ID, DisplayName: req.DisplayName, Role: req.Role, Zones: req.Zones})
	if err != nil {
		return err
	}
	u, err := s.auth.User(p, req.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+req.ID)
	WriteJSON(w, http.StatusCreated, setupResponse(u, code))
	return nil
}

func setupResponse(u auth.User, code string) setupCodeResponse {
	resp := setupCodeResponse{User: toUserJSON(u), SetupCode: code, SetupExpires: optTime(u.SetupExpires),
		Note: "give the setup code to the person, who finishes setup at POST /api/v1/setup/start and /api/v1/setup/finish; it is shown only now"}
	if code == "" {
		resp.Note = "an integration user has no password or TOTP: create API tokens for it (POST /api/v1/tokens)"
	}
	return resp
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	u, err := s.auth.User(p, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

type setRoleRequest struct {
	Role  auth.Role `json:"role"`
	Zones []string  `json:"zones"`
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	var req setRoleRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	if errs := checkRole(req.Role, req.Zones); len(errs) > 0 {
		return ValidationProblem(errs...)
	}
	if err := s.auth.SetRole(p, id, req.Role, req.Zones); err != nil {
		return err
	}
	return s.writeUser(w, p, id)
}

func (s *Server) writeUser(w http.ResponseWriter, p *auth.Principal, id string) error {
	u, err := s.auth.User(p, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

func (s *Server) setDisabled(disabled bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		id, err := pathUserID(r)
		if err != nil {
			return err
		}
		if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
			return err
		}
		if err := s.auth.SetDisabled(p, id, disabled); err != nil {
			return err
		}
		return s.writeUser(w, p, id)
	}
}

func (s *Server) unlockUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
		return err
	}
	if err := s.auth.Unlock(p, id); err != nil {
		return err
	}
	return s.writeUser(w, p, id)
}

func (s *Server) resetUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
		return err
	}
	code, err := s.auth.ResetUser(p, id)
	if err != nil {
		return err
	}
	u, err := s.auth.User(p, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, setupResponse(u, code))
	return nil
}

// --- tokens

type tokenJSON struct {
	ID       string            `json:"id"`
	User     string            `json:"user"`
	Name     string            `json:"name"`
	Scopes   []auth.Permission `json:"scopes"`
	Created  time.Time         `json:"created"`
	Expires  time.Time         `json:"expires"`
	LastUsed *time.Time        `json:"last_used,omitempty"`
}

func toTokenJSON(t auth.Token) tokenJSON {
	return tokenJSON{ID: t.ID, User: t.UserID, Name: t.Name, Scopes: t.Scopes, Created: t.Created,
		Expires: t.Expires, LastUsed: optTime(t.LastUsed)}
}

var tokenIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := s.ParsePage(r, "tokens")
	if err != nil {
		return err
	}
	user := p.UserID()
	if vs, ok := r.URL.Query()["user"]; ok {
		if len(vs) != 1 || !userIDRE.MatchString(vs[0]) {
			return ValidationProblem(FieldError{Field: "user", Detail: "one user id"})
		}
		user = vs[0]
	}
	toks, err := s.auth.Tokens(p, user)
	if err != nil {
		return err
	}
	slices.SortFunc(toks, func(a, b auth.Token) int { return strings.Compare(a.ID, b.ID) })
	i, _ := slices.BinarySearchFunc(toks, pg.After, func(t auth.Token, id string) int { return strings.Compare(t.ID, id) })
	if pg.After != "" && i < len(toks) && toks[i].ID == pg.After {
		i++
	}
	resp := PageResponse[tokenJSON]{Items: []tokenJSON{}}
	for _, t := range toks[i:min(i+pg.Limit, len(toks))] {
		resp.Items = append(resp.Items, toTokenJSON(t))
	}
	if i+pg.Limit < len(toks) {
		resp.NextCursor = s.NextCursor("tokens", toks[i+pg.Limit-1].ID)
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

type createTokenRequest struct {
	User      string            `json:"user"`
	Name      string            `json:"name"`
	Scopes    []auth.Permission `json:"scopes"`
	ExpiresAt string            `json:"expires_at"`
}

type createTokenResponse struct {
	Token  tokenJSON `json:"token"`
	Secret string    `json:"secret"`
	Note   string    `json:"note"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var req createTokenRequest
	if err := s.Decode(r, &req); err != nil {
		return err
	}
	var errs []FieldError
	user := req.User
	if user == "" {
		user = p.UserID()
	} else if !userIDRE.MatchString(user) {
		errs = append(errs, BodyField("user", "not a user id"))
	}
	if n := strings.TrimSpace(req.Name); n == "" || len(n) > 100 {
		errs = append(errs, BodyField("name", "1 to 100 bytes"))
	}
	if len(req.Scopes) == 0 {
		errs = append(errs, BodyField("scopes", "at least one permission"))
	}
	for i, sc := range req.Scopes {
		if !sc.Valid() {
			errs = append(errs, BodyField(fmt.Sprintf("scopes[%d]", i), "unknown permission"))
		} else if !auth.TokenGrantable(sc) {
			errs = append(errs, BodyField(fmt.Sprintf("scopes[%d]", i), "an API token may not carry "+string(sc)))
		}
	}
	exp, err := time.Parse(time.RFC3339, req.ExpiresAt)
	if err != nil {
		errs = append(errs, BodyField("expires_at", "an RFC 3339 time such as 2027-01-31T00:00:00Z"))
	}
	if len(errs) > 0 {
		return ValidationProblem(errs...)
	}
	secret, tok, err := s.auth.CreateToken(p, user, req.Name, req.Scopes, exp)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/tokens/"+tok.ID)
	WriteJSON(w, http.StatusCreated, createTokenResponse{Token: toTokenJSON(tok), Secret: secret,
		Note: "send it as Authorization: Bearer <secret>; it is shown only now"})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id := r.PathValue("id")
	if !tokenIDRE.MatchString(id) {
		return ValidationProblem(FieldError{Field: "id", Detail: "a token id is 16 lower-case hex digits"})
	}
	if err := s.auth.RevokeToken(p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- audit

type auditEntryJSON struct {
	Seq     int64             `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Role    string            `json:"role,omitempty"`
	Action  string            `json:"action"`
	Target  string            `json:"target,omitempty"`
	Outcome string            `json:"outcome"`
	IP      *netip.Addr       `json:"ip,omitempty"`
	Detail  map[string]string `json:"detail,omitempty"`
}

type auditListResponse struct {
	PageResponse[auditEntryJSON]
	// Size is how many entries the log held when the request began;
	// First the first one it still holds (retention prunes older ones).
	Size  int64 `json:"size"`
	First int64 `json:"first"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := s.ParsePage(r, "audit")
	if err != nil {
		return err
	}
	var from int64
	q := r.URL.Query()
	if vs, ok := q["from"]; ok {
		if pg.After != "" {
			return ValidationProblem(FieldError{Field: "from", Detail: "give from or cursor, not both"})
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if len(vs) != 1 || err != nil || n < 0 {
			return ValidationProblem(FieldError{Field: "from", Detail: "an entry index, 0 or more"})
		}
		from = n
	}
	if pg.After != "" {
		from, _ = strconv.ParseInt(pg.After, 10, 64)
	}
	size := s.audit.Size()
	entries, first, err := readAuditEntries(s.audit.Dir(), from, pg.Limit, size)
	if err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	resp := auditListResponse{Size: size, First: first}
	resp.Items = make([]auditEntryJSON, 0, len(entries))
	for _, e := range entries {
		j := auditEntryJSON{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Role: e.Role, Action: e.Action,
			Target: e.Target, Outcome: e.Outcome, Detail: e.Detail}
		if e.RemoteIP.IsValid() {
			ip := e.RemoteIP
			j.IP = &ip
		}
		resp.Items = append(resp.Items, j)
	}
	if n := len(entries); n > 0 && entries[n-1].Seq+1 < size {
		resp.NextCursor = s.NextCursor("audit", strconv.FormatInt(entries[n-1].Seq+1, 10))
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) auditProof(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	raw := r.PathValue("n")
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != raw {
		return ValidationProblem(FieldError{Field: "n", Detail: "an entry index, 0 or more, in decimal"})
	}
	if n >= s.audit.Size() {
		return NewProblem(http.StatusNotFound, ProblemNotFound, fmt.Sprintf("the log has %d entries", s.audit.Size()))
	}
	proof, err := s.audit.Prove(n)
	if errors.Is(err, audit.ErrNotCovered) {
		// Sign a checkpoint now rather than make the auditor wait up to a
		// minute for the next.
		if _, err := s.audit.Checkpoint(s.clock.Now()); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		proof, err = s.audit.Prove(n)
	}
	if err != nil {
		return err
	}
	b, err := proof.MarshalJSON()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
	return nil
}
