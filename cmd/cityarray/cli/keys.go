package cli

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityarray/cityarray/mesh/atomicfile"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// newKeysCmd is `cityarray keys`: the city PKI.
func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create and inspect the city PKI: root CA, city CA and node certificates",
		Long: "keys manages a PKI directory: root.pem/root.key (the city root; keep the key\n" +
			"offline), city.pem/city.key (the city CA that issues node certificates) and\n" +
			"<id>.pem/<id>.key for each server, operator, gateway and device.",
	}
	cmd.AddCommand(newKeysInitCmd(e), newKeysIssueCmd(e), newKeysRevokeCmd(e), newKeysShowCmd(e))
	return cmd
}

func newKeysInitCmd(e *env) *cobra.Command {
	var dir, city, passFile string
	cmd := &cobra.Command{
		Use:   "init --dir D --city NAME",
		Short: "Create a city root CA and city CA in directory D",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if city == "" {
				return fmt.Errorf("keys init: --city is required")
			}
			pass := &passphraseSource{file: passFile}
			p, err := pass.optional()
			if err != nil {
				return err
			}
			d, err := trust.InitDir(dir, city, time.Now(), p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "city %q PKI in %s\n", city, dir)
			describeCert(out, filepath.Join(dir, trust.RootCertFile), d.Root)
			describeCert(out, filepath.Join(dir, trust.CityCertFile), d.City.Cert)
			enc := "unencrypted (mode 0600)"
			if p != nil {
				enc = "encrypted with the passphrase (argon2id, XChaCha20-Poly1305)"
			}
			fmt.Fprintf(out, "keys: %s, %s: %s\n", trust.RootKeyFile, trust.CityKeyFile, enc)
			fmt.Fprintf(out, "next: move %s offline; it is needed only to renew the city CA\n", filepath.Join(dir, trust.RootKeyFile))
			loggerFrom(cmd).Debug("PKI created", "dir", dir, "city", city)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "PKI directory to create (required)")
	cmd.Flags().StringVar(&city, "city", "", "city name, written into every certificate (required)")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "encrypt the private keys with the passphrase in this file")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newKeysIssueCmd(e *env) *cobra.Command {
	var dir, role, id, zone, passFile, caPassFile string
	cmd := &cobra.Command{
		Use:   "issue --dir D --role R --id ID [--zone Z]",
		Short: "Issue a certificate and key for a server, operator, gateway or device",
		Long: "issue writes D/<id>.pem (the certificate followed by the city CA) and D/<id>.key.\n" +
			"Devices and gateways belong to a zone (--zone); servers and operators do not.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ident := trust.Identity{Role: trust.Role(role), ID: id, Zone: zone}
			if err := ident.Validate(); err != nil {
				return fmt.Errorf("keys issue: %w", err)
			}
			caPass := &passphraseSource{file: caPassFile, prompt: "passphrase of city.key", stderr: e.stderr, stdin: os.Stdin}
			pass := &passphraseSource{file: passFile}
			p, err := pass.optional()
			if err != nil {
				return err
			}
			leaf, err := trust.IssueInDir(dir, ident, time.Now(), caPass.get, p)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			describeCert(out, leaf.CertPath, leaf.Cert)
			fmt.Fprintf(out, "key: %s\n", leaf.KeyPath)
			loggerFrom(cmd).Debug("certificate issued", "identity", ident.String(), "serial", trust.SerialString(leaf.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "PKI directory made by keys init (required)")
	f.StringVar(&role, "role", "", "role: "+joinRoles())
	f.StringVar(&id, "id", "", "node or person id, e.g. pole-0042 (required)")
	f.StringVar(&zone, "zone", "", "zone id, required for gateway and device")
	f.StringVar(&passFile, "passphrase-file", "", "encrypt the new key with the passphrase in this file")
	f.StringVar(&caPassFile, "ca-passphrase-file", "", "passphrase of an encrypted city.key")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func joinRoles() string {
	var rs []string
	for _, r := range trust.Roles() {
		if !r.IsCA() {
			rs = append(rs, string(r))
		}
	}
	return strings.Join(rs, ", ")
}

func newKeysRevokeCmd(e *env) *cobra.Command {
	var dir, out, reason, caPassFile string
	var serials []string
	cmd := &cobra.Command{
		Use:   "revoke --dir D --serial S [--serial S…]",
		Short: "Write a revocation record, signed by the city CA, for certificate serials",
		Long: "revoke writes a revocation record signed by the city CA. Publish it like an alert:\n" +
			"every node that applies it refuses records from those certificates from then on.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var bs [][]byte
			for _, s := range serials {
				b, err := trust.ParseSerial(s)
				if err != nil {
					return fmt.Errorf("keys revoke: %w", err)
				}
				bs = append(bs, b)
			}
			caPass := &passphraseSource{file: caPassFile, prompt: "passphrase of city.key", stderr: e.stderr, stdin: os.Stdin}
			d, err := trust.LoadDir(dir, caPass.get)
			if err != nil {
				return err
			}
			r, err := d.Revoke(bs, reason, time.Now())
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(dir, "revocation-"+r.ID().Short()+".cose")
			}
			if err := atomicfile.WriteFile(out, r.Raw(), 0o644, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revocation %s of %d serial(s) written to %s (%d bytes)\n", r.ID(), len(bs), out, len(r.Raw()))
			loggerFrom(cmd).Debug("revocation signed", "id", r.ID().String(), "serials", serials)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "PKI directory (required)")
	f.StringArrayVar(&serials, "serial", nil, "certificate serial in hex, as keys show prints it (repeatable, required)")
	f.StringVar(&reason, "reason", "", "why, kept in the record")
	f.StringVar(&out, "out", "", "file to write (default D/revocation-<id>.cose)")
	f.StringVar(&caPassFile, "ca-passphrase-file", "", "passphrase of an encrypted city.key")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("serial")
	return cmd
}

func newKeysShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Describe a certificate file or a key file (never printing private key material)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			block, _ := pem.Decode(data)
			if block == nil {
				return fmt.Errorf("keys show: %s: no PEM block", args[0])
			}
			if block.Type != "CERTIFICATE" {
				return showKey(out, args[0], block)
			}
			certs, err := trust.ReadCertFile(args[0])
			if err != nil {
				return err
			}
			for _, c := range certs {
				describeCert(out, args[0], c)
			}
			return nil
		},
	}
}

