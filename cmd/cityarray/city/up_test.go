package city

import (
	"context"
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
