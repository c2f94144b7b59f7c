package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// operatorCSP is the operators' page's Content-Security-Policy: nothing
// loads from anywhere (no script, no asset; its style is inline), its
// forms post only to the gateway and no other site may frame it.
const operatorCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// The CAP values the form offers: mesh/record's, in its order.
var (
	capSeverities  = record.Severities()
	capUrgencies   = record.Urgencies()
	capCertainties = record.Certainties()
	capCategories  = record.Categories()
)

// The forms' fields: the JSON API's names, with the texts as one language
// (lang) and its short, long and speak text; ids repeats, one per
// advisory ticked.
var (
	advisoryFormFields = []string{"user", "password", "totp_code", "lang", "short", "long", "speak", "lifetime",
		"severity", "urgency", "certainty", "category"}
	cancelFormFields = []string{"user", "password", "totp_code", "ids", "reason"}
)

// parseAdvisoryForm reads the advisory form (a form-encoded body) into the
// request POST /api/advisories takes.
func parseAdvisoryForm(body string) (*AdvisoryRequest, error) {
	v, err := parseForm(body, advisoryFormFields, "")
	if err != nil {
		return nil, err
	}
	return &AdvisoryRequest{Credentials: credentialsOf(v),
		Texts:    map[string]record.AlertText{v.Get("lang"): {Short: v.Get("short"), Long: textarea(v.Get("long")), Speak: textarea(v.Get("speak"))}},
		Lifetime: v.Get("lifetime"), Severity: v.Get("severity"), Urgency: v.Get("urgency"), Certainty: v.Get("certainty"),
		Category: v.Get("category")}, nil
}

// parseCancelForm reads the cancel form into the request POST
// /api/advisories/cancel takes.
func parseCancelForm(body string) (*CancelRequest, error) {
	v, err := parseForm(body, cancelFormFields, "ids")
	if err != nil {
		return nil, err
	}
	return &CancelRequest{Credentials: credentialsOf(v), IDs: v["ids"],
		Reason: textarea(v.Get("reason"))}, nil
}

// credentialsOf is a form's credentials.
func credentialsOf(v url.Values) Credentials {
	return Credentials{User: v.Get("user"), Password: v.Get("password"), TOTPCode: v.Get("totp_code")}
}

// parseForm parses a form-encoded body that holds only fields, each at
// most once but multi.
func parseForm(body string, fields []string, multi string) (url.Values, error) {
	v, err := url.ParseQuery(body)
	if err != nil {
		return nil, fmt.Errorf("the request is not the form this endpoint takes: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		switch {
		case !slices.Contains(fields, k):
			return nil, fmt.Errorf("the form has no field %.40q (it takes %s)", k, strings.Join(fields, ", "))
		case k != multi && len(v[k]) > 1:
			return nil, fmt.Errorf("the form has field %s %d times, want it once", k, len(v[k]))
		}
	}
	return v, nil
}

// textarea turns a textarea's line breaks, which a browser sends as CR LF,
// into the LF a record takes (it refuses a CR: a control character).
func textarea(s string) string { return lineBreaks.Replace(s) }

var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// readForm reads a form's body, at most maxOperatorBody.
func readForm(w http.ResponseWriter, r *http.Request) (string, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return "", refuse(http.StatusBadRequest, errors.New("the request is not a form: want application/x-www-form-urlencoded"))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOperatorBody))
	if err != nil {
		return "", refuse(http.StatusBadRequest, fmt.Errorf("the form: %w", err))
	}
	return string(b), nil
}

// operatorPages adds the operators' page and its forms to mux (see
// operatorHandler).
func (g *Gateway) operatorPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		g.writeOperatorPage(w, http.StatusOK, operatorPage{Issue: defaultAdvisoryView()})
	})
	mux.HandleFunc("POST /advisory", func(w http.ResponseWriter, r *http.Request) {
		g.answerForm(w, r, "Advisory issued", func(p *operatorPage, kept url.Values) { p.Issue = advisoryViewOf(kept) },
			func(body string) (*record.Record, error) {
				req, err := parseAdvisoryForm(body)
				if err != nil {
					return nil, refuse(http.StatusBadRequest, err)
				}
				return g.operatorAdvisory(r, req)
			})
	})
	mux.HandleFunc("POST /advisory/cancel", func(w http.ResponseWriter, r *http.Request) {
		g.answerForm(w, r, "Cancel issued", func(p *operatorPage, kept url.Values) { p.Cancel = cancelViewOf(kept) },
			func(body string) (*record.Record, error) {
				req, err := parseCancelForm(body)
				if err != nil {
					return nil, refuse(http.StatusBadRequest, err)
				}
				return g.operatorCancel(r, req)
			})
	})
}

