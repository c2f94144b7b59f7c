package city

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	bolt "go.etcd.io/bbolt"
)

// E2EBenchConfig configures RunE2EBench.
type E2EBenchConfig struct {
	// Poles and Zones (defaults 500 and 2): the `cityarray up` city.
	Poles, Zones int
	// Alerts is how many alerts each phase sends, one at a time, each to
	// every pole it measures (default 3).
	Alerts int
	// Wait is how long an alert may take to reach every pole before the
	// phase counts the rest as not delivered (default 10 s).
	Wait time.Duration
	// Gap is the quiet time before each alert (default 2 s): each one
	// comes to a city at rest, as alerts do, and not on the tail of the
	// previous one's deferred work (the poles' gossip notices a second
	// after, the receipts' removals from the outboxes). That work is
	// still counted in CPUPerPole.
	Gap time.Duration
	// NoBaseline skips the broker fan-out baseline.
	NoBaseline bool
	// Dir is where the city's files go (a fresh directory in it, removed
	// at the end; default the system's temporary directory). Every pole's
	// bbolt file shares that one disk, whose flushes queue: see E2EBenchResult.DiskFloor.
	Dir string
	// Progress, if set, is told what the benchmark is doing.
	Progress func(format string, args ...any)
	// Logger receives the city's logs (default: discarded).
	Logger *slog.Logger
	// Trace and CPUProfile, if set, receive a runtime execution trace
	// (`go tool trace`; -pprof=syscall shows the disk flushes) and a CPU
	// profile of the normal phase.
	Trace, CPUProfile io.Writer
}