// showKey describes a key file: its kind and, if it is not encrypted, its
// public key. It never prints the private key.
func showKey(out io.Writer, path string, block *pem.Block) error {
	if block.Type != "PRIVATE KEY" {
		fmt.Fprintf(out, "%s: %s (encrypted; public key shown only once decrypted)\n", path, strings.ToLower(block.Type))
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("keys show: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return fmt.Errorf("keys show: %s: a %T key, want Ed25519", path, k)
	}
	fmt.Fprintf(out, "%s: Ed25519 private key (unencrypted)\n  public key: %s\n", path, hex.EncodeToString(priv.Public().(ed25519.PublicKey)))
	return nil
}

// describeCert prints what an operator needs to know about a certificate.
func describeCert(out io.Writer, path string, c *x509.Certificate) {
	id, err := trust.IdentityOf(c)
	ident := id.String()
	if err != nil {
		ident = "none (" + err.Error() + ")"
	}
	fmt.Fprintf(out, "%s:\n", path)
	fmt.Fprintf(out, "  subject:     %s\n", c.Subject)
	fmt.Fprintf(out, "  identity:    %s\n", ident)
	fmt.Fprintf(out, "  issuer:      %s\n", c.Issuer)
	fmt.Fprintf(out, "  serial:      %s\n", trust.SerialString(c))
	fmt.Fprintf(out, "  valid:       %s to %s\n", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "  kid:         %s\n", hex.EncodeToString(record.Fingerprint(c.Raw)))
	fmt.Fprintf(out, "  CA:          %v\n", c.IsCA)
}
