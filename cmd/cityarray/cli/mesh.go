package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/gateway"
)

// newMeshCmd is `cityarray mesh`: views of the mesh for operators.
func newMeshCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "mesh", Short: "Views of the mesh: the health of each zone's nodes"}
	cmd.AddCommand(newMeshStatusCmd(e))
	return cmd
}

func newMeshStatusCmd(e *env) *cobra.Command {
	var gateways []string
	var zone string
	var watch, asJSON bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "status [--gateway URL]... [--zone Z] [--watch] [--json]",
		Short: "The health of a zone's poles and gateways, from its gateways",
		Long: "mesh status asks each gateway (its http.listen address; --gateway, repeatable, or\n" +
			"$CITYARRAY_GATEWAYS, comma-separated; default http://127.0.0.1:8081) for its zone's\n" +
			"health and prints a table: each node healthy, late or silent against its heartbeat,\n" +
			"when it was last heard, which rung carries its uplink, what it shows against what\n" +
			"the zone should show, whether its cache agrees with the gateway's, its outbox and\n" +
			"temperature. --zone keeps one zone; --watch redraws every --every until Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(gateways) == 0 {
				if v := e.getenv("CITYARRAY_GATEWAYS"); v != "" {
					gateways = strings.Split(v, ",")
				} else {
					gateways = []string{"http://127.0.0.1:8081"}
				}
			}
			out := cmd.OutOrStdout()
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				zones, errs := fetchZones(cmd.Context(), client, gateways, zone)
				if asJSON {
					if err := json.NewEncoder(out).Encode(zones); err != nil {
						return err
					}
				} else {
					if watch {
						fmt.Fprint(out, "\033[H\033[2J")
					}
					printZones(out, zones)
				}
				for _, err := range errs {
					fmt.Fprintln(e.stderr, err)
				}
				if !watch {
					if len(errs) > 0 && len(zones) == 0 {
						return exitError{code: 1, msg: "no gateway answered"}
					}
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&gateways, "gateway", nil, "a gateway's health address, http://host:port (repeatable)")
	f.StringVar(&zone, "zone", "", "only this zone")
	f.BoolVar(&watch, "watch", false, "redraw until Ctrl-C")
	f.DurationVar(&every, "every", 2*time.Second, "how often --watch redraws")
	f.BoolVar(&asJSON, "json", false, "print JSON (one array of zones a line)")
	return cmd
}

// fetchZones asks each gateway for its zone's health.
func fetchZones(ctx context.Context, client *http.Client, gateways []string, zone string) ([]gateway.ZoneHealth, []error) {
	var zones []gateway.ZoneHealth
	var errs []error
	for _, g := range gateways {
		url := strings.TrimSuffix(g, "/") + "/api/zone/health"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g, err))
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", g, err))
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		var zh gateway.ZoneHealth
		if err == nil {
			err = json.Unmarshal(body, &zh)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", g, err))
			continue
		}
		if zone == "" || zh.Zone == zone {
			zones = append(zones, zh)
		}
	}
	return zones, errs
}

// printZones prints one table per zone.
func printZones(w io.Writer, zones []gateway.ZoneHealth) {
	for _, z := range zones {
		server := "up"
		if !z.Server {
			server = "DOWN"
		}
		fmt.Fprintf(w, "zone %s (gateway %s, server link %s): %d healthy, %d late, %d silent, %d showing the wrong thing\n",
			z.Zone, z.Gateway, server, z.Counts[gateway.StateHealthy], z.Counts[gateway.StateLate], z.Counts[gateway.StateSilent], z.Wrong)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tROLE\tSTATE\tHEARD\tRUNG\tSHOWS\tSHOULD SHOW\tCACHE\tOUTBOX\t°C\tVERSION\tFAULTS")
		for _, n := range z.Nodes {
			shows, should := "clock", "clock"
			if !n.Displayed.IsZero() {
				shows = n.Displayed.Short()
			}
			if !n.Expected.IsZero() {
				should = n.Expected.Short()
			}
			if !n.ShowsExpected {
				shows += " (WRONG)"
			}
			cache := "–"
			if n.CacheAgrees != nil {
				cache = map[bool]string{true: "agrees", false: "DIFFERS"}[*n.CacheAgrees]
			}
			state := n.State
			if state != gateway.StateHealthy {
				state = strings.ToUpper(state)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\t%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", n.ID, n.Role, state,
				z.At.Sub(n.LastHeard).Round(time.Second), n.Rung, shows, should, cache, n.Outbox, n.CPUTempC, n.Version, strings.Join(n.Faults, "; "))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
}
