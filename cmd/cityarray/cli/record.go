package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// newRecordCmd is `cityarray record`: sign, inspect and verify records.
func newRecordCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Sign, inspect and verify CITYARRAY records (alerts, acks, commands, …)",
	}
	cmd.AddCommand(newRecordSignCmd(e), newRecordInspectCmd(e), newRecordVerifyCmd(e))
	return cmd
}

// signOptions are the flags of `record sign`.
type signOptions struct {
	kind, tier, scope, origin              string
	texts, longs, speaks                   []string
	severity, urgency, certainty, category string
	icon, reason                           string
	supersedes                             []string
	jsonFile, out                          string
	keys, certs                            []string
	passFiles                              []string
	expires                                time.Duration
	seq                                    uint64
	noChain                                bool
}

func newRecordSignCmd(e *env) *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign --kind K --tier T --scope S --text LANG=TEXT --key KEY --cert CERT --out FILE",
		Short: "Sign a record with one key (or two, for an emergency) and write its bytes",
		Long: "sign builds a record from flags (alerts and cancels) or from a JSON file (--json,\n" +
			"any kind, in the form `record inspect` prints), signs it and writes it to --out.\n" +
			"Give --key/--cert twice for a record that needs two signers (an emergency:\n" +
			"server first, then the officer). Origin defaults to the signer's id and seq to\n" +
			"the issue time in milliseconds, so successive records from one signer increase.",
		Example: "  cityarray record sign --kind alert --tier warning --scope zone:z1 \\\n" +
			"    --text en='Flood warning: move to higher ground' --text es='Alerta de inundación' \\\n" +
			"    --key pki/server-1.key --cert pki/server-1.pem --expires 2h --out flood.cose",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := o.build(time.Now())
			if err != nil {
				return fmt.Errorf("record sign: %w", err)
			}
			signers, origin, err := o.loadSigners(e)
			if err != nil {
				return fmt.Errorf("record sign: %w", err)
			}
			if r.Origin == "" {
				r.Origin = origin
			}
			signed, err := record.Sign(r, signers...)
			if err != nil {
				return fmt.Errorf("record sign: %w", err)
			}
			if err := atomicfile.WriteFile(o.out, signed.Raw(), 0o644, true); err != nil {
				return fmt.Errorf("record sign: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s %s %s %s (%d bytes) → %s\n", signed.ID(), signed.Kind, signed.Tier, signed.Scope, len(signed.Raw()), o.out)
			loggerFrom(cmd).Debug("record signed", "id", signed.ID().String(), "kind", signed.Kind.String(), "tier", signed.Tier.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kind, "kind", "", "record kind: alert, cancel (others with --json)")
	f.StringVar(&o.tier, "tier", "", "tier: informational, advisory, warning, emergency, ipaws")
	f.StringVar(&o.scope, "scope", "", "city, zone:<id> or device:<id>")
	f.StringArrayVar(&o.texts, "text", nil, "LANG=TEXT short text (≤ 90 characters) in a BCP 47 language (repeatable)")
	f.StringArrayVar(&o.longs, "long", nil, "LANG=TEXT long text (≤ 360 characters) (repeatable)")
	f.StringArrayVar(&o.speaks, "speak", nil, "LANG=TEXT text to speak (repeatable; default: the short text)")
	f.StringVar(&o.severity, "severity", "", "CAP severity (default from the tier)")
	f.StringVar(&o.urgency, "urgency", "", "CAP urgency (default from the tier)")
	f.StringVar(&o.certainty, "certainty", "Likely", "CAP certainty")
	f.StringVar(&o.category, "category", "Safety", "CAP category")
	f.StringVar(&o.icon, "icon", "", "icon id")
	f.StringVar(&o.reason, "reason", "", "reason, for a cancel")
	f.StringArrayVar(&o.supersedes, "supersedes", nil, "id of a record this one cancels or updates (repeatable)")
	f.StringVar(&o.origin, "origin", "", "origin node id (default: the first signer's id)")
	f.Uint64Var(&o.seq, "seq", 0, "sequence number (default: issue time in Unix milliseconds)")
	f.DurationVar(&o.expires, "expires", time.Hour, "lifetime from now")
	f.StringVar(&o.jsonFile, "json", "", "read the whole record from this JSON file instead of the flags above")
	f.StringArrayVar(&o.keys, "key", nil, "signer's key file (repeat with --cert for a second signer)")
	f.StringArrayVar(&o.certs, "cert", nil, "signer's certificate file, leaf then chain (repeatable)")
	f.StringArrayVar(&o.passFiles, "passphrase-file", nil, "passphrase of an encrypted key, one per --key in order")
	f.BoolVar(&o.noChain, "no-chain", false, "reference the signer by kid only, without sending the certificate chain")
	f.StringVar(&o.out, "out", "", "file to write the signed record to (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// tierDefaults are the CAP severity and urgency a tier implies when the
// flags do not say.
var tierDefaults = map[record.Tier][2]string{
	record.TierInformational: {"Minor", "Future"},
	record.TierAdvisory:      {"Moderate", "Expected"},
	record.TierWarning:       {"Severe", "Immediate"},
	record.TierEmergency:     {"Extreme", "Immediate"},
	record.TierIPAWS:         {"Extreme", "Immediate"},
}

// build makes the unsigned record from the flags or the JSON file.
func (o *signOptions) build(now time.Time) (*record.Record, error) {
	now = now.Truncate(time.Millisecond)
	if o.jsonFile != "" {
		if o.kind != "" || o.tier != "" || o.scope != "" || len(o.texts) > 0 {
			return nil, errors.New("--json holds the whole record: do not combine it with --kind, --tier, --scope or --text")
		}
		b, err := os.ReadFile(o.jsonFile)
		if err != nil {
			return nil, err
		}
		var r record.Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", o.jsonFile, err)
		}
		if r.Issued.IsZero() {
			r.Issued = now
		}
		if r.Expires.IsZero() {
			r.Expires = r.Issued.Add(o.expires)
		}
		if r.Seq == 0 {
			r.Seq = uint64(r.Issued.UnixMilli())
		}
		return &r, nil
	}
	kind, err := record.ParseKind(o.kind)
	if err != nil {
		return nil, err
	}
	tier, err := record.ParseTier(o.tier)
	if err != nil {
		return nil, err
	}
	scope, err := record.ParseScope(o.scope)
	if err != nil {
		return nil, err
	}
	if o.expires <= 0 {
		return nil, fmt.Errorf("--expires %v: must be positive", o.expires)
	}
	r := &record.Record{Kind: kind, Tier: tier, Scope: scope, Issued: now, Expires: now.Add(o.expires), Origin: o.origin, Seq: o.seq}
	if r.Seq == 0 {
		r.Seq = uint64(now.UnixMilli())
	}
	for _, s := range o.supersedes {
		id, err := record.ParseID(s)
		if err != nil {
			return nil, err
		}
		r.Supersedes = append(r.Supersedes, id)
	}
	switch kind {
	case record.KindAlert, record.KindUpdate:
		a, err := o.alert(tier)
		if err != nil {
			return nil, err
		}
		r.Body = a
	case record.KindCancel:
		r.Body = &record.Cancel{Reason: o.reason}
	default:
		return nil, fmt.Errorf("kind %s: write the record as JSON and pass --json (see `record inspect` for the form)", kind)
	}
	return r, nil
}

func (o *signOptions) alert(tier record.Tier) (*record.Alert, error) {
	if len(o.texts) == 0 {
		return nil, errors.New("an alert needs at least one --text LANG=TEXT")
	}
	d := tierDefaults[tier]
	a := &record.Alert{Texts: map[string]record.AlertText{}, Severity: or(o.severity, d[0]), Urgency: or(o.urgency, d[1]),
		Certainty: o.certainty, Category: o.category, Icon: o.icon}
	for _, set := range []struct {
		flag  string
		vals  []string
		apply func(*record.AlertText, string)
	}{
		{"--text", o.texts, func(t *record.AlertText, s string) { t.Short = s }},
		{"--long", o.longs, func(t *record.AlertText, s string) { t.Long = s }},
		{"--speak", o.speaks, func(t *record.AlertText, s string) { t.Speak = s }},
	} {
		for _, v := range set.vals {
			lang, text, ok := strings.Cut(v, "=")
			if !ok || lang == "" {
				return nil, fmt.Errorf("%s %q: want LANG=TEXT, e.g. en=Flood warning", set.flag, v)
			}
			t, seen := a.Texts[lang]
			if set.flag != "--text" && !seen {
				return nil, fmt.Errorf("%s %s=…: give the short --text %s=… first", set.flag, lang, lang)
			}
			set.apply(&t, text)
			a.Texts[lang] = t
		}
	}
	return a, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// loadSigners reads the --key/--cert pairs and returns the signers and the
// first signer's id.
func (o *signOptions) loadSigners(e *env) ([]record.Signer, string, error) {
	if len(o.keys) == 0 || len(o.keys) != len(o.certs) {
		return nil, "", fmt.Errorf("give --key and --cert once per signer (have %d keys, %d certificates)", len(o.keys), len(o.certs))
	}
	var (
		signers []record.Signer
		origin  string
	)
	for i := range o.keys {
		pass := &passphraseSource{prompt: "passphrase of " + o.keys[i], stderr: e.stderr, stdin: os.Stdin}
		if i < len(o.passFiles) {
			pass.file = o.passFiles[i]
		}
		s, id, err := trust.LoadSigner(o.certs[i], o.keys[i], pass.get, !o.noChain)
		if err != nil {
			return nil, "", err
		}
		if i == 0 {
			origin = id.ID
		}
		signers = append(signers, s)
	}
	return signers, origin, nil
}

// readRecordFile reads a record file: its raw bytes, or hex as in
// testdata/records.
func readRecordFile(path string) (*record.Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if h := bytes.Join(bytes.Fields(b), nil); len(h) > 0 && len(h)%2 == 0 {
		if raw, err := hex.DecodeString(string(h)); err == nil {
			b = raw
		}
	}
	return record.Parse(b)
}

func newRecordInspectCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a record as readable JSON (without checking who signed it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := readRecordFile(args[0])
			if err != nil {
				return fmt.Errorf("record inspect: %s: %w", args[0], err)
			}
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	}
}

func newRecordVerifyCmd(e *env) *cobra.Command {
	var roots, intermediates, certs, revocations []string
	var at string
	cmd := &cobra.Command{
		Use:   "verify --roots ROOT.pem FILE",
		Short: "Check a record against the city PKI and the tier rules",
		Long: "verify prints `ok <id> <kind> <tier> <signer>` and exits 0 when the record may be\n" +
			"shown, or prints `rejected: <reason>: <detail>` and exits 1. Signers are found in\n" +
			"the record's x5chain or in --certs; revocation records given with --revocation\n" +
			"are applied first.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("record verify: --at: %w", err)
				}
				now = t
			}
			v, err := newCLIVerifier(roots, intermediates, certs, now)
			if err != nil {
				return fmt.Errorf("record verify: %w", err)
			}
			for _, p := range revocations {
				rev, err := readRecordFile(p)
				if err == nil {
					err = v.ApplyRevocation(rev, now)
				}
				if err != nil {
					return fmt.Errorf("record verify: revocation %s: %w", p, err)
				}
			}
			log := loggerFrom(cmd)
			r, err := readRecordFile(args[0])
			if err != nil {
				log.Debug("record rejected", "file", args[0], "reason", trust.ReasonMalformed, "err", err)
				return exitError{code: 1, msg: "rejected: " + string(trust.ReasonMalformed) + ": " + err.Error()}
			}
			vd, err := v.Verify(r, now)
			if err != nil {
				log.Debug("record rejected", "id", r.ID().String(), "reason", trust.ReasonOf(err), "err", err)
				return exitError{code: 1, msg: "rejected: " + err.Error()}
			}
			var names []string
			for _, s := range vd.Signers {
				names = append(names, s.String())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok %s %s %s %s\n", r.ID(), r.Kind, r.Tier, strings.Join(names, "+"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&roots, "roots", nil, "city root certificate file(s) (required)")
	f.StringArrayVar(&intermediates, "intermediates", nil, "city CA certificate file(s), for records without an x5chain")
	f.StringArrayVar(&certs, "certs", nil, "signer certificate file(s) (leaf then chain), for records without an x5chain")
	f.StringArrayVar(&revocations, "revocation", nil, "revocation record file(s) to apply first")
	f.StringVar(&at, "at", "", "check as of this RFC 3339 time instead of now")
	_ = cmd.MarkFlagRequired("roots")
	return cmd
}

// newCLIVerifier builds a verifier from certificate files. The command line
// trusts the machine's clock.
func newCLIVerifier(roots, intermediates, certs []string, now time.Time) (*trust.Verifier, error) {
	load := func(paths []string) ([]*x509.Certificate, error) {
		var all []*x509.Certificate
		for _, p := range paths {
			cs, err := trust.ReadCertFile(p)
			if err != nil {
				return nil, err
			}
			all = append(all, cs...)
		}
		return all, nil
	}
	rs, err := load(roots)
	if err != nil {
		return nil, err
	}
	is, err := load(intermediates)
	if err != nil {
		return nil, err
	}
	cs, err := load(certs)
	if err != nil {
		return nil, err
	}
	v, err := trust.NewVerifier(trust.Config{Roots: rs, Intermediates: is, TrustedClock: true})
	if err != nil {
		return nil, err
	}
	if len(cs) > 0 {
		if err := v.AddCertificates(now, cs...); err != nil {
			return nil, err
		}
	}
	return v, nil
}
