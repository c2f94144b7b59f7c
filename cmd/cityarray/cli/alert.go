package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
)

// Where the alert commands find the server and a token when no flag says.
const (
	envServer = "CITYARRAY_SERVER"
	envToken  = "CITYARRAY_TOKEN"
)

// alertFlags are the flags every alert subcommand shares.
type alertFlags struct {
	gateway   string // send and cancel an Advisory through this gateway instead
	server    string
	caFile    string
	tokenFile string
	user      string
}

// newAlertCmd is `cityarray alert`: the alert desk from the command line.
func newAlertCmd(e *env) *cobra.Command {
	var f alertFlags
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Draft, approve, publish, follow and cancel alerts on a control server",
		Long: "alert talks to a control server's API (--server, or $" + envServer + ").\n\n" +
			"It authenticates with an API token read from --token-file or $" + envToken + "\n" +
			"(never from a flag value, which other users could read in the process list), or\n" +
			"else by logging in: user (--user or asked), password (asked without echo) and a\n" +
			"TOTP code. The session lives only in memory for this one command. API tokens may\n" +
			"read, draft and submit; approving, publishing and cancelling need a person.\n\n" +
			"Trust a server's self-signed certificate with --ca FILE (its data directory's\n" +
			"web-selfsigned.pem).\n\n" +
			"Two-person rules apply: `send` drafts and submits, someone else approves, and\n" +
			"then `publish` signs and sends. An Emergency is approved and published by an\n" +
			"officer other than its author, within 5 minutes of entering a TOTP code.",
	}
	f.register(cmd.PersistentFlags(), "user")
	cmd.AddCommand(
		newAlertSendCmd(e, &f),
		newAlertStepCmd(e, &f, "approve", "Approve a submitted alert (a second person: two-person rule)"),
		newAlertStepCmd(e, &f, "publish", "Sign an approved alert and put it on the street"),
		newAlertListCmd(e, &f),
		newAlertStatusCmd(e, &f),
		newAlertCancelCmd(e, &f),
	)
	return cmd
}

// --- the API client

// apiClient is one command's connection to the server: a token, or a
// session made by logging in, kept in memory only.
type apiClient struct {
	base   string
	http   *http.Client
	e      *env
	f      *alertFlags
	token  string
	cookie string
	csrf   string
	person bool // authenticated by logging in (may re-enter a TOTP code)
	user   string
	ready  bool
}

// register adds the connection flags to pf; userFlag names the flag of the
// user to log in as ("user" for alert; admin uses "as", since its commands
// take --user for the person acted on).
func (f *alertFlags) register(pf *pflag.FlagSet, userFlag string) {
	pf.StringVar(&f.server, "server", "", "the server's URL (default $"+envServer+", else https://localhost:8443)")
	pf.StringVar(&f.gateway, "gateway", "", "send or cancel an Advisory through this zone gateway's operator API (https://HOST:PORT) instead, as one of its local operators; --ca is then the city root")
	pf.StringVar(&f.caFile, "ca", "", "PEM certificate(s) to trust for the server's HTTPS (its self-signed one: <data_dir>/web-selfsigned.pem)")
	pf.StringVar(&f.tokenFile, "token-file", "", "a file holding an API token (else $"+envToken+", else log in)")
	pf.StringVar(&f.user, userFlag, "", "the user to log in as, when no token is given (asked if not set)")
}

func newAPIClient(e *env, f *alertFlags) (*apiClient, error) {
	base := f.server
	if base == "" {
		base = e.getenv(envServer)
	}
	if base == "" {
		base = "https://localhost:8443"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, exitError{code: 2, msg: fmt.Sprintf("--server %q: want a URL such as https://ops.example.org:8443", base)}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pemBytes, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, exitError{code: 2, msg: "--ca: " + err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, exitError{code: 2, msg: fmt.Sprintf("--ca %s holds no PEM certificate", f.caFile)}
		}
		tc.RootCAs = pool
	}
	return &apiClient{base: strings.TrimRight(base, "/"), e: e, f: f,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}}, nil
}

