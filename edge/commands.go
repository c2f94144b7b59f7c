package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cityarray/cityarray/hal/display"
	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/show"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/mesh/yamlconf"
)

// Commands (record.Command) come from the control server only: the node's
// verifier has checked the tier table (a command is a warning-tier record
// signed by a server) before the pole sees one, and the pole checks again
// that it is for it. They are:
//
//	test-pattern  Value seconds (default 10) of test patterns, then back
//	brightness    Value percent, overriding the time-of-day schedule while
//	              the command lives; 0 dims the panel to black
//	volume        Value percent for tones and speech while the command lives
//	config        Config is a YAML document of settings over the pole's
//	              file (config.override.yaml in the data directory), applied
//	              by a restart; refused if it does not validate
//	reboot        restart the pole's process (the service manager starts it)
//
// Brightness and volume are states: the newest unexpired command of each
// applies, after a restart too. Config and reboot run once: their ids are
// kept in CommandsFile so that a restart does not run them again.

// OverrideFile is the configuration a config command writes, in the data
// directory; LoadConfig applies it over the file.
const OverrideFile = "config.override.yaml"

const defaultTestSeconds = 10

// handleEvent takes an event from the node; it reports whether the pole
// must restart.
func (p *Pole) handleEvent(ctx context.Context, ev mesh.Event, st *loopState, acks chan<- []AckRequest) (restart bool) {
	if ev.Kind != mesh.EventAccepted || ev.Record == nil || ev.Record.Kind != record.KindCommand {
		return false
	}
	cmd, ok := ev.Record.Body.(*record.Command)
	if !ok {
		return false
	}
	if !show.InScope(ev.Record.Scope, p.ident.ID, p.ident.Zone) {
		return false // another pole's: it passed through
	}
	if len(ev.Signers) == 0 || ev.Signers[0].Role != trust.RoleServer {
		p.refused.Add(1)
		p.log.Warn("command refused: not signed by a server", "record", ev.ID.Short())
		return false
	}
	now := p.clock.Now()
	p.log.Info("command", "action", cmd.Action, "value", cmd.Value, "record", ev.ID.Short())
	switch cmd.Action {
	case "test-pattern":
		secs := cmd.Value
		if secs == 0 {
			secs = defaultTestSeconds
		}
		st.testStart, st.testUntil = now, now.Add(time.Duration(secs)*time.Second)
	case "brightness":
		st.brightness = int(cmd.Value)
		p.setLevels(now, st)
	case "volume":
		st.volume = int(cmd.Value)
	case "config", "reboot":
		if p.commandDone(ev.ID) {
			return false
		}
		if cmd.Action == "config" {
			if err := p.writeOverride(cmd.Config); err != nil {
				p.refused.Add(1)
				p.fault("config", fmt.Sprintf("command %s refused: %v", ev.ID.Short(), err))
				p.markCommandDone(ev.ID)
				return false
			}
		}
		p.markCommandDone(ev.ID)
		p.log.Info("restarting for a command", "action", cmd.Action, "record", ev.ID.Short())
		return true
	}
	return false
}

// applyStoredCommands applies the newest unexpired brightness and volume
// commands in the store (states that outlive a restart), and remembers the
// one-shot commands as already seen if they were run.
func (p *Pole) applyStoredCommands(now time.Time, st *loopState) {
	st.brightness, st.volume = -1, p.cfg.Audio.Volume
	es, err := p.store.ByKind(record.KindCommand)
	if err != nil {
		p.fault("store", err.Error())
		return
	}
	var newest = map[string]time.Time{}
	for _, e := range es {
		if !now.Before(e.Expires) || !show.InScope(e.Scope, p.ident.ID, p.ident.Zone) {
			continue
		}
		r, err := e.Parse()
		if err != nil {
			continue
		}
		c, ok := r.Body.(*record.Command)
		if !ok || (c.Action != "brightness" && c.Action != "volume") || !r.Issued.After(newest[c.Action]) {
			continue
		}
		newest[c.Action] = r.Issued
		if c.Action == "brightness" {
			st.brightness = int(c.Value)
		} else {
			st.volume = int(c.Value)
		}
	}
}

// setLevels sets the panel's brightness and gamma for now: the time-of-day
// schedule, or a brightness command's override.
func (p *Pole) setLevels(now time.Time, st *loopState) {
	local := now
	if p.screen.loc != nil {
		local = now.In(p.screen.loc)
	}
	b, g := p.renderer.Levels(local)
	if st.brightness >= 0 {
		b = uint8(st.brightness)
	}
	b = uint8(int(b) * int(p.cfg.Display.Brightness) / 100)
	if err := p.panel.SetLevels(b, g); err != nil {
		p.fault("display levels", err.Error())
		return
	}
	p.fault("display levels", "")
}

// drawTestPattern shows the test patterns in turn, two seconds each.
func (p *Pole) drawTestPattern(now time.Time, st *loopState) time.Time {
	pats := display.Patterns()
	i := int(now.Sub(st.testStart)/(2*time.Second)) % len(pats)
	display.DrawPattern(p.screen.frame, pats[i])
	if err := p.panel.Show(p.screen.frame); err != nil {
		p.fault("display", err.Error())
	}
	next := now.Add(2 * time.Second)
	if next.After(st.testUntil) {
		next = st.testUntil
	}
	return next
}

// writeOverride validates doc as a configuration over the pole's and
// writes it where LoadConfig finds it.
func (p *Pole) writeOverride(doc []byte) error {
	c := p.cfg
	var src yamlconf.Sources
	if err := yamlconf.Decode("command", doc, &c, &src); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if c.PKI != p.cfg.PKI || c.DataDir != p.cfg.DataDir {
		return errors.New("a command may not change pki or data_dir")
	}
	return atomicfile.WriteFile(filepath.Join(p.cfg.DataDir, OverrideFile), doc, 0o600, true)
}

// commandDone reports whether the one-shot command id was carried out.
func (p *Pole) commandDone(id record.ID) bool {
	return slices.Contains(p.doneCommands(), id.String())
}

func (p *Pole) doneCommands() []string {
	b, err := os.ReadFile(filepath.Join(p.cfg.DataDir, CommandsFile))
	if err != nil {
		return nil
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		p.fault("commands", fmt.Sprintf("%s: %v; one-shot commands may run again", CommandsFile, err))
		return nil
	}
	return ids
}

// markCommandDone records id as carried out (the last 64 are kept: a
// one-shot command older than that has long expired).
func (p *Pole) markCommandDone(id record.ID) {
	ids := append(p.doneCommands(), id.String())
	if len(ids) > 64 {
		ids = ids[len(ids)-64:]
	}
	b, _ := json.Marshal(ids)
	if err := atomicfile.WriteFile(filepath.Join(p.cfg.DataDir, CommandsFile), b, 0o600, true); err != nil {
		p.fault("commands", fmt.Sprintf("%v; a one-shot command may run again", err))
	}
}
