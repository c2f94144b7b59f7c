package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/gossip"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
)

// ErrRestart is what Run returns when a command asked the pole to restart
// (a new configuration, a reboot): the service manager starts it again.
var ErrRestart = errors.New("edge: restart requested")

// rungEvery is how often the loop looks at the ladder's rung.
const rungEvery = 2 * time.Second

// Run runs the pole until ctx ends: the node, the links, the display and
// speaker loop, health reports, the watchdog. It returns nil when ctx
// ends, ErrRestart when a command asked for a restart, or the error that
// stopped a part it cannot run without (the node).
func (p *Pole) Run(ctx context.Context) error {
	g, ctx := mesh.NewGroup(ctx, p.log)
	g.Go("node", p.node.Run)
	if p.gossip != nil {
		g.Go("gossip", func(ctx context.Context) error { return p.gossip.JoinAndRun(ctx, p.cfg.Gossip.Peers) })
	}
	if addr := p.cfg.StatusListen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			g.Stop(fmt.Errorf("edge: status listen on %s: %w", addr, err))
			return g.Wait()
		}
		p.log.Info("status page", "url", "http://"+ln.Addr().String()+"/")
		g.Go("status page", func(ctx context.Context) error { return mesh.ServeHTTP(ctx, ln, p.Handler()) })
	}
	acks := make(chan []AckRequest, 4096)
	g.Go("acks", func(ctx context.Context) error { p.sendAcks(ctx, acks); return nil })
	speechReady := make(chan struct{}, 1)
	if p.espeak != nil {
		g.Go("speech", func(ctx context.Context) error { p.initSpeech(ctx, speechReady); return nil })
	}
	plays := make(chan playReq, 16)
	played := make(chan playDone, 16)
	g.Go("speaker", func(ctx context.Context) error { p.speak(ctx, plays, played); return nil })

	g.Stop(p.loop(ctx, acks, plays, played, speechReady))
	err := g.Wait()
	p.notify("STOPPING=1")
	return err
}

// onEvent runs on the node's goroutine for every event: it must not
// block. The loop reads the store, which is the truth; an event that does
// not fit only means the loop looks again a little later.
func (p *Pole) onEvent(ev mesh.Event) {
	if ev.Kind == mesh.EventRejected {
		p.refused.Add(1)
	}
	if ev.Kind == mesh.EventAccepted && ev.Record != nil && ev.Record.Kind == record.KindHealth && ev.Record.Origin != p.ident.ID {
		if h, ok := ev.Record.Body.(*record.Health); ok && ev.Source.Link == gossip.LinkName {
			p.neighbourHealth(ev.Record, h)
		}
	}
	select {
	case p.events <- ev:
	default:
		p.missed.Store(true)
	}
}

