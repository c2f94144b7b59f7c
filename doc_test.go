package cityarray_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPackageDocs fails for every package in the module that has no package
// doc comment on any of its files (STYLE.md rule 3).
func TestPackageDocs(t *testing.T) {
	// documented maps "dir (package name)" to whether some file documents it.
	documented := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == "." {
				return nil
			}
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(filepath.Dir(path)) + " (package " + f.Name.Name + ")"
		documented[key] = documented[key] || f.Doc != nil
		return nil
	})
	if err != nil {
		t.Fatalf("walking the module: %v", err)
	}
	if len(documented) == 0 {
		t.Fatal("found no packages; is the test running at the module root?")
	}
	var missing []string
	for pkg, ok := range documented {
		if !ok {
			missing = append(missing, pkg)
		}
	}
	sort.Strings(missing)
	for _, pkg := range missing {
		t.Errorf("%s: no package doc comment; add one (a doc.go for packages with concepts)", pkg)
	}
}