// authenticate finds a token, or logs in, once.
func (c *apiClient) authenticate(ctx context.Context) error {
	if c.ready {
		return nil
	}
	switch {
	case c.f.tokenFile != "":
		b, err := os.ReadFile(c.f.tokenFile)
		if err != nil {
			return exitError{code: 2, msg: "--token-file: " + err.Error()}
		}
		c.token = strings.TrimSpace(string(b))
		if c.token == "" {
			return exitError{code: 2, msg: "--token-file " + c.f.tokenFile + " is empty"}
		}
	case c.e.getenv(envToken) != "":
		c.token = strings.TrimSpace(c.e.getenv(envToken))
	default:
		if err := c.login(ctx); err != nil {
			return err
		}
	}
	c.ready = true
	return nil
}

// askCredentials asks for user's password and a TOTP code (or a recovery
// code), first asking for the user if it is empty, and returns the three.
func askCredentials(e *env, user string) (string, string, string, error) {
	var err error
	if user == "" {
		if user, err = e.ask("user", false); err != nil {
			return "", "", "", err
		}
	}
	pw, err := e.ask("password for "+user, true)
	if err != nil {
		return "", "", "", err
	}
	code, err := e.ask("TOTP code", false)
	if err != nil {
		return "", "", "", err
	}
	return user, pw, code, nil
}

// login asks for the user, password and TOTP code and opens a session.
func (c *apiClient) login(ctx context.Context) error {
	user, pw, code, err := askCredentials(c.e, c.f.user)
	if err != nil {
		return err
	}
	body := map[string]string{"user": user, "password": pw, "totp_code": code}
	resp, raw, err := c.send(ctx, "POST", "/api/v1/login", body, false)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return problemError("log in", resp.StatusCode, raw)
	}
	var lr struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal(raw, &lr); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			c.cookie = ck.Name + "=" + ck.Value
		}
	}
	if c.cookie == "" || lr.CSRFToken == "" {
		return errors.New("log in: the server sent no session")
	}
	c.csrf, c.person, c.user = lr.CSRFToken, true, user
	return nil
}