// loop is the pole's one goroutine that decides: what to show, what to
// ack, what to say, when to report. It returns only when ctx ends or a
// command asks for a restart.
func (p *Pole) loop(ctx context.Context, acks chan<- []AckRequest, plays chan<- playReq, played <-chan playDone, speechReady <-chan struct{}) error {
	now := p.clock.Now()
	frame := p.clock.NewTimer(0)
	defer frame.Stop()
	reselect := p.clock.NewTimer(0)
	defer reselect.Stop()
	health := p.clock.NewTimer(p.cfg.HealthEvery)
	defer health.Stop()
	levels := p.clock.NewTimer(0)
	defer levels.Stop()
	// The rung is watched: a pole that loses its uplink says so at once
	// (its neighbours then relay for it), not at its next report.
	rungCheck := p.clock.NewTimer(rungEvery)
	defer rungCheck.Stop()
	lastRung := ""
	watchdog := p.clock.NewTimer(time.Hour)
	defer watchdog.Stop()
	dog := p.watchdogEvery()
	if dog > 0 {
		watchdog.Reset(dog)
	} else {
		watchdog.Stop()
	}
	st := &loopState{played: map[[32]byte]bool{}, shownAcked: map[record.ID]bool{}, meshOffers: map[record.ID]meshOffer{}}
	p.applyStoredCommands(now, st)
	// The first health report goes out before any ack: it carries the
	// pole's certificate chain, which upstream needs to check the acks
	// (they name the certificate by kid only, to fit one packet).
	p.sendHealth(ctx, st)
	lastRung = p.rung.Load().(string)
	p.notify("READY=1")
	p.log.Info("pole running", "id", p.ident.ID, "zone", p.ident.Zone)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-p.events:
			if restart := p.handleEvent(ctx, ev, st, acks); restart {
				return ErrRestart
			}
			reselect.Reset(0)
		case <-reselect.C():
			now = p.clock.Now()
			next := p.reselect(ctx, now, st, acks, plays)
			frame.Reset(0)
			reselect.Reset(max(next.Sub(now), time.Millisecond))
		case <-frame.C():
			now = p.clock.Now()
			next := p.drawFrame(now, st, acks, plays)
			frame.Reset(max(next.Sub(now), time.Millisecond))
		case d := <-played:
			p.afterPlay(d, acks)
		case <-speechReady:
			reselect.Reset(0) // prepare the speech of what is cached
		case <-levels.C():
			now = p.clock.Now()
			p.setLevels(now, st)
			levels.Reset(time.Minute)
		case <-health.C():
			p.sendHealth(ctx, st)
			lastRung = p.rung.Load().(string)
			health.Reset(p.cfg.HealthEvery)
		case <-rungCheck.C():
			r := p.ladder()
			if !hasUplink(r) && p.gossip != nil {
				// The mesh is all it has: what every push to it missed
				// comes within a rung check, not the 30 s backstop, and
				// its acks go upstream again until they surely have.
				p.gossip.Reconcile()
				p.offerOutboxToMesh(false, p.clock.Now(), st)
			} else {
				clear(st.meshOffers)
			}
			if lastRung != "" && r != lastRung {
				p.log.Info("uplink rung changed", "from", lastRung, "to", r)
				p.sendHealth(ctx, st)
				lastRung = r
				health.Reset(p.cfg.HealthEvery)
				if hasUplink(r) {
					p.relayHealth()
				} else {
					p.offerOutboxToMesh(true, p.clock.Now(), st)
				}
			}
			rungCheck.Reset(rungEvery)
		case <-watchdog.C():
			p.notify("WATCHDOG=1")
			watchdog.Reset(dog)
		}
		if p.missed.Swap(false) {
			reselect.Reset(0)
		}
	}
}

// loopState is what the loop remembers between steps.
type loopState struct {
	cands      []Showable
	played     map[[32]byte]bool       // content already said aloud
	shownAcked map[record.ID]bool      // displayed acks queued this run
	meshOffers map[record.ID]meshOffer // outbox entries offered the mesh (no uplink)
	testStart  time.Time               // a test pattern went on then
	testUntil  time.Time               // and is on until then
	brightness int                     // a command's brightness override, -1 none
	volume     int
}

// ack queues acks unless they were sent; acks queued in one call are
// signed and stored together (one disk flush).
func (p *Pole) ack(acks chan<- []AckRequest, reqs ...AckRequest) {
	var out []AckRequest
	for _, q := range reqs {
		if !p.acker.Sent(q.Record, q.State) {
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return
	}
	select {
	case acks <- out:
	default:
		// Full: the next reselect queues them again, since they are not sent.
	}
}

// sendAcks signs and publishes queued acks until ctx ends, all that are
// waiting at once.
func (p *Pole) sendAcks(ctx context.Context, acks <-chan []AckRequest) {
	var batch []AckRequest
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-acks:
			batch = append(batch[:0], a...)
		more:
			for len(batch) < maxAckBatch {
				select {
				case a := <-acks:
					batch = append(batch, a...)
				default:
					break more
				}
			}
			if _, err := p.acker.AckAll(ctx, batch, p.clock.Now()); err != nil && ctx.Err() == nil {
				p.log.Error("acks not stored", "acks", len(batch), "err", err)
			}
		}
	}
}

// maxAckBatch bounds the acks sendAcks signs and stores in one go.
const maxAckBatch = 64

