package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EntryVersion is the value of the "v" field of every entry this package
// writes. ParseEntry refuses any other.
const EntryVersion = 1

// MaxEntrySize bounds one encoded entry (without its newline). Append
// refuses a larger entry, and readers refuse a longer line.
const MaxEntrySize = 64 << 10

// Limits on the fields of an Entry, checked by Validate.
const (
	maxActor       = 128
	maxRole        = 64
	maxAction      = 64
	maxOutcome     = 32
	maxTarget      = 256
	maxDetailKeys  = 64
	maxDetailKey   = 64
	maxDetailValue = 4096
)

// Errors returned (wrapped) by Append, Validate and ParseEntry.
var (
	ErrInvalidEntry = errors.New("audit: invalid entry")
	ErrSecret       = errors.New("audit: entry would store a secret (passwords, tokens, TOTP codes and key material never go in the audit log)")
)

// Entry is one audited event. Append sets Seq and Time; the caller sets
// the rest. Action is a short dotted verb such as "login.ok", "login.fail",
// "alert.approve", "key.use", "config.change", "perm.change" or
// "request.refused"; Outcome is a short word such as "ok", "denied" or
// "error". Detail holds extra facts as strings; its keys are checked
// against a denylist of secret-looking names (see LooksSecret).
type Entry struct {
	Seq      int64             // index in the log, from 0; set by Append
	Time     time.Time         // when it was appended, kept to the millisecond; set by Append
	Actor    string            // user id, or "system"
	Role     string            // the actor's role when it acted, if any
	Action   string            // dotted lower-case verb, e.g. "alert.approve"
	Target   string            // what was acted on, e.g. an alert or user id
	Outcome  string            // e.g. "ok", "denied", "error"
	RemoteIP netip.Addr        // the client address; the zero Addr when none
	Detail   map[string]string // extra facts; never secrets
}

// wireEntry is the JSON form of an Entry (format version 1), one line per
// entry in a segment. Field order is fixed by the struct and map keys are
// sorted by encoding/json, so Append always writes the same bytes for the
// same entry.
type wireEntry struct {
	V        int               `json:"v"`
	Seq      int64             `json:"seq"`
	Time     int64             `json:"time"`
	Actor    string            `json:"actor"`
	Role     string            `json:"role,omitempty"`
	Action   string            `json:"action"`
	Target   string            `json:"target,omitempty"`
	Outcome  string            `json:"outcome"`
	RemoteIP string            `json:"ip,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
}

var (
	actionRE  = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$`)
	outcomeRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)
	keyRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// Validate reports every problem with the fields a caller sets (all but
// Seq and Time), wrapping ErrInvalidEntry, or ErrSecret for a detail that
// looks like a secret.
func (e Entry) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidEntry}, args...)...))
	}
	checkText := func(name, v string, required bool, max int) {
		switch {
		case v == "" && required:
			bad("%s is required", name)
		case len(v) > max:
			bad("%s is %d bytes, at most %d", name, len(v), max)
		case !printable(v):
			bad("%s %q has control or invalid UTF-8 characters", name, v)
		}
	}
	checkText("actor", e.Actor, true, maxActor)
	checkText("role", e.Role, false, maxRole)
	checkText("target", e.Target, false, maxTarget)
	if len(e.Action) > maxAction || !actionRE.MatchString(e.Action) {
		bad("action %q is not a dotted lower-case verb like \"login.ok\" (at most %d bytes)", e.Action, maxAction)
	}
	if len(e.Outcome) > maxOutcome || !outcomeRE.MatchString(e.Outcome) {
		bad("outcome %q is not a short lower-case word like \"ok\" or \"denied\" (at most %d bytes)", e.Outcome, maxOutcome)
	}
	if e.RemoteIP.IsValid() && e.RemoteIP.Zone() != "" {
		bad("remote IP %s has a zone", e.RemoteIP)
	}
	errs = append(errs, checkDetail(e.Detail)...)
	return errors.Join(errs...)
}

