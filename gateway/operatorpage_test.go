package gateway

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// TestOperatorForm: the operators' page on the HTTPS listener shows the
// zone and its forms with the page's security headers, and the zone page
// links to it; a wrong password is refused (401) without echoing it, and
// a refused form comes back with its fields; a form refused for its
// content spends no code; the advisory form issues an advisory (listed,
// its headline escaped) and the cancel form cancels it.
func TestOperatorForm(t *testing.T) {
	z, secret, recovery := startOperatorZone(t)
	client := operatorClient(t, z)
	base := z.g.OperatorURL()
	answer := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for h, want := range map[string]string{"Content-Security-Policy": operatorCSP, "Cache-Control": "no-store",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s %s: %s %q, want %q", resp.Request.Method, resp.Request.URL.Path, h, got, want)
			}
		}
		return resp.StatusCode, string(b)
	}
	contains := func(what, body string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", what, w, body)
			}
		}
	}

	status, page := answer(client.Get(base + "/"))
	if status != http.StatusOK {
		t.Fatalf("GET /: %d\n%s", status, page)
	}
	contains("GET /", page, "<h1>Zone z1 <small>gateway gw-1</small></h1>", `Server link: <span class="healthy">up</span>`,
		"Advisory is the only tier", `<form method="post" action="/advisory">`, `<form method="post" action="/advisory/cancel">`,
		`<input type="password" name="password" autocomplete="off" required>`, `name="lang" value="en"`, `name="lifetime" value="2h"`,
		"at most 48h", "<option selected>Moderate</option>", "<option>Extreme</option>", "<option selected>Safety</option>",
		"None: this gateway has no advisory in force.")

	// The zone health page (plain HTTP) links to it.
	resp, err := http.Get(z.g.HealthURL())
	if err != nil {
		t.Fatal(err)
	}
	zonePage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	contains("the zone page", string(zonePage), `<a href="`+base+`/">`)

	headline := `Road closed <script>alert("x")</script>`
	form := url.Values{"user": {"ada"}, "password": {"not the passphrase at all"}, "totp_code": {"135246"}, "lang": {"en"},
		"short": {headline}, "long": {"Main St between 1st\r\nand 3rd"}, "lifetime": {"2h"},
		"severity": {"Moderate"}, "urgency": {"Expected"}, "certainty": {"Likely"}, "category": {"Transport"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range form {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	// A wrong password: 401, the form again without the password or the
	// code, the headline escaped.
	status, page = answer(client.PostForm(base+"/advisory", form))
	if status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d\n%s", status, page)
	}
	contains("a wrong password", page, "Refused (401 Unauthorized): auth: login: invalid credentials", `name="user" value="ada"`,
		`value="Road closed &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"`, "<textarea name=\"long\" rows=\"3\">\nMain St between 1st\nand 3rd</textarea>",
		"<option selected>Transport</option>")
	for _, secret := range []string{"not the passphrase at all", "135246", "<script>"} {
		if strings.Contains(page, secret) {
			t.Errorf("a wrong password: the page holds %q", secret)
		}
	}

	// Refused for its content, before the credentials: the code is still
	// good afterwards.
	code := totpAt(t, secret, time.Now().Add(30*time.Second))
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"a long headline", with("password", adaPassword, "totp_code", code, "short", strings.Repeat("x", record.MaxShortText+1)), "is 91 characters, at most 90"},
		{"a long lifetime", with("password", adaPassword, "totp_code", code, "lifetime", "72h"), "lifetime 72h0m0s"},
		{"no lifetime", with("password", adaPassword, "totp_code", code, "lifetime", ""), `lifetime &#34;&#34;: want a duration`},
		{"a bad severity", with("password", adaPassword, "totp_code", code, "severity", "Dire"), `gateway: advisory: alert: record: bad body: severity &#34;Dire&#34;`},
		{"a bad language", with("password", adaPassword, "totp_code", code, "lang", "not a language!"), "not a language!"},
		{"an unknown field", with("password", adaPassword, "totp_code", code, "tier", "warning"), `the form has no field &#34;tier&#34;`},
	} {
		status, page := answer(client.PostForm(base+"/advisory", c.form))
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d\n%s", c.name, status, page)
		}
		contains(c.name, page, c.want, `name="user" value="ada"`)
		if strings.Contains(page, adaPassword) || strings.Contains(page, code) {
			t.Errorf("%s: the page holds the password or the code", c.name)
		}
	}
	status, page = answer(client.Post(base+"/advisory", "application/json", strings.NewReader(`{"user":"ada"}`)))
	if status != http.StatusBadRequest {
		t.Errorf("JSON to the form: %d", status)
	}
	contains("JSON to the form", page, "the request is not a form")

	// The right credentials: the advisory is issued, in the store and
	// listed, with its headline escaped.
	status, page = answer(client.PostForm(base+"/advisory", with("password", adaPassword, "totp_code", code)))
	if status != http.StatusCreated {
		t.Fatalf("the advisory: %d\n%s", status, page)
	}
	active, err := z.g.ActiveAdvisories(time.Now())
	if err != nil || len(active) != 1 {
		t.Fatalf("the gateway's advisories in force: %v, %v", active, err)
	}
	adv := active[0]
	if a := adv.Body.(*record.Alert); adv.Tier != record.TierAdvisory || adv.Scope != record.ZoneScope("z1") || a.Texts["en"].Short != headline ||
		a.Texts["en"].Long != "Main St between 1st\nand 3rd" || a.Category != "Transport" || adv.Expires.Sub(adv.Issued) != 2*time.Hour {
		t.Errorf("the advisory: %+v %+v", adv, a)
	}
	if ok, _ := z.g.Store().Has(adv.ID()); !ok {
		t.Error("the advisory is not in the gateway's store")
	}
	contains("the advisory", page, "Advisory issued: record <code>"+adv.ID().String()+"</code>, in force until "+adv.Expires.UTC().Format(pageTime),
		`name="ids" value="`+adv.ID().String()+`"`, "<code>"+adv.ID().Short()+"</code>",
		"<td>Road closed &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td>")
	if strings.Contains(page, "<script>") {
		t.Error("the advisory: the page holds the headline's <script> unescaped")
	}
	status, page = answer(client.Get(base + "/"))
	contains("GET / with an advisory", page, `name="ids" value="`+adv.ID().String()+`"`)

	// The same code again is a replay.
	if status, page := answer(client.PostForm(base+"/advisory", with("password", adaPassword, "totp_code", code))); status != http.StatusUnauthorized {
		t.Errorf("a reused code: %d\n%s", status, page)
	}

	// Cancel: naming none is refused before the credentials; then with a
	// recovery code.
	cancel := url.Values{"user": {"ada"}, "password": {adaPassword}, "totp_code": {recovery[0]}, "reason": {"road open"}}
	status, page = answer(client.PostForm(base+"/advisory/cancel", cancel))
	if status != http.StatusBadRequest {
		t.Errorf("a cancel naming none: %d\n%s", status, page)
	}
	contains("a cancel naming none", page, "no advisory named", `name="reason" value="road open"`)
	cancel.Set("ids", adv.ID().String())
	status, page = answer(client.PostForm(base+"/advisory/cancel", cancel))
	if status != http.StatusCreated {
		t.Fatalf("the cancel: %d\n%s", status, page)
	}
	if sup, _ := z.g.Store().Superseded(adv.ID()); !sup {
		t.Error("the gateway does not hold the advisory as cancelled")
	}
	cancels, err := z.g.Store().ByKind(record.KindCancel)
	if err != nil || len(cancels) != 1 || cancels[0].Origin != "gw-1" {
		t.Fatalf("the gateway's cancels: %v, %v", cancels, err)
	}
	contains("the cancel", page, "Cancel issued: record <code>"+cancels[0].ID.String()+"</code>", "None: this gateway has no advisory in force.")
	if active, _ := z.g.ActiveAdvisories(time.Now()); len(active) != 0 {
		t.Errorf("in force after the cancel: %v", active)
	}
}

