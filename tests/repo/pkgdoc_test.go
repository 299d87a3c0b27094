// Package repo holds checks over the whole source tree.
package repo

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

// TestPackageDocs enforces that every non-main, non-test package has a
// "// Package x ..." comment.
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "_output" || name == "testdata" || name == "node_modules" || name == "hack") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range dirs {
		documented, isMain := false, false
		for _, f := range files {
			fset := token.NewFileSet()
			af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatalf("parse %s: %v", f, err)
			}
			if af.Name.Name == "main" {
				isMain = true
			}
			if af.Doc != nil && (strings.HasPrefix(af.Doc.Text(), "Package "+af.Name.Name+" ") || strings.HasPrefix(af.Doc.Text(), "Command ")) {
				documented = true
			}
		}
		if !documented {
			rel, _ := filepath.Rel(root, dir)
			kind := "Package"
			if isMain {
				kind = "Command"
			}
			t.Errorf("%s: no %q doc comment", rel, "// "+kind+" ...")
		}
	}
}
