package cli

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/cityarray/cityarray/mesh/trust"
	"github.com/cityarray/cityarray/server/audit"
)

// newAuditCmd is `cityarray audit`: check the control server's audit log.
func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the control server's tamper-evident audit log and prove entries in it",
		Long: "audit checks an audit log directory written by the control server: entries in\n" +
			"segment files, a Merkle tree over them and checkpoints signed by the server key.\n" +
			"--key names the server's checkpoint key: its certificate (PEM), a public key\n" +
			"(PEM), or a note verifier key string (name+hash+key, as in DIR/verifier.key).\n" +
			"Without --key the directory's own verifier.key is trusted, with a warning: whoever\n" +
			"could rewrite the log could rewrite that file too.",
	}
	cmd.AddCommand(newAuditVerifyCmd(e), newAuditProveCmd(e), newAuditVerifyProofCmd(e))
	return cmd
}

func newAuditVerifyCmd(e *env) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "verify DIR [--key KEY]",
		Short: "Check every entry and checkpoint of an audit log",
		Long: "verify reads every segment, recomputes the Merkle tree and checks every\n" +
			"checkpoint's signature and root. It prints\n" +
			"  ok: N entries, M checkpoints, latest size S root R\n" +
			"and exits 0, or prints\n" +
			"  tampered: entry N: why\n" +
			"naming the first bad entry (or checkpoint, or segment) and exits 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := auditVerifiers(key)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			r, err := audit.Verify(args[0], v)
			printWarnings(e, r.Warnings)
			var te *audit.TamperError
			if errors.As(err, &te) {
				loggerFrom(cmd).Debug("audit log tampered", "dir", args[0], "where", te.Where(), "reason", te.Reason)
				return exitError{code: 1, msg: "tampered: " + te.Where() + ": " + te.Reason}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if r.Checkpoints == 0 {
				fmt.Fprintf(out, "ok: %d entries, 0 checkpoints: nothing is signed yet\n", r.Entries)
			} else {
				fmt.Fprintf(out, "ok: %d entries, %d checkpoints, latest size %d root %s\n", r.Entries, r.Checkpoints, r.Latest.Size, r.Latest.Root)
			}
			if r.Pruned > 0 {
				fmt.Fprintf(out, "pruned: entries 0 to %d (retention), checked through the hash file\n", r.Pruned-1)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "server certificate or public key file (PEM), or note verifier key string")
	return cmd
}

func newAuditProveCmd(e *env) *cobra.Command {
	var key string
	var index int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prove --entry N DIR [--json] [--key KEY]",
		Short: "Print an entry with its inclusion proof against the latest checkpoint",
		Long: "prove prints entry N, the signed checkpoint it is proven against and the\n" +
			"proof hashes (base64, leaf to root), then checks the proof with --key (or the\n" +
			"directory's verifier.key, with a warning). --json prints the proof as JSON,\n" +
			"which `cityarray audit verify-proof` checks anywhere.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := audit.ProveDir(args[0], index)
			if err != nil {
				return err
			}
			v, err := auditVerifiers(key)
			if err != nil {
				return fmt.Errorf("audit prove: %w", err)
			}
			if v == nil {
				printWarnings(e, []string{"trusting the directory's own verifier.key to check the proof; pass --key"})
				if v, err = dirVerifiers(args[0]); err != nil {
					return fmt.Errorf("audit prove: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(p, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s\n", b)
			} else {
				printProof(out, p)
			}
			if err := audit.CheckProof(p, v); err != nil {
				return exitError{code: 1, msg: "bad proof: " + err.Error()}
			}
			if !asJSON {
				fmt.Fprintf(out, "proof ok: entry %d is in the tree of checkpoint size %d\n", p.Index, p.Checkpoint.Size)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&index, "entry", -1, "index of the entry to prove (required)")
	f.BoolVar(&asJSON, "json", false, "print the proof as JSON")
	f.StringVar(&key, "key", "", "server certificate or public key file (PEM), or note verifier key string")
	_ = cmd.MarkFlagRequired("entry")
	return cmd
}

func newAuditVerifyProofCmd(e *env) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "verify-proof --key KEY FILE",
		Short: "Check a proof written by `audit prove --json` (FILE - reads stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := auditVerifiers(key)
			if err != nil {
				return fmt.Errorf("audit verify-proof: %w", err)
			}
			data, err := readFileOrStdin(args[0])
			if err != nil {
				return fmt.Errorf("audit verify-proof: %w", err)
			}
			var p audit.Proof
			if err := json.Unmarshal(data, &p); err != nil {
				return exitError{code: 1, msg: "bad proof: " + err.Error()}
			}
			if err := audit.CheckProof(&p, v); err != nil {
				return exitError{code: 1, msg: "bad proof: " + err.Error()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: entry %d is in the tree of checkpoint size %d root %s signed by %s\n",
				p.Index, p.Checkpoint.Size, p.Checkpoint.Root, p.Checkpoint.Origin)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "server certificate or public key file (PEM), or note verifier key string (required)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func readFileOrStdin(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func printWarnings(e *env, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "warning: "+w)
	}
}

