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

// AdvisoryRequest is what POST /api/advisories takes: the operator's
// credentials (a password and a fresh TOTP code, checked on every request:
// no session is kept) and the advisory for the gateway's zone.
type AdvisoryRequest struct {
	User     string                      `json:"user"`
	Password string                      `json:"password"`
	TOTPCode string                      `json:"totp_code"`
	Texts    map[string]record.AlertText `json:"texts"`
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
	User     string   `json:"user"`
	Password string   `json:"password"`
	TOTPCode string   `json:"totp_code"`
	IDs      []string `json:"ids"`
	Reason   string   `json:"reason"`
}

// Issued is the answer: the signed record's id and when it ends.
type Issued struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// maxOperatorBody bounds a request to the operator API.
const maxOperatorBody = 64 << 10

// operatorHandler serves the operator API (HTTPS, on the gateway's
// certificate):
//
//	POST /api/advisories          AdvisoryRequest → 201 Issued
//	POST /api/advisories/cancel   CancelRequest → 201 Issued
//
// Errors are {"error": "..."} with 400 (bad request), 401 (wrong
// credentials), 403 (not an operator of this zone), 423 (locked out) or
// 429 (rate limited). Every request is logged with its user and outcome,
// never with its password or code.
func (g *Gateway) operatorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/advisories", func(w http.ResponseWriter, r *http.Request) {
		var req AdvisoryRequest
		if !decodeOperator(w, r, &req) {
			return
		}
		lifetime, err := time.ParseDuration(req.Lifetime)
		if err != nil {
			operatorError(w, http.StatusBadRequest, fmt.Errorf("lifetime %q: want a duration such as 2h", req.Lifetime))
			return
		}
		if !g.authorizeOperator(w, r, req.User, req.Password, req.TOTPCode) {
			return
		}
		rec, err := g.Advisory(r.Context(), &record.Alert{Texts: req.Texts, Severity: req.Severity, Urgency: req.Urgency,
			Certainty: req.Certainty, Category: req.Category}, lifetime)
		if err != nil {
			operatorError(w, http.StatusBadRequest, err)
			return
		}
		g.log.Warn("advisory issued by a local operator", "operator", req.User, "record", rec.ID().Short(), "expires", rec.Expires)
		operatorJSON(w, http.StatusCreated, Issued{ID: rec.ID().String(), Expires: rec.Expires})
	})
	mux.HandleFunc("POST /api/advisories/cancel", func(w http.ResponseWriter, r *http.Request) {
		var req CancelRequest
		if !decodeOperator(w, r, &req) {
			return
		}
		ids := make([]record.ID, len(req.IDs))
		for i, s := range req.IDs {
			id, err := record.ParseID(s)
			if err != nil {
				operatorError(w, http.StatusBadRequest, fmt.Errorf("ids[%d]: %w", i, err))
				return
			}
			ids[i] = id
		}
		if !g.authorizeOperator(w, r, req.User, req.Password, req.TOTPCode) {
			return
		}
		rec, err := g.CancelAdvisories(r.Context(), ids, req.Reason)
		if err != nil {
			operatorError(w, http.StatusBadRequest, err)
			return
		}
		g.log.Warn("advisories cancelled by a local operator", "operator", req.User, "record", rec.ID().Short(), "cancelled", len(ids))
		operatorJSON(w, http.StatusCreated, Issued{ID: rec.ID().String(), Expires: rec.Expires})
	})
	return mux
}

// authorizeOperator checks the credentials, answering the refusal itself.
func (g *Gateway) authorizeOperator(w http.ResponseWriter, r *http.Request, user, password, code string) bool {
	ip := netip.Addr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap()
	}
	err := g.operators.Authorize(user, password, code, ip)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrNotZoneOperator):
		g.log.Warn("advisory refused: not an operator of this zone", "user", user, "remote", ip.String())
		operatorError(w, http.StatusForbidden, err)
	default:
		g.log.Warn("advisory refused: credentials", "user", user, "remote", ip.String(), "err", err)
		operatorError(w, auth.StatusCode(err), err)
	}
	return false
}

func decodeOperator(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOperatorBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		operatorError(w, http.StatusBadRequest, fmt.Errorf("the request is not the JSON this endpoint takes: %w", err))
		return false
	}
	return true
}

func operatorError(w http.ResponseWriter, status int, err error) {
	operatorJSON(w, status, map[string]string{"error": err.Error()})
}

func operatorJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