// answerForm reads a form and has do sign what it asks: the page then
// names the record, or the refusal with its status and the submitted form
// again (keep puts back its fields, but for the password and the code).
func (g *Gateway) answerForm(w http.ResponseWriter, r *http.Request, what string, keep func(*operatorPage, url.Values),
	do func(body string) (*record.Record, error)) {
	body, err := readForm(w, r)
	kept, _ := url.ParseQuery(body) // what parses of it, to show again
	p := operatorPage{Issue: defaultAdvisoryView()}
	p.Issue.User, p.Cancel.User = kept.Get("user"), kept.Get("user")
	var rec *record.Record
	if err == nil {
		rec, err = do(body)
	}
	if err != nil {
		keep(&p, kept)
		p.Error = err.Error()
		g.writeOperatorPage(w, refusalStatus(err), p)
		return
	}
	p.Done = &doneView{What: what, ID: rec.ID().String(), Expires: rec.Expires.UTC().Format(pageTime)}
	g.writeOperatorPage(w, http.StatusCreated, p)
}

// operatorPage is what the operators' page shows.
type operatorPage struct {
	Zone, Gateway string
	Server        bool
	At            time.Time
	Status        int
	MaxLifetime   string
	MaxShort      int
	MaxLong       int
	// Active are the gateway's advisories in force (ActiveError if they
	// could not be read).
	Active      []activeView
	ActiveError string
	Issue       advisoryView
	Cancel      cancelView
	Done        *doneView // what a form just issued
	Error       string    // why a form was refused
	Severities  []string
	Urgencies   []string
	Certainties []string
	Categories  []string
}

// advisoryView is the advisory form's fields: never the password or code.
type advisoryView struct {
	User, Lang, Short, Long, Speak, Lifetime string
	Severity, Urgency, Certainty, Category   string
}

// defaultAdvisoryView is the blank advisory form. The JSON API has no
// defaults (an empty CAP value is refused); the form preselects those
// `cityarray record sign` gives an Advisory.
func defaultAdvisoryView() advisoryView {
	return advisoryView{Lang: "en", Lifetime: "2h", Severity: "Moderate", Urgency: "Expected", Certainty: "Likely", Category: "Safety"}
}

func advisoryViewOf(v url.Values) advisoryView {
	return advisoryView{User: v.Get("user"), Lang: v.Get("lang"), Short: v.Get("short"), Long: textarea(v.Get("long")),
		Speak: textarea(v.Get("speak")), Lifetime: v.Get("lifetime"), Severity: v.Get("severity"), Urgency: v.Get("urgency"),
		Certainty: v.Get("certainty"), Category: v.Get("category")}
}

// cancelView is the cancel form's fields: never the password or code.
type cancelView struct {
	User   string
	IDs    map[string]bool // ticked
	Reason string
}

func cancelViewOf(v url.Values) cancelView {
	c := cancelView{User: v.Get("user"), IDs: map[string]bool{}, Reason: textarea(v.Get("reason"))}
	for _, id := range v["ids"] {
		c.IDs[id] = true
	}
	return c
}

type activeView struct {
	ID, Short, Headline, Expires, Left string
}

type doneView struct {
	What, ID, Expires string
}

const pageTime = "2006-01-02 15:04:05 MST"