func (c *E2EBenchConfig) defaults() {
	if c.Poles <= 0 {
		c.Poles = 500
	}
	if c.Zones <= 0 {
		c.Zones = 2
	}
	if c.Alerts <= 0 {
		c.Alerts = 3
	}
	if c.Wait <= 0 {
		c.Wait = 10 * time.Second
	}
	if c.Gap <= 0 {
		c.Gap = 2 * time.Second
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
}

// startProfiles starts the trace and the CPU profile asked for.
func (c *E2EBenchConfig) startProfiles() (stop func(), err error) {
	if c.Trace != nil {
		if err := trace.Start(c.Trace); err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
	}
	if c.CPUProfile != nil {
		if err := pprof.StartCPUProfile(c.CPUProfile); err != nil {
			if c.Trace != nil {
				trace.Stop()
			}
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() {
		if c.Trace != nil {
			trace.Stop()
		}
		if c.CPUProfile != nil {
			pprof.StopCPUProfile()
		}
	}, nil
}

// E2EPhase is one phase's delivery: of Expected (alert, pole) pairs,
// Delivered were acked "displayed" within the wait; the latencies are
// theirs.
type E2EPhase struct {
	Expected, Delivered int
	P50, P99, Max       time.Duration
	// MadeP50 and MadeP99 are the same from the call to the time each
	// pole put in its ack (it made it then): the pole's side of the
	// way. The rest is the ack's way back.
	MadeP50, MadeP99 time.Duration
}

// Ratio is Delivered over Expected.
func (p E2EPhase) Ratio() float64 {
	if p.Expected == 0 {
		return 0
	}
	return float64(p.Delivered) / float64(p.Expected)
}

// E2EBenchResult is what RunE2EBench measured.
type E2EBenchResult struct {
	Poles, Zones, Cores int
	// Start is how long the city took to start and settle (every pole on
	// its gateway, the gossip mesh formed).
	Start time.Duration
	// Normal: an officer's publication of an approved city-wide Warning
	// (the HTTPS call) until the server holds each pole's "displayed" ack.
	Normal E2EPhase
	// Failover: the same with one gateway killed just before: its poles
	// get the alert over the gossip mesh and send their acks that way.
	Failover E2EPhase
	// GatewayOnly: the control server killed; each gateway issues an
	// Advisory for its zone (the call) until it holds each of its poles'
	// "displayed" acks.
	GatewayOnly E2EPhase
	// Baseline: one broker (the server's embedded mochi on TLS) fanning a
	// QoS 1 record out to Poles MQTT clients on loopback, publish until
	// each client has it: the floor under the first hop of Normal.
	BaselineP50, BaselineP99 time.Duration
	// CPUPerPole is the process's CPU time (the whole city: server,
	// gateways, poles) over the normal phase, less what the city spends at
	// rest over as long (IdleCores), per pole and alert: an alert's own
	// work, including what it defers past the acks (gossip notices, outbox
	// removals); 0 where the system does not say. N poles on C cores do
	// that work in N × CPUPerPole / (C − IdleCores): CPUFloor. Latency
	// beats it only by the deferred part.
	CPUPerPole time.Duration
	// IdleCores is how many cores the settled city keeps busy with no
	// alert (memberlist's probes and push/pulls, heartbeats, the
	// simulated displays), measured for IdleSample before the normal
	// phase: an alert shares the cores with that.
	IdleCores float64
	// DiskFloor is the storage alone of an alert's way, on this disk: as
	// many bbolt files as poles, each committing twice at once (a pole
	// stores the alert, then queues its acks, before its "displayed" ack
	// leaves), until the last commit is flushed; measured in Dir before
	// the city starts. On a city's poles each has its own disk; here they
	// share one, and its flushes queue.
	DiskFloor time.Duration
}

// idleSample is how long RunE2EBench watches the settled city at rest.
const idleSample = 3 * time.Second

// CPUFloor is the time the city's CPU work for one alert to every pole
// takes on the cores its work at rest leaves: Poles × CPUPerPole /
// (Cores − IdleCores). Work deferred past the acks is in it, so the
// latency can come in under it by that much.
func (r E2EBenchResult) CPUFloor() time.Duration {
	free := max(float64(r.Cores)-r.IdleCores, 0.1)
	return time.Duration(float64(r.Poles) * float64(r.CPUPerPole) / free)
}

// measureDiskFloor returns how long n bbolt files in dir, each committing
// two small transactions (fdatasync'd, as the pole's store does), take
// when all start at once.
func measureDiskFloor(dir string, n int) (time.Duration, error) {
	dbs := make([]*bolt.DB, 0, n)
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	bucket := []byte("floor")
	for i := range n {
		db, err := bolt.Open(filepath.Join(dir, fmt.Sprintf("floor-%d.db", i)), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return 0, err
		}
		dbs = append(dbs, db)
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
			return 0, err
		}
	}
	val := make([]byte, 300) // an alert or an ack's size
	errs := make(chan error, n)
	start := time.Now()
	for _, db := range dbs {
		go func() {
			var err error
			for k := range 2 {
				if err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte{byte(k)}, val) }); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	var err error
	for range n {
		err = errors.Join(err, <-errs)
	}
	took := time.Since(start)
	for _, db := range dbs {
		os.Remove(db.Path())
	}
	return took, err
}

// e2eAcks collects, from the server's and the gateways' mesh events, when
// each pole's "displayed" ack of each record arrived.
type e2eAcks struct {
	mu   sync.Mutex
	at   map[record.ID]map[string]ackTimes // record → pole
	wake chan struct{}
	// offset is how far the city's clock (which FastLogins steps ahead)
	// runs from the machine's, in ns: the acks' own times are the city's.
	offset atomic.Int64
}

func (a *e2eAcks) event(_ string, ev mesh.Event) {
	if ev.Kind != mesh.EventAccepted || ev.Record == nil || ev.Record.Kind != record.KindAck {
		return
	}
	ack, ok := ev.Record.Body.(*record.Ack)
	if !ok || ack.State != record.AckDisplayed {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.at[ack.Record]
	if m == nil {
		m = map[string]ackTimes{}
		a.at[ack.Record] = m
	}
	if _, dup := m[ev.Record.Origin]; !dup {
		m[ev.Record.Origin] = ackTimes{arrived: now, made: ack.At.Time().Add(-time.Duration(a.offset.Load()))}
		close(a.wake)
		a.wake = make(chan struct{})
	}
}

// ackTimes are when an ack arrived and when its pole made it (the ack's
// own time, on the machine's clock).
type ackTimes struct{ arrived, made time.Time }

// wait waits until every pole in poles has acked id or the deadline
// passes, and returns the latencies from start of those that did.
func (a *e2eAcks) wait(ctx context.Context, id record.ID, poles map[string]bool, start, deadline time.Time) (lat, made []time.Duration, err error) {
	for {
		a.mu.Lock()
		lat, made = lat[:0], made[:0]
		for p, t := range a.at[id] {
			if poles[p] {
				lat = append(lat, t.arrived.Sub(start))
				made = append(made, t.made.Sub(start))
			}
		}
		wake := a.wake
		a.mu.Unlock()
		if len(lat) == len(poles) || !time.Now().Before(deadline) {
			return lat, made, nil
		}
		select {
		case <-wake:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// RunE2EBench starts the `cityarray up` city with cfg.Poles poles (gossip
// on loopback UDP, real MQTT over TLS, everything in this process) and
// measures an alert's way from the operator's call to each pole's
// display, in three phases: normal, one gateway killed (failover), and
// the server killed (gateway only).
func RunE2EBench(ctx context.Context, cfg E2EBenchConfig) (E2EBenchResult, error) {
	cfg.defaults()
	res := E2EBenchResult{Poles: cfg.Poles, Zones: cfg.Zones, Cores: runtime.GOMAXPROCS(0)}

	dir, err := os.MkdirTemp(cfg.Dir, "cityarray-bench-e2e-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfg.Progress("disk floor: %d bbolt files in %s committing twice each, all at once", cfg.Poles, dir)
	if res.DiskFloor, err = measureDiskFloor(dir, cfg.Poles); err != nil {
		return res, fmt.Errorf("measuring the disk floor in %s: %w", dir, err)
	}

	acks := &e2eAcks{at: map[record.ID]map[string]ackTimes{}, wake: make(chan struct{})}
	start := time.Now()
	c, err := Up(ctx, UpConfig{Poles: cfg.Poles, Zones: cfg.Zones, Listen: "127.0.0.1:0", FastLogins: true, NoSpeech: true,
		Dir: dir, Logger: cfg.Logger, Progress: cfg.Progress, OnEvent: acks.event})
	if err != nil {
		return res, err
	}
	defer c.Close()
	cfg.Progress("waiting for every pole to reach its gateway and the gossip mesh to form")
	if err := c.settle(ctx, 5*time.Minute, cfg.Progress); err != nil {
		return res, err
	}
	res.Start = time.Since(start)
	cfg.Progress("city up and settled in %v", res.Start.Round(time.Millisecond))

	admin, err := c.Server.Login(ctx, c.Admin)
	if err != nil {
		return res, err
	}
	bd, err := newBenchDesk(ctx, c.Server, admin)
	if err != nil {
		return res, err
	}
	all := map[string]bool{}
	for _, p := range c.Poles {
		all[p.Identity().ID] = true
	}
	measure := func(name string, poles map[string]bool, send func() (record.ID, time.Time, error)) (E2EPhase, error) {
		var ph E2EPhase
		var lat, made []time.Duration
		for i := range cfg.Alerts {
			select {
			case <-ctx.Done():
				return ph, ctx.Err()
			case <-time.After(cfg.Gap):
			}
			acks.offset.Store(int64(c.clock.Now().Sub(time.Now())))
			id, t0, err := send()
			if err != nil {
				return ph, fmt.Errorf("%s: alert %d: %w", name, i+1, err)
			}
			l, m, err := acks.wait(ctx, id, poles, t0, t0.Add(cfg.Wait))
			if err != nil {
				return ph, err
			}
			cfg.Progress("%s: alert %d on %d of %d poles", name, i+1, len(l), len(poles))
			if len(l) < len(poles) {
				c.explainMissed(cfg.Progress, acks, id, poles)
			}
			lat = append(lat, l...)
			made = append(made, m...)
			ph.Expected += len(poles)
		}
		ph.Delivered = len(lat)
		slices.Sort(lat)
		slices.Sort(made)
		if len(lat) > 0 {
			ph.P50, ph.P99, ph.Max = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
			ph.MadeP50, ph.MadeP99 = quantile(made, 0.50), quantile(made, 0.99)
		}
		return ph, nil
	}

	cfg.Progress("normal: %d city-wide warnings, one at a time", cfg.Alerts)
	var published []string
	warn := func() (record.ID, time.Time, error) {
		a, t0, err := bd.warn(ctx, desk.DraftRequest{Tier: "warning", Scope: "city", Lifetime: "1h",
			Alert: &record.Alert{Texts: map[string]record.AlertText{"en": {Short: fmt.Sprintf("Storm warning %d: stay indoors", len(published)+1)}},
				Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}})
		if err == nil {
			published = append(published, a.ID)
		}
		return a.Current, t0, err
	}
	stopProfiles, err := cfg.startProfiles()
	if err != nil {
		return res, err
	}
	cfg.Progress("measuring the city at rest for %v", idleSample)
	idle0, idleOK := processCPU()
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(idleSample):
	}
	if idle1, ok := processCPU(); ok && idleOK {
		res.IdleCores = float64(idle1-idle0) / float64(time.Since(t0))
	}
	cpu0, cpuOK := processCPU()
	t0 = time.Now()
	res.Normal, err = measure("normal", all, warn)
	if cpu1, ok := processCPU(); ok && cpuOK && err == nil {
		rest := time.Duration(res.IdleCores * float64(time.Since(t0)))
		res.CPUPerPole = max(cpu1-cpu0-rest, 0) / time.Duration(cfg.Poles*cfg.Alerts)
	}
	stopProfiles()
	if err != nil {
		return res, err
	}

	cfg.Progress("failover: gateway %s killed, %d more warnings", "gw-"+c.zones[0], cfg.Alerts)
	if err := c.StopGateway(0); err != nil {
		return res, err
	}
	if res.Failover, err = measure("failover", all, warn); err != nil {
		return res, err
	}

	// The warnings would outrank the gateways' advisories: withdraw them,
	// and bring the gateway back.
	cfg.Progress("cancelling the warnings and restarting gateway %s", "gw-"+c.zones[0])
	for _, id := range published {
		if err := bd.cancel(ctx, id); err != nil {
			return res, err
		}
	}
	if err := c.StartGateway(0); err != nil {
		return res, err
	}
	if err := c.settle(ctx, 2*time.Minute, cfg.Progress); err != nil {
		return res, err
	}
	if err := pollUntil(ctx, time.Minute, 100*time.Millisecond, func() bool {
		for _, p := range c.Poles {
			if !p.Showing().Record.IsZero() {
				return false
			}
		}
		return true
	}); err != nil {
		return res, errors.New("the cancelled warnings stayed on some poles")
	}

	cfg.Progress("gateway only: the server killed; each gateway issues %d advisories for its zone", cfg.Alerts)
	if err := c.Server.Close(); err != nil {
		return res, fmt.Errorf("stopping the server: %w", err)
	}
	for zi, g := range c.Gateways() {
		zone := c.zones[zi]
		poles := map[string]bool{}
		for _, p := range c.Poles {
			if p.Identity().Zone == zone {
				poles[p.Identity().ID] = true
			}
		}
		ph, err := measure("gateway only "+zone, poles, func() (record.ID, time.Time, error) {
			t0 := time.Now()
			r, err := g.Advisory(ctx, FloodAlert(), time.Hour)
			if err != nil {
				return record.ID{}, t0, err
			}
			return r.ID(), t0, nil
		})
		if err != nil {
			return res, err
		}
		res.GatewayOnly = mergePhases(res.GatewayOnly, ph)
	}
	// The baseline last, with the city gone: its 500 clients leave work
	// behind (closing, garbage) that would weigh on the city's phases.
	if err := c.Close(); err != nil {
		return res, fmt.Errorf("stopping the city: %w", err)
	}
	if !cfg.NoBaseline {
		cfg.Progress("baseline: one broker fanning a record out to %d MQTT clients", cfg.Poles)
		if res.BaselineP50, res.BaselineP99, err = fanoutBaseline(ctx, cfg.Poles, cfg.Alerts, cfg.Logger); err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
	}
	return res, nil
}

// explainMissed says, for the first few poles in poles whose "displayed"
// ack of id did not arrive, what each shows and holds: whether the
// alert or its ack went missing.
func (c *UpCity) explainMissed(progress func(string, ...any), acks *e2eAcks, id record.ID, poles map[string]bool) {
	acks.mu.Lock()
	got := maps.Clone(acks.at[id])
	acks.mu.Unlock()
	n := 0
	for _, p := range c.Poles {
		pid := p.Identity().ID
		if _, ok := got[pid]; ok || !poles[pid] {
			continue
		}
		if n++; n > 5 {
			progress("  … and more")
			return
		}
		st := p.Status()
		_, err := p.Store().Get(id)
		gs, up, _ := p.GossipStats()
		progress("  missed %s: has the alert %v, shows it %v, rung %s, outbox %d, faults %v; gossip: %d members (%d upstream), "+
			"pushes in %d out %d, notices in %d, grafts out %d, send errors %d, queue full %d, sessions started %d completed %d failed %d, fetched %d, introductions %d",
			pid, err == nil, st.Showing.Record == id, st.Rung, st.Outbox, st.Faults, p.GossipMembers(), up,
			gs.PushReceived, gs.PushSent, gs.IHaveReceived, gs.GraftSent, gs.SendErrors, gs.SendQueueFull,
			gs.SessionsStarted, gs.SessionsCompleted, gs.SessionsFailed, gs.AntiEntropyFetched, gs.Introductions)
	}
}

// mergePhases adds b's deliveries to a's; the latencies are the worse of
// the two (the phases' samples are not kept).
func mergePhases(a, b E2EPhase) E2EPhase {
	a.Expected += b.Expected
	a.Delivered += b.Delivered
	a.P50, a.P99, a.Max = max(a.P50, b.P50), max(a.P99, b.P99), max(a.Max, b.Max)
	a.MadeP50, a.MadeP99 = max(a.MadeP50, b.MadeP50), max(a.MadeP99, b.MadeP99)
	return a
}

// settle waits until every pole's uplink is its gateway, every gateway
// reaches the server and every pole's gossip member knows enough of the
// city (all of it, or settleMembers) to push to and hear from random
// members: memberlist spreads the full membership over minutes in a large
// city, and the mesh does not need it. It reports progress every 5 s.
func (c *UpCity) settle(ctx context.Context, timeout time.Duration, progress func(string, ...any)) error {
	members := min(len(c.Poles)+len(c.zones)+1, settleMembers)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	for {
		onGateway, minMembers, gateways := 0, members, 0
		for _, p := range c.Poles {
			if p.Rung() == "ethernet" {
				onGateway++
			}
			if n := p.GossipMembers(); n >= 0 {
				minMembers = min(minMembers, n)
			}
		}
		for _, g := range c.Gateways() {
			if g != nil && g.ServerConnected() {
				gateways++
			}
		}
		if onGateway == len(c.Poles) && minMembers >= members && gateways == len(c.zones) {
			return nil
		}
		if time.Since(lastReport) >= 5*time.Second {
			progress("  %d of %d poles on their gateway, %d of %d gateways on the server, every pole knows at least %d members (waiting for %d)",
				onGateway, len(c.Poles), gateways, len(c.zones), minMembers, members)
			lastReport = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the city did not settle in %v: %d of %d poles on their gateway, %d of %d gateways on the server, a pole knows only %d members (want %d)",
				timeout, onGateway, len(c.Poles), gateways, len(c.zones), minMembers, members)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// settleMembers is how many gossip members each pole must know before a
// large city counts as settled.
const settleMembers = 32

// benchDesk drafts, approves and publishes warnings through the server's
// API, as its people do: an integration feed drafts and submits, a
// supervisor approves and publishes.
type benchDesk struct {
	feed, sup *Session
}

// newBenchDesk has admin create the bench's supervisor (logged in) and
// integration feed (an API token).
func newBenchDesk(ctx context.Context, l *LocalServer, admin *Session) (*benchDesk, error) {
	sup, err := l.AddPerson(ctx, admin, "bench-sup", auth.RoleSupervisor)
	if err != nil {
		return nil, err
	}
	supS, err := l.Login(ctx, sup)
	if err != nil {
		return nil, err
	}
	if _, err := l.AddPerson(ctx, admin, "bench-feed", auth.RoleIntegration); err != nil {
		return nil, err
	}
	secret, err := l.Token(ctx, admin, "bench-feed", auth.PermAlertRead, auth.PermAlertDraft, auth.PermAlertSubmit)
	if err != nil {
		return nil, err
	}
	return &benchDesk{feed: l.TokenSession("bench-feed", secret), sup: supS}, nil
}

// warn drafts, submits and approves req, then publishes it; t0 is when
// the publication call was made.
func (d *benchDesk) warn(ctx context.Context, req desk.DraftRequest) (a desk.Alert, t0 time.Time, err error) {
	if err := d.feed.Do(ctx, "POST", "/api/v1/alerts", req, &a); err != nil {
		return a, t0, fmt.Errorf("draft: %w", err)
	}
	if err := d.feed.Do(ctx, "POST", "/api/v1/alerts/"+a.ID+"/submit", nil, nil); err != nil {
		return a, t0, fmt.Errorf("submit: %w", err)
	}
	if err := d.sup.Do(ctx, "POST", "/api/v1/alerts/"+a.ID+"/approve", nil, nil); err != nil {
		return a, t0, fmt.Errorf("approve: %w", err)
	}
	t0 = time.Now()
	if err := d.sup.Do(ctx, "POST", "/api/v1/alerts/"+a.ID+"/publish", nil, &a); err != nil {
		return a, t0, fmt.Errorf("publish: %w", err)
	}
	return a, t0, nil
}

func (d *benchDesk) cancel(ctx context.Context, id string) error {
	if err := d.sup.Do(ctx, "POST", "/api/v1/alerts/"+id+"/cancel", map[string]string{"reason": "bench over"}, nil); err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	return nil
}

// fanoutBaseline starts a bare control server with n MQTT clients (device
// certificates) subscribed to one zone topic and publishes alerts records
// to it one at a time, returning the p50 and p99 from publish to each
// client's receipt.
func fanoutBaseline(ctx context.Context, n, alerts int, logger *slog.Logger) (p50, p99 time.Duration, err error) {
	dir, err := os.MkdirTemp("", "cityarray-bench-e2e-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	l, err := StartLocalServer(ctx, LocalServerConfig{Dir: dir, City: "baselineville", Logger: logger})
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	signer, err := l.Signer()
	if err != nil {
		return 0, 0, err
	}
	v, err := trust.NewVerifier(trust.Config{Roots: []*x509.Certificate{l.PKI.Root}})
	if err != nil {
		return 0, 0, err
	}
	var mu sync.Mutex
	got := map[record.ID][]time.Time{}
	clients := make([]*benchClient, 0, n)
	defer func() {
		for _, b := range clients {
			b.close()
		}
	}()
	for i := range n {
		b, err := newBenchClient(l, v, trust.Identity{Role: trust.RoleDevice, ID: fmt.Sprintf("base-%04d", i), Zone: benchZone})
		if err != nil {
			return 0, 0, err
		}
		clients = append(clients, b)
		if err := b.subscribe(mqttlink.ZoneTopic(benchZone), func(payload []byte) {
			now := time.Now()
			id := record.IDOf(payload)
			mu.Lock()
			got[id] = append(got[id], now)
			mu.Unlock()
		}); err != nil {
			return 0, 0, err
		}
	}
	var lat []time.Duration
	for i := range alerts {
		now := time.Now()
		r, err := signWarning(signer, l.Identity().ID, record.ZoneScope(benchZone), uint64(now.UnixMilli())+uint64(i), "Storm warning: stay indoors", now)
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := l.Node().Publish(ctx, r); err != nil {
			return 0, 0, err
		}
		have := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(got[r.ID()])
		}
		if err := waitFor(ctx, 30*time.Second, func() bool { return have() >= n }); err != nil {
			return 0, 0, fmt.Errorf("record %d reached %d of %d clients: %w", i+1, have(), n, err)
		}
		mu.Lock()
		for _, t := range got[r.ID()] {
			lat = append(lat, t.Sub(t0))
		}
		mu.Unlock()
	}
	slices.Sort(lat)
	return quantile(lat, 0.50), quantile(lat, 0.99), nil
}