// send sends one request; authed adds the credentials.
func (c *apiClient) send(ctx context.Context, method, path string, body any, authed bool) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if authed {
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		} else if c.cookie != "" {
			req.Header.Set("Cookie", c.cookie)
			req.Header.Set(auth.CSRFHeader, c.csrf)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			var uae x509.UnknownAuthorityError
			if errors.As(err, &uae) {
				return nil, nil, exitError{code: 1, msg: fmt.Sprintf("%s: the server's certificate is not trusted: pass --ca with its certificate (a self-signed server keeps it in <data_dir>/%s)", c.base, server.WebCertFile)}
			}
		}
		return nil, nil, exitError{code: 1, msg: fmt.Sprintf("cannot reach %s: %v", c.base, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, raw, nil
}

// do sends an authenticated request and decodes a 2xx answer into out.
// An Emergency signature refused for want of a fresh TOTP code is retried
// once after asking for one, in a session.
func (c *apiClient) do(ctx context.Context, what, method, path string, body, out any) error {
	if err := c.authenticate(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		resp, raw, err := c.send(ctx, method, path, body, true)
		if err != nil {
			return err
		}
		if resp.StatusCode/100 == 2 {
			if out != nil && len(raw) > 0 {
				if err := json.Unmarshal(raw, out); err != nil {
					return fmt.Errorf("%s: the server's answer: %w", what, err)
				}
			}
			return nil
		}
		if attempt == 0 && c.person && problemType(raw) == server.ProblemReauthRequired {
			fmt.Fprintln(c.e.stderr, "signing an Emergency needs a TOTP code entered in the last 5 minutes")
			code, err := c.e.ask("TOTP code", false)
			if err != nil {
				return err
			}
			r2, raw2, err := c.send(ctx, "POST", server.ReauthPath, map[string]string{"totp_code": code}, true)
			if err != nil {
				return err
			}
			if r2.StatusCode != http.StatusOK {
				return problemError(what, r2.StatusCode, raw2)
			}
			continue
		}
		err = problemError(what, resp.StatusCode, raw)
		if c.token != "" && resp.StatusCode == http.StatusForbidden && problemType(raw) == server.ProblemForbidden {
			err = exitError{code: 1, msg: err.Error() + " (API tokens may only read, draft and submit: log in as a person, without --token-file or $" + envToken + ")"}
		}
		return err
	}
}

func problemType(raw []byte) string {
	var p server.Problem
	_ = json.Unmarshal(raw, &p)
	return strings.TrimPrefix(p.Type, server.ProblemTypePrefix)
}

// problemError turns a problem document into the error the user reads:
// "refused: approval needs a second person: …".
func problemError(what string, status int, raw []byte) error {
	var p server.Problem
	if err := json.Unmarshal(raw, &p); err != nil || p.Status == 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%s: the server answered %d %s", what, status, http.StatusText(status))}
	}
	detail := p.Detail
	var msg string
	switch strings.TrimPrefix(p.Type, server.ProblemTypePrefix) {
	case server.ProblemTwoPerson:
		if strings.HasPrefix(what, "approve") {
			msg = "refused: approval needs a second person: " + detail
		} else {
			msg = "refused by the two-person rule: " + detail
		}
	case server.ProblemReauthRequired:
		msg = "refused: enter a fresh TOTP code first: " + detail
	case server.ProblemOutOfScope:
		msg = "refused: outside your zones: " + detail
	case server.ProblemForbidden, server.ProblemWrongState, server.ProblemNoOfficerKey, server.ProblemUnsupportedTier,
		server.ProblemIPNotAllowed, server.ProblemCSRF, server.ProblemNoCityCA:
		msg = "refused: " + detail
	case server.ProblemUnauthenticated, server.ProblemMFARequired, server.ProblemReplay, server.ProblemLocked:
		msg = "not signed in: " + detail
	case server.ProblemValidation:
		var parts []string
		for _, fe := range p.Errors {
			parts = append(parts, fe.Field+": "+fe.Detail)
		}
		if len(parts) == 0 {
			parts = append(parts, detail)
		}
		msg = "invalid: " + strings.Join(parts, "; ")
	case server.ProblemNotFound:
		msg = "not found: " + detail
	case server.ProblemRefusedByMesh:
		msg = "refused by the mesh, nothing published: " + detail
	case server.ProblemNotDelivered:
		msg = "signed but not yet sent (it goes out with the next renewal; do not publish again): " + detail
	default:
		msg = fmt.Sprintf("%d %s: %s", p.Status, p.Title, detail)
	}
	return exitError{code: 1, msg: what + ": " + msg}
}

// ask asks the person at the terminal; secret answers are not echoed.
func (e *env) ask(label string, secret bool) (string, error) {
	if e.prompt != nil {
		return e.prompt(label, secret)
	}
	in := os.Stdin
	if !term.IsTerminal(int(in.Fd())) {
		return "", exitError{code: 2, msg: fmt.Sprintf("no API token (--token-file or $%s) and no terminal to ask for the %s", envToken, label)}
	}
	fmt.Fprintf(e.stderr, "%s: ", label)
	if secret {
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(e.stderr)
		return string(b), err
	}
	var line []byte
	var one [1]byte
	for {
		n, err := in.Read(one[:])
		if n == 1 && one[0] != '\n' {
			line = append(line, one[0])
			continue
		}
		if err != nil && len(line) == 0 {
			return "", err
		}
		return strings.TrimSpace(string(line)), nil
	}
}

// --- send

// langText is a repeatable LANG=TEXT flag.
type langText map[string]string

func (l langText) String() string {
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (l langText) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
		return fmt.Errorf("want LANG=TEXT, such as en=\"Flash flood: move to higher ground\"")
	}
	if _, dup := l[k]; dup {
		return fmt.Errorf("%s given twice", k)
	}
	l[strings.TrimSpace(k)] = v
	return nil
}

func (l langText) Type() string { return "LANG=TEXT" }

type sendFlags struct {
	tier, scope, expires                   string
	severity, urgency, certainty, category string
	texts, longs, params                   langText
	protocol, publish                      string
	json                                   bool
}

