package cityarray_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/cityarray/cityarray/"

// imports returns, for every package directory under root, the imports of
// its non-test files.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[dir] = append(out[dir], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportDirection holds the import rules of DESIGN §2: the sync layer
// never imports a role, and no role imports the simulated network; the
// wire format does no I/O (STYLE rule 5).
func TestImportDirection(t *testing.T) {
	roles := []string{module + "edge", module + "gateway", module + "server", module + "cmd"}
	for dir, ims := range imports(t, ".") {
		for _, im := range ims {
			for _, role := range roles {
				if strings.HasPrefix(dir, "mesh") && (im == role || strings.HasPrefix(im, role+"/")) {
					t.Errorf("%s imports %s: the sync layer must not import a role", dir, im)
				}
			}
			isRole := strings.HasPrefix(dir, "edge") || strings.HasPrefix(dir, "gateway") || strings.HasPrefix(dir, "server")
			if isRole && strings.HasPrefix(im, module+"mesh/netsim") {
				t.Errorf("%s imports %s: roles must not import the simulated network", dir, im)
			}
			if dir == "mesh/record" && doesIO(im) {
				t.Errorf("mesh/record imports %s: the wire format does no I/O", im)
			}
		}
	}
}

func doesIO(im string) bool {
	return im == "os" || im == "net" || strings.HasPrefix(im, "net/") || im == "log/slog"
}

// TestReplicaIsPure holds the replica core to STYLE rule 5: no I/O, no
// logging, no stored state outside itself. It checks the file, since the
// driver (node.go) shares its package.
func TestReplicaIsPure(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "mesh/replica.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if doesIO(p) || strings.HasPrefix(p, module+"mesh/store") {
			t.Errorf("mesh/replica.go imports %s: the replica core does no I/O", p)
		}
	}
}
