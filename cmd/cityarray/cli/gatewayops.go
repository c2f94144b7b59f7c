package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/gateway"
	"github.com/cityarray/cityarray/mesh/clock"
	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/auth"
)

// newGatewayOperatorCmd is `cityarray gateway operator`: the gateway's
// local accounts, managed at the gateway with the gateway stopped.
func newGatewayOperatorCmd(e *env) *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Local operator accounts: people who issue Advisory alerts at this gateway (password and TOTP)",
		Long: "operator manages the gateway's local accounts, in <data_dir>/operators.db, on the gateway\n" +
			"itself and with the gateway stopped. init makes the first account, the gateway's\n" +
			"administrator; add has the administrator make an operator of the zone. Each sets a\n" +
			"password and an authenticator app (TOTP) at once, and gets one-time recovery codes.\n" +
			"With operators.listen set, they then issue advisories with\n" +
			"`cityarray alert send --gateway https://GATEWAY:PORT --ca root.pem --user ID --text LANG=TEXT`.",
	}
	cmd.PersistentFlags().StringVar(&config, "config", "", "the gateway's configuration file (YAML; docs/gateway.yaml)")
	var id, name, as string
	open := func() (*gateway.Operators, error) {
		if config == "" {
			return nil, exitError{code: 2, msg: "--config FILE is required: the gateway whose operators these are"}
		}
		cfg, err := loadGatewayConfig(config)
		if err != nil {
			return nil, err
		}
		n, err := loadGatewayNode(cfg)
		if err != nil {
			return nil, err
		}
		return gateway.OpenOperators(cfg.DataDir, n.Identity.Zone, clock.System{}, e.untaggedLogger())
	}
	initCmd := &cobra.Command{
		Use:   "init --config FILE --id ID [--name NAME]",
		Short: "Make the first account, the gateway's administrator, and set it up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return exitError{code: 2, msg: "--id is required: the administrator's login name"}
			}
			if !e.canAsk() {
				return exitError{code: 2, msg: "operator init asks for a password without echo: run it on a terminal"}
			}
			ops, err := open()
			if err != nil {
				return err
			}
			defer ops.Close()
			code, err := ops.Init(id, or(name, id))
			if errors.Is(err, auth.ErrAlreadyInitialised) {
				return exitError{code: 1, msg: "operator init: this gateway has accounts already: its administrator adds more with `operator add`"}
			}
			if err != nil {
				return err
			}
			return enrolOperator(e, cmd.OutOrStdout(), ops, id, code)
		},
	}
	addCmd := &cobra.Command{
		Use:   "add --config FILE --as ADMIN --id ID [--name NAME]",
		Short: "Have the administrator make an operator of the zone, and set it up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || as == "" {
				return exitError{code: 2, msg: "--as ADMIN and --id ID are required"}
			}
			if !e.canAsk() {
				return exitError{code: 2, msg: "operator add asks for passwords without echo: run it on a terminal"}
			}
			ops, err := open()
			if err != nil {
				return err
			}
			defer ops.Close()
			admin, logout, err := loginOperator(e, ops, as)
			if err != nil {
				return err
			}
			code, err := ops.Add(admin, id, or(name, id))
			logout()
			if err != nil {
				return fmt.Errorf("operator add %s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is an operator of this gateway's zone; now %s sets up a password and TOTP.\n", id, id)
			return enrolOperator(e, cmd.OutOrStdout(), ops, id, code)
		},
	}
	listCmd := &cobra.Command{
		Use:   "list --config FILE --as ADMIN",
		Short: "List the accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if as == "" {
				return exitError{code: 2, msg: "--as ADMIN is required"}
			}
			ops, err := open()
			if err != nil {
				return err
			}
			defer ops.Close()
			admin, logout, err := loginOperator(e, ops, as)
			if err != nil {
				return err
			}
			defer logout()
			users, err := ops.List(admin)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-20s %-28s %-14s %s\n", "id", "name", "role", "state")
			for _, u := range users {
				state := "active"
				switch {
				case u.Disabled:
					state = "disabled"
				case !u.PasswordSet || !u.MFAEnrolled:
					state = "setup pending"
				}
				fmt.Fprintf(out, "%-20s %-28s %-14s %s\n", u.ID, u.DisplayName, u.Role, state)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{initCmd, addCmd} {
		c.Flags().StringVar(&id, "id", "", "the new account's login name")
		c.Flags().StringVar(&name, "name", "", "the person's name (default: the id)")
	}
	for _, c := range []*cobra.Command{addCmd, listCmd} {
		c.Flags().StringVar(&as, "as", "", "the administrator (asked for its password and a TOTP code)")
	}
	cmd.AddCommand(initCmd, addCmd, listCmd)
	return cmd
}

// loginOperator logs user in at the console with a password and a TOTP
// code (or a recovery code).
func loginOperator(e *env, ops *gateway.Operators, user string) (*auth.Principal, func(), error) {
	user, pw, code, err := askCredentials(e, user)
	if err != nil {
		return nil, nil, err
	}
	p, logout, err := ops.Login(user, pw, code)
	if err != nil {
		return nil, nil, exitError{code: 1, msg: "log in as " + user + ": " + err.Error()}
	}
	return p, logout, nil
}