// reselect reads the active records, queues acks of what arrived, chooses
// what to show and returns when the choice next changes by itself.
func (p *Pole) reselect(ctx context.Context, now time.Time, st *loopState, acks chan<- []AckRequest, plays chan<- playReq) time.Time {
	active, err := p.store.Active(now)
	if err != nil {
		p.fault("store", err.Error())
		return now.Add(5 * time.Second)
	}
	p.fault("store", "")
	cands, refused := show.Candidates(active, p.ident.ID, p.ident.Zone, now, p.store.Get, &p.parsed)
	for _, r := range refused {
		p.ack(acks, AckRequest{Record: r.ID, State: record.AckFailed, Reason: r.Reason})
	}
	chosen := show.Choose(cands)
	for i := range cands {
		// What goes on the display now is acked by the frame that
		// shows it: displayed (or failed), which implies received.
		if chosen == nil || cands[i].ID != chosen.ID || st.shownAcked[chosen.ID] {
			p.ack(acks, AckRequest{Record: cands[i].ID, State: record.AckReceived})
		}
		p.prepareSpeech(ctx, &cands[i])
	}
	st.cands = cands
	if err := p.screen.set(chosen, now); err != nil {
		p.fault("render", err.Error())
		if chosen != nil {
			p.ack(acks, AckRequest{Record: chosen.ID, State: record.AckReceived}) // no frame will say it
		}
	}
	next := show.NextChange(cands)
	if next.IsZero() || next.After(now.Add(time.Minute)) {
		next = now.Add(time.Minute) // the store may have swept, the minute turned
	}
	return next
}

// drawFrame draws the next frame, or a test pattern while one is on, and
// returns when the next is due.
func (p *Pole) drawFrame(now time.Time, st *loopState, acks chan<- []AckRequest, plays chan<- playReq) time.Time {
	if now.Before(st.testUntil) {
		return p.drawTestPattern(now, st)
	}
	next, err := p.screen.draw(now)
	item := p.screen.item
	if err != nil {
		p.fault("display", fmt.Sprintf("%v; retrying every second", err))
		if item != nil {
			p.ack(acks, AckRequest{Record: item.ID, State: record.AckFailed, Reason: "display: " + err.Error()})
		}
		return next
	}
	p.fault("display", p.displayFault())
	p.mu.Lock()
	p.showing.Frames++
	p.showing.Record, p.showing.Tier, p.showing.Langs, p.showing.Lang = record.ID{}, 0, nil, ""
	if item != nil {
		p.showing.Record, p.showing.Tier, p.showing.Langs = item.ID, item.Tier, p.screen.langs
		p.showing.Lang = p.screen.langs[p.screen.li%len(p.screen.langs)]
	}
	p.mu.Unlock()
	if item != nil && !st.shownAcked[item.ID] {
		st.shownAcked[item.ID] = true
		if why := p.noPanel(); why != "" {
			p.ack(acks, AckRequest{Record: item.ID, State: record.AckFailed, Reason: why})
		} else {
			p.ack(acks, AckRequest{Record: item.ID, State: record.AckDisplayed})
		}
		p.log.Info("showing", "record", item.ID.Short(), "tier", item.Tier, "languages", p.screen.langs)
		p.maybePlay(item, st, plays)
	}
	if len(p.screen.missing) > 0 {
		p.fault("fonts", fmt.Sprintf("glyphs missing: %s", missingSummary(p.screen.missing)))
	}
	return next
}

// noPanel says why frames reach no panel (the "none" backend, configured
// or fallen back to), or "" when they do.
func (p *Pole) noPanel() string {
	if p.disp == nil {
		return ""
	}
	if st := p.disp.Status(); st.Backend == display.BackendNone {
		if st.Fault != "" {
			return "display: " + st.Fault
		}
		return "display: no panel (backend none)"
	}
	return ""
}

// displayFault is the display's own fault (a fallback in use), if any.
func (p *Pole) displayFault() string {
	if p.disp == nil {
		return ""
	}
	if st := p.disp.Status(); st.Fault != "" {
		return fmt.Sprintf("%s; using %s", st.Fault, st.Backend)
	}
	return ""
}

func missingSummary(m map[string][]rune) string {
	var s string
	for lang, rs := range m {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %q", lang, string(rs))
	}
	return s
}
