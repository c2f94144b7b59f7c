package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cityarray/cityarray/server"
	"github.com/cityarray/cityarray/server/auth"
)

// newAdminCmd is `cityarray admin`: finishing a person's setup, and
// managing people and API tokens on a control server.
func newAdminCmd(e *env) *cobra.Command {
	var f alertFlags
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Finish a person's setup; manage people and API tokens on a control server",
		Long: "admin talks to a control server's API (--server, or $" + envServer + "), as `alert` does.\n\n" +
			"`admin setup` finishes a person's setup with the one-time setup code that\n" +
			"`server init` (first admin), `admin user add` or `admin user reset` printed;\n" +
			"it needs no login.\n\n" +
			"The other commands authenticate by logging in: user (--as or asked), password\n" +
			"(asked without echo) and a TOTP code; or with an API token from --token-file or\n" +
			"$" + envToken + " where the server allows it (tokens may list users, never change\n" +
			"people or tokens). Trust a self-signed server with --ca FILE (its data\n" +
			"directory's web-selfsigned.pem).\n\n" +
			"Setup codes, token secrets and recovery codes are printed once, when made;\n" +
			"passwords and codes you type are never printed or logged.",
	}
	f.register(cmd.PersistentFlags(), "as")

	user := &cobra.Command{Use: "user", Short: "List, add and change people"}
	user.AddCommand(
		newAdminUserListCmd(e, &f),
		newAdminUserAddCmd(e, &f),
		newAdminUserRoleCmd(e, &f),
		newAdminUserStepCmd(e, &f, "disable", "Disable a user: they can no longer log in", "disabled"),
		newAdminUserStepCmd(e, &f, "enable", "Enable a disabled user", "enabled"),
		newAdminUserStepCmd(e, &f, "unlock", "Unlock a user locked out by failed logins", "unlocked"),
		newAdminUserStepCmd(e, &f, "reset", "Reset a user's password and TOTP: prints a new one-time setup code", ""),
	)
	token := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	token.AddCommand(
		newAdminTokenCreateCmd(e, &f),
		newAdminTokenListCmd(e, &f),
		newAdminTokenRevokeCmd(e, &f),
	)
	cmd.AddCommand(newAdminSetupCmd(e, &f), user, token)
	return cmd
}

// printList prints a list the server returned: as a JSON array, or as a
// table with header and one row per item decoded as T.
func printList[T any](out io.Writer, what string, items []json.RawMessage, asJSON bool, header string, row func(T) string) error {
	if asJSON {
		return json.NewEncoder(out).Encode(items)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, raw := range items {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s: the server's answer: %w", what, err)
		}
		fmt.Fprintln(tw, row(v))
	}
	return tw.Flush()
}

// problemDetail is the detail of a problem document, or "".
func problemDetail(raw []byte) string {
	var p server.Problem
	_ = json.Unmarshal(raw, &p)
	if len(p.Errors) > 0 && p.Errors[0].Detail != "" {
		return p.Errors[0].Detail
	}
	return p.Detail
}

// canAsk reports whether e can ask questions (a terminal, or a test's
// prompt).
func (e *env) canAsk() bool {
	return e.prompt != nil || term.IsTerminal(int(os.Stdin.Fd()))
}

// --- setup

// maxTries is how often admin setup asks again for a new password the
// person mistyped or the server's policy refused.
const maxTries = 3

