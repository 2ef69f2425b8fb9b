package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/runtimesd/runtimesd"

// listedPackage is what the layer rules read of `go list -json`.
type listedPackage struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
}

// layerAllowed says which of the module's packages pkg may depend on, directly or not
// (DESIGN.md, "Layout"): store and health are leaves (health may use store; health/X may use
// store and health, never the reverse); sync and httpapi use those; httpapi never uses sync;
// nothing uses cmd. ok is false for a package no rule covers: a new top-level package must
// be given its place here.
func layerAllowed(pkg, dep string) (allowed, ok bool) {
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	leaf := func(p string) bool { return under(p, "store") || under(p, "health") }
	if under(dep, "cmd") {
		return false, true // nothing imports a command
	}
	switch {
	case under(pkg, "store"):
		return under(dep, "store"), true
	case pkg == "health":
		return under(dep, "store"), true
	case under(pkg, "health"): // health/X
		return under(dep, "store") || dep == "health" || under(dep, pkg), true
	case under(pkg, "sync"):
		return leaf(dep) || under(dep, "sync"), true
	case under(pkg, "httpapi"):
		return leaf(dep) || under(dep, "httpapi"), true
	case under(pkg, "cmd"), under(pkg, "bench"):
		return true, true
	}
	return false, false
}

// forbiddenDirect are third-party imports a layer must not make itself (DESIGN.md: httpapi
// never imports bbolt, store never imports echo).
var forbiddenDirect = map[string][]string{
	"httpapi": {"go.etcd.io/bbolt"},
	"store":   {"github.com/labstack/echo"},
	"health":  {"go.etcd.io/bbolt", "github.com/labstack/echo"},
}

