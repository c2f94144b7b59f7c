package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
)

// The files of a PKI directory (see InitDir). A leaf for node id is
// <id>.pem (the leaf, then the city CA) and <id>.key.
const (
	RootCertFile = "root.pem"
	RootKeyFile  = "root.key" // move it offline after InitDir
	CityCertFile = "city.pem"
	CityKeyFile  = "city.key"
)

// Dir is a city's PKI directory, as the `cityarray keys` command keeps it.
type Dir struct {
	Path string
	Root *x509.Certificate
	City *CA // Key is nil unless the directory was opened with its passphrase
}

// Leaf is a leaf certificate issued into a directory, with its key.
type Leaf struct {
	Identity Identity
	Cert     *x509.Certificate
	Key      ed25519.PrivateKey
	CertPath string
	KeyPath  string
}

// InitDir creates a city PKI in dir (created 0700 if missing): a root CA
// (root.pem, root.key) and the city CA under it (city.pem, city.key). Both
// keys are sealed with passphrase, or left unencrypted if it is empty. It
// refuses, with ErrExists and before writing anything, if any of the four
// files exists. root.key is needed again only to issue a new city CA: keep
// it offline.
func InitDir(dir, city string, now time.Time, passphrase []byte) (*Dir, error) {
	return initDir(dir, city, now, passphrase, defaultKDF)
}

func initDir(dir, city string, now time.Time, passphrase []byte, kdf kdfParams) (*Dir, error) {
	root, err := NewRoot(city, now)
	if err != nil {
		return nil, fmt.Errorf("trust: init dir: %w", err)
	}
	ca, err := root.NewCityCA(now)
	if err != nil {
		return nil, fmt.Errorf("trust: init dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trust: init dir: %w", err)
	}
	d := &Dir{Path: dir, Root: root.Cert, City: ca}
	err = d.writeAll([]func() error{
		func() error { return writeKeyFile(d.file(RootKeyFile), root.Key, passphrase, kdf) },
		func() error { return WriteCertFile(d.file(RootCertFile), []*x509.Certificate{root.Cert}) },
		func() error { return writeKeyFile(d.file(CityKeyFile), ca.Key, passphrase, kdf) },
		func() error { return WriteCertFile(d.file(CityCertFile), []*x509.Certificate{ca.Cert}) },
	}, RootKeyFile, RootCertFile, CityKeyFile, CityCertFile)
	if err != nil {
		return nil, fmt.Errorf("trust: init dir: %w", err)
	}
	return d, nil
}

// LoadDir opens a PKI directory made by InitDir: root.pem and city.pem, and
// city.key if passphrase is not nil (it is called only if the key is
// encrypted). root.key is never read.
func LoadDir(dir string, passphrase func() ([]byte, error)) (*Dir, error) {
	d := &Dir{Path: dir}
	roots, err := ReadCertFile(d.file(RootCertFile))
	if err != nil {
		return nil, fmt.Errorf("trust: load dir: %w", err)
	}
	cas, err := ReadCertFile(d.file(CityCertFile))
	if err != nil {
		return nil, fmt.Errorf("trust: load dir: %w", err)
	}
	if len(roots) != 1 || len(cas) != 1 {
		return nil, fmt.Errorf("trust: load dir %s: %w: want one certificate in each of %s and %s", dir, ErrBadCertFile, RootCertFile, CityCertFile)
	}
	if err := checkRoot(roots[0]); err != nil {
		return nil, fmt.Errorf("trust: load dir: %s: %w", RootCertFile, err)
	}
	if err := checkCityCA(cas[0], roots); err != nil {
		return nil, fmt.Errorf("trust: load dir: %s: %w", CityCertFile, err)
	}
	d.Root, d.City = roots[0], &CA{Cert: cas[0]}
	if passphrase != nil {
		key, err := ReadKeyFile(d.file(CityKeyFile), passphrase)
		if err != nil {
			return nil, fmt.Errorf("trust: load dir: %w", err)
		}
		if !bytes.Equal(key.Public().(ed25519.PublicKey), d.City.Cert.PublicKey.(ed25519.PublicKey)) {
			return nil, fmt.Errorf("trust: load dir: %w: %s does not match %s", ErrBadKey, CityKeyFile, CityCertFile)
		}
		d.City.Key = key
	}
	return d, nil
}

