package yamlconf_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/yamlconf"
)

type conf struct {
	Name  string        `yaml:"name"`
	Every time.Duration `yaml:"every"`
	Inner struct {
		Port  int      `yaml:"port"`
		Peers []string `yaml:"peers"`
	} `yaml:"inner"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // problem lines
	}{
		{"good", "name: pole\nevery: 30s\ninner:\n  port: 7\n  peers: [a, b]\n", nil},
		{"empty keeps defaults", "", nil},
		{"unknown field", "name: pole\ninner:\n  prot: 7\n", []string{`c.yaml:3: unknown field "prot"`}},
		{"wrong types", "every: soon\ninner:\n  port: seven\n", []string{
			`c.yaml:1: every: want a duration such as 30s or 12h, not "soon"`,
			`c.yaml:3: inner.port: want an integer, not "seven"`}},
		{"a list for a string", "name: [a]\n", []string{"c.yaml:1: name: want a string, not a list"}},
		{"two documents", "name: a\n---\nname: b\n", []string{"c.yaml:2: a second YAML document; the file must hold one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conf{Name: "default"}
			var src yamlconf.Sources
			err := yamlconf.Decode("c.yaml", []byte(tc.doc), &c, &src)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if !errors.Is(err, yamlconf.ErrConfig) {
				t.Fatalf("Decode = %v, want ErrConfig", err)
			}
			if got := yamlconf.Lines(err); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSources(t *testing.T) {
	var c conf
	var src yamlconf.Sources
	if err := yamlconf.Decode("c.yaml", []byte("name: pole\ninner:\n  peers:\n    - a\n    - b\n"), &c, &src); err != nil {
		t.Fatal(err)
	}
	src.Set("every", "--every")
	for field, want := range map[string]string{
		"name": "c.yaml:1", "inner.peers[1]": "c.yaml:5", "inner.port": "c.yaml:3", "every": "--every", "other": "",
	} {
		if got := src.Where(field); got != want {
			t.Errorf("Where(%q) = %q, want %q", field, got, want)
		}
	}
	p := src.Problem("inner.peers[1]", "no such host %q", "b")
	if p.Error() != `c.yaml:5: inner.peers[1]: no such host "b"` {
		t.Errorf("Problem = %q", p)
	}
	if yamlconf.Errors(nil).Err() != nil {
		t.Error("no problems is not nil")
	}
}

// FuzzDecode: any bytes decode or fail with ErrConfig, never panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: pole\nevery: 30s\ninner:\n  port: 7\n  peers: [a, b]\n"))
	f.Add([]byte("inner: {port: x}\n---\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var c conf
		var src yamlconf.Sources
		if err := yamlconf.Decode("f.yaml", doc, &c, &src); err != nil && !errors.Is(err, yamlconf.ErrConfig) {
			t.Fatalf("Decode = %v, not ErrConfig", err)
		}
	})
}
