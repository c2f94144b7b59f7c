package city

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUp: a small demo city starts, its page lists every pole by zone and
// serves each panel, a zone's advisory button puts the advisory on that
// zone's poles and not the other's, the cancel button takes it off, and
// Close stops everything.
func TestUp(t *testing.T) {
	c, err := Up(context.Background(), UpConfig{Poles: 6, Zones: 2, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	if c.Admin == nil || len(c.Admin.Password) < 12 || c.Admin.Secret == "" {
		t.Errorf("demo admin %+v", c.Admin)
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(c.PageURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	page := get("")
	for _, want := range []string{"Zone z1", "Zone z2", `data-pole="pole-001"`, `data-pole="pole-006"`, "Flood advisory for z1"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if png := get("pole/pole-001/frame.png"); !strings.HasPrefix(png, "\x89PNG") {
		t.Error("pole-001's panel is not served as a PNG")
	}
	waitUntil(t, "every pole connected to its gateway", func() bool {
		for _, p := range c.Poles {
			if p.Status().Rung != "ethernet" {
				return false
			}
		}
		return true
	})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) {
		t.Helper()
		resp, err := noRedirect.PostForm(c.PageURL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	post("demo/alert", url.Values{"zone": {"z1"}})
	waitUntil(t, "the advisory on zone z1's poles", func() bool {
		for _, p := range c.Poles {
			showing := !p.Showing().Record.IsZero()
			if showing != (p.Identity().Zone == "z1") {
				return false
			}
		}
		return true
	})
	post("demo/cancel", nil)
	waitUntil(t, "the clock back everywhere", func() bool {
		for _, p := range c.Poles {
			if !p.Showing().Record.IsZero() {
				return false
			}
		}
		return true
	})
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closed = true
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
}

// TestUpDemoOperator: each demo gateway has an operator account whose
// printed password and TOTP secret issue an Advisory through the
// gateway's operator API.
func TestUpDemoOperator(t *testing.T) {
	c, err := Up(context.Background(), UpConfig{Poles: 2, Zones: 1, Listen: "127.0.0.1:0", FastLogins: true, NoSpeech: true, NoGossip: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op := c.gws[0].operator
	if op == nil || op.ID != "operator" || len(op.Password) < 12 || op.Secret == "" {
		t.Fatalf("demo operator %+v", op)
	}
	var described strings.Builder
	c.Describe(&described)
	if !strings.Contains(described.String(), op.Password) || !strings.Contains(described.String(), op.Secret) {
		t.Errorf("Describe does not print the operator's password and secret:\n%s", described.String())
	}
	code, err := c.Server.Code(op.Secret) // a step after the one setup used
	if err != nil {
		t.Fatal(err)
	}
	body := `{"user":"operator","password":"` + op.Password + `","totp_code":"` + code + `","texts":{"en":{"short":"Demo advisory"}},` +
		`"lifetime":"1h","severity":"Moderate","urgency":"Expected","certainty":"Likely","category":"Safety"}`
	// The test checks the account, not the certificate (the CLI's tests do).
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post(c.Gateways()[0].OperatorURL()+"/api/advisories", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("advisory by the demo operator: %d %s", resp.StatusCode, b)
	}
}