// writeOperatorPage answers p, with the gateway's state, and status.
func (g *Gateway) writeOperatorPage(w http.ResponseWriter, status int, p operatorPage) {
	now := g.clock.Now()
	p.Zone, p.Gateway, p.Server, p.At, p.Status = g.ident.Zone, g.ident.ID, g.ServerConnected(), now.UTC(), status
	p.MaxLifetime, p.MaxShort, p.MaxLong = fmt.Sprintf("%gh", MaxAdvisoryLifetime.Hours()), record.MaxShortText, record.MaxLongText
	p.Severities, p.Urgencies, p.Certainties, p.Categories = capSeverities, capUrgencies, capCertainties, capCategories
	recs, err := g.ActiveAdvisories(now)
	if err != nil {
		g.log.Warn("operator page", "err", err)
		p.ActiveError = err.Error()
	}
	for _, r := range recs {
		id := r.ID()
		a, _ := r.Body.(*record.Alert) // nil's Headline is ""
		p.Active = append(p.Active, activeView{ID: id.String(), Short: id.Short(), Headline: a.Headline(),
			Expires: r.Expires.UTC().Format(pageTime), Left: r.Expires.Sub(now).Round(time.Second).String()})
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", operatorCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	var b bytes.Buffer
	if err := operatorPageTmpl.Execute(&b, p); err != nil {
		g.log.Warn("operator page", "err", err)
		http.Error(w, "the page failed: see the gateway's log", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// operatorPageTmpl is the operators' page. It needs no script: the forms
// post and the answer is the page again. A newline follows each
// <textarea> tag because HTML drops the first one there, so a text that
// starts with a newline keeps it.
var operatorPageTmpl = template.Must(template.New("operators").Funcs(template.FuncMap{
	"statusText": http.StatusText,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Advisories — zone {{.Zone}} — {{.Gateway}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd;max-width:60em}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #333;text-align:left}
.healthy{color:#6c6}.silent{color:#f55;font-weight:bold}
fieldset{border:1px solid #333;margin:0 0 1.5em;padding:.6em 1em 1em}legend{padding:0 .4em;color:#aaa}
label{display:block;margin:.45em 0}label>span{display:inline-block;min-width:10em;color:#aaa;vertical-align:top}
input,select,textarea{font:inherit;background:#1b1b1b;color:#eee;border:1px solid #444;padding:.25em .4em}
input[type=text],input[type=password],textarea{width:30em;max-width:95%}
button{font:inherit;background:#264;color:#fff;border:1px solid #6c6;padding:.35em 1.2em;margin-top:.6em}
button.cancel{background:#511;border-color:#f55}
.note{color:#999}.ok{border-left:4px solid #6c6;padding:.4em .8em;background:#132}
.error{border-left:4px solid #f55;padding:.4em .8em;background:#311}
code{font-family:ui-monospace,monospace}
</style></head><body>
<h1>Zone {{.Zone}} <small>gateway {{.Gateway}}</small></h1>
<p>Server link: {{if .Server}}<span class="healthy">up</span>{{else}}<span class="silent">down</span>{{end}} · {{.At.Format "15:04:05 MST"}}</p>
<p class="note">This gateway signs <b>Advisory</b> alerts for zone {{.Zone}}, and nothing else: Advisory is the only tier a
gateway may issue (warnings and emergencies come from the control server). An advisory reaches the zone's poles at once,
{{if .Server}}and the server through the link{{else}}and the server when the link returns{{end}}.</p>
{{with .Done}}<p class="ok">{{.What}}: record <code>{{.ID}}</code>, in force until {{.Expires}}.</p>{{end}}
{{with .Error}}<p class="error">Refused ({{$.Status}} {{statusText $.Status}}): {{.}}</p>{{end}}
{{define "credentials"}}<label><span>User</span><input type="text" name="user" value="{{.}}" autocomplete="username" required></label>
<label><span>Password</span><input type="password" name="password" autocomplete="off" required></label>
<label><span>TOTP code</span><input type="text" name="totp_code" autocomplete="off" required> <span class="note">or a recovery code</span></label>
{{end}}
<form method="post" action="/advisory"><fieldset><legend>Issue an advisory for zone {{.Zone}}</legend>
{{template "credentials" .Issue.User}}
{{with .Issue}}<label><span>Language</span><input type="text" name="lang" value="{{.Lang}}" size="8" required> <span class="note">BCP 47, such as en or es</span></label>
<label><span>Headline</span><input type="text" name="short" value="{{.Short}}" required> <span class="note">what the display shows, at most {{$.MaxShort}} characters</span></label>
<label><span>Description</span><textarea name="long" rows="3">
{{.Long}}</textarea> <span class="note">optional, at most {{$.MaxLong}} characters</span></label>
<label><span>Instruction to speak</span><textarea name="speak" rows="2">
{{.Speak}}</textarea> <span class="note">optional: what the speakers say (else the headline)</span></label>
<label><span>Lifetime</span><input type="text" name="lifetime" value="{{.Lifetime}}" size="8" required> <span class="note">such as 30m or 2h, at most {{$.MaxLifetime}}</span></label>
<label><span>Severity</span><select name="severity">{{range $.Severities}}<option{{if eq . $.Issue.Severity}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label><span>Urgency</span><select name="urgency">{{range $.Urgencies}}<option{{if eq . $.Issue.Urgency}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label><span>Certainty</span><select name="certainty">{{range $.Certainties}}<option{{if eq . $.Issue.Certainty}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label><span>Category</span><select name="category">{{range $.Categories}}<option{{if eq . $.Issue.Category}} selected{{end}}>{{.}}</option>{{end}}</select></label>
{{end}}<button type="submit">Sign and issue the advisory</button>
</fieldset></form>
<form method="post" action="/advisory/cancel"><fieldset><legend>Cancel advisories of this gateway</legend>
{{with .ActiveError}}<p class="error">The advisories in force could not be read: {{.}}</p>{{end}}
{{if .Active}}<table><tr><th></th><th>record</th><th>headline</th><th>expires</th></tr>
{{range .Active}}<tr><td><input type="checkbox" name="ids" value="{{.ID}}" id="adv-{{.Short}}"{{if index $.Cancel.IDs .ID}} checked{{end}}></td>
<td><label for="adv-{{.Short}}"><code>{{.Short}}</code></label></td><td>{{.Headline}}</td><td>{{.Expires}} (in {{.Left}})</td></tr>
{{end}}</table>
{{template "credentials" .Cancel.User}}
<label><span>Reason</span><input type="text" name="reason" value="{{.Cancel.Reason}}"></label>
<button type="submit" class="cancel">Sign and issue the cancel</button>
{{else}}<p>None: this gateway has no advisory in force.</p>{{end}}
</fieldset></form>
</body></html>
`))