func newAlertSendCmd(e *env, af *alertFlags) *cobra.Command {
	f := sendFlags{texts: langText{}, longs: langText{}, params: langText{}}
	cmd := &cobra.Command{
		Use:   "send --scope SCOPE --text LANG=TEXT... | --protocol NAME --param K=V... | --publish ID",
		Short: "Draft an alert and submit it for approval (or, with --publish, publish an approved one)",
		Long: "send drafts an alert and submits it for approval, and prints its id and the next\n" +
			"step: someone else approves it (`alert approve ID`), then `alert publish ID`.\n" +
			"The message is --text LANG=TEXT (at most 90 characters, one per language,\n" +
			"repeatable), with --long LANG=TEXT for the longer text, or a published protocol\n" +
			"(--protocol NAME --param K=V...). --expires is a duration counted from\n" +
			"publication (default 1h) or an RFC 3339 time. --publish ID publishes an\n" +
			"approved alert instead, as `alert publish ID` does.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if af.gateway != "" {
				return sendAdvisory(cmd, e, af, &f)
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			if f.publish != "" {
				if cmd.Flags().NFlag() > 1+countSet(cmd, "server", "ca", "token-file", "user", "json") {
					return exitError{code: 2, msg: "--publish takes only the id of an approved alert"}
				}
				return publishAlert(cmd, c, f.publish, f.json)
			}
			req, err := f.request()
			if err != nil {
				return err
			}
			var a desk.Alert
			if err := c.do(cmd.Context(), "draft", "POST", "/api/v1/alerts", req, &a); err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "submit "+a.ID, "POST", "/api/v1/alerts/"+a.ID+"/submit", nil, &a); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return json.NewEncoder(out).Encode(a)
			}
			fmt.Fprintf(out, "alert %s submitted for approval: %s, %s\n", a.ID, a.Tier, a.Scope)
			if a.Tier == record.TierEmergency {
				fmt.Fprintf(out, "next: an officer other than its author and submitter approves it and then publishes it,\n"+
					"  within 5 minutes of entering a TOTP code:\n  cityarray alert approve %s\n  cityarray alert publish %s\n", a.ID, a.ID)
			} else {
				fmt.Fprintf(out, "next: a supervisor or officer approves it, then publishes it:\n  cityarray alert approve %s\n  cityarray alert publish %s\n", a.ID, a.ID)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.tier, "tier", "warning", "warning or emergency")
	fl.StringVar(&f.scope, "scope", "", "city, zone:ZONE or device:DEVICE")
	fl.Var(f.texts, "text", "the short text in one language, LANG=TEXT (repeatable)")
	fl.Var(f.longs, "long", "the long text in one language, LANG=TEXT (repeatable)")
	fl.StringVar(&f.expires, "expires", "1h", "how long after publication it ends (a duration), or when (RFC 3339)")
	fl.StringVar(&f.severity, "severity", "Severe", "CAP severity: Extreme, Severe, Moderate, Minor, Unknown")
	fl.StringVar(&f.urgency, "urgency", "Immediate", "CAP urgency: Immediate, Expected, Future, Past, Unknown")
	fl.StringVar(&f.certainty, "certainty", "Observed", "CAP certainty: Observed, Likely, Possible, Unlikely, Unknown")
	fl.StringVar(&f.category, "category", "Safety", "CAP category: Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other")
	fl.StringVar(&f.protocol, "protocol", "", "draft from this published protocol instead of --text")
	fl.Var(f.params, "param", "a protocol parameter, K=V (repeatable)")
	fl.StringVar(&f.publish, "publish", "", "publish this approved alert instead of drafting one")
	fl.BoolVar(&f.json, "json", false, "print the alert as JSON")
	return cmd
}

func countSet(cmd *cobra.Command, names ...string) int {
	n := 0
	for _, name := range names {
		if cmd.Flags().Changed(name) {
			n++
		}
	}
	return n
}