func newAdminSetupCmd(e *env, af *alertFlags) *cobra.Command {
	var user, codeFile string
	cmd := &cobra.Command{
		Use:   "setup --user ID [--code-file FILE]",
		Short: "Finish a person's setup with their one-time setup code: TOTP, password, recovery codes",
		Long: "setup finishes the setup of user ID with the one-time setup code (asked without\n" +
			"echo, or read from --code-file). It prints the otpauth:// URL and the secret to\n" +
			"add to an authenticator app, asks for the new password twice and a TOTP code from\n" +
			"the app, and prints the recovery codes once: store them offline.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return exitError{code: 2, msg: "--user is required: the user whose setup to finish"}
			}
			if !e.canAsk() {
				return exitError{code: 2, msg: "admin setup asks for the new password without echo: run it on a terminal"}
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			ctx, out := cmd.Context(), cmd.OutOrStdout()

			var code string
			if codeFile != "" {
				b, err := os.ReadFile(codeFile)
				if err != nil {
					return exitError{code: 2, msg: "--code-file: " + err.Error()}
				}
				if code = strings.TrimSpace(string(b)); code == "" {
					return exitError{code: 2, msg: "--code-file " + codeFile + " is empty"}
				}
			} else if code, err = e.ask("setup code for "+user, true); err != nil {
				return err
			}
			what := "setup of " + user
			resp, raw, err := c.send(ctx, "POST", "/api/v1/setup/start", map[string]string{"user": user, "setup_code": code}, false)
			if err != nil {
				return err
			}
			if resp.StatusCode == http.StatusUnauthorized {
				return exitError{code: 1, msg: what + ": refused: wrong user or setup code, or the code was used or has expired" +
					" (an admin issues a new one with `cityarray admin user reset " + user + "`)"}
			}
			if resp.StatusCode != http.StatusOK {
				return problemError(what, resp.StatusCode, raw)
			}
			var st struct {
				Secret string `json:"totp_secret"`
				URL    string `json:"otpauth_url"`
			}
			if err := json.Unmarshal(raw, &st); err != nil || st.Secret == "" {
				return fmt.Errorf("%s: the server's answer has no TOTP secret", what)
			}
			return enrol(e, out, user, st.URL, st.Secret, func(pw, totp string) ([]string, string, error) {
				resp, raw, err := c.send(ctx, "POST", "/api/v1/setup/finish",
					map[string]string{"user": user, "setup_code": code, "password": pw, "totp_code": totp}, false)
				if err != nil {
					return nil, "", err
				}
				if resp.StatusCode == http.StatusOK {
					var rc struct {
						RecoveryCodes []string `json:"recovery_codes"`
					}
					if err := json.Unmarshal(raw, &rc); err != nil {
						return nil, "", fmt.Errorf("%s: the server's answer: %w", what, err)
					}
					return rc.RecoveryCodes, "", nil
				}
				if resp.StatusCode == http.StatusUnauthorized && problemType(raw) == server.ProblemUnauthenticated {
					return nil, "", exitError{code: 1, msg: what + ": refused: the TOTP code is wrong (is the authenticator's clock right?)," +
						" or the setup code is no longer valid; run `cityarray admin setup` again"}
				}
				refused := ""
				if problemType(raw) == server.ProblemPasswordPolicy {
					refused = problemDetail(raw)
				}
				return nil, refused, problemError(what, resp.StatusCode, raw)
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user whose setup to finish (required)")
	cmd.Flags().StringVar(&codeFile, "code-file", "", "read the setup code from this file instead of asking")
	return cmd
}

// enrol finishes user's setup at the terminal once its first step gave
// the TOTP secret (otpURL, secret): it prints the secret to add to an
// authenticator app, asks for a new password (askNewPassword) and a TOTP
// code, and has finish set them, then prints the recovery codes finish
// returns. When finish refuses the password for the policy (refused says
// why), enrol asks for another, up to maxTries passwords; then, or on any
// other error, it returns finish's error.
func enrol(e *env, out io.Writer, user, otpURL, secret string, finish func(password, totp string) (recovery []string, refused string, err error)) error {
	fmt.Fprintf(out, "Add %s to your authenticator app: scan or open this URL, or type the secret.\n  %s\n  secret: %s\n", user, otpURL, secret)
	var recovery []string
	for try := 1; ; try++ {
		pw, err := askNewPassword(e, user)
		if err != nil {
			return err
		}
		totp, err := e.ask("TOTP code", false)
		if err != nil {
			return err
		}
		var refused string
		recovery, refused, err = finish(pw, totp)
		if err == nil {
			break
		}
		if refused != "" && try < maxTries {
			fmt.Fprintf(e.stderr, "refused: %s; choose another\n", refused)
			continue
		}
		return err
	}
	fmt.Fprintf(out, "setup of %s finished: use the password and a TOTP code from now on.\n\n", user)
	fmt.Fprintln(out, "Recovery codes: each stands in once for a TOTP code. They are shown only now:")
	fmt.Fprintln(out, "store them offline (on paper, in a safe), not on this computer.")
	for _, rc := range recovery {
		fmt.Fprintf(out, "  %s\n", rc)
	}
	return nil
}

// askNewPassword asks for a new password twice, without echo, until both
// agree.
func askNewPassword(e *env, user string) (string, error) {
	for try := 1; ; try++ {
		pw, err := e.ask("new password for "+user, true)
		if err != nil {
			return "", err
		}
		again, err := e.ask("new password again", true)
		if err != nil {
			return "", err
		}
		if pw == again && pw != "" {
			return pw, nil
		}
		if try == maxTries {
			return "", exitError{code: 2, msg: "the passwords did not match"}
		}
		fmt.Fprintln(e.stderr, "the passwords did not match (or were empty); again")
	}
}

// --- users

// userView is a user as GET /api/v1/users shows it.
type userView struct {
	ID           string     `json:"id"`
	DisplayName  string     `json:"display_name"`
	Role         auth.Role  `json:"role"`
	Zones        []string   `json:"zones"`
	Disabled     bool       `json:"disabled"`
	MFAEnrolled  bool       `json:"mfa_enrolled"`
	SetupPending bool       `json:"setup_pending"`
	SetupExpires *time.Time `json:"setup_expires"`
	LockedUntil  *time.Time `json:"locked_until"`
}

func (u userView) status() string {
	switch {
	case u.Disabled:
		return "disabled"
	case u.LockedUntil != nil && u.LockedUntil.After(time.Now()):
		return "locked until " + u.LockedUntil.Local().Format("2006-01-02 15:04")
	case u.SetupPending:
		return "setup pending"
	case u.Role == auth.RoleIntegration:
		return "tokens only"
	}
	return "active"
}

// setupCodeView is what creating or resetting a user answers.
type setupCodeView struct {
	User         userView   `json:"user"`
	SetupCode    string     `json:"setup_code"`
	SetupExpires *time.Time `json:"setup_expires"`
}

// printSetupCode prints a user's one-time setup code and what to do with it.
func printSetupCode(w io.Writer, v setupCodeView) {
	if v.SetupCode == "" {
		fmt.Fprintf(w, "%s is an integration user: no password or TOTP; create API tokens for it:\n  cityarray admin token create --user %s --name NAME --scope PERM\n", v.User.ID, v.User.ID)
		return
	}
	until := ""
	if v.SetupExpires != nil {
		until = ", valid until " + v.SetupExpires.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "setup code (shown once%s): %s\ngive it to %s in person, who runs:\n  cityarray admin setup --user %s\n", until, v.SetupCode, v.User.ID, v.User.ID)
}

// checkRoleFlag refuses an unknown --role before anything is sent.
func checkRoleFlag(role string) error {
	if role == "" {
		return exitError{code: 2, msg: "--role is required: one of " + rolesList()}
	}
	if !auth.Role(role).Valid() {
		return exitError{code: 2, msg: fmt.Sprintf("--role %q: not a role; one of %s", role, rolesList())}
	}
	return nil
}

func rolesList() string {
	var rs []string
	for _, r := range auth.Roles() {
		rs = append(rs, string(r))
	}
	return strings.Join(rs, ", ")
}

// listAll fetches every page of a list endpoint.
func listAll(cmd *cobra.Command, c *apiClient, what, path string, q url.Values) ([]json.RawMessage, error) {
	return fetchPages[json.RawMessage](cmd, c, what, path, q, 0)
}

// fetchPages fetches pages of a list endpoint until the last, or until it
// holds max items (max 0: no bound). q may be nil.
func fetchPages[T any](cmd *cobra.Command, c *apiClient, what, path string, q url.Values, max int) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	items := []T{}
	for max == 0 || len(items) < max {
		n := server.MaxPageLimit
		if max > 0 {
			n = min(max-len(items), n)
		}
		q.Set("limit", fmt.Sprint(n))
		var page server.PageResponse[T]
		if err := c.do(cmd.Context(), what, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	return items, nil
}

func newAdminUserListCmd(e *env, af *alertFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			items, err := listAll(cmd, c, "list users", "/api/v1/users", nil)
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), "list users", items, asJSON, "ID\tNAME\tROLE\tZONES\tSTATUS", func(u userView) string {
				return strings.Join([]string{u.ID, u.DisplayName, string(u.Role), strings.Join(u.Zones, ","), u.status()}, "\t")
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newAdminUserAddCmd(e *env, af *alertFlags) *cobra.Command {
	var id, name, role string
	var zones []string
	cmd := &cobra.Command{
		Use:   "add --id ID --name NAME --role ROLE [--zone Z]...",
		Short: "Create a user and print their one-time setup code",
		Long: "add creates a user of ROLE (" + rolesList() + ";\n" +
			"a zone_operator needs --zone, repeatable) and prints the one-time setup code with\n" +
			"which that person runs `cityarray admin setup`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || strings.TrimSpace(name) == "" {
				return exitError{code: 2, msg: "--id and --name are required"}
			}
			if err := checkRoleFlag(role); err != nil {
				return err
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			var v setupCodeView
			body := map[string]any{"id": id, "display_name": name, "role": role, "zones": zones}
			if err := c.do(cmd.Context(), "add "+id, "POST", "/api/v1/users", body, &v); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "user %s (%s) created: %s%s\n", v.User.ID, v.User.DisplayName, v.User.Role, zoneSuffix(v.User.Zones))
			printSetupCode(out, v)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&id, "id", "", "the user id: 2 to 64 of a-z, 0-9, '.', '_', '-' (required)")
	fl.StringVar(&name, "name", "", "the display name (required)")
	fl.StringVar(&role, "role", "", "the role: "+rolesList()+" (required)")
	fl.StringArrayVar(&zones, "zone", nil, "a zone of a zone_operator (repeatable)")
	return cmd
}

func zoneSuffix(zones []string) string {
	if len(zones) == 0 {
		return ""
	}
	return " in " + strings.Join(zones, ", ")
}

func newAdminUserRoleCmd(e *env, af *alertFlags) *cobra.Command {
	var role string
	var zones []string
	cmd := &cobra.Command{
		Use:   "role ID --role ROLE [--zone Z]...",
		Short: "Change a user's role (and zones)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRoleFlag(role); err != nil {
				return err
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			var u userView
			if err := c.do(cmd.Context(), "role of "+args[0], "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/role",
				map[string]any{"role": role, "zones": zones}, &u); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s is now %s%s\n", u.ID, u.Role, zoneSuffix(u.Zones))
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "the new role: "+rolesList()+" (required)")
	cmd.Flags().StringArrayVar(&zones, "zone", nil, "a zone of a zone_operator (repeatable)")
	return cmd
}

// newAdminUserStepCmd is disable, enable, unlock and reset: a POST to
// /api/v1/users/ID/STEP. reset (done "") prints a new setup code.
func newAdminUserStepCmd(e *env, af *alertFlags, step, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:   step + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			path := "/api/v1/users/" + url.PathEscape(args[0]) + "/" + step
			out := cmd.OutOrStdout()
			if step == "reset" {
				var v setupCodeView
				if err := c.do(cmd.Context(), "reset "+args[0], "POST", path, nil, &v); err != nil {
					return err
				}
				fmt.Fprintf(out, "user %s reset: the password and TOTP are gone, every session ended\n", v.User.ID)
				printSetupCode(out, v)
				return nil
			}
			var u userView
			if err := c.do(cmd.Context(), step+" "+args[0], "POST", path, nil, &u); err != nil {
				return err
			}
			fmt.Fprintf(out, "user %s %s\n", u.ID, done)
			return nil
		},
	}
}

// --- tokens

// tokenView is a token as the API shows it.
type tokenView struct {
	ID       string     `json:"id"`
	User     string     `json:"user"`
	Name     string     `json:"name"`
	Scopes   []string   `json:"scopes"`
	Expires  time.Time  `json:"expires"`
	LastUsed *time.Time `json:"last_used"`
}

func newAdminTokenCreateCmd(e *env, af *alertFlags) *cobra.Command {
	var user, name, expires, outFile string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "create --user ID --name NAME --scope PERM... [--expires 720h] [--out FILE]",
		Short: "Create an API token; its secret goes to --out (mode 0600) or is printed once",
		Long: "create makes an API token for user ID with the permissions --scope (repeatable;\n" +
			"a token may only read, and draft and submit alerts, such as alert.read,\n" +
			"alert.draft, alert.submit), valid for --expires (a duration, or an RFC 3339\n" +
			"time). The secret is written to a new file --out with mode 0600, or printed\n" +
			"once if there is no --out.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" || strings.TrimSpace(name) == "" {
				return exitError{code: 2, msg: "--user and --name are required"}
			}
			if len(scopes) == 0 {
				return exitError{code: 2, msg: "--scope is required (repeatable), such as --scope alert.read"}
			}
			var exp time.Time
			if t, err := time.Parse(time.RFC3339, expires); err == nil {
				exp = t
			} else if d, err := time.ParseDuration(expires); err == nil && d > 0 {
				exp = time.Now().Add(d)
			} else {
				return exitError{code: 2, msg: fmt.Sprintf("--expires %q: a duration such as 720h, or an RFC 3339 time", expires)}
			}
			if outFile != "" {
				if _, err := os.Lstat(outFile); err == nil {
					return exitError{code: 2, msg: "--out " + outFile + " exists: not overwriting it"}
				}
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			var resp struct {
				Token  tokenView `json:"token"`
				Secret string    `json:"secret"`
			}
			body := map[string]any{"user": user, "name": name, "scopes": scopes, "expires_at": exp.UTC().Format(time.RFC3339)}
			if err := c.do(cmd.Context(), "create token", "POST", "/api/v1/tokens", body, &resp); err != nil {
				return err
			}
			out, t := cmd.OutOrStdout(), resp.Token
			fmt.Fprintf(out, "token %s created for %s (%s), scopes %s, expires %s\n", t.ID, t.User, t.Name,
				strings.Join(t.Scopes, ","), t.Expires.UTC().Format(time.RFC3339))
			if outFile == "" {
				fmt.Fprintf(out, "secret (shown only now; send it as Authorization: Bearer SECRET):\n%s\n", resp.Secret)
				return nil
			}
			if err := writeSecretFile(outFile, resp.Secret); err != nil {
				return exitError{code: 1, msg: fmt.Sprintf("token %s was created but its secret could not be saved (%v): revoke it with `cityarray admin token revoke %s`", t.ID, err, t.ID)}
			}
			fmt.Fprintf(out, "secret written to %s (mode 0600); use it with --token-file %s\n", outFile, outFile)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "the user the token acts as (required)")
	fl.StringVar(&name, "name", "", "what the token is for (required)")
	fl.StringArrayVar(&scopes, "scope", nil, "a permission the token carries (repeatable, at least one)")
	fl.StringVar(&expires, "expires", "720h", "how long it is valid (a duration), or until when (RFC 3339)")
	fl.StringVar(&outFile, "out", "", "write the secret to this new file, mode 0600, instead of printing it")
	return cmd
}

// writeSecretFile writes secret to a new file path, mode 0600.
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(secret + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func newAdminTokenListCmd(e *env, af *alertFlags) *cobra.Command {
	var user string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--user ID] [--json]",
		Short: "List the API tokens of a user (default: your own)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			q := url.Values{}
			if user != "" {
				q.Set("user", user)
			}
			items, err := listAll(cmd, c, "list tokens", "/api/v1/tokens", q)
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), "list tokens", items, asJSON, "ID\tUSER\tNAME\tSCOPES\tEXPIRES\tLAST USED", func(t tokenView) string {
				used := "never"
				if t.LastUsed != nil {
					used = t.LastUsed.Local().Format("2006-01-02 15:04")
				}
				return strings.Join([]string{t.ID, t.User, t.Name, strings.Join(t.Scopes, ","), t.Expires.Local().Format("2006-01-02 15:04"), used}, "\t")
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "whose tokens (default: the logged-in user's)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newAdminTokenRevokeCmd(e *env, af *alertFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke TOKEN-ID",
		Short: "Revoke an API token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			if err := c.do(cmd.Context(), "revoke "+args[0], "DELETE", "/api/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
}