// layerViolations lists every dependency that breaks the rules, one sentence each.
func layerViolations(pkgs []listedPackage) []string {
	var out []string
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, modulePath+"/")
		if !ok {
			continue
		}
		for _, d := range p.Deps {
			drel, ok := strings.CutPrefix(d, modulePath+"/")
			if !ok {
				continue
			}
			allowed, known := layerAllowed(rel, drel)
			switch {
			case !known:
				out = append(out, fmt.Sprintf("%s: no layer rule covers this package (add it to layerAllowed)", rel))
			case !allowed:
				out = append(out, fmt.Sprintf("%s depends on %s, an upper layer or a command", rel, drel))
			}
		}
		top, _, _ := strings.Cut(rel, "/")
		for _, imp := range p.Imports {
			for _, bad := range forbiddenDirect[top] {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					out = append(out, fmt.Sprintf("%s imports %s itself", rel, imp))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestLayers runs `go list -deps -json` over the module and fails when a package depends on a
// layer above it (the rules of DESIGN.md; see layerAllowed).
func TestLayers(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go command is not on PATH, so the import graph cannot be listed")
	}
	cmd := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Imports,Deps", modulePath+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	var mine int
	for _, p := range pkgs {
		if strings.HasPrefix(p.ImportPath, modulePath+"/") {
			mine++
		}
	}
	if mine < 6 {
		t.Fatalf("go list found %d of the module's packages; want store, health, sync, httpapi, cmd/runtimesd...", mine)
	}
	for _, v := range layerViolations(pkgs) {
		t.Error(v)
	}
}

// TestLayers_Rules feeds the checker graphs that break each rule: it must name every one.
func TestLayers_Rules(t *testing.T) {
	t.Parallel()
	m := func(rel string) string { return modulePath + "/" + rel }
	cases := []struct {
		name string
		pkg  listedPackage
		want string
	}{
		{"StoreImportsSync", listedPackage{ImportPath: m("store"), Deps: []string{m("sync")}}, "store depends on sync"},
		{"StoreImportsHealth", listedPackage{ImportPath: m("store"), Deps: []string{m("health")}}, "store depends on health"},
		{"HealthImportsHTTPAPI", listedPackage{ImportPath: m("health"), Deps: []string{m("store"), m("httpapi")}}, "health depends on httpapi"},
		{"HealthImportsItsSubpackage", listedPackage{ImportPath: m("health"), Deps: []string{m("health/policy")}}, "health depends on health/policy"},
		{"HealthSubpackageImportsSync", listedPackage{ImportPath: m("health/policy"), Deps: []string{m("health"), m("store"), m("sync")}}, "health/policy depends on sync"},
		{"HTTPAPIImportsSync", listedPackage{ImportPath: m("httpapi"), Deps: []string{m("health"), m("sync")}}, "httpapi depends on sync"},
		{"HTTPAPIImportsFakeCP", listedPackage{ImportPath: m("httpapi"), Deps: []string{m("sync/fakecp")}}, "httpapi depends on sync/fakecp"},
		{"SyncImportsHTTPAPI", listedPackage{ImportPath: m("sync"), Deps: []string{m("httpapi")}}, "sync depends on httpapi"},
		{"AnythingImportsCmd", listedPackage{ImportPath: m("bench/x"), Deps: []string{m("cmd/runtimesd")}}, "bench/x depends on cmd/runtimesd"},
		{"HTTPAPIImportsBbolt", listedPackage{ImportPath: m("httpapi"), Imports: []string{"go.etcd.io/bbolt"}}, "httpapi imports go.etcd.io/bbolt itself"},
		{"StoreImportsEcho", listedPackage{ImportPath: m("store"), Imports: []string{"github.com/labstack/echo/v4"}}, "store imports github.com/labstack/echo/v4 itself"},
		{"UnknownTopLevel", listedPackage{ImportPath: m("answers"), Deps: []string{m("store")}}, "answers: no layer rule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := layerViolations([]listedPackage{c.pkg})
			if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
				t.Errorf("violations %q, want one starting %q", got, c.want)
			}
		})
	}
	allowed := []listedPackage{
		{ImportPath: m("health/policy"), Deps: []string{m("health"), m("store")}},
		{ImportPath: m("httpapi"), Deps: []string{m("health"), m("health/policy"), m("store")}, Imports: []string{"github.com/labstack/echo/v4"}},
		{ImportPath: m("sync"), Deps: []string{m("health"), m("store")}},
		{ImportPath: m("cmd/runtimesd"), Deps: []string{m("sync"), m("httpapi"), m("sync/fakecp")}},
		{ImportPath: m("store"), Imports: []string{"go.etcd.io/bbolt"}},
	}
	if got := layerViolations(allowed); len(got) != 0 {
		t.Errorf("the allowed graph was refused: %q", got)
	}
}

// maxFuncLines is the longest a non-test function may be: a longer one does several things
// that deserve names (issue 15: a 234-line cmdServe did a whole program's start-up).
const maxFuncLines = 100

// longFuncs lists the non-test functions of the Go files under root longer than max lines.
func longFuncs(root string, max int) ([]string, error) {
	fset := token.NewFileSet()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > max {
				rel, _ := filepath.Rel(root, path)
				out = append(out, fmt.Sprintf("%s: %s is %d lines (at most %d)", rel, fd.Name.Name, n, max))
			}
		}
		return nil
	})
	return out, err
}

// TestFunctionLength fails when a non-test function of the project exceeds maxFuncLines.
func TestFunctionLength(t *testing.T) {
	t.Parallel()
	long, err := longFuncs("../..", maxFuncLines)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range long {
		t.Error(l)
	}
	t.Run("Detects", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		src := "package x\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-1) + "}\n\nfunc ok() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines-2) + "}\n"
		writeFile(t, dir, "x.go", src)
		writeFile(t, dir, "x_test.go", "package x\n\nfunc longTest() {\n"+strings.Repeat("\t_ = 1\n", maxFuncLines)+"}\n")
		got, err := longFuncs(dir, maxFuncLines)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !strings.Contains(got[0], "long is 101 lines") {
			t.Errorf("got %q, want only long (101 lines) named", got)
		}
	})
}