// enrolOperator finishes id's setup at the console (enrol): the TOTP
// secret to add to an authenticator app, a new password (retried when the
// policy refuses it), a TOTP code, and the recovery codes.
func enrolOperator(e *env, out io.Writer, ops *gateway.Operators, id, code string) error {
	enr, err := ops.StartSetup(id, code)
	if err != nil {
		return err
	}
	return enrol(e, out, id, enr.URL, enr.Secret, func(pw, totp string) ([]string, string, error) {
		recovery, err := ops.FinishSetup(id, code, pw, totp)
		if err != nil {
			refused := ""
			var pe *auth.PolicyError
			if errors.As(err, &pe) {
				refused = pe.Error()
			}
			return nil, refused, exitError{code: 1, msg: "setup of " + id + ": " + err.Error()}
		}
		return recovery, "", nil
	})
}

// gatewayClient is an HTTPS client for a gateway's operator API that
// trusts only a gateway certificate of the city whose root is in caFile.
func gatewayClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return nil, exitError{code: 2, msg: "--ca FILE is required with --gateway: the city root certificate (root.pem), which the gateway's certificate chains to"}
	}
	roots, err := trust.ReadCertFile(caFile)
	if err != nil {
		return nil, exitError{code: 2, msg: "--ca: " + err.Error()}
	}
	v, err := trust.NewVerifier(trust.Config{Roots: roots})
	if err != nil {
		return nil, exitError{code: 2, msg: "--ca " + caFile + ": " + err.Error()}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: mqttlink.ClientTLS(tls.Certificate{}, v, nil, []trust.Role{trust.RoleGateway}, nil)}}, nil
}

// postGateway sends body to the gateway's operator API and decodes a 201
// into out; anything else is an error naming what the gateway said.
func postGateway(client *http.Client, base, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := client.Post(strings.TrimSuffix(base, "/")+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("gateway %s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return exitError{code: 1, msg: fmt.Sprintf("gateway %s refused (%d): %s", base, resp.StatusCode, or(e.Error, strings.TrimSpace(string(raw))))}
	}
	return json.Unmarshal(raw, out)
}

// gatewayIssue has the gateway of af (--gateway, --ca) issue a record for
// an operator (--user, else asked) whose password and TOTP code it asks:
// it posts to path the request body makes with them and returns what the
// gateway issued.
func gatewayIssue(e *env, af *alertFlags, path string, body func(gateway.Credentials) any) (gateway.Issued, error) {
	var got gateway.Issued
	client, err := gatewayClient(af.caFile)
	if err != nil {
		return got, err
	}
	user, pw, code, err := askCredentials(e, af.user)
	if err != nil {
		return got, err
	}
	err = postGateway(client, af.gateway, path, body(gateway.Credentials{User: user, Password: pw, TOTPCode: code}), &got)
	return got, err
}

// sendAdvisory is `alert send --gateway URL`: an Advisory for the
// gateway's zone, issued by the gateway for a local operator.
func sendAdvisory(cmd *cobra.Command, e *env, af *alertFlags, f *sendFlags) error {
	if f.scope != "" || f.protocol != "" || f.publish != "" || (f.tier != "warning" && f.tier != "advisory") {
		return exitError{code: 2, msg: "with --gateway, send takes --text (and --long, --expires, the CAP fields): a gateway's Advisory is for its own zone"}
	}
	if len(f.texts) == 0 {
		return exitError{code: 2, msg: "--text LANG=TEXT is required (repeatable)"}
	}
	lifetime, err := time.ParseDuration(f.expires)
	if err != nil {
		return exitError{code: 2, msg: "--expires: with --gateway, a duration such as 2h"}
	}
	texts := map[string]record.AlertText{}
	for lang, s := range f.texts {
		texts[lang] = record.AlertText{Short: s, Long: f.longs[lang]}
	}
	got, err := gatewayIssue(e, af, "/api/advisories", func(c gateway.Credentials) any {
		return gateway.AdvisoryRequest{Credentials: c, Texts: texts, Lifetime: lifetime.String(),
			Severity: f.severity, Urgency: f.urgency, Certainty: f.certainty, Category: f.category}
	})
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(got)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "advisory %s issued by the gateway for its zone, until %s\n", got.ID, got.Expires.Local().Format(time.RFC3339))
	return nil
}

// cancelAdvisory is `alert cancel --gateway URL ID`.
func cancelAdvisory(cmd *cobra.Command, e *env, af *alertFlags, id, reason string) error {
	got, err := gatewayIssue(e, af, "/api/advisories/cancel", func(c gateway.Credentials) any {
		return gateway.CancelRequest{Credentials: c, IDs: []string{id}, Reason: reason}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "advisory %s cancelled: cancel record %s sent\n", id, got.ID)
	return nil
}