// TestOperatorFormChoices: record accepts every CAP value the form offers,
// and the form's defaults are among them.
func TestOperatorFormChoices(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	valid := func(sev, urg, cert, cat string) error {
		r := &record.Record{Kind: record.KindAlert, Tier: record.TierAdvisory, Scope: record.ZoneScope("z1"), Issued: now,
			Expires: now.Add(time.Hour), Origin: "gw-1", Body: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: "Hi"}},
				Severity: sev, Urgency: urg, Certainty: cert, Category: cat}}
		return r.Validate()
	}
	d := defaultAdvisoryView()
	if err := valid(d.Severity, d.Urgency, d.Certainty, d.Category); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	for _, v := range capSeverities {
		if err := valid(v, d.Urgency, d.Certainty, d.Category); err != nil {
			t.Error(err)
		}
	}
	for _, v := range capUrgencies {
		if err := valid(d.Severity, v, d.Certainty, d.Category); err != nil {
			t.Error(err)
		}
	}
	for _, v := range capCertainties {
		if err := valid(d.Severity, d.Urgency, v, d.Category); err != nil {
			t.Error(err)
		}
	}
	for _, v := range capCategories {
		if err := valid(d.Severity, d.Urgency, d.Certainty, v); err != nil {
			t.Error(err)
		}
	}
	if err := valid("Dire", d.Urgency, d.Certainty, d.Category); err == nil {
		t.Error("a severity record does not know was accepted")
	}
}
