package auth

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password policy limits (NIST SP 800-63B: length over composition rules).
const (
	MinPasswordRunes = 12
	MaxPasswordRunes = 256
	// PasswordHistory is how many recent password hashes are kept and
	// refused for reuse, the current one included.
	PasswordHistory = 10
	// minNameInPassword is the shortest user id that CheckPassword looks
	// for inside a password; shorter ids would refuse too much.
	minNameInPassword = 3
)

//go:generate go run gen_common_passwords.go

//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is the embedded list as a set, built on first use. It
// is read-only after that.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 8192)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
})

// IsCommonPassword reports whether pw, ignoring case, is on the bundled
// list of common and breached passwords.
func IsCommonPassword(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(normPassword(pw))]
	return ok
}

// CheckPassword applies the rules that need no stored state to a new
// password for user id: 12 to 256 characters (runes, after NFKC
// normalisation), not on the common-passwords list, not containing the
// user id (ignoring case). It returns the first *PolicyError broken, or
// nil. The service adds the history rule when the password is set.
func CheckPassword(id, pw string) error {
	pw = normPassword(pw)
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordRunes:
		return ErrPasswordShort
	case n > MaxPasswordRunes:
		return ErrPasswordLong
	case IsCommonPassword(pw):
		return ErrPasswordCommon
	case len(id) >= minNameInPassword && strings.Contains(strings.ToLower(pw), strings.ToLower(id)):
		return ErrPasswordUserName
	}
	return nil
}
