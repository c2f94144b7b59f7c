package city

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// SimOptions configure a scenario run.
type SimOptions struct {
	// Seed seeds the network and the gossip links.
	Seed int64
	// Dir holds the nodes' stores; a temporary directory by default.
	Dir string
	// Progress, if set, is told what the run is doing.
	Progress func(format string, args ...any)
	// MaxRealWait caps how long a `wait` sleeps in real time; the rest of
	// a longer wait jumps the simulated clock (default 1 minute). memberlist's
	// timers always run in real time.
	MaxRealWait time.Duration
}

// SimReport is what a scenario run found.
type SimReport struct {
	Scenario     string        `json:"scenario"`
	Nodes        int           `json:"nodes"`
	Records      []RecordStats `json:"records"`
	Expectations []Expectation `json:"expectations"`
	BytesPerNode float64       `json:"bytes_per_node"`
	OK           bool          `json:"ok"`
}

// RecordStats is one published record's delivery at the end of the run.
type RecordStats struct {
	Name      string  `json:"name"`
	Tier      string  `json:"tier"`
	Scope     string  `json:"scope"`
	Targets   int     `json:"targets"`
	Delivered int     `json:"delivered"`
	Ratio     float64 `json:"delivered_ratio"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// Expectation is one `expect` line's outcome.
type Expectation struct {
	Line   int     `json:"line"`
	Text   string  `json:"text"`
	OK     bool    `json:"ok"`
	Got    float64 `json:"got"`
	Want   float64 `json:"want"`
	Detail string  `json:"detail"`
}

// simClock is the simulated city's clock: real time plus the jumps of
// long waits.
type simClock struct{ offset atomic.Int64 }

func (c *simClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

type simNode struct {
	name   string
	zone   string // "" for the server
	role   trust.Role
	member *Member
	store  *store.Store
	node   *mesh.Node
	link   *gossip.Link
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	accepted map[record.ID]time.Time
}

type simRecord struct {
	name      string
	rec       *record.Record
	published time.Time
	from      string
}

// sim runs one scenario.
type sim struct {
	opts    SimOptions
	net     *netsim.Network
	pki     *PKI
	server  *Member
	clock   *simClock
	nodes   map[string]*simNode
	order   []string
	dir     string
	ownDir  bool
	records []*simRecord
	seq     uint64
	report  SimReport
	log     *slog.Logger
}

// RunScenario runs s and returns its report; the report's OK is false if
// an expectation failed.
func RunScenario(s *Scenario, opts SimOptions) (*SimReport, error) {
	if opts.MaxRealWait <= 0 {
		opts.MaxRealWait = time.Minute
	}
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	r := &sim{opts: opts, clock: &simClock{}, nodes: map[string]*simNode{}, dir: opts.Dir,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.report = SimReport{Scenario: s.Name, OK: true}
	defer r.close()
	for _, c := range s.Commands {
		if err := r.run(c); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", s.Name, c.Line, c.Verb, err)
		}
	}
	r.finish()
	return &r.report, nil
}

func (r *sim) run(c Command) error {
	switch c.Verb {
	case "city":
		return r.city(c)
	case "link":
		l, err := c.link()
		if err != nil {
			return err
		}
		r.net.SetDefault(l)
	case "partition":
		groups, err := r.groups(c.Pos)
		if err != nil {
			return err
		}
		r.net.Partition(groups...)
		r.opts.Progress("partition into %d groups", len(groups))
	case "heal":
		r.net.Heal()
		r.opts.Progress("network healed")
	case "crash":
		return r.crash(c.Pos[0])
	case "restart":
		return r.restart(c.Pos[0])
	case "publish":
		return r.publish(c)
	case "wait":
		d, _ := c.duration(c.Pos[0])
		maxReal := r.opts.MaxRealWait
		if v, ok := c.Args["real"]; ok {
			maxReal, _ = c.duration(v)
		}
		r.wait(d, maxReal)
	case "expect":
		r.expect(c)
	}
	return nil
}

func (r *sim) city(c Command) error {
	zones, _ := c.intArg("zones", 1, 2000)
	poles, _ := c.intArg("poles", 1, 2000)
	gws, _ := c.intArgDefault("gateways", 0, 0, 16)
	if n := zones * (poles + gws); n > 2000 {
		return fmt.Errorf("%d nodes: at most 2000 in one process", n)
	}
	now := r.clock.Now()
	var err error
	if r.pki, err = NewPKI(simLabel, now); err != nil {
		return err
	}
	if r.server, err = r.pki.Issue(trust.Identity{Role: trust.RoleServer, ID: "server-1"}, now); err != nil {
		return err
	}
	r.net = netsim.New(netsim.Config{Seed: r.opts.Seed})
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp(tmpfsDir(), "cityarray-sim-"); err != nil {
			return err
		}
		r.ownDir = true
	}
	add := func(id trust.Identity) error {
		m, err := r.pki.Issue(id, now)
		if err != nil {
			return err
		}
		if id.Role == trust.RoleServer {
			m = r.server
		}
		r.nodes[id.ID] = &simNode{name: id.ID, zone: id.Zone, role: id.Role, member: m}
		r.order = append(r.order, id.ID)
		return nil
	}
	if err := add(r.server.Identity); err != nil {
		return err
	}
	for z := 1; z <= zones; z++ {
		zone := fmt.Sprintf("z%d", z)
		for g := 1; g <= gws; g++ {
			name := "gw-" + zone
			if gws > 1 {
				name = fmt.Sprintf("gw-%s-%d", zone, g)
			}
			if err := add(trust.Identity{Role: trust.RoleGateway, ID: name, Zone: zone}); err != nil {
				return err
			}
		}
		for p := 1; p <= poles; p++ {
			if err := add(trust.Identity{Role: trust.RoleDevice, ID: fmt.Sprintf("pole-%d", (z-1)*poles+p), Zone: zone}); err != nil {
				return err
			}
		}
	}
	r.report.Nodes = len(r.order)
	r.opts.Progress("starting %d nodes (%d zones × %d poles, %d gateways per zone, 1 server)", len(r.order), zones, poles, gws)
	for _, name := range r.order {
		if err := r.start(r.nodes[name]); err != nil {
			return err
		}
	}
	seed, _ := r.net.Addr(r.order[0])
	for i, name := range r.order[1:] {
		prev, _ := r.net.Addr(r.order[i]) // the node started just before
		if _, err := r.nodes[name].link.Join([]string{seed, prev}); err != nil {
			return fmt.Errorf("%s joining: %w", name, err)
		}
	}
	return r.converge(time.Duration(len(r.order))*200*time.Millisecond + time.Minute)
}

// start runs a node: its store (kept across crashes), replica, and gossip
// link on the simulated network.
func (r *sim) start(n *simNode) error {
	n.mu.Lock()
	if n.accepted == nil {
		n.accepted = map[record.ID]time.Time{}
	}
	n.mu.Unlock()
	pc := poleConfig{
		Name: n.name, Member: n.member, PKI: r.pki, Net: r.net, Dir: r.dir, Known: []*Member{r.server},
		Clock: r.clock, KeepState: true, Logger: r.log,
		OnEvent: func(ev mesh.Event) {
			if ev.Kind == mesh.EventAccepted {
				n.mu.Lock()
				if _, ok := n.accepted[ev.ID]; !ok {
					n.accepted[ev.ID] = r.clock.Now()
				}
				n.mu.Unlock()
			}
		},
	}
	p, err := openPole(pc)
	if err != nil {
		return err
	}
	link, err := p.gossipLink(pc, gossip.Config{}, uint64(r.opts.Seed)<<20|uint64(slices.Index(r.order, n.name)+1))
	if err != nil {
		p.store.Close()
		return err
	}
	st, node := p.store, p.node
	ctx, cancel := context.WithCancel(context.Background())
	n.store, n.node, n.link, n.cancel, n.done = st, node, link, cancel, make(chan error, 2)
	go func() { n.done <- node.Run(ctx) }()
	go func() { n.done <- link.Run(ctx) }()
	return nil
}

// stop stops a node's link and replica and closes its store.
func (r *sim) stop(n *simNode) error {
	if n.link == nil {
		return nil
	}
	n.link.Close()
	n.cancel()
	var errs []error
	for range 2 {
		if err := <-n.done; err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, n.store.Close())
	n.link, n.node, n.store = nil, nil, nil
	return errors.Join(errs...)
}

func (r *sim) crash(name string) error {
	n, ok := r.nodes[name]
	if !ok {
		return fmt.Errorf("no node %q", name)
	}
	if n.link == nil {
		return fmt.Errorf("%s is already down", name)
	}
	if err := r.net.Crash(name); err != nil {
		return err
	}
	r.opts.Progress("%s crashed", name)
	return r.stop(n)
}

func (r *sim) restart(name string) error {
	n, ok := r.nodes[name]
	if !ok {
		return fmt.Errorf("no node %q", name)
	}
	if n.link != nil {
		return fmt.Errorf("%s is running", name)
	}
	if err := r.net.Restart(name); err != nil {
		return err
	}
	if err := r.start(n); err != nil {
		return err
	}
	var addrs []string
	for _, o := range r.order {
		if o != name && r.nodes[o].link != nil {
			a, _ := r.net.Addr(o)
			addrs = append(addrs, a)
			if len(addrs) == 3 {
				break
			}
		}
	}
	if _, err := n.link.Join(addrs); err != nil {
		return fmt.Errorf("%s rejoining: %w", name, err)
	}
	r.opts.Progress("%s restarted from its store", name)
	return nil
}

// groups resolves partition selectors into groups of node names.
func (r *sim) groups(pos []string) ([][]string, error) {
	var groups [][]string
	taken := map[string]bool{}
	restAt := -1
	cur := []string{}
	flush := func() {
		groups = append(groups, cur)
		cur = []string{}
	}
	for _, p := range pos {
		if p == "|" {
			flush()
			continue
		}
		if p == "rest" {
			restAt = len(groups)
			continue
		}
		names, err := r.selectNodes(p)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !taken[n] {
				taken[n] = true
				cur = append(cur, n)
			}
		}
	}
	flush()
	if restAt >= 0 {
		for _, n := range r.order {
			if !taken[n] {
				groups[restAt] = append(groups[restAt], n)
			}
		}
	}
	return groups, nil
}

func (r *sim) selectNodes(sel string) ([]string, error) {
	var out []string
	for _, name := range r.order {
		n := r.nodes[name]
		switch {
		case sel == name,
			sel == "poles" && n.role == trust.RoleDevice,
			sel == "gateways" && n.role == trust.RoleGateway,
			sel == "server" && n.role == trust.RoleServer,
			strings.HasPrefix(sel, "zone:") && n.zone == sel[len("zone:"):]:
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selector %q matches no node", sel)
	}
	return out, nil
}

func (r *sim) publish(c Command) error {
	tier, _ := record.ParseTier(c.Args["tier"])
	scope, _ := record.ParseScope(c.Args["scope"])
	from := c.Args["from"]
	if from == "" {
		from = r.server.Identity.ID
	}
	n, ok := r.nodes[from]
	if !ok || n.node == nil {
		return fmt.Errorf("from=%s: no running node of that name", from)
	}
	name := c.Args["name"]
	if name == "" {
		name = fmt.Sprintf("alert-%d", len(r.records)+1)
	}
	for _, rec := range r.records {
		if rec.name == name {
			return fmt.Errorf("name=%s is taken", name)
		}
	}
	r.seq++
	now := r.clock.Now()
	rec, err := record.Sign(&record.Record{
		Kind: record.KindAlert, Tier: tier, Scope: scope, Issued: now, Expires: now.Add(6 * time.Hour),
		Origin: r.server.Identity.ID, Seq: r.seq,
		Body: &record.Alert{
			Texts:    map[string]record.AlertText{"en": {Short: "Simulated alert " + name}, "es": {Short: "Alerta simulada " + name}},
			Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Safety",
		},
	}, r.server.KIDSigner)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.node.Publish(ctx, rec); err != nil {
		return fmt.Errorf("publishing at %s: %w", from, err)
	}
	r.records = append(r.records, &simRecord{name: name, rec: rec, published: now, from: from})
	r.opts.Progress("%s published %s (%s, %s)", from, name, tier, scope)
	return nil
}

// wait lets d pass: up to maxReal in real time, the rest as a jump of the
// simulated clock (records expire, caches age; memberlist does not
// notice).
func (r *sim) wait(d, maxReal time.Duration) {
	real := min(d, maxReal)
	if jump := d - real; jump > 0 {
		r.clock.offset.Add(int64(jump))
		r.opts.Progress("clock jumps %v", jump)
	}
	t := time.NewTimer(real)
	<-t.C
}

// targets returns the nodes a record in scope is for, but the publisher.
func (r *sim) targets(scope record.Scope, except string) []*simNode {
	kind, id := scope.Split()
	var out []*simNode
	for _, name := range r.order {
		n := r.nodes[name]
		if name == except {
			continue
		}
		if kind == record.ScopeCity || (kind == record.ScopeZone && n.zone == id) || (kind == record.ScopeDevice && name == id) {
			out = append(out, n)
		}
	}
	return out
}

// delivered counts the targets that have accepted rec.
func delivered(rec *record.Record, targets []*simNode) (n int, lat []time.Duration, published time.Time) {
	for _, t := range targets {
		t.mu.Lock()
		if at, ok := t.accepted[rec.ID()]; ok {
			n++
			lat = append(lat, at.Sub(rec.Issued))
		}
		t.mu.Unlock()
	}
	return n, lat, rec.Issued
}

// expect waits up to `within` from now for the share of running targets
// that have the record to reach the wanted share, then records the
// outcome. Nodes that are down are not counted.
func (r *sim) expect(c Command) {
	want, _ := c.percent()
	within, _ := c.duration(c.Args["within"])
	text := "expect " + strings.Join(c.Pos, " ")
	var rec *simRecord
	name := c.Args["record"]
	for _, sr := range r.records {
		if name == "" || sr.name == name {
			rec = sr
		}
	}
	e := Expectation{Line: c.Line, Want: want}
	if rec == nil {
		e.Text, e.Detail = text, "no such record published"
		r.addExpectation(e)
		return
	}
	scope := rec.rec.Scope
	if s, ok := c.Args["scope"]; ok {
		scope = record.Scope(s)
	}
	e.Text = fmt.Sprintf("expect delivered record=%s scope=%s %s within=%s", rec.name, scope, c.Pos[1], within)
	var targets []*simNode
	for _, t := range r.targets(scope, rec.from) {
		if t.link != nil { // a node that is down cannot have it yet
			targets = append(targets, t)
		}
	}
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, _, _ := delivered(rec.rec, targets)
		e.Got = 1
		if len(targets) > 0 {
			e.Got = float64(got) / float64(len(targets))
		}
		e.Detail = fmt.Sprintf("%d of %d nodes", got, len(targets))
		if e.Got >= want || time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	e.OK = e.Got >= want
	r.addExpectation(e)
}

func (r *sim) addExpectation(e Expectation) {
	r.report.Expectations = append(r.report.Expectations, e)
	if !e.OK {
		r.report.OK = false
	}
	verdict := "ok"
	if !e.OK {
		verdict = "FAILED"
	}
	r.opts.Progress("line %d: %s: %s (%s)", e.Line, e.Text, verdict, e.Detail)
}

// finish fills the per-record figures and the bytes per node.
func (r *sim) finish() {
	for _, sr := range r.records {
		targets := r.targets(sr.rec.Scope, sr.from)
		n, lat, _ := delivered(sr.rec, targets)
		rs := RecordStats{Name: sr.name, Tier: sr.rec.Tier.String(), Scope: string(sr.rec.Scope), Targets: len(targets), Delivered: n}
		if len(targets) > 0 {
			rs.Ratio = float64(n) / float64(len(targets))
		}
		if len(lat) > 0 {
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			rs.P50ms, rs.P99ms, rs.MaxMs = ms(lat[len(lat)*50/100]), ms(lat[min(len(lat)-1, len(lat)*99/100)]), ms(lat[len(lat)-1])
		}
		r.report.Records = append(r.report.Records, rs)
	}
	if r.net != nil && len(r.order) > 0 {
		st := r.net.TotalStats()
		r.report.BytesPerNode = float64(st.BytesSent+st.StreamBytesSent) / float64(len(r.order))
	}
}

// converge waits until every running node sees every running node.
func (r *sim) converge(timeout time.Duration) error {
	var names []string
	var mls []*memberlist.Memberlist
	var joins []func([]string) (int, error)
	for _, name := range r.order {
		if l := r.nodes[name].link; l != nil {
			names, mls, joins = append(names, name), append(mls, l.Memberlist()), append(joins, l.Join)
		}
	}
	if err := converge(context.Background(), r.net, names, mls, joins, timeout, r.opts.Progress); err != nil {
		return err
	}
	r.opts.Progress("%d nodes converged", len(mls))
	return nil
}

func (r *sim) close() {
	var wg sync.WaitGroup
	for _, name := range r.order {
		n := r.nodes[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop(n)
		}()
	}
	wg.Wait()
	if r.net != nil {
		r.net.Close()
	}
	if r.ownDir {
		os.RemoveAll(r.dir)
	}
}

// Golden writes the parts of a report that do not depend on timing: the
// expectations' outcomes and each record's final delivery. Scenario tests
// compare it with testdata/scenarios/*.golden.
func (rep *SimReport) Golden(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %d nodes\n", rep.Scenario, rep.Nodes)
	for _, e := range rep.Expectations {
		verdict := "ok"
		if !e.OK {
			verdict = "FAILED (" + e.Detail + ")"
		}
		fmt.Fprintf(w, "line %d: %s: %s\n", e.Line, e.Text, verdict)
	}
	for _, r := range rep.Records {
		fmt.Fprintf(w, "record %s %s %s: delivered %d/%d\n", r.Name, r.Tier, r.Scope, r.Delivered, r.Targets)
	}
	if rep.OK {
		fmt.Fprintln(w, "ok")
	} else {
		fmt.Fprintln(w, "FAILED")
	}
}

// Text writes the readable report: Golden's lines plus latencies and bytes.
func (rep *SimReport) Text(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %d nodes, %.0f bytes sent per node\n", rep.Scenario, rep.Nodes, rep.BytesPerNode)
	fmt.Fprintf(w, "%-12s %-13s %-12s %11s %9s %9s %9s\n", "record", "tier", "scope", "delivered", "p50", "p99", "max")
	for _, r := range rep.Records {
		fmt.Fprintf(w, "%-12s %-13s %-12s %5d/%-5d %7.0fms %7.0fms %7.0fms\n", r.Name, r.Tier, r.Scope, r.Delivered, r.Targets, r.P50ms, r.P99ms, r.MaxMs)
	}
	for _, e := range rep.Expectations {
		verdict := "ok"
		if !e.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "line %d: %s: %s (%s)\n", e.Line, e.Text, verdict, e.Detail)
	}
	if rep.OK {
		fmt.Fprintln(w, "all expectations hold")
	} else {
		fmt.Fprintln(w, "some expectations FAILED")
	}
}
