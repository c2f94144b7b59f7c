package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/auth"
)

// Credentials are an operator's, in each request to the operator API: a
// password and a fresh TOTP code (or a recovery code), checked on every
// request: no session is kept.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
	TOTPCode string `json:"totp_code"`
}

// AdvisoryRequest is what POST /api/advisories takes: the operator's
// credentials (their fields at the top level of the JSON) and the
// advisory for the gateway's zone.
type AdvisoryRequest struct {
	Credentials
	Texts map[string]record.AlertText `json:"texts"`
	// Lifetime is a Go duration (at most MaxAdvisoryLifetime).
	Lifetime  string `json:"lifetime"`
	Severity  string `json:"severity"`
	Urgency   string `json:"urgency"`
	Certainty string `json:"certainty"`
	Category  string `json:"category"`
}

// CancelRequest is what POST /api/advisories/cancel takes: credentials,
// the advisories (ids in hex) and why.
type CancelRequest struct {
	Credentials
	IDs    []string `json:"ids"`
	Reason string   `json:"reason"`
}

// Issued is the answer: the signed record's id and when it ends.
type Issued struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// maxOperatorBody bounds a request to the operator API.
const maxOperatorBody = 64 << 10

// operatorHandler serves the operator API (HTTPS, on the gateway's city
// certificate, or on operators.web_cert for a browser):
//
//	POST /api/advisories          AdvisoryRequest → 201 Issued
//	POST /api/advisories/cancel   CancelRequest → 201 Issued
//	GET  /                        the operators' page: a form for each
//	POST /advisory                the advisory form → a page
//	POST /advisory/cancel         the cancel form → a page
//
// The JSON endpoints and the forms share one path (operatorAdvisory,
// operatorCancel): the request is checked, then the credentials, then the
// record is signed. Errors are {"error": "..."} (or the page, naming
// the error) with 400 (bad request), 401 (wrong credentials), 403 (not an
// operator of this zone), 423 (locked out) or 429 (rate limited). Every
// request is logged with its user and outcome, never with its password
// or code.
func (g *Gateway) operatorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/advisories", func(w http.ResponseWriter, r *http.Request) {
		var req AdvisoryRequest
		if err := decodeOperator(w, r, &req); err != nil {
			operatorError(w, err)
			return
		}
		rec, err := g.operatorAdvisory(r, &req)
		if err != nil {
			operatorError(w, err)
			return
		}
		operatorJSON(w, http.StatusCreated, Issued{ID: rec.ID().String(), Expires: rec.Expires})
	})
	mux.HandleFunc("POST /api/advisories/cancel", func(w http.ResponseWriter, r *http.Request) {
		var req CancelRequest
		if err := decodeOperator(w, r, &req); err != nil {
			operatorError(w, err)
			return
		}
		rec, err := g.operatorCancel(r, &req)
		if err != nil {
			operatorError(w, err)
			return
		}
		operatorJSON(w, http.StatusCreated, Issued{ID: rec.ID().String(), Expires: rec.Expires})
	})
	g.operatorPages(mux)
	return mux
}

// refusal is a request the operator API turns down: the HTTP status to
// answer and why.
type refusal struct {
	status int
	err    error
}

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

func refuse(status int, err error) error { return &refusal{status: status, err: err} }

// refusalStatus is the HTTP status that answers err.
func refusalStatus(err error) int {
	var e *refusal
	if errors.As(err, &e) {
		return e.status
	}
	return http.StatusInternalServerError
}

// operatorAdvisory is POST /api/advisories and POST /advisory (the form):
// it checks the request, then the credentials, then signs and publishes
// the advisory. Its errors are refusals.
func (g *Gateway) operatorAdvisory(r *http.Request, req *AdvisoryRequest) (*record.Record, error) {
	lifetime, err := time.ParseDuration(req.Lifetime)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, fmt.Errorf("lifetime %q: want a duration such as 2h", req.Lifetime))
	}
	// Checked before the credentials: a mistake in the text must not
	// spend a one-time code.
	unsigned, err := g.advisory(&record.Alert{Texts: req.Texts, Severity: req.Severity, Urgency: req.Urgency,
		Certainty: req.Certainty, Category: req.Category}, lifetime)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, err)
	}
	rec, err := g.issueFor(r, req.Credentials, unsigned)
	if err != nil {
		return nil, err
	}
	g.log.Warn("advisory issued by a local operator", "operator", req.User, "record", rec.ID().Short(), "expires", rec.Expires, "path", r.URL.Path)
	return rec, nil
}

// issueFor signs unsigned once the credentials pass; its errors are
// refusals.
func (g *Gateway) issueFor(r *http.Request, c Credentials, unsigned *record.Record) (*record.Record, error) {
	if err := g.authorizeOperator(r, c); err != nil {
		return nil, err
	}
	rec, err := g.issue(r.Context(), unsigned)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, err)
	}
	return rec, nil
}

// operatorCancel is POST /api/advisories/cancel and POST /advisory/cancel
// (the form), as operatorAdvisory.
func (g *Gateway) operatorCancel(r *http.Request, req *CancelRequest) (*record.Record, error) {
	ids := make([]record.ID, len(req.IDs))
	for i, s := range req.IDs {
		id, err := record.ParseID(s)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, fmt.Errorf("ids[%d]: %w", i, err))
		}
		ids[i] = id
	}
	unsigned, err := g.cancel(ids, req.Reason)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, err)
	}
	rec, err := g.issueFor(r, req.Credentials, unsigned)
	if err != nil {
		return nil, err
	}
	g.log.Warn("advisories cancelled by a local operator", "operator", req.User, "record", rec.ID().Short(), "cancelled", len(ids), "path", r.URL.Path)
	return rec, nil
}

// authorizeOperator checks the credentials; its error is a refusal.
func (g *Gateway) authorizeOperator(r *http.Request, c Credentials) error {
	ip := netip.Addr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap()
	}
	err := g.operators.Authorize(c.User, c.Password, c.TOTPCode, ip)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotZoneOperator):
		g.log.Warn("advisory refused: not an operator of this zone", "user", c.User, "remote", ip.String(), "path", r.URL.Path)
		return refuse(http.StatusForbidden, err)
	default:
		g.log.Warn("advisory refused: credentials", "user", c.User, "remote", ip.String(), "path", r.URL.Path, "err", err)
		return refuse(auth.StatusCode(err), err)
	}
}

func decodeOperator(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOperatorBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(http.StatusBadRequest, fmt.Errorf("the request is not the JSON this endpoint takes: %w", err))
	}
	return nil
}

func operatorError(w http.ResponseWriter, err error) {
	operatorJSON(w, refusalStatus(err), map[string]string{"error": err.Error()})
}

func operatorJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
