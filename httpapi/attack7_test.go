package httpapi_test

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

// A native answer's body carries "stale". Its ETag (tied to the data and the revision) must
// change when the data turns stale with time, else a client revalidating the copy it got while
// the data was fresh gets a 304 and keeps reading "stale": false (and the other way round).
// The answers encoded with jsonRep (resolve, changes, sync, health) always did; the list, one
// runtime, its requirements and the JSON matrix did not.
func TestCache_StaleAnswerIsNot304OfTheFreshOne(t *testing.T) {
	t.Parallel()
	base := time.Now()
	var off atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(off.Load())) }
	live := store.NewLive(&store.Snapshot{Revision: 3, Source: store.SourceUpstream, Catalog: store.SeedCatalog(),
		FetchedAt: base.Add(-time.Second), UpdatedAt: base.Add(-time.Hour)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, MaxStale: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Shutdown() })
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	for _, p := range []string{"/v1/runtimes", "/v1/runtimes?status=available", "/v1/runtimes/default",
		"/v1/runtimes/default/requirements", "/v1/matrix", "/v1/resolve/default", "/v1/changes"} {
		for _, enc := range []string{"identity", "gzip"} {
			off.Store(0)
			fresh := do(t, "GET", srv.URL+p, "", "Accept-Encoding", enc)
			if fresh.status != 200 || fresh.header.Get("X-Cache") != "HIT" {
				t.Fatalf("%s: %d %s", p, fresh.status, fresh.header.Get("X-Cache"))
			}
			off.Store(int64(2 * time.Minute)) // past max_stale
			again := do(t, "GET", srv.URL+p, "", "If-None-Match", fresh.header.Get("ETag"), "Accept-Encoding", enc)
			if again.status != 200 {
				t.Errorf("%s (%s): the data turned stale, yet If-None-Match of the fresh answer got %d (X-Cache %s): the client keeps \"stale\": false",
					p, enc, again.status, again.header.Get("X-Cache"))
				continue
			}
			stale := again.header.Get("ETag")
			if nm := do(t, "GET", srv.URL+p, "", "If-None-Match", stale, "Accept-Encoding", enc); nm.status != 304 {
				t.Errorf("%s (%s): the stale answer's own ETag %s: %d, want 304", p, enc, stale, nm.status)
			}
			off.Store(0) // fresh again (a sync confirmed the data): the stale copy is not reused
			if nm := do(t, "GET", srv.URL+p, "", "If-None-Match", stale, "Accept-Encoding", enc); nm.status != 200 {
				t.Errorf("%s (%s): fresh again, yet the stale answer's ETag got %d", p, enc, nm.status)
			}
		}
	}
}
