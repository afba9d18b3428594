package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// The ceiling is only a ceiling of the worker if it runs the worker's statements: read them from
// the worker's source and compare.
func TestStatementsAreTheWorkers(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../worker/store.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"upsertVotes": upsertVotes, "appendHistory": appendHistory}
	found := 0
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		ours, ok := want[vs.Names[0].Name]
		if !ok {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			t.Fatalf("worker's %s is not a string literal", vs.Names[0].Name)
		}
		theirs, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		if theirs != ours {
			t.Errorf("%s differs from worker/store.go:\nworker: %s\nbench:  %s", vs.Names[0].Name, theirs, ours)
		}
		found++
		return true
	})
	if found != len(want) {
		t.Fatalf("found %d of the worker's %d statements in worker/store.go", found, len(want))
	}
}
