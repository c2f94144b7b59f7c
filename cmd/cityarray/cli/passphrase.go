package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// passphraseSource reads a key passphrase from a file (--passphrase-file,
// the way scripts and provisioning pass it) or, when stdin is a terminal, by
// prompting without echo. A passphrase is never taken on the command line,
// where other users could read it from the process list.
type passphraseSource struct {
	file   string    // path, or "" to prompt
	prompt string    // what to ask
	stderr io.Writer // where the prompt goes
	stdin  *os.File
	cached []byte
}

func (p *passphraseSource) get() ([]byte, error) {
	if p.cached != nil {
		return p.cached, nil
	}
	switch {
	case p.file != "":
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		p.cached = bytes.TrimRight(b, "\r\n")
	case p.stdin != nil && term.IsTerminal(int(p.stdin.Fd())):
		fmt.Fprintf(p.stderr, "%s: ", p.prompt)
		b, err := term.ReadPassword(int(p.stdin.Fd()))
		fmt.Fprintln(p.stderr)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		p.cached = b
	default:
		return nil, errors.New("the key is encrypted: pass --passphrase-file, or run on a terminal to be asked")
	}
	if len(p.cached) == 0 {
		return nil, errors.New("passphrase: empty")
	}
	return p.cached, nil
}

// optional returns the passphrase if a file was named, else nil: for
// writing new keys, which are encrypted only when asked.
func (p *passphraseSource) optional() ([]byte, error) {
	if p.file == "" {
		return nil, nil
	}
	return p.get()
}
