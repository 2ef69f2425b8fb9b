package httpapi_test

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
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
			if ims := do(t, "GET", srv.URL+p, "", "If-Modified-Since", fresh.header.Get("Last-Modified"), "Accept-Encoding", enc); ims.status != 200 {
				t.Errorf("%s (%s): the data turned stale after Last-Modified, yet If-Modified-Since got %d", p, enc, ims.status)
			}
			off.Store(0) // fresh again (a sync confirmed the data): the stale copy is not reused
			if nm := do(t, "GET", srv.URL+p, "", "If-None-Match", stale, "Accept-Encoding", enc); nm.status != 200 {
				t.Errorf("%s (%s): fresh again, yet the stale answer's ETag got %d", p, enc, nm.status)
			}
			// If-Modified-Since cannot tell the stale copy from a fresh one (both carry the
			// commit's Last-Modified): a native answer is revalidated by its ETag only (a
			// stale copy revalidated with it once fresh again got 304 and kept "stale": true).
			if ims := do(t, "GET", srv.URL+p, "", "If-Modified-Since", fresh.header.Get("Last-Modified"), "Accept-Encoding", enc); ims.status != 200 {
				t.Errorf("%s (%s): fresh again, If-Modified-Since Last-Modified: %d, want 200", p, enc, ims.status)
			}
		}
	}
}

// GET /v1/sync and /v1/health hold the runs and the breakers, which change at every sync while
// the revision (and so Last-Modified, its commit) does not: If-Modified-Since answered 304 to
// a monitor polling /v1/health with it, which then kept reading the control plane as healthy
// after the breaker opened. Their ETag (a hash of the body) still revalidates them.
func TestCache_IfModifiedSinceOnRunState(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, withHealth(defaultRules()))
	h.sync(t)
	for _, p := range []string{"/v1/sync", "/v1/health"} {
		a := do(t, "GET", h.url+p, "")
		h.sync(t) // unchanged: the same revision and Last-Modified, another run in the body
		b := do(t, "GET", h.url+p, "", "If-Modified-Since", a.header.Get("Last-Modified"))
		if b.status != 200 {
			t.Errorf("%s: a sync ran since, yet If-Modified-Since of the same revision got %d", p, b.status)
		}
		if a.header.Get("Last-Modified") != b.header.Get("Last-Modified") {
			t.Fatalf("%s: Last-Modified moved (%s, %s): the run changed the data", p, a.header.Get("Last-Modified"), b.header.Get("Last-Modified"))
		}
		if nm := do(t, "GET", h.url+p, "", "If-None-Match", b.header.Get("ETag")); nm.status != http.StatusNotModified {
			t.Errorf("%s: its own ETag: %d, want 304", p, nm.status)
		}
	}
}

// GET /v1/runtimes/{id}/requirements says "degraded". A sync whose requirements fetch fails
// keeps the previous requirements and marks the runtime degraded without a new revision: the
// answer's ETag (the requirements' hash and the revision) stayed the same, so a client
// revalidating got 304 and kept "degraded": false (and "true" after the recovery).
func TestCache_RequirementsETagFollowsDegraded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{NoInline: true})
	h.sync(t)
	const p = "/v1/runtimes/claude_code/requirements"
	ok := do(t, "GET", h.url+p, "")
	h.fake.FailRequirements("claude_code", 500)
	if r := h.sync(t); len(r.Degraded) != 1 {
		t.Fatalf("the run did not degrade claude_code: %+v", r)
	}
	bad := do(t, "GET", h.url+p, "", "If-None-Match", ok.header.Get("ETag"))
	if bad.status != 200 || bad.json(t)["degraded"] != true {
		t.Fatalf("degraded now, If-None-Match of the healthy answer: %d %s", bad.status, bad.body)
	}
	h.fake.FailRequirements("claude_code", 0)
	h.sync(t)
	again := do(t, "GET", h.url+p, "", "If-None-Match", bad.header.Get("ETag"))
	if again.status != 200 || again.json(t)["degraded"] != false {
		t.Fatalf("recovered, If-None-Match of the degraded answer: %d %s", again.status, again.body)
	}
	if nm := do(t, "GET", h.url+p, "", "If-None-Match", again.header.Get("ETag")); nm.status != http.StatusNotModified {
		t.Errorf("its own ETag: %d", nm.status)
	}
}

// The daemon hands its policy rules over as Options.Policy (Options.Gate stays nil). The
// matrix's rows carried the POLICY cell, but its text forms asked Options.Gate whether to have
// the column: the CSV header had 13 fields and every row 14 (csv readers refuse it: "wrong
// number of fields"), the table dropped the column and ?columns=policy was a 400.
func TestMatrix_PolicyColumnWithConfiguredRules(t *testing.T) {
	t.Parallel()
	gate := policyHolder(t, false, policyTestRules...)
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = gate })
	h.sync(t)
	a := do(t, "GET", h.url+"/v1/matrix?format=csv", "")
	recs, err := csv.NewReader(strings.NewReader(string(a.body))).ReadAll()
	if a.status != 200 || err != nil {
		t.Fatalf("CSV: %d %v\n%s", a.status, err, a.body)
	}
	if hdr := recs[0]; hdr[len(hdr)-1] != "POLICY" {
		t.Errorf("CSV header %v: no POLICY", hdr)
	}
	if tab := do(t, "GET", h.url+"/v1/matrix?format=table", ""); !strings.Contains(string(tab.body), "POLICY") || !strings.Contains(string(tab.body), "denied by no-beta") {
		t.Errorf("table without the POLICY column:\n%s", tab.body)
	}
	if cols := do(t, "GET", h.url+"/v1/matrix?format=table&columns=id,policy", ""); cols.status != 200 || !strings.Contains(string(cols.body), "denied by no-beta") {
		t.Errorf("columns=id,policy: %d %s", cols.status, cols.body)
	}
}

// echo's QueryParams drops the pairs url.ParseQuery cannot read, so "?status=%zz" or
// "?status=beta;type=x" answered 200 with the whole, unfiltered list (and the other native
// reads ignored such parameters too): the filter a client asked for was silently not applied.
func TestCheckQuery_MalformedQueryIs400(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	for _, p := range []string{"/v1/runtimes?status=%zz", "/v1/runtimes?status=beta;type=x", "/v1/runtimes?feature=%",
		"/v1/runtimes/default?index=1;wait=1s", "/v1/matrix?format=csv;x", "/v1/changes?since=0&%zz", "/v1/resolve/default?feature=a%2",
		"/v1/sync?x=%zz", "/v1/health?%", "/v1/runtimes/default/config?model_id=%zz"} {
		a := do(t, "GET", h.url+p, "")
		if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "the query string is malformed") {
			t.Errorf("%s: %d %.200s", p, a.status, a.body)
		}
	}
	if a := do(t, "GET", h.url+"/v1/runtimes?status=beta", ""); a.status != 200 || a.json(t)["count"] != 1.0 {
		t.Errorf("a well-formed filter: %d %.200s", a.status, a.body)
	}
}
