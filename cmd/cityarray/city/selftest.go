package city

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// SelftestConfig configures RunFailoverSelftest.
type SelftestConfig struct {
	// Poles (default 8) in two zones.
	Poles int
	// Within is how long each expectation may take (default 20 s).
	Within time.Duration
	// NoGossip runs the city without its gossip mesh: the checks that
	// need the mesh then fail, which shows what it buys.
	NoGossip bool
	// Progress, if set, is told what the selftest is doing.
	Progress func(format string, args ...any)
	// Logger receives the city's logs (default: discarded).
	Logger *slog.Logger
}

// Check is one line of the selftest's table: what was checked, whether it
// held, how long it took, and what was seen when it did not.
type Check struct {
	Scenario, Expect string
	Pass             bool
	Took             time.Duration
	Detail           string
}

// RunFailoverSelftest runs the deployment checklist's failover tests
// against a local demo city (`cityarray up`'s, in this process): a pole
// offline and back, a gateway offline, a gateway's power cut and restart,
// and the server offline. It returns every check, passed or not; the
// error is for a city that could not be run at all.
func RunFailoverSelftest(ctx context.Context, cfg SelftestConfig) ([]Check, error) {
	if cfg.Poles <= 0 {
		cfg.Poles = 8
	}
	if cfg.Within <= 0 {
		cfg.Within = 20 * time.Second
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	c, err := Up(ctx, UpConfig{Poles: cfg.Poles, Zones: 2, Listen: "127.0.0.1:0", FastLogins: true, NoSpeech: true,
		NoGossip: cfg.NoGossip, Logger: cfg.Logger, Progress: cfg.Progress})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.settle(ctx, 2*time.Minute, cfg.Progress); err != nil {
		return nil, err
	}
	signer, err := c.Server.Signer()
	if err != nil {
		return nil, err
	}
	st := &selftest{c: c, cfg: cfg, ctx: ctx, signer: signer}
	z1 := st.polesIn(c.zones[0])

	// A pole offline, then back: it catches up.
	st.scenario("pole offline, then back", func() {
		st.must(c.StopPole(0))
		r := st.warn("zone:"+c.zones[0], "Flood warning while pole-001 is off")
		st.must(c.StartPole(0))
		st.expect("it shows the alert it missed", func() bool { return c.Poles[0].Showing().Record == r.ID() })
		st.expect("its displayed ack reaches the server", func() bool { return st.c.Server.HasDisplayedAck(r.ID(), c.Poles[0].Identity().ID) })
	})

	// A gateway offline: its poles keep showing, the mesh carries new alerts.
	st.scenario("gateway offline", func() {
		before := st.warn("zone:"+c.zones[0], "Flood warning before the gateway fails")
		st.expect("the zone shows an alert", func() bool { return st.allShow(z1, before.ID()) })
		st.must(c.StopGateway(0))
		st.expect("its poles keep showing it", func() bool { return st.allShow(z1, before.ID()) })
		r := st.warn("zone:"+c.zones[0], "Flood warning while the gateway is down")
		st.expect("a new alert reaches every pole of the zone over the mesh", func() bool { return st.allShow(z1, r.ID()) })
		st.expect("and their acks reach the server", func() bool { return st.allAcked(z1, r.ID()) })
	})

	// A gateway's power cut: it restarts from its files and lost nothing.
	st.scenario("gateway power cut and restart", func() {
		g := c.Gateways()[1]
		n, err := g.Store().Stats()
		st.must(err)
		st.must(c.StopGateway(1))
		st.must(c.StartGateway(0)) // the other one comes back too
		st.must(c.StartGateway(1))
		g = c.Gateways()[1]
		m, err := g.Store().Stats()
		st.must(err)
		st.check("it holds every record it held", m.Records >= n.Records, fmt.Sprintf("%d records before, %d after", n.Records, m.Records))
		st.expect("every pole is back on its gateway", func() bool {
			for _, p := range c.Poles {
				if p.Rung() != "ethernet" {
					return false
				}
			}
			return true
		})
		r := st.warn("city", "Storm warning after the restart")
		st.expect("a new alert reaches every pole", func() bool { return st.allShow(st.polesIn(""), r.ID()) })
	})

	// The server offline: gateways serve from their cache, Advisory works,
	// Warning and Emergency cannot be made.
	st.scenario("server offline", func() {
		// The selftest's warnings would outrank the advisory on the
		// display: the server withdraws them before it goes down.
		st.cancelWarnings()
		st.expect("the withdrawn warnings leave the poles", func() bool { return st.allShow(st.polesIn(""), record.ID{}) })
		st.must(c.Server.Close())
		st.must(c.StopPole(0))
		var adv *record.Record
		st.expect("a gateway issues an Advisory", func() bool {
			if adv == nil {
				adv, _ = c.Gateways()[0].Advisory(ctx, FloodAlert(), time.Hour)
			}
			return adv != nil
		})
		if adv != nil {
			st.expect("the advisory is on every running pole of its zone", func() bool { return st.allShow(z1[1:], adv.ID()) })
			st.must(c.StartPole(0))
			st.expect("a pole that restarts catches up (its gateway's cache)", func() bool { return st.allShow(z1[:1], adv.ID()) })
		}
		err := st.gatewayWarning()
		st.check("a Warning signed by a gateway is refused", err != nil, fmt.Sprint(err))
		_, err = c.Server.HTTPClient().Get(c.Server.HTTPURL() + "/api/v1/alerts")
		st.check("the desk (Warnings, Emergencies) is unreachable", err != nil, fmt.Sprint(err))
	})
	return st.checks, nil
}

// selftest is one run's state.
type selftest struct {
	c        *UpCity
	cfg      SelftestConfig
	ctx      context.Context
	signer   record.Signer
	checks   []Check
	name     string
	seq      uint64
	warnings []*record.Record
	failed   error // a step that could not be done: the rest of its scenario is skipped
}

func (st *selftest) scenario(name string, f func()) {
	st.name, st.failed = name, nil
	st.cfg.Progress("scenario: %s", name)
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stepFailed); !ok {
					panic(r)
				}
				st.checks = append(st.checks, Check{Scenario: name, Expect: "the scenario's steps ran", Detail: st.failed.Error()})
			}
		}()
		f()
	}()
}

