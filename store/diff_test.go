package store_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/runtimesd/runtimesd/store"
)

func TestDiff_FieldPaths(t *testing.T) {
	t.Parallel()
	base := `{"id":"a","status":"active","name":"A","requirements":{"model_requirement":{"examples":["x"],"supported_providers":["p","q"]},"required_config_fields":["llm"]}}`
	for _, tc := range []struct {
		name string
		next string
		want []string
	}{
		{"Status", `{"id":"a","status":"inactive","name":"A","requirements":{"model_requirement":{"examples":["x"],"supported_providers":["p","q"]},"required_config_fields":["llm"]}}`,
			[]string{"/status"}},
		{"NestedArray", `{"id":"a","status":"active","name":"A","requirements":{"model_requirement":{"examples":["x","y"],"supported_providers":["q","p"]},"required_config_fields":["llm"]}}`,
			[]string{"/requirements/model_requirement/examples"}},
		{"AddedAndRemovedKeys", `{"id":"a","status":"active","requirements":{"model_requirement":{"examples":["x"],"supported_providers":["p","q"]},"required_config_fields":["llm"]},"icon/url~":"i"}`,
			[]string{"/icon~1url~0", "/name"}},
		{"TypeChange", `{"id":"a","status":"active","name":"A","requirements":null}`,
			[]string{"/requirements"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := store.DiffWithFields(mustCatalog(t, base), mustCatalog(t, tc.next))
			if strings.Join(d.Changed, ",") != "a" {
				t.Fatalf("changed = %v", d.Changed)
			}
			if got := d.Fields["a"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changed fields = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("ManyFieldsBounded", func(t *testing.T) {
		t.Parallel()
		var a, b strings.Builder
		a.WriteString(`{"id":"a","cfg":{`)
		b.WriteString(`{"id":"a","cfg":{`)
		for i := range 5000 {
			if i > 0 {
				a.WriteByte(',')
				b.WriteByte(',')
			}
			fmt.Fprintf(&a, `"k%d":1`, i)
			fmt.Fprintf(&b, `"k%d":2`, i)
		}
		a.WriteString(`},"status":"x"}`)
		b.WriteString(`},"status":"y"}`)
		d := store.DiffWithFields(mustCatalog(t, a.String()), mustCatalog(t, b.String()))
		if got := d.Fields["a"]; !reflect.DeepEqual(got, []string{"/cfg", "/status"}) {
			t.Errorf("5000 changed keys: fields = %q, want the top-level fields", got)
		}
	})
	t.Run("DeepNestingBounded", func(t *testing.T) {
		t.Parallel()
		deep := func(leaf string) string {
			return `{"id":"a","x":` + strings.Repeat(`{"n":`, 200) + leaf + strings.Repeat(`}`, 200) + `}`
		}
		d := store.DiffWithFields(mustCatalog(t, deep("1")), mustCatalog(t, deep("2")))
		got := d.Fields["a"]
		if len(got) != 1 || strings.Count(got[0], "/") != 8 || !strings.HasPrefix(got[0], "/x/n/n") {
			t.Errorf("200-deep change: fields = %q, want one path cut at depth 8", got)
		}
	})
	t.Run("AddedRemovedHaveNoFields", func(t *testing.T) {
		t.Parallel()
		d := store.DiffWithFields(mustCatalog(t, base), mustCatalog(t, `{"id":"b"}`))
		if d.Fields != nil {
			t.Errorf("fields = %v, want none", d.Fields)
		}
	})
}

// TestDB_ChangeFields: the changed fields are stored with the change record and reloaded, and a
// change record written before fields existed still loads.
func TestDB_ChangeFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mustCatalog(t, `{"id":"a","status":"active"}`), store.SourceUpstream, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mustCatalog(t, `{"id":"a","status":"error"}`), store.SourceUpstream, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopen := func() *store.Snapshot {
		t.Helper()
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Loaded()
	}
	if s := reopen(); len(s.Changes) != 2 || !reflect.DeepEqual(s.Changes[1].Fields, map[string][]string{"a": {"/status"}}) {
		t.Fatalf("reloaded change records: %+v", s.Changes)
	}

	// An older version wrote the same record without "fields".
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], 2)
		old, _ := json.Marshal(map[string]any{"revision": 2, "time": t0, "source": "upstream",
			"added": []string{}, "removed": []string{}, "changed": []string{"a"}})
		return tx.Bucket([]byte("changes")).Put(key[:], old)
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s := reopen()
	if len(s.Changes) != 2 || strings.Join(s.Changes[1].Changed, ",") != "a" || s.Changes[1].Fields != nil {
		t.Fatalf("old change record: %+v", s.Changes)
	}
}

// TestSnapshot_ChangesSinceAhead: a revision ahead of the data (the file was replaced) is not
// "complete with nothing new": the reader must re-read the catalog.
func TestSnapshot_ChangesSinceAhead(t *testing.T) {
	t.Parallel()
	db := MustOpen(t, store.Options{})
	s, err := db.Commit(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ch, complete := s.ChangesSince(7); complete || len(ch) != 0 {
		t.Errorf("ChangesSince(7) at revision 1 = %v, complete %v; want incomplete", ch, complete)
	}
	if r := s.ResetReason(7); !strings.Contains(r, "ahead of the data") {
		t.Errorf("ResetReason(7) = %q", r)
	}
	if ch, complete := s.ChangesSince(1); !complete || len(ch) != 0 || s.ResetReason(1) != "" {
		t.Errorf("ChangesSince(current) = %v, %v, reason %q", ch, complete, s.ResetReason(1))
	}
}

// BenchmarkDiff_AllChanged: a sync in which every one of 10,000 runtimes changed one field,
// the worst case for naming the changed fields.
func BenchmarkDiff_AllChanged(b *testing.B) {
	mk := func(status string) *store.Catalog {
		rts := make([]*store.Runtime, 0, 10000)
		for i := range 10000 {
			rts = append(rts, mustRuntime(b, fmt.Sprintf(`{"id":"rt%05d","name":"Runtime %d","status":%q,"features":["a","b"],"requirements":{"model_requirement":{"supported_providers":["openai","anthropic"],"examples":["gpt-4o","claude"]},"required_config_fields":["llm"]}}`, i, i, status)))
		}
		c, err := store.NewCatalog(rts)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	prev, next := mk("active"), mk("inactive")
	b.ReportAllocs()
	for b.Loop() {
		if d := store.DiffWithFields(prev, next); len(d.Changed) != 10000 || d.Fields["rt00042"][0] != "/status" {
			b.Fatalf("diff %d changed, %v", len(d.Changed), d.Fields["rt00042"])
		}
	}
}
