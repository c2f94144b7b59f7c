package city

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cityarray/cityarray/edge/render"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// EdgeBenchConfig configures RunEdgeBench.
type EdgeBenchConfig struct {
	// Binary is the cityarray executable to start as a pole (the running
	// one, os.Executable).
	Binary string
	// Records is how many signed records the pole's cache holds (default
	// 1,000): one city-wide alert in 15 languages to show, protocols in 15
	// languages, and alerts for another zone.
	Records int
	// Runs is how many cold starts are timed (default 5).
	Runs int
	// Progress reports steps; nil discards them.
	Progress func(format string, args ...any)
}

// EdgeBenchResult is what RunEdgeBench measured.
type EdgeBenchResult struct {
	Records int
	// ColdStart is, per run, from starting `cityarray edge` until the
	// pole logs that the cached alert is on its (simulated) panel, with no
	// link up; ProcessStart the same for `cityarray version` (starting
	// the binary and exiting), the floor any start pays.
	ColdStart, ProcessStart []time.Duration
	// RSS is the pole's resident set one second after the alert went up
	// (the largest over the runs).
	RSS int64
	// Frame is one frame of a scrolling 15-language alert on one core;
	// FrameReshape the baseline: shaping and rasterising every frame.
	Frame, FrameReshape time.Duration
	FrameAllocs         int64
}

func (c *EdgeBenchConfig) defaults() {
	if c.Records <= 0 {
		c.Records = 1000
	}
	if c.Runs <= 0 {
		c.Runs = 5
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
}

// RunEdgeBench measures a pole: cold start to a cached alert on the panel,
// its memory with the cache full, and the cost of a frame.
func RunEdgeBench(ctx context.Context, cfg EdgeBenchConfig) (EdgeBenchResult, error) {
	cfg.defaults()
	res := EdgeBenchResult{Records: cfg.Records}
	dir, err := os.MkdirTemp("", "cityarray-bench-edge-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	cfg.Progress("making a city PKI and a cache of %d signed records", cfg.Records)
	confPath, alert, err := edgeBenchPole(dir, cfg.Records)
	if err != nil {
		return res, err
	}
	for i := range cfg.Runs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		d, rss, err := coldStart(ctx, cfg.Binary, confPath, alert)
		if err != nil {
			return res, fmt.Errorf("cold start %d: %w", i+1, err)
		}
		res.ColdStart = append(res.ColdStart, d)
		res.RSS = max(res.RSS, rss)
		cfg.Progress("cold start %d: %v, RSS %.1f MB", i+1, d.Round(time.Millisecond), float64(rss)/(1<<20))
		start := time.Now()
		if out, err := exec.CommandContext(ctx, cfg.Binary, "version").CombinedOutput(); err != nil {
			return res, fmt.Errorf("%s version: %v: %s", cfg.Binary, err, out)
		}
		res.ProcessStart = append(res.ProcessStart, time.Since(start))
	}

	cfg.Progress("rendering frames of a scrolling 15-language alert")
	res.Frame, res.FrameAllocs, res.FrameReshape, err = frameCost()
	return res, err
}

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// edgeBenchPole writes a city PKI, a pole's configuration and a record
// store holding n records into dir; it returns the configuration's path
// and the alert the pole must show.
func edgeBenchPole(dir string, n int) (string, record.ID, error) {
	now := time.Now()
	pki := filepath.Join(dir, "pki")
	if _, err := trust.InitDir(pki, "benchville", now.Add(-time.Hour), nil); err != nil {
		return "", record.ID{}, err
	}
	for _, id := range []trust.Identity{{Role: trust.RoleServer, ID: "server-1"}, {Role: trust.RoleDevice, ID: "pole-1", Zone: "z1"}} {
		if _, err := trust.IssueInDir(pki, id, now.Add(-time.Hour), nil, nil); err != nil {
			return "", record.ID{}, err
		}
	}
	srv, err := trust.LoadNode(trust.NodeFiles{RootCert: filepath.Join(pki, trust.RootCertFile), Cert: filepath.Join(pki, "server-1.pem"),
		Key: filepath.Join(pki, "server-1.key")}, trust.RoleServer, "server-1", now)
	if err != nil {
		return "", record.ID{}, err
	}
	signer, err := record.NewSigner(srv.Key, srv.Leaf.Raw, false)
	if err != nil {
		return "", record.ID{}, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", record.ID{}, err
	}
	st, err := store.Open(filepath.Join(data, "records.db"), store.DefaultOptions())
	if err != nil {
		return "", record.ID{}, err
	}
	defer st.Close()
	issued := now.Add(-time.Minute).UTC().Truncate(time.Millisecond)
	var recs []*record.Record
	sign := func(r *record.Record) error {
		r.Origin, r.Seq, r.Issued = "server-1", uint64(len(recs)+1), issued
		s, err := record.Sign(r, signer)
		if err != nil {
			return err
		}
		recs = append(recs, s)
		return nil
	}
	if err := sign(&record.Record{Kind: record.KindAlert, Tier: record.TierIPAWS, Scope: record.City, Expires: now.Add(48 * time.Hour), Body: FloodAlert()}); err != nil {
		return "", record.ID{}, err
	}
	alert := recs[0].ID()
	for i := 1; i < n; i++ {
		var r *record.Record
		if i%5 == 0 {
			p := FloodAlert()
			r = &record.Record{Kind: record.KindProtocol, Tier: record.TierWarning, Scope: record.City, Expires: now.Add(48 * time.Hour),
				Body: &record.Protocol{Template: fmt.Sprintf("flood-%d", i), Texts: p.Texts, Severity: p.Severity, Urgency: p.Urgency, Certainty: p.Certainty, Category: p.Category}}
		} else {
			r = &record.Record{Kind: record.KindAlert, Tier: record.TierWarning, Scope: record.ZoneScope("z2"), Expires: now.Add(time.Duration(i) * time.Minute), Body: FloodAlert()}
		}
		if err := sign(r); err != nil {
			return "", record.ID{}, err
		}
	}
	if _, err := st.PutBatch(recs, now); err != nil {
		return "", record.ID{}, err
	}
	// A gateway address nobody listens on: the pole starts with no link.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", record.ID{}, err
	}
	dead := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`data_dir: data
pki: {dir: pki, device_id: pole-1}
uplink: {gateways: ["tls://%s"]}
display: {backend: sim, fallback: ""}
audio: {player: none}
health_every: 1m
`, dead)
	path := filepath.Join(dir, "edge.yaml")
	return path, alert, os.WriteFile(path, []byte(conf), 0o600)
}

