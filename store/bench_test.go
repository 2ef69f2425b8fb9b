package store_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// synthetic builds n runtimes of about the public ones' size (store cannot import the fake).
func synthetic(b *testing.B, n, version int) *store.Catalog {
	b.Helper()
	raw := []byte{'['}
	for i := range n {
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = fmt.Appendf(raw, `{"id":"rt-%d","name":"Runtime %d","description":"Synthetic runtime %d v%d.","features":["Feature %d","Session management"],"status":"available","requirements":{"model_requirement":{"description":"d","supported_providers":["openai","anthropic"],"supported_families":["gpt","claude"],"examples":["gpt-4"]},"required_config_fields":["timeout"],"recommended_config_fields":[],"max_history_length":100,"requires_system_prompt":false,"requires_tools":false}}`, i, i, i, version, i%10)
	}
	raw = append(raw, ']')
	c, err := store.ParseSnapshotFile(raw)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchSizes are the catalog sizes of the store benchmarks; -short stops at 1,000 (CI runs
// the benchmarks once briefly so they cannot rot).
func benchSizes() []int {
	if testing.Short() {
		return []int{2, 1000}
	}
	return []int{2, 1000, 10000, 100000}
}

func BenchmarkCommitFull(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c1, c2 := synthetic(b, n, 1), synthetic(b, n, 2)
			db := MustOpen(b, store.Options{})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				next := c1
				if i%2 == 1 {
					next = c2 // every runtime changed: every record rewritten
				}
				i++
				if _, err := db.Commit(next, store.SourceUpstream, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDiffUnchanged(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c1, c2 := synthetic(b, n, 1), synthetic(b, n, 1)
			b.ReportAllocs()
			for b.Loop() {
				if d := store.Diff(c1, c2); !d.Empty() {
					b.Fatal("changed")
				}
			}
		})
	}
}

func BenchmarkOpenLoad(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "runtimesd.db")
			db, err := store.Open(path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := db.Commit(synthetic(b, n, 1), store.SourceUpstream, t0); err != nil {
				b.Fatal(err)
			}
			db.Close()
			b.ReportAllocs()
			for b.Loop() {
				db, err := store.Open(path, store.Options{})
				if err != nil || db.Loaded().Catalog.Len() != n {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}

// BenchmarkSuggestID is the did-you-mean cost an unknown runtime_type adds to a validate
// request on a 10,000-runtime catalog (a near miss, and a huge id that is never compared).
func BenchmarkSuggestID(b *testing.B) {
	c := synthetic(b, 10000, 1)
	id := c.Runtimes()[5000].ID
	near := id[:len(id)-1] + "x"
	huge := strings.Repeat("x", 1<<20)
	b.Run("NearMiss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if store.SuggestID(c, near) == "" {
				b.Fatal("no suggestion")
			}
		}
	})
	b.Run("HugeInput", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			store.SuggestID(c, huge)
		}
	})
}