// auditVerifiers turns --key into checkpoint verifiers; nil for an empty
// key (the caller then trusts the directory's own key). A file may hold a
// certificate (the first in the file is the server's; its Ed25519 key is
// used under any key name), a PEM public key, or verifier key strings,
// one per line. Anything else must be a verifier key string.
func auditVerifiers(key string) (note.Verifiers, error) {
	if key == "" {
		return nil, nil
	}
	if v, err := audit.ParseVerifierKeys(key); err == nil {
		return v, nil
	}
	data, err := os.ReadFile(key)
	if err != nil {
		return nil, fmt.Errorf("--key %q is neither a verifier key (name+hash+key) nor a readable file: %w", key, err)
	}
	if block, _ := pem.Decode(data); block != nil {
		pub, err := pemPublicKey(data, block)
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", key, err)
		}
		return audit.PublicKeyVerifiers(pub), nil
	}
	return audit.ParseVerifierKeys(strings.Fields(string(data))...)
}

// pemPublicKey returns the Ed25519 key of a certificate file (its first
// certificate) or of a PEM public key.
func pemPublicKey(data []byte, first *pem.Block) (ed25519.PublicKey, error) {
	var k any
	switch first.Type {
	case "CERTIFICATE":
		certs, err := trust.ParseCertsPEM(data)
		if err != nil {
			return nil, err
		}
		k = certs[0].PublicKey
	case "PUBLIC KEY":
		var err error
		if k, err = x509.ParsePKIXPublicKey(first.Bytes); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("a PEM %q block, want a CERTIFICATE or a PUBLIC KEY", first.Type)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, want Ed25519", k)
	}
	return pub, nil
}

// dirVerifiers trusts the verifier keys in DIR/verifier.key.
func dirVerifiers(dir string) (note.Verifiers, error) {
	data, err := os.ReadFile(filepath.Join(dir, audit.VerifierKeyFile))
	if err != nil {
		return nil, err
	}
	return audit.ParseVerifierKeys(strings.Fields(string(data))...)
}

// printProof prints a proof for people.
func printProof(out io.Writer, p *audit.Proof) {
	fmt.Fprintf(out, "entry %d:\n  %s\n", p.Index, p.Entry)
	if e, err := audit.ParseEntry(p.Entry); err == nil {
		fmt.Fprintf(out, "  %s\n", describeEntry(e))
	}
	c := p.Checkpoint
	fmt.Fprintf(out, "checkpoint: size %d, root %s, signed %s by %s\n", c.Size, c.Root, c.Time.Format(time.RFC3339), c.Origin)
	for line := range strings.Lines(string(c.Note)) {
		fmt.Fprintln(out, strings.TrimRight("  | "+line, " \n"))
	}
	fmt.Fprintf(out, "proof: %d hashes, leaf to root:\n", len(p.Hashes))
	for i, h := range p.Hashes {
		fmt.Fprintf(out, "  %2d %s\n", i, h)
	}
}

// describeEntry is one line saying who did what.
func describeEntry(e audit.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Time.Format(time.RFC3339Nano), e.Actor)
	if e.Role != "" {
		fmt.Fprintf(&b, " (%s)", e.Role)
	}
	fmt.Fprintf(&b, " %s", e.Action)
	if e.Target != "" {
		fmt.Fprintf(&b, " %s", e.Target)
	}
	fmt.Fprintf(&b, ": %s", e.Outcome)
	if e.RemoteIP.IsValid() {
		fmt.Fprintf(&b, " from %s", e.RemoteIP)
	}
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, e.Detail[k])
	}
	return b.String()
}