type stepFailed struct{}

// must stops the scenario at a step that failed.
func (st *selftest) must(err error) {
	if err != nil {
		st.failed = err
		panic(stepFailed{})
	}
}

func (st *selftest) check(expect string, pass bool, detail string) {
	if pass {
		detail = ""
	}
	st.checks = append(st.checks, Check{Scenario: st.name, Expect: expect, Pass: pass, Detail: detail})
	st.cfg.Progress("  %s: %v", expect, pass)
}

// expect waits up to Within for cond.
func (st *selftest) expect(expect string, cond func() bool) {
	start := time.Now()
	err := pollUntil(st.ctx, st.cfg.Within, 50*time.Millisecond, cond)
	ch := Check{Scenario: st.name, Expect: expect, Pass: err == nil, Took: time.Since(start)}
	if err != nil {
		ch.Detail = fmt.Sprintf("not within %v", st.cfg.Within)
	}
	st.checks = append(st.checks, ch)
	st.cfg.Progress("  %s: %v (%v)", expect, ch.Pass, ch.Took.Round(time.Millisecond))
}

// warn has the server sign and publish a Warning for scope.
func (st *selftest) warn(scope, text string) *record.Record {
	st.seq++
	now := st.c.clock.Now()
	r, err := signWarning(st.signer, st.c.Server.Identity().ID, record.Scope(scope), uint64(now.UnixMilli())+st.seq, text, now)
	st.must(err)
	st.must(st.c.Server.Node().Publish(st.ctx, r))
	st.warnings = append(st.warnings, r)
	return r
}

// cancelWarnings has the server withdraw every warning the selftest
// published, in one cancel for the city.
func (st *selftest) cancelWarnings() {
	ids := make([]record.ID, len(st.warnings))
	for i, r := range st.warnings {
		ids[i] = r.ID()
	}
	st.seq++
	now := st.c.clock.Now().UTC().Truncate(time.Millisecond)
	r, err := record.Sign(&record.Record{Kind: record.KindCancel, Tier: record.TierWarning, Scope: record.Scope("city"),
		Issued: now, Expires: now.Add(time.Hour), Origin: st.c.Server.Identity().ID, Seq: uint64(now.UnixMilli()) + st.seq,
		Supersedes: ids, Body: &record.Cancel{Reason: "selftest"}}, st.signer)
	st.must(err)
	st.must(st.c.Server.Node().Publish(st.ctx, r))
}

// polesIn returns the indexes of zone's poles ("" for all).
func (st *selftest) polesIn(zone string) []int {
	var out []int
	for i, p := range st.c.Poles {
		if zone == "" || p.Identity().Zone == zone {
			out = append(out, i)
		}
	}
	return out
}

func (st *selftest) allShow(poles []int, id record.ID) bool {
	for _, i := range poles {
		if st.c.Poles[i].Showing().Record != id {
			return false
		}
	}
	return true
}

func (st *selftest) allAcked(poles []int, rec record.ID) bool {
	for _, i := range poles {
		if !st.c.Server.HasDisplayedAck(rec, st.c.Poles[i].Identity().ID) {
			return false
		}
	}
	return true
}

// gatewayWarning signs a Warning with gateway 0's key and hands it to the
// gateway's node: the trust tiers must refuse it.
func (st *selftest) gatewayWarning() error {
	g := st.c.Gateways()[0]
	id := g.Identity().ID
	now := st.c.clock.Now()
	signer, err := chainSigner(filepath.Join(st.c.dir, "pki"), trust.RoleGateway, id, now)
	if err != nil {
		return err
	}
	r, err := signWarning(signer, id, record.ZoneScope(g.Identity().Zone), uint64(now.UnixMilli()), "A gateway may not warn", now)
	if err != nil {
		return err
	}
	if err := g.Node().Publish(st.ctx, r); err != nil {
		return err
	}
	return errors.New("the gateway's node accepted it")
}