// checkDetail checks the detail map: sizes, key syntax and the secret
// denylist.
func checkDetail(d map[string]string) []error {
	var errs []error
	if len(d) > maxDetailKeys {
		errs = append(errs, fmt.Errorf("%w: %d detail fields, at most %d", ErrInvalidEntry, len(d), maxDetailKeys))
	}
	for k, v := range d {
		switch {
		case len(k) > maxDetailKey || !keyRE.MatchString(k):
			errs = append(errs, fmt.Errorf("%w: detail key %q must be letters, digits, '_', '.' or '-' (at most %d bytes)", ErrInvalidEntry, k, maxDetailKey))
		case LooksSecret(k):
			errs = append(errs, fmt.Errorf("%w: detail key %q names a secret; record an id or fingerprint instead", ErrSecret, k))
		case len(v) > maxDetailValue || !utf8.ValidString(v):
			errs = append(errs, fmt.Errorf("%w: detail %q: value must be valid UTF-8 of at most %d bytes", ErrInvalidEntry, k, maxDetailValue))
		case strings.Contains(v, "PRIVATE KEY"):
			errs = append(errs, fmt.Errorf("%w: detail %q holds a PEM private key", ErrSecret, k))
		}
	}
	return errs
}

// secretWords are refused anywhere in a normalised detail key; secretNames
// are refused as the whole key.
var (
	secretWords = []string{
		"password", "passwd", "passphrase", "secret", "totp", "hotp", "token",
		"privkey", "keymaterial", "credential", "cookie", "authorization",
		"bearer", "mnemonic", "seedphrase",
	}
	secretNames = []string{"pass", "pwd", "pin", "otp", "seed"}
)

// LooksSecret reports whether a detail key names something that must never
// be stored in the audit log. The key is compared with case and
// punctuation removed ("API_Key" → "apikey"). It is refused if it contains
// one of password, passwd, passphrase, secret, totp, hotp, token, privkey,
// keymaterial, credential, cookie, authorization, bearer, mnemonic or
// seedphrase; if it ends in "key" or "keys" (private_key, api_key,
// signing-key: name a key by key_id or key_fingerprint instead); or if it
// is exactly pass, pwd, pin, otp or seed. The list errs on the side of
// refusing.
func LooksSecret(key string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	k := b.String()
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	if strings.HasSuffix(k, "key") || strings.HasSuffix(k, "keys") {
		return true
	}
	for _, n := range secretNames {
		if k == n {
			return true
		}
	}
	return false
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// marshal returns the entry's line (without the newline). It does not
// validate.
func (e Entry) marshal() ([]byte, error) {
	w := wireEntry{
		V:       EntryVersion,
		Seq:     e.Seq,
		Time:    e.Time.UnixMilli(),
		Actor:   e.Actor,
		Role:    e.Role,
		Action:  e.Action,
		Target:  e.Target,
		Outcome: e.Outcome,
		Detail:  e.Detail,
	}
	if e.RemoteIP.IsValid() {
		w.RemoteIP = e.RemoteIP.String()
	}
	return json.Marshal(&w)
}

// checkSize returns an error if e, with the longest possible Seq and Time,
// would encode to more than MaxEntrySize bytes, so that Append can refuse
// it before it is queued.
func (e Entry) checkSize() error {
	e.Seq = math.MaxInt64
	e.Time = time.UnixMilli(math.MinInt64)
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEntry, err)
	}
	if len(b) > MaxEntrySize {
		return fmt.Errorf("%w: encodes to %d bytes, at most %d", ErrInvalidEntry, len(b), MaxEntrySize)
	}
	return nil
}

// ParseEntry decodes one entry line (without its newline) strictly: the
// JSON must be one object of format version EntryVersion with no unknown
// fields and no trailing data, and the fields must pass Validate.
func ParseEntry(line []byte) (Entry, error) {
	if len(line) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidEntry, len(line), MaxEntrySize)
	}
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Entry{}, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidEntry, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Entry{}, fmt.Errorf("%w: not valid JSON: data after the object", ErrInvalidEntry)
	}
	if w.V != EntryVersion {
		return Entry{}, fmt.Errorf("%w: format version %d, want %d", ErrInvalidEntry, w.V, EntryVersion)
	}
	if w.Seq < 0 {
		return Entry{}, fmt.Errorf("%w: negative seq %d", ErrInvalidEntry, w.Seq)
	}
	e := Entry{
		Seq: w.Seq, Time: time.UnixMilli(w.Time).UTC(), Actor: w.Actor, Role: w.Role,
		Action: w.Action, Target: w.Target, Outcome: w.Outcome, Detail: w.Detail,
	}
	if w.RemoteIP != "" {
		ip, err := netip.ParseAddr(w.RemoteIP)
		if err != nil {
			return Entry{}, fmt.Errorf("%w: remote IP: %v", ErrInvalidEntry, err)
		}
		e.RemoteIP = ip
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}
