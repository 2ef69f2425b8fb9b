package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// withFields builds a runtime "a" with n top-level fields f0..f(n-1), each an object whose two
// leaves are set from v (and one unchanged object "same", written in a different key order in
// each version).
func withFields(n int, v int, sameOrder bool) string {
	var b strings.Builder
	b.WriteString(`{"id":"a"`)
	for i := range n {
		fmt.Fprintf(&b, `,"f%02d":{"x":%d,"y":%d}`, i, v, v)
	}
	if sameOrder {
		b.WriteString(`,"same":{"p":1,"q":[1,2]}}`)
	} else {
		b.WriteString(`,"same":{"q":[1,2],"p":1}}`)
	}
	return b.String()
}

// Exactly MaxChangedPaths changed leaves are all named; more fall back to the top-level fields,
// and when those are exactly MaxChangedPaths they are all named too (no "/…"); an unchanged
// object is never named, whatever its key order.
func TestDiff_FieldPathBounds(t *testing.T) {
	t.Parallel()
	// 16 fields × 2 leaves = 32 changed leaves: listed leaf by leaf.
	d := store.DiffWithFields(mustCatalog(t, withFields(16, 1, true)), mustCatalog(t, withFields(16, 2, false)))
	got := d.Fields["a"]
	if len(got) != store.MaxChangedPaths || got[0] != "/f00/x" || got[len(got)-1] != "/f15/y" {
		t.Fatalf("32 changed leaves: %d paths %q, want all 32 leaf paths", len(got), got)
	}
	// 32 fields × 2 leaves = 64 changed leaves: listed as the 32 top-level fields, none cut.
	d = store.DiffWithFields(mustCatalog(t, withFields(32, 1, true)), mustCatalog(t, withFields(32, 2, false)))
	got = d.Fields["a"]
	if len(got) != store.MaxChangedPaths || got[0] != "/f00" || got[len(got)-1] != "/f31" {
		t.Fatalf("64 changed leaves in 32 fields: %d paths %q, want the 32 top-level fields", len(got), got)
	}
	for _, p := range got {
		if p == "/same" || p == "/…" {
			t.Fatalf("64 changed leaves in 32 fields: %q names %s", got, p)
		}
	}
	// 33 fields: 32 named, the last one "/…".
	d = store.DiffWithFields(mustCatalog(t, withFields(33, 1, true)), mustCatalog(t, withFields(33, 2, true)))
	got = d.Fields["a"]
	if len(got) != store.MaxChangedPaths || got[len(got)-1] != "/…" {
		t.Fatalf("33 changed fields: %d paths %q, want 31 and \"/…\"", len(got), got)
	}
}

// An export read back keeps its fetched_at; a plain array has none.
func TestParseSnapshotDoc_FetchedAt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out, err := store.Export(&store.Snapshot{Revision: 7, Source: store.SourceUpstream, FetchedAt: at, Catalog: store.SeedCatalog()})
	if err != nil {
		t.Fatal(err)
	}
	f, err := store.ParseSnapshotDoc(out)
	if err != nil {
		t.Fatal(err)
	}
	if !f.FetchedAt.Equal(at) || f.Revision != 7 || f.Source != store.SourceUpstream {
		t.Fatalf("export read back: fetched_at %v revision %d source %q, want %v 7 upstream", f.FetchedAt, f.Revision, f.Source, at)
	}
	f, err = store.ParseSnapshotDoc(store.SeedJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !f.FetchedAt.IsZero() || f.Revision != 0 {
		t.Fatalf("plain array: fetched_at %v revision %d, want none", f.FetchedAt, f.Revision)
	}
}