// request builds the draft request from the flags.
func (f *sendFlags) request() (*desk.DraftRequest, error) {
	bad := func(format string, a ...any) error { return exitError{code: 2, msg: fmt.Sprintf(format, a...)} }
	if f.scope == "" {
		return nil, bad("--scope is required: city, zone:ZONE or device:DEVICE")
	}
	if f.tier != "warning" && f.tier != "emergency" {
		return nil, bad("--tier %q: warning or emergency (advisories are signed by zone gateways)", f.tier)
	}
	req := &desk.DraftRequest{Tier: f.tier, Scope: f.scope}
	if t, err := time.Parse(time.RFC3339, f.expires); err == nil {
		req.Expires = t.UTC().Format(time.RFC3339)
	} else if d, err := time.ParseDuration(f.expires); err == nil && d > 0 {
		req.Lifetime = d.String()
	} else {
		return nil, bad("--expires %q: a duration such as 2h, or an RFC 3339 time", f.expires)
	}
	switch {
	case f.protocol != "" && (len(f.texts) > 0 || len(f.longs) > 0):
		return nil, bad("give --protocol or --text, not both")
	case f.protocol != "":
		req.Protocol, req.Params = f.protocol, map[string]string(f.params)
	case len(f.texts) == 0:
		return nil, bad("give the message with --text LANG=TEXT (or --protocol NAME)")
	case len(f.params) > 0:
		return nil, bad("--param goes with --protocol")
	default:
		a := &record.Alert{Texts: map[string]record.AlertText{}, Severity: f.severity, Urgency: f.urgency,
			Certainty: f.certainty, Category: f.category}
		for lang, s := range f.texts {
			a.Texts[lang] = record.AlertText{Short: s, Long: f.longs[lang]}
		}
		for lang := range f.longs {
			if _, ok := f.texts[lang]; !ok {
				return nil, bad("--long %s=… needs a --text %s=… too", lang, lang)
			}
		}
		req.Alert = a
	}
	return req, nil
}

// --- approve, publish

func newAlertStepCmd(e *env, af *alertFlags, step, short string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   step + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			if step == "publish" {
				return publishAlert(cmd, c, args[0], asJSON)
			}
			var a desk.Alert
			if err := c.do(cmd.Context(), step+" "+args[0], "POST", "/api/v1/alerts/"+url.PathEscape(args[0])+"/"+step, nil, &a); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %s approved by %s\nnext: cityarray alert publish %s", a.ID, a.Approver, a.ID)
			if a.Tier == record.TierEmergency {
				fmt.Fprintf(cmd.OutOrStdout(), " (by %s, whose key co-signs it)", a.Approver)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the alert as JSON")
	return cmd
}

func publishAlert(cmd *cobra.Command, c *apiClient, id string, asJSON bool) error {
	var a desk.Alert
	if err := c.do(cmd.Context(), "publish "+id, "POST", "/api/v1/alerts/"+url.PathEscape(id)+"/publish", nil, &a); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(a)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "alert %s published: %s, %s, record %s, until %s\nfollow it: cityarray alert status %s --watch\n",
		a.ID, a.Tier, a.Scope, a.Current.Short(), a.ExpiresAt.Local().Format(time.RFC3339), a.ID)
	return nil
}

// --- list

