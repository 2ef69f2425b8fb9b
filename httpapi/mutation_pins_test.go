package httpapi_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// Behaviours a planted one-line bug broke without any test noticing (issue 14).

// Seed data was never fetched, so it has no age: any max-age, however large, refreshes it.
func TestCache_MaxAgeOnSeedRefreshes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.RefreshBurst, o.RefreshRate = 100, 100 })
	if h.live.Load().Source != "seed" {
		t.Fatal("the harness must start on the seed")
	}
	n := h.fake.Count("/api/v1/runtimes")
	a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=31536000")
	if a.status != 200 || h.fake.Count("/api/v1/runtimes") != n+1 {
		t.Fatalf("max-age on seed data: %d, %d upstream calls; want one refresh", a.status, h.fake.Count("/api/v1/runtimes")-n)
	}
	if a.header.Get("X-Cache") != "MISS" || a.header.Get(httpapi.HeaderSource) != "upstream" {
		t.Fatalf("after the refresh the control plane's data is served: X-Cache %s, source %s",
			a.header.Get("X-Cache"), a.header.Get(httpapi.HeaderSource))
	}
}

// max-age=N refreshes data strictly older than N seconds; stale-if-error=N accepts data up to
// and including N seconds old when that refresh fails. The clock is injected so the ages are
// exact.
func TestCache_MaxAgeAndStaleIfErrorBoundaries(t *testing.T) {
	t.Parallel()
	var at atomic.Pointer[time.Time]
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
		o.RefreshBurst, o.RefreshRate = 100, 100
		o.Now = func() time.Time {
			if p := at.Load(); p != nil {
				return *p
			}
			return time.Now()
		}
	})
	h.sync(t)
	setAge := func(d time.Duration) {
		now := h.live.Load().FetchedAt.Add(d)
		at.Store(&now)
	}
	lists := func() int { return h.fake.Count("/api/v1/runtimes") }

	setAge(60 * time.Second)
	n := lists()
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=60"); a.header.Get("X-Cache") != "HIT" || lists() != n || a.header.Get("Age") != "60" {
		t.Fatalf("age 60 s, max-age=60: X-Cache %s Age %s, %d calls; want a HIT without a call", a.header.Get("X-Cache"), a.header.Get("Age"), lists()-n)
	}
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=59"); a.header.Get("X-Cache") != "REVALIDATED" || lists() != n+1 {
		t.Fatalf("age 60 s, max-age=59: X-Cache %s, %d calls; want one refresh", a.header.Get("X-Cache"), lists()-n)
	}

	h.fake.SetFault(fakecp.Fault500)
	setAge(60 * time.Second)
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=0, stale-if-error=60"); a.status != 200 || a.header.Get("X-Cache") != "STALE" {
		t.Fatalf("age 60 s, stale-if-error=60, refresh failing: %d %s; want the stale answer", a.status, a.header.Get("X-Cache"))
	}
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=0, stale-if-error=59"); a.status != 504 {
		t.Fatalf("age 60 s, stale-if-error=59, refresh failing: %d; want 504", a.status)
	}
}
