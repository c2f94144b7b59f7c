package city

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
)

// A scenario is a plain-text script for `cityarray sim`, one command a
// line; '#' starts a comment. The commands:
//
//	city zones=5 poles=40 gateways=1   build the city (first, once): poles
//	                                   and gateways per zone, one server
//	link latency=20ms jitter=5ms loss=5% [duplicate=1%] [reorder=1%] [bandwidth=100000]
//	                                   set every link (may come again)
//	partition SEL [SEL…] | SEL [SEL…] [| …]
//	                                   cut the network into groups; a
//	                                   selector is a node name, zone:<id>,
//	                                   poles, gateways, server or rest
//	heal                               join the network again
//	crash NODE                         stop a node; its store is kept
//	restart NODE                       start it again from its store
//	publish tier=warning scope=zone:z1 [from=NODE] [name=NAME]
//	                                   the server signs an alert and NODE
//	                                   (default: the server) publishes it
//	wait DURATION [real=DURATION]      let time pass: up to real= (default
//	                                   SimOptions.MaxRealWait) in real time,
//	                                   the rest as a jump of the simulated
//	                                   clock
//	expect delivered [record=NAME] [scope=SCOPE] PERCENT within=DURATION
//	                                   within DURATION from this line, at
//	                                   least PERCENT of the running nodes in
//	                                   scope (default: the record's), but
//	                                   its publisher, have accepted the
//	                                   record (default: the last published)
type Scenario struct {
	Name     string
	Commands []Command
}

// Command is one scenario line.
type Command struct {
	Line int
	Verb string
	Args map[string]string // key=value arguments
	Pos  []string          // positional arguments
}

// Verbs and the arguments each accepts.
var verbs = map[string][]string{
	"city":      {"zones", "poles", "gateways"},
	"link":      {"latency", "jitter", "loss", "duplicate", "reorder", "bandwidth"},
	"partition": nil,
	"heal":      nil,
	"crash":     nil,
	"restart":   nil,
	"publish":   {"tier", "scope", "from", "name"},
	"wait":      {"real"},
	"expect":    {"record", "scope", "within"},
}

// ParseScenario reads a scenario, checking every line; the errors name the
// line.
func ParseScenario(name string, r io.Reader) (*Scenario, error) {
	s := &Scenario{Name: name}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		c := Command{Line: n, Verb: fields[0], Args: map[string]string{}}
		allowed, ok := verbs[c.Verb]
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown command %q (want one of city, link, partition, heal, crash, restart, publish, wait, expect)", name, n, c.Verb)
		}
		for _, f := range fields[1:] {
			k, v, isKV := strings.Cut(f, "=")
			if !isKV || c.Verb == "partition" {
				c.Pos = append(c.Pos, f)
				continue
			}
			if !contains(allowed, k) {
				return nil, fmt.Errorf("%s:%d: %s takes no %q (it takes %s)", name, n, c.Verb, k, strings.Join(allowed, ", "))
			}
			if _, dup := c.Args[k]; dup {
				return nil, fmt.Errorf("%s:%d: %s given twice", name, n, k)
			}
			c.Args[k] = v
		}
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, n, c.Verb, err)
		}
		if c.Verb == "city" && len(s.Commands) > 0 {
			return nil, fmt.Errorf("%s:%d: city must be the first command", name, n)
		}
		if c.Verb != "city" && len(s.Commands) == 0 {
			return nil, fmt.Errorf("%s:%d: the first command must be city", name, n)
		}
		s.Commands = append(s.Commands, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(s.Commands) == 0 {
		return nil, fmt.Errorf("%s: empty scenario", name)
	}
	return s, nil
}

