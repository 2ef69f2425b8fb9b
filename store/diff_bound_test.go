package store_test

import (
	"fmt"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// A revision that changes a whole large catalog names the fields of the first
// MaxFieldsRuntimes changed runtimes only and counts the rest, so neither the commit nor
// the change log grows with the catalog.
func TestDiffWithFields_BoundedPerRecord(t *testing.T) {
	t.Parallel()
	build := func(status string) *store.Catalog {
		var rts []*store.Runtime
		for i := range store.MaxFieldsRuntimes + 50 {
			rt, err := store.NewRuntime([]byte(fmt.Sprintf(`{"id":"rt%03d","status":%q}`, i, status)), nil)
			if err != nil {
				t.Fatal(err)
			}
			rts = append(rts, rt)
		}
		c, err := store.NewCatalog(rts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := store.DiffWithFields(build("active"), build("beta"))
	if len(c.Changed) != store.MaxFieldsRuntimes+50 {
		t.Fatalf("changed %d, want %d", len(c.Changed), store.MaxFieldsRuntimes+50)
	}
	if len(c.Fields) != store.MaxFieldsRuntimes || c.FieldsOmitted != 50 {
		t.Fatalf("fields for %d runtimes, %d omitted; want %d and 50", len(c.Fields), c.FieldsOmitted, store.MaxFieldsRuntimes)
	}
	if got := c.Fields["rt000"]; len(got) != 1 || got[0] != "/status" {
		t.Errorf("rt000 fields %v, want [/status]", got)
	}
	if _, ok := c.Fields[fmt.Sprintf("rt%03d", store.MaxFieldsRuntimes)]; ok {
		t.Error("a runtime beyond the bound has fields")
	}
}
