package edge

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/cityarray/cityarray/hal/display/sim"
)

// Status is what the pole's status endpoint reports (and `mesh status`
// will gather): who it is, which rung carries its uplink, what it shows,
// what is wrong.
type Status struct {
	ID       string            `json:"id"`
	Zone     string            `json:"zone"`
	Version  string            `json:"version,omitempty"`
	Uptime   string            `json:"uptime"`
	Rung     string            `json:"rung"`
	Showing  Showing           `json:"showing"`
	Faults   map[string]string `json:"faults,omitempty"`
	Refused  uint32            `json:"refused"`
	Outbox   int               `json:"outbox"`
	LastSeen time.Time         `json:"last_upstream,omitzero"`
}

// Rung is the rung of the connectivity ladder that carries the pole's
// uplink now (Status().Rung, without the rest).
func (p *Pole) Rung() string { return p.ladder() }

// Status returns the pole's status now. Safe for concurrent use.
func (p *Pole) Status() Status {
	st := Status{ID: p.ident.ID, Zone: p.ident.Zone, Version: p.opts.Version,
		Uptime: p.clock.Now().Sub(p.start).Round(time.Second).String(), Rung: p.ladder(),
		Showing: p.Showing(), Faults: p.Faults(), Refused: p.refused.Load(), LastSeen: p.lastUpstream()}
	if a, tel, err := p.store.OutboxLen(); err == nil {
		st.Outbox = a + tel
	}
	return st
}

// Handler serves the pole's status page: /status.json, and the live panel
// under /panel/ when the panel is simulated (a real panel has no picture
// to serve). It holds nothing secret; the configuration binds it to
// loopback by default.
func (p *Pole) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		b, err := json.MarshalIndent(p.Status(), "", "  ")
		if err != nil {
			p.log.Error("status page", "err", err)
			http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	})
	if sp := p.simPanel(); sp != nil {
		mux.Handle("GET /panel/", http.StripPrefix("/panel", sp))
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/panel/", http.StatusFound)
		})
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/status.json", http.StatusFound)
		})
	}
	return mux
}

// simPanel returns the simulated panel, if that is what the pole drives.
func (p *Pole) simPanel() *sim.Panel {
	if p.disp != nil {
		if sp, ok := p.disp.Unwrap().(*sim.Panel); ok {
			return sp
		}
	}
	sp, _ := p.panel.(*sim.Panel)
	return sp
}