// check validates a command's arguments without running it.
func (c *Command) check() error {
	switch c.Verb {
	case "city":
		for _, k := range []string{"zones", "poles"} {
			if _, err := c.intArg(k, 1, 2000); err != nil {
				return err
			}
		}
		if _, err := c.intArgDefault("gateways", 0, 0, 16); err != nil {
			return err
		}
	case "link":
		if _, err := c.link(); err != nil {
			return err
		}
	case "partition":
		if len(c.Pos) < 3 || !contains(c.Pos, "|") {
			return fmt.Errorf("want groups separated by |, e.g. partition zone:z1 | rest")
		}
	case "crash", "restart":
		if len(c.Pos) != 1 {
			return fmt.Errorf("want one node name")
		}
	case "heal":
		if len(c.Pos) != 0 {
			return fmt.Errorf("takes no arguments")
		}
	case "publish":
		if _, err := record.ParseTier(c.Args["tier"]); err != nil {
			return err
		}
		if _, err := record.ParseScope(c.Args["scope"]); err != nil {
			return err
		}
	case "wait":
		if len(c.Pos) != 1 {
			return fmt.Errorf("want one duration, e.g. wait 30s")
		}
		if _, err := c.duration(c.Pos[0]); err != nil {
			return err
		}
		if v, ok := c.Args["real"]; ok {
			if _, err := c.duration(v); err != nil {
				return fmt.Errorf("real: %w", err)
			}
		}
	case "expect":
		if len(c.Pos) != 2 || c.Pos[0] != "delivered" {
			return fmt.Errorf("want: expect delivered [record=NAME] [scope=SCOPE] PERCENT within=DURATION")
		}
		if _, err := c.percent(); err != nil {
			return err
		}
		if _, err := c.duration(c.Args["within"]); err != nil {
			return fmt.Errorf("within: %w", err)
		}
		if s, ok := c.Args["scope"]; ok {
			if _, err := record.ParseScope(s); err != nil {
				return err
			}
		}
	}
	if c.Verb != "partition" && c.Verb != "crash" && c.Verb != "restart" && c.Verb != "wait" && c.Verb != "expect" && len(c.Pos) > 0 {
		return fmt.Errorf("unexpected %q (arguments are key=value)", c.Pos[0])
	}
	return nil
}

func (c *Command) intArg(k string, lo, hi int) (int, error) {
	v, ok := c.Args[k]
	if !ok {
		return 0, fmt.Errorf("%s= is required", k)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a whole number from %d to %d", k, v, lo, hi)
	}
	return n, nil
}

func (c *Command) intArgDefault(k string, def, lo, hi int) (int, error) {
	if _, ok := c.Args[k]; !ok {
		return def, nil
	}
	return c.intArg(k, lo, hi)
}

func (c *Command) duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration such as 250ms, 30s or 2h", s)
	}
	return d, nil
}

// percent parses "100%" or "99.5%" as a fraction.
func (c *Command) percent() (float64, error) {
	s := c.Pos[1]
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q: want a percentage such as 100%% or 99.5%%", s)
	}
	return v / 100, nil
}

// fraction parses "5%" or "0.05".
func fraction(k, s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		v /= 100
	}
	if err != nil || v < 0 || v >= 1 {
		return 0, fmt.Errorf("%s=%q: want a fraction below 1, such as 5%% or 0.05", k, s)
	}
	return v, nil
}

// link builds a netsim link from a link command.
func (c *Command) link() (netsim.Link, error) {
	var l netsim.Link
	var err error
	for k, v := range c.Args {
		switch k {
		case "latency":
			l.Latency, err = c.duration(v)
		case "jitter":
			l.Jitter, err = c.duration(v)
		case "loss":
			l.Loss, err = fraction(k, v)
		case "duplicate":
			l.Duplicate, err = fraction(k, v)
		case "reorder":
			l.Reorder, err = fraction(k, v)
		case "bandwidth":
			l.Bandwidth, err = strconv.Atoi(v)
			if err == nil && l.Bandwidth < 0 {
				err = fmt.Errorf("bandwidth=%s: want bytes per second", v)
			}
		}
		if err != nil {
			return l, fmt.Errorf("%s: %w", k, err)
		}
	}
	return l, l.Validate()
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}