// coldStart starts a pole and returns the time until it logs that alert is
// on its panel, and its RSS a second later.
func coldStart(ctx context.Context, bin, conf string, alert record.ID) (time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, bin, "edge", "--config", conf, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	cmd.Stdout = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	shown := make(chan time.Duration, 1)
	var mu sync.Mutex
	var tail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var m struct {
				Msg    string `json:"msg"`
				Record string `json:"record"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "showing" && strings.HasPrefix(alert.String(), m.Record) {
				select {
				case shown <- time.Since(start):
				default:
				}
			}
			mu.Lock()
			if len(tail) < 20 {
				tail = append(tail, line)
			}
			mu.Unlock()
		}
	}()
	var d time.Duration
	select {
	case d = <-shown:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return 0, 0, fmt.Errorf("the pole did not show the cached alert within 30 s; its log began:\n%s", strings.Join(tail, "\n"))
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	rss, err := residentSet(cmd.Process.Pid)
	return d, rss, err
}

// residentSet reads a process's VmRSS from /proc.
func residentSet(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the pole's memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// frameCost measures one frame of a scrolling 15-language alert (scenes
// prepared once), and the baseline of preparing the scene for every frame.
func frameCost() (frame time.Duration, allocs int64, reshape time.Duration, err error) {
	r, err := render.New(render.DefaultOptions())
	if err != nil {
		return 0, 0, 0, err
	}
	langs := make([]string, 0, len(FloodWarning))
	for l := range FloodWarning {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	content := func(l string) render.Content {
		return render.Content{Tier: record.TierWarning, Lang: l, Text: FloodWarning[l].Short}
	}
	scenes := make([]*render.Scene, len(langs))
	for i, l := range langs {
		if scenes[i], err = r.Prepare(content(l)); err != nil {
			return 0, 0, 0, err
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, render.Width, render.Height))
	const step = time.Second / 60
	fr := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		elapsed := time.Duration(0)
		for i := 0; b.Loop(); i++ {
			scenes[i%len(scenes)].Frame(img, elapsed)
			elapsed += step
		}
	})
	var prepErr error
	rs := testing.Benchmark(func(b *testing.B) {
		elapsed := time.Duration(0)
		for i := 0; b.Loop(); i++ {
			s, err := r.Prepare(content(langs[i%len(langs)]))
			if err != nil {
				prepErr = err
				return
			}
			s.Frame(img, elapsed)
			elapsed += step
		}
	})
	return time.Duration(fr.NsPerOp()), fr.AllocsPerOp(), time.Duration(rs.NsPerOp()), prepErr
}
