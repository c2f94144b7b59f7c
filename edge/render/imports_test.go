package render

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps edge/render to its allowed dependencies: the standard
// library, go-text, x/image, x/text and, from this module, only
// mesh/record.
func TestImports(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/go-text/typesetting/",
		"golang.org/x/image/",
		"golang.org/x/text/",
		"github.com/cityarray/cityarray/mesh/record",
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			ok := !strings.Contains(strings.Split(p, "/")[0], ".")
			for _, a := range allowed {
				ok = ok || p == a || strings.HasPrefix(p, a)
			}
			if !ok {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