// IssueInDir opens dir with the city CA's passphrase and issues a leaf for
// id into it: see (*Dir).Issue.
func IssueInDir(dir string, id Identity, now time.Time, caPassphrase func() ([]byte, error), passphrase []byte) (*Leaf, error) {
	if caPassphrase == nil {
		caPassphrase = func() ([]byte, error) { return nil, nil }
	}
	d, err := LoadDir(dir, caPassphrase)
	if err != nil {
		return nil, err
	}
	return d.Issue(id, now, passphrase)
}

// Issue makes a fresh Ed25519 key for id, has the city CA certify it and
// writes <id>.key (sealed with passphrase unless it is empty) and <id>.pem
// (the leaf followed by the city CA certificate, so that it carries its
// chain). It refuses, with ErrExists and before writing anything, if either
// file exists. The directory must have been opened with the city CA key.
func (d *Dir) Issue(id Identity, now time.Time, passphrase []byte) (*Leaf, error) {
	return d.issue(id, now, passphrase, defaultKDF)
}

func (d *Dir) issue(id Identity, now time.Time, passphrase []byte, kdf kdfParams) (*Leaf, error) {
	if id.ID == "root" || id.ID == "city" {
		return nil, fmt.Errorf("trust: issue: %w: id %q is reserved in a PKI directory", ErrBadIdentity, id.ID)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	cert, err := d.City.Issue(id, pub, now)
	if err != nil {
		return nil, err
	}
	l := &Leaf{Identity: id, Cert: cert, Key: key, CertPath: d.file(id.ID + ".pem"), KeyPath: d.file(id.ID + ".key")}
	err = d.writeAll([]func() error{
		func() error { return writeKeyFile(l.KeyPath, key, passphrase, kdf) },
		func() error { return WriteCertFile(l.CertPath, []*x509.Certificate{cert, d.City.Cert}) },
	}, id.ID+".key", id.ID+".pem")
	if err != nil {
		return nil, fmt.Errorf("trust: issue: %w", err)
	}
	return l, nil
}

// Revoke returns a revocation record for serials signed by the directory's
// city CA (see NewRevocation).
func (d *Dir) Revoke(serials [][]byte, reason string, now time.Time) (*record.Record, error) {
	return NewRevocation(d.City, serials, reason, now)
}

// Config returns a verifier configuration that trusts this directory's
// root, with its city CA as the intermediate.
func (d *Dir) Config() Config {
	return Config{Roots: []*x509.Certificate{d.Root}, Intermediates: []*x509.Certificate{d.City.Cert}}
}

func (d *Dir) file(name string) string { return filepath.Join(d.Path, name) }

// writeAll checks that none of names exists in the directory, then runs
// writes in order; if one fails it removes the files written before it.
func (d *Dir) writeAll(writes []func() error, names ...string) error {
	for _, n := range names {
		if _, err := os.Lstat(d.file(n)); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, d.file(n))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for i, w := range writes {
		if err := w(); err != nil {
			for _, n := range names[:i] {
				os.Remove(d.file(n))
			}
			return err
		}
	}
	return nil
}

// LoadSigner reads a node's certificate file (leaf first, then its chain)
// and key file and returns a record signer for them and the node's
// identity. With withChain the signer sends the leaf and the chain in every
// record's x5chain; otherwise receivers must know the certificate by kid.
// passphrase is called only if the key is encrypted.
func LoadSigner(certPath, keyPath string, passphrase func() ([]byte, error), withChain bool) (record.Signer, Identity, error) {
	certs, err := ReadCertFile(certPath)
	if err != nil {
		return record.Signer{}, Identity{}, fmt.Errorf("trust: load signer: %w", err)
	}
	id, err := IdentityOf(certs[0])
	if err != nil {
		return record.Signer{}, Identity{}, fmt.Errorf("trust: load signer: %s: %w", certPath, err)
	}
	key, err := ReadKeyFile(keyPath, passphrase)
	if err != nil {
		return record.Signer{}, Identity{}, fmt.Errorf("trust: load signer: %w", err)
	}
	pub, ok := certs[0].PublicKey.(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
		return record.Signer{}, Identity{}, fmt.Errorf("trust: load signer: %w: %s does not match %s", ErrBadKey, keyPath, certPath)
	}
	var inter [][]byte
	for _, c := range certs[1:] {
		inter = append(inter, c.Raw)
	}
	s, err := record.NewSigner(key, certs[0].Raw, withChain, inter...)
	if err != nil {
		return record.Signer{}, Identity{}, fmt.Errorf("trust: load signer: %w", err)
	}
	return s, id, nil
}