func newAlertListCmd(e *env, af *alertFlags) *cobra.Command {
	var state string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--state STATE] [--json]",
		Short: "List alerts, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !desk.State(state).Valid() {
				return exitError{code: 2, msg: fmt.Sprintf("--state %q: one of %v", state, desk.States())}
			}
			if limit < 1 {
				return exitError{code: 2, msg: fmt.Sprintf("--limit %d: want at least 1", limit)}
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			items, err := fetchPages[desk.Alert](cmd, c, "list", "/api/v1/alerts", q, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(items)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tTIER\tSCOPE\tCREATED\tAUTHOR\tTEXT")
			for _, a := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.State, a.Tier, a.Scope,
					a.Created.Local().Format("2006-01-02 15:04"), a.Author, shortText(a))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only alerts in this state: draft, submitted, approved, published, cancelled, expired")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// shortText is an alert's headline (its short text, English first), cut
// to 48 characters, or its protocol if it has no text.
func shortText(a desk.Alert) string {
	if a.Content == nil || len(a.Content.Texts) == 0 {
		return a.Protocol
	}
	s := a.Content.Headline()
	if r := []rune(s); len(r) > 48 {
		s = string(r[:47]) + "…"
	}
	return s
}

// --- status

// deliveryStatus is what GET /api/v1/alerts/{id}/status answers.
type deliveryStatus struct {
	Alert           string     `json:"alert"`
	State           desk.State `json:"state"`
	Tier            string     `json:"tier"`
	Scope           string     `json:"scope"`
	PublishedAt     time.Time  `json:"published_at"`
	InScope         int        `json:"in_scope"`
	Reached         int        `json:"reached"`
	Received        int        `json:"received"`
	Displayed       int        `json:"displayed"`
	Played          int        `json:"played"`
	Failed          int        `json:"failed"`
	NotReached      int        `json:"not_reached"`
	NotReachedSince time.Time  `json:"not_reached_since"`
	OutOfScope      int        `json:"out_of_scope"`
}

func (s deliveryStatus) line() string {
	l := fmt.Sprintf("%s %s %s: %d devices in scope, %d reached: received %d, displayed %d, played %d, failed %d; not reached %d",
		s.Alert, s.State, s.Scope, s.InScope, s.Reached, s.Received, s.Displayed, s.Played, s.Failed, s.NotReached)
	if s.NotReached > 0 && !s.NotReachedSince.IsZero() {
		l += " (since " + s.NotReachedSince.Local().Format("15:04:05") + ")"
	}
	return l
}

func newAlertStatusCmd(e *env, af *alertFlags) *cobra.Command {
	var watch, asJSON bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status ID [--watch] [--json]",
		Short: "Delivery of a published alert: devices that received, displayed, played, failed or were not reached",
		Long: "status shows how many devices in the alert's scope acknowledged it, by what they\n" +
			"did with it. --watch repeats every --interval, printing each change, until every\n" +
			"device in scope was reached, the alert is cancelled or expired, or Ctrl-C.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval < 100*time.Millisecond {
				return exitError{code: 2, msg: "--interval: at least 100ms"}
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			out := cmd.OutOrStdout()
			var last string
			for {
				var st deliveryStatus
				if err := c.do(cmd.Context(), "status "+args[0], "GET", "/api/v1/alerts/"+url.PathEscape(args[0])+"/status", nil, &st); err != nil {
					return err
				}
				var line string
				if asJSON {
					b, _ := json.Marshal(st)
					line = string(b)
				} else {
					line = st.line()
				}
				// The same counts twice are not news.
				key := fmt.Sprint(st.State, st.InScope, st.Reached, st.Received, st.Displayed, st.Played, st.Failed)
				if key != last {
					fmt.Fprintln(out, line)
					last = key
				}
				done := st.State.Final() || (st.InScope > 0 && st.NotReached == 0)
				if !watch || done {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "repeat until every device in scope was reached, or Ctrl-C")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often --watch asks")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (one object per line with --watch)")
	return cmd
}

// --- cancel

func newAlertCancelCmd(e *env, af *alertFlags) *cobra.Command {
	var reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel ID --reason REASON",
		Short: "Withdraw an alert (a published one gets a cancel record)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return exitError{code: 2, msg: "--reason is required: it goes to the history and the audit log"}
			}
			if af.gateway != "" {
				return cancelAdvisory(cmd, e, af, args[0], reason)
			}
			c, err := newAPIClient(e, af)
			if err != nil {
				return err
			}
			defer c.http.CloseIdleConnections()
			var a desk.Alert
			if err := c.do(cmd.Context(), "cancel "+args[0], "POST", "/api/v1/alerts/"+url.PathEscape(args[0])+"/cancel",
				map[string]string{"reason": reason}, &a); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %s cancelled", a.ID)
			if !a.PublishedAt.IsZero() {
				fmt.Fprintf(cmd.OutOrStdout(), ": cancel record %s sent", a.Current.Short())
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the alert as JSON")
	return cmd
}
