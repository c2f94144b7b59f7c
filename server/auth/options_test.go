package auth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/clock/clocktest"
)

func TestOptionsValidate(t *testing.T) {
	base := func() Options { return testOptions(clocktest.New(t0), &recorder{}) }
	tests := []struct {
		name   string
		mutate func(*Options)
		want   []string // substrings, one per problem
	}{
		{"defaults plus keys", func(*Options) {}, nil},
		{"nothing", func(o *Options) { *o = Options{} }, []string{
			"Clock is required", "Rand is required", "Argon2", "MaxHashes", "DataKey is 0 bytes", "CSRFKey is 0 bytes",
			"Lockout", "Rate.MaxKeys", "Issuer", "SessionIdle", "SetupTTL", "MaxTokenLifetime"}},
		{"short data key", func(o *Options) { o.DataKey = o.DataKey[:16] }, []string{"DataKey is 16 bytes, want 32"}},
		{"half a limit", func(o *Options) { o.Rate.LoginPerIP = Limit{Every: time.Second} }, []string{"Rate.LoginPerIP"}},
		{"idle above max", func(o *Options) { o.SessionIdle = 13 * time.Hour }, []string{"SessionIdle"}},
		{"bad allowlist role", func(o *Options) {
			o.IPAllow = map[Role][]netip.Prefix{"boss": {netip.MustParsePrefix("10.0.0.0/8")}}
		}, []string{`unknown role "boss"`}},
		{"bad origin", func(o *Options) { o.TrustedOrigins = []string{"not a url"} }, []string{"TrustedOrigins"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mutate(&o)
			err := o.validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d: %q", err, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to mention %q", i, got[i], tt.want[i])
				}
			}
			e := newEnv(t, nil)
			if _, nerr := New(e.db, o); (nerr == nil) != (err == nil) || (nerr != nil && !errors.Is(nerr, ErrInvalid)) {
				t.Errorf("New = %v", nerr)
			}
		})
	}
}

func TestErrorWrapping(t *testing.T) {
	err := wrap("login", ErrInvalidCredentials)
	if diff := cmp.Diff("auth: login: invalid credentials", err.Error()); diff != "" {
		t.Error(diff)
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Error("wrapped error lost its sentinel")
	}
	if got := wrap("set", ErrPasswordShort).Error(); got != "auth: set: password: shorter than 12 characters" {
		t.Errorf("policy error text %q", got)
	}
	if wrap("x", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}
