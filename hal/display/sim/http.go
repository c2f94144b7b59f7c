package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// ServeHTTP serves the live panel, with paths relative to wherever the
// handler is mounted (use http.StripPrefix or a mux pattern ending in /):
//
//	./            an HTML page that shows the frame and follows it
//	./frame.png   the LED picture, Cache-Control: no-store, ETag "v<version>";
//	              ?scale=N draws N pixels per LED (1 = a 64x32 thumbnail)
//	./state.json  {"frames":…,"version":…,"brightness":…,"gamma":…}
//	./frame.ansi  the terminal preview (try: curl -s …/frame.ansi)
//
// The page is self-contained (no fonts, scripts or styles from elsewhere):
// it polls state.json and reloads the picture only when the version moves,
// so hundreds of pages cost a small JSON request each per poll.
func (p *Panel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" || path.Base(r.URL.Path) == "index.html":
		p.servePage(w)
	case path.Base(r.URL.Path) == "frame.png":
		p.servePNG(w, r)
	case path.Base(r.URL.Path) == "state.json":
		p.serveState(w)
	case path.Base(r.URL.Path) == "frame.ansi":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		p.WriteANSI(w)
	default:
		http.NotFound(w, r)
	}
}

func etag(version uint64) string { return `"v` + strconv.FormatUint(version, 10) + `"` }

func (p *Panel) servePNG(w http.ResponseWriter, r *http.Request) {
	scale := p.cfg.Scale
	if q := r.URL.Query().Get("scale"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > MaxScale {
			http.Error(w, fmt.Sprintf("scale %q is not a number in 1..%d", q, MaxScale), http.StatusBadRequest)
			return
		}
		scale = n
	}
	p.mu.Lock()
	version, frames := p.version, p.frames
	tag := etag(version)
	if match := r.Header.Get("If-None-Match"); match != "" && match == tag {
		p.mu.Unlock()
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, err := p.pngLocked(scale)
	if err != nil {
		p.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body := bytes.Clone(b)
	p.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("ETag", tag)
	h.Set("X-Frame-Count", strconv.FormatUint(frames, 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// State is what state.json reports.
type State struct {
	Frames     uint64  `json:"frames"`     // frames shown
	Version    uint64  `json:"version"`    // see Panel.Version; the PNG's ETag
	Brightness uint8   `json:"brightness"` // percent
	Gamma      float64 `json:"gamma"`      // exponent
	Width      int     `json:"width"`      // LEDs
	Height     int     `json:"height"`     // LEDs
}

// State returns the panel's counters and levels.
func (p *Panel) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return State{
		Frames:     p.frames,
		Version:    p.version,
		Brightness: p.brightness,
		Gamma:      p.gamma,
		Width:      p.rect.Dx(),
		Height:     p.rect.Dy(),
	}
}

func (p *Panel) serveState(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p.State())
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { background: #000; color: #bbb; font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; }
h1 { font-size: 1.1em; font-weight: 600; color: #eee; }
img { display: block; width: 100%; max-width: {{.PixelWidth}}px; image-rendering: pixelated; border: 1px solid #222; }
#state { margin-top: .6em; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<img id="frame" src="frame.png" width="{{.PixelWidth}}" height="{{.PixelHeight}}" alt="live picture of the {{.Width}}x{{.Height}} LED panel">
<div id="state">connecting…</div>
<script>
"use strict";
let shown = -1;
async function poll() {
  const el = document.getElementById("state");
  try {
    const r = await fetch("state.json", {cache: "no-store"});
    const s = await r.json();
    if (s.version !== shown) {
      shown = s.version;
      document.getElementById("frame").src = "frame.png?v=" + s.version;
    }
    el.textContent = "frame " + s.frames + " · brightness " + s.brightness + "% · gamma " + s.gamma;
  } catch (e) {
    el.textContent = "not reachable, retrying…";
  }
  setTimeout(poll, 250);
}
poll();
</script>
</body>
</html>
`))

func (p *Panel) servePage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	title := p.cfg.Title
	if title == "" {
		title = "LED panel"
	}
	page.Execute(w, map[string]any{
		"Title":       title,
		"Width":       p.rect.Dx(),
		"Height":      p.rect.Dy(),
		"PixelWidth":  p.rect.Dx() * p.cfg.Scale,
		"PixelHeight": p.rect.Dy() * p.cfg.Scale,
	})
}
