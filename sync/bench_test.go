package sync_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// BenchmarkSyncUnchanged is one whole sync run (HTTP fetch from the fake, parse, diff) that
// finds nothing changed and writes nothing.
func benchSizes() []int {
	if testing.Short() {
		return []int{2, 1000}
	}
	return []int{2, 1000, 10000, 100000}
}

func BenchmarkSyncUnchanged(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newEnv(b, setup{fake: fakecp.Options{Catalog: fakecp.SyntheticCatalog(n)}, client: rsync.ClientOptions{MaxResponseBytes: 1 << 30, Timeout: time.Minute}})
			if r := e.sync(b); r.Outcome != health.OutcomeChanged {
				b.Fatalf("first run: %+v", r)
			}
			b.ReportAllocs()
			for b.Loop() {
				if r := e.sync(b); r.Outcome != health.OutcomeUnchanged {
					b.Fatalf("run: %+v", r)
				}
			}
		})
	}
}

// BenchmarkSyncChanged is one whole run where every runtime changed: fetch, parse, diff and a
// full commit to bbolt.
func BenchmarkSyncChanged(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := fakecp.SyntheticCatalog(n)
			c := bytes.ReplaceAll(a, []byte("Synthetic runtime"), []byte("Synthetic Runtime"))
			e := newEnv(b, setup{fake: fakecp.Options{Catalog: a}, client: rsync.ClientOptions{MaxResponseBytes: 1 << 30, Timeout: time.Minute}})
			e.sync(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				next := a
				if i%2 == 0 {
					next = c
				}
				i++
				b.StopTimer()
				e.fake.SetCatalog(next)
				b.StartTimer()
				if r := e.sync(b); r.Outcome != health.OutcomeChanged {
					b.Fatalf("run: %+v", r)
				}
			}
		})
	}
}
