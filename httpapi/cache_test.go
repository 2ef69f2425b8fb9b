package httpapi_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// readRoutes are every read route, with a path that answers 200.
var readRoutes = []string{
	"/api/v1/runtimes",
	"/api/v1/runtimes/claude_code/requirements",
	"/v1/runtimes",
	"/v1/runtimes?status=beta",
	"/v1/runtimes/default",
	"/v1/runtimes/default/requirements",
	"/v1/matrix",
	"/v1/matrix?format=table",
	"/v1/changes?since=0",
	"/v1/resolve/claude_code",
	"/v1/sync",
	"/v1/health",
}

func TestCache_HeadersOnEveryRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, withHealth(defaultRules()))
	h.sync(t)
	for _, path := range readRoutes {
		t.Run(path, func(t *testing.T) {
			a := do(t, "GET", h.url+path, "")
			if a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			for _, k := range []string{"ETag", "Age", "X-Cache", "X-Runtimes-Revision", "X-Runtimes-Source", "Last-Modified", "Cache-Control"} {
				if a.header.Get(k) == "" {
					t.Errorf("no %s", k)
				}
			}
			if a.header.Get("X-Cache") != "HIT" || a.header.Get("X-Runtimes-Revision") != "1" {
				t.Errorf("X-Cache %s revision %s", a.header.Get("X-Cache"), a.header.Get("X-Runtimes-Revision"))
			}
			etag := a.header.Get("ETag")
			if nm := do(t, "GET", h.url+path, "", "If-None-Match", `"nope", `+etag); nm.status != 304 || len(nm.body) != 0 || nm.header.Get("ETag") != etag {
				t.Errorf("If-None-Match: %d %q", nm.status, nm.header.Get("ETag"))
			}
			if nm := do(t, "GET", h.url+path, "", "If-None-Match", `"nope"`); nm.status != 200 {
				t.Errorf("a different ETag must get the body: %d", nm.status)
			}
			// The native answers carry state that changes without a new revision (staleness,
			// degraded flags, sync runs, breakers), which Last-Modified (the revision's commit)
			// does not date: If-None-Match only (TestCache_IfModifiedSinceOnRunState,
			// TestCache_IfModifiedSinceOnDegraded, TestCache_IfModifiedSinceOfAStaleCopyOnceFresh).
			wantIMS := 304
			if strings.HasPrefix(path, "/v1/") && !strings.Contains(path, "format=") { // csv and table carry no provenance
				wantIMS = 200
			}
			if ims := do(t, "GET", h.url+path, "", "If-Modified-Since", a.header.Get("Last-Modified")); ims.status != wantIMS {
				t.Errorf("If-Modified-Since: %d, want %d", ims.status, wantIMS)
			}
			old := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
			if ims := do(t, "GET", h.url+path, "", "If-Modified-Since", old); ims.status != 200 {
				t.Errorf("If-Modified-Since an hour ago: %d", ims.status)
			}
			head := do(t, "HEAD", h.url+path, "")
			if head.status != 200 || len(head.body) != 0 || head.header.Get("ETag") != etag {
				t.Errorf("HEAD: %d, %d bytes, ETag %q", head.status, len(head.body), head.header.Get("ETag"))
			}
		})
	}
	t.Run("ETagChangesWithData", func(t *testing.T) {
		before := do(t, "GET", h.url+"/api/v1/runtimes", "").header.Get("ETag")
		h.fake.PutRuntime([]byte(`{"id":"x","status":"available"}`))
		h.sync(t)
		a := do(t, "GET", h.url+"/api/v1/runtimes", "", "If-None-Match", before)
		if a.status != 200 || a.header.Get("ETag") == before {
			t.Fatalf("after a change the old ETag must not validate: %d", a.status)
		}
		if strings.HasPrefix(a.header.Get("ETag"), "W/") {
			t.Error("the drop-in list is served byte for byte: its ETag is strong")
		}
	})
}

func defaultRules() health.FallbackRules { return health.FallbackRules{Default: "default"} }

func TestCache_Gzip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{Catalog: fakecp.SyntheticCatalog(200)})
	h.sync(t)
	for _, path := range []string{"/api/v1/runtimes", "/v1/runtimes", "/v1/runtimes?status=beta", "/v1/matrix?format=csv"} {
		t.Run(path, func(t *testing.T) {
			plain := do(t, "GET", h.url+path, "")
			// The Go client decompresses only when it added Accept-Encoding itself; ask by hand.
			req, _ := http.NewRequest("GET", h.url+path, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("headers %v", resp.Header)
			}
			zr, err := gzip.NewReader(resp.Body) // reads every member of a multi-member stream
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			// Provenance (age) may tick between the two requests; compare from the data on.
			cut := func(b []byte) string {
				if i := bytes.Index(b, []byte(`"count"`)); i >= 0 {
					return string(b[i:])
				}
				return string(b)
			}
			if cut(got) != cut(plain.body) {
				t.Fatalf("gzip body differs from identity body (%d vs %d bytes)", len(got), len(plain.body))
			}
			if etag := resp.Header.Get("ETag"); etag == plain.header.Get("ETag") || !strings.HasSuffix(etag, `-gzip"`) {
				t.Errorf("the gzip variant needs its own ETag: %q vs %q", etag, plain.header.Get("ETag"))
			}
			nm := do(t, "GET", h.url+path, "", "If-None-Match", resp.Header.Get("ETag"))
			if nm.status != 304 {
				t.Errorf("the gzip variant's ETag must validate the identity variant: %d", nm.status)
			}
		})
	}
	if a := do(t, "GET", h.url+"/api/v1/runtimes", "", "Accept-Encoding", "gzip;q=0, identity"); a.header.Get("Content-Encoding") != "" {
		t.Error("q=0 refuses gzip")
	}
}

func TestCache_MaxAgeRefresh(t *testing.T) {
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.RefreshBurst, o.RefreshRate = 100, 100 })
	h.sync(t)
	lists := func() int { return h.fake.Count("/api/v1/runtimes") }

	n := lists()
	a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=3600")
	if a.status != 200 || a.header.Get("X-Cache") != "HIT" || lists() != n {
		t.Fatalf("fresh enough: no refresh: %s %d calls", a.header.Get("X-Cache"), lists()-n)
	}
	a = do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=0")
	if a.status != 200 || a.header.Get("X-Cache") != "REVALIDATED" || lists() != n+1 {
		t.Fatalf("max-age=0: %s %d calls", a.header.Get("X-Cache"), lists()-n)
	}
	h.fake.PutRuntime([]byte(`{"id":"new","status":"beta"}`))
	a = do(t, "GET", h.url+"/api/v1/runtimes", "", "Cache-Control", "no-cache")
	if a.status != 200 || a.header.Get("X-Cache") != "MISS" || !strings.Contains(string(a.body), `"new"`) || a.header.Get("X-Runtimes-Revision") != "2" {
		t.Fatalf("no-cache after a change: %s rev %s", a.header.Get("X-Cache"), a.header.Get("X-Runtimes-Revision"))
	}

	h.fake.SetFault(fakecp.Fault500)
	a = do(t, "GET", h.url+"/v1/runtimes/default", "", "Cache-Control", "max-age=0, stale-if-error=3600")
	if a.status != 200 || a.header.Get("X-Cache") != "STALE" || !strings.Contains(a.header.Get("Warning"), "Revalidation Failed") {
		t.Fatalf("stale-if-error within: %d %s %q", a.status, a.header.Get("X-Cache"), a.header.Get("Warning"))
	}
	a = do(t, "GET", h.url+"/v1/runtimes/default", "", "Cache-Control", "max-age=0, stale-if-error=0")
	if a.status != 504 || a.json(t)["error"].(map[string]any)["code"] != "refresh_failed" || !strings.Contains(string(a.body), "old") {
		t.Fatalf("stale-if-error beyond: %d %s", a.status, a.body)
	}
	a = do(t, "GET", h.url+"/api/v1/runtimes", "", "Cache-Control", "max-age=0")
	if a.status != 504 || a.json(t)["detail"] == nil {
		t.Fatalf("drop-in error shape on 504: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=abc"); a.status != 400 {
		t.Errorf("bad max-age: %d", a.status)
	}
}

func TestCache_RefreshSlowIsBounded(t *testing.T) {
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.RefreshWait = 200 * time.Millisecond })
	h.sync(t)
	h.fake.SetDelay(700 * time.Millisecond)
	start := time.Now()
	a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=0")
	if a.status != 504 || !strings.Contains(string(a.body), "did not finish within 200ms") {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the refresh wait was not bounded: %v", took)
	}
	// Let the first refresh finish (joining it): the next read then starts its own slow one
	// instead of joining the tail of this one, whatever the machine's load.
	h.sync(t)
	a = do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "max-age=0, stale-if-error=60")
	if a.status != 200 || a.header.Get("X-Cache") != "STALE" {
		t.Errorf("slow refresh with stale-if-error: %d %s", a.status, a.header.Get("X-Cache"))
	}
}

func TestCache_RefreshRateLimited(t *testing.T) {
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
		o.RefreshRate, o.RefreshBurst, o.PollInterval = 0.01, 2, time.Minute
		// The data is older than the poll interval (a reload on fresher data is answered from
		// the cache: TestTrust_ForcedRefreshStorm/ReloadOnFreshData).
		o.Now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	})
	h.sync(t)
	n := h.fake.Count("/api/v1/runtimes")
	var codes []int
	for range 6 {
		codes = append(codes, do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache").status)
	}
	if got := h.fake.Count("/api/v1/runtimes") - n; got != 2 {
		t.Fatalf("the fake control plane saw %d list calls from 6 forced refreshes, want the burst of 2", got)
	}
	if fmt.Sprint(codes) != "[200 200 429 429 429 429]" {
		t.Errorf("codes %v", codes)
	}
	a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache, stale-if-error=3600")
	if a.status != 200 || a.header.Get("X-Cache") != "STALE" {
		t.Errorf("rate-limited with stale-if-error: %d %s", a.status, a.header.Get("X-Cache"))
	}
	if a := do(t, "GET", h.url+"/v1/runtimes/default", "", "Cache-Control", "no-cache"); a.status != 200 {
		t.Errorf("the limit is per resource: %d", a.status)
	}
	if got := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache"); got.header.Get("Retry-After") != "100" {
		t.Errorf("429 with Retry-After %q, want the bucket's refill interval at 0.01/s: 100", got.header.Get("Retry-After"))
	}
}

// Not parallel: a thousand parked connections starve parallel tests whose upstream calls have
// the harness client's 1 s timeout.
func TestCache_BlockingReads(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	h.sync(t)

	t.Run("WokenByChange", func(t *testing.T) {
		done := make(chan answer, 1)
		go func() { done <- do(t, "GET", h.url+"/api/v1/runtimes?index=1&wait=30s", "") }()
		waitParked(t, h.api, 1)
		h.sync(t) // unchanged: must not wake it for good
		time.Sleep(100 * time.Millisecond)
		select {
		case a := <-done:
			t.Fatalf("an unchanged sync woke the reader: %s", a.header.Get("X-Runtimes-Revision"))
		default:
		}
		h.fake.PutRuntime([]byte(`{"id":"woke","status":"beta"}`))
		h.sync(t)
		select {
		case a := <-done:
			if a.header.Get("X-Runtimes-Revision") != "2" || !strings.Contains(string(a.body), "woke") {
				t.Fatalf("woken with revision %s", a.header.Get("X-Runtimes-Revision"))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not woken by the change")
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		a := do(t, "GET", h.url+"/v1/runtimes?index=2&wait=300ms", "")
		took := time.Since(start)
		if a.status != 200 || a.header.Get("X-Runtimes-Revision") != "2" || took < 300*time.Millisecond || took > 5*time.Second {
			t.Fatalf("%d rev %s after %v", a.status, a.header.Get("X-Runtimes-Revision"), took)
		}
	})
	t.Run("IndexAheadReturnsAtOnce", func(t *testing.T) {
		start := time.Now()
		a := do(t, "GET", h.url+"/v1/runtimes?index=99&wait=30s", "")
		if a.status != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("%d after %v", a.status, time.Since(start))
		}
	})
	t.Run("BadParams", func(t *testing.T) {
		for _, q := range []string{"index=x", "index=1&wait=forever", "wait=1s", "index=1&wait=-1s"} {
			if a := do(t, "GET", h.url+"/v1/runtimes?"+q, ""); a.status != 400 {
				t.Errorf("%s: %d", q, a.status)
			}
		}
	})
	t.Run("ThousandWaiters", func(t *testing.T) {
		const n = 1000
		tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(h.url + "/v1/runtimes?index=2&wait=60s")
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if rev := resp.Header.Get("X-Runtimes-Revision"); resp.StatusCode != 200 || rev != "3" {
					errs <- fmt.Errorf("status %d revision %s", resp.StatusCode, rev)
				}
			}()
		}
		waitParked(t, h.api, n)
		h.fake.PutRuntime([]byte(`{"id":"thousand","status":"beta"}`))
		h.sync(t)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

// requirementsOf returns a compact requirements object of exactly size bytes.
func requirementsOf(t *testing.T, size int) string {
	t.Helper()
	const head, tail = `{"model_requirement":{"description":"`, `","supported_providers":[],"supported_families":[],"examples":[]},"required_config_fields":[],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":false,"requires_tools":false}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("no requirements object of %d bytes", size)
	}
	return head + strings.Repeat("x", pad) + tail
}

// TestCache_ReadEdges: gzip starts at exactly 1024 bytes (and Vary with it, only to a request
// that named its encodings); seed data has no Last-Modified, so If-Modified-Since never makes
// it a 304; the shortest blocking wait answers.
func TestCache_ReadEdges(t *testing.T) {
	t.Parallel()
	cat := fmt.Sprintf(`[{"id":"r1023","status":"available","requirements":%s},{"id":"r1024","status":"available","requirements":%s}]`,
		requirementsOf(t, 1023), requirementsOf(t, 1024))
	h := newHarness(t, fakecp.Options{Catalog: []byte(cat)})

	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if a := do(t, "GET", h.url+"/api/v1/runtimes", "", "If-Modified-Since", future); a.status != 200 || a.header.Get("Last-Modified") != "" {
		t.Errorf("seed data with If-Modified-Since: %d, Last-Modified %q", a.status, a.header.Get("Last-Modified"))
	}
	// Seed data has no age (it was never fetched), and an answer without a failed refresh has
	// no Warning.
	for _, k := range []string{"Age", "Warning"} {
		if v, ok := do(t, "GET", h.url+"/v1/runtimes", "").header[k]; ok {
			t.Errorf("seed answer with %s %q", k, v)
		}
	}
	h.sync(t)
	for _, tc := range []struct {
		id   string
		gzip bool
	}{{"r1023", false}, {"r1024", true}} {
		path := h.url + "/api/v1/runtimes/" + tc.id + "/requirements"
		plain := do(t, "GET", path, "")
		if plain.status != 200 || plain.header.Get("Vary") != "" || plain.header.Get("Content-Encoding") != "" {
			t.Fatalf("%s without Accept-Encoding: %d, Vary %q", tc.id, plain.status, plain.header.Get("Vary"))
		}
		a := do(t, "GET", path, "", "Accept-Encoding", "gzip")
		if got := a.header.Get("Content-Encoding") == "gzip"; got != tc.gzip || (a.header.Get("Vary") != "") != tc.gzip {
			t.Errorf("%s (%d bytes): gzip %v, Vary %q", tc.id, len(plain.body), got, a.header.Get("Vary"))
		}
	}
	rev := h.live.Load().Revision
	if a := do(t, "GET", fmt.Sprintf("%s/v1/runtimes?index=%d&wait=1ns", h.url, rev), ""); a.status != 200 {
		t.Errorf("wait=1ns: %d %s", a.status, a.body)
	}
}

// A blocking read that nothing wakes returns after its wait plus at most 1/16 of it (the
// spread that keeps a fleet of waiters out of lockstep), not many times later; once answered
// it no longer counts as waiting (runtimesd_blocking_reads_waiting back to 0). cache.go:269
// and 273 survivors: a spread up to 16 times the wait, a waiter counted up on its way out.
func TestCache_BlockingReadWaitBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	rev := h.live.Load().Revision
	const readers = 8
	took := make(chan time.Duration, readers)
	for range readers {
		go func() {
			start := time.Now()
			a := do(t, "GET", fmt.Sprintf("%s/v1/runtimes?index=%d&wait=1s", h.url, rev), "")
			if a.status != 200 {
				t.Errorf("blocking read: %d %s", a.status, a.body)
			}
			took <- time.Since(start)
		}()
	}
	for range readers {
		// 1 s + 1/16 s, and 2 s of slack for a busy machine.
		if d := <-took; d < time.Second || d > 3*time.Second+time.Second/16 {
			t.Errorf("a read with wait=1s answered after %v", d)
		}
	}
	if n := h.api.Waiting(); n != 0 {
		t.Errorf("%d blocking reads still counted as waiting after all were answered", n)
	}
}

// waitParked returns once n blocking reads are parked on api (it fails the test after 30 s).
func waitParked(t *testing.T, api *httpapi.Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for api.Waiting() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d waiters parked", api.Waiting(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

func readEvents(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.event != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func openWatch(t *testing.T, ctx context.Context, url string, headers ...string) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body)
}

func TestWatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Heartbeat = 100 * time.Millisecond })
	h.sync(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	r := openWatch(t, ctx, h.url+"/v1/watch")
	if ev := readEvents(t, r, 1)[0]; ev.event != "hello" || ev.id != "1" {
		t.Fatalf("first event %+v", ev)
	}
	h.fake.PutRuntime([]byte(`{"id":"w1","status":"beta"}`))
	h.sync(t)
	ev := readEvents(t, r, 1)[0]
	if ev.event != "change" || ev.id != "2" || !strings.Contains(ev.data, `"added":["w1"]`) {
		t.Fatalf("change event %+v", ev)
	}
	// The heartbeat is a comment line; the reader above skips it, so check the raw stream.
	line, _ := r.ReadString('\n')
	if !strings.HasPrefix(line, ": heartbeat") {
		t.Errorf("expected a heartbeat, got %q", line)
	}

	h.fake.RemoveRuntime("w1")
	h.sync(t)
	// The stream outlives its heartbeats: the next change still arrives on it (watch.go:101).
	if ev := readEvents(t, r, 1)[0]; ev.event != "change" || ev.id != "3" || !strings.Contains(ev.data, `"removed":["w1"]`) {
		t.Fatalf("change after a heartbeat %+v", ev)
	}
	resumed := openWatch(t, ctx, h.url+"/v1/watch", "Last-Event-ID", "1")
	evs := readEvents(t, resumed, 3)
	if evs[0].event != "hello" || evs[0].id != "1" || !strings.Contains(evs[0].data, `"since":1`) {
		t.Fatalf("a resumed stream opens with hello naming since: %+v", evs[0])
	}
	if evs = evs[1:]; evs[0].id != "2" || evs[1].id != "3" || !strings.Contains(evs[1].data, `"removed":["w1"]`) {
		t.Fatalf("resume from 1: %+v", evs)
	}
	// After its catch-up a resumed stream goes on with the live changes (watch.go:81).
	h.fake.PutRuntime([]byte(`{"id":"w2","status":"beta"}`))
	h.sync(t)
	if ev := readEvents(t, resumed, 1)[0]; ev.event != "change" || ev.id != "4" || !strings.Contains(ev.data, `"added":["w2"]`) {
		t.Fatalf("a change after the catch-up: %+v", ev)
	}

	ahead := openWatch(t, ctx, h.url+"/v1/watch?since=42")
	if ev := readEvents(t, ahead, 2)[1]; ev.event != "reset" || !strings.Contains(ev.data, "replaced") {
		t.Fatalf("since ahead: %+v", ev)
	}
	if a := do(t, "GET", h.url+"/v1/watch?since=x", ""); a.status != 400 {
		t.Errorf("bad since: %d", a.status)
	}
}

// A browser's EventSource opened on /v1/watch?since=1 reconnects to the same URL with
// Last-Event-ID set to the last revision it received: the stream resumes from there, not from
// the URL's since, so no change is delivered twice.
func TestWatch_LastEventIDWinsOverSince(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	h.fake.PutRuntime([]byte(`{"id":"w1","status":"beta"}`))
	h.sync(t)
	h.fake.PutRuntime([]byte(`{"id":"w2","status":"beta"}`))
	h.sync(t) // revision 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openWatch(t, ctx, h.url+"/v1/watch?since=1", "Last-Event-ID", "2")
	evs := readEvents(t, r, 2)
	if evs[0].event != "hello" || evs[0].id != "2" || evs[1].event != "change" || evs[1].id != "3" {
		t.Fatalf("reconnect with Last-Event-ID 2 on ?since=1: %+v (revision 2 delivered again?)", evs)
	}
}

func TestWatch_HistoryGone(t *testing.T) {
	t.Parallel()
	// A catalog whose change log starts at revision 5: revisions before are gone.
	live := store.NewLive(&store.Snapshot{Revision: 6, Source: store.SourceCache, Catalog: store.SeedCatalog(),
		Changes: []store.Change{{Revision: 5}, {Revision: 6}}})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	defer api.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openWatch(t, ctx, "http://"+api.Addr()+"/v1/watch", "Last-Event-ID", "2")
	if ev := readEvents(t, r, 2)[1]; ev.event != "reset" || ev.id != "6" || !strings.Contains(ev.data, "history after revision 2 is gone") {
		t.Fatalf("%+v", ev)
	}
	r = openWatch(t, ctx, "http://"+api.Addr()+"/v1/watch", "Last-Event-ID", "4")
	if evs := readEvents(t, r, 3)[1:]; evs[0].id != "5" || evs[1].id != "6" {
		t.Fatalf("resume from 4 with history from 5: %+v", evs)
	}
}

// TestCache_RefreshEdges: with sync disabled a forced refresh fails saying why, and seed data
// (no age) is never fresh enough for stale-if-error; a refresh while a sync runs joins it
// without spending a token of the rate limit.
func TestCache_RefreshEdges(t *testing.T) {
	// Not parallel with the package's other tests: JoinsRunningSync needs a sync that takes
	// 700 ms to finish under the harness client's 1 s timeout, which a loaded machine can miss.
	t.Run("SyncDisabled", func(t *testing.T) {
		t.Parallel()
		live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
		api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}})
		for _, cc := range []string{"max-age=0", "max-age=0, stale-if-error=2147483647"} {
			a := do(t, "GET", "http://"+api.Addr()+"/v1/runtimes", "", "Cache-Control", cc)
			if a.status != 504 || !strings.Contains(string(a.body), "sync is disabled: no API key") || !strings.Contains(string(a.body), "the data was never fetched from the control plane (the built-in seed or an import): older than the max-age") {
				t.Errorf("%s: %d %s", cc, a.status, a.body)
			}
		}
	})
	t.Run("WhatRefreshes", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, fakecp.Options{}, withHealth(defaultRules()), func(o *httpapi.Options, _ *rsync.Client) {
			o.RefreshRate, o.RefreshBurst = 100, 100
		})
		h.sync(t)
		for _, tc := range []struct {
			path   string
			status int
			calls  int
		}{
			{"/v1/runtimes/default", 200, 1}, // a known runtime
			{"/v1/runtimes/nope", 404, 0},    // an unknown id never reaches the control plane
			{"/v1/resolve/nope", 200, 1},     // resolve answers unknown ids (a fallback): the list's refresh
			{"/v1/resolve/default", 200, 1},  //
			{"/v1/runtimes", 200, 1},         // the list
		} {
			n := h.fake.Count("/api/v1/runtimes")
			a := do(t, "GET", h.url+tc.path, "", "Cache-Control", "no-cache")
			if a.status != tc.status || h.fake.Count("/api/v1/runtimes")-n != tc.calls {
				t.Errorf("%s: %d, %d upstream calls; want %d, %d", tc.path, a.status, h.fake.Count("/api/v1/runtimes")-n, tc.status, tc.calls)
			}
		}
	})
	t.Run("JoinsRunningSync", func(t *testing.T) {
		h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
			o.RefreshRate, o.RefreshBurst, o.PollInterval = 0.001, 1, time.Minute
			o.Now = func() time.Time { return time.Now().Add(30 * time.Minute) }
		})
		h.sync(t)
		for i, want := range []int{200, 429} {
			if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache"); a.status != want {
				t.Fatalf("forced refresh %d: %d, want %d", i, a.status, want)
			}
		}
		h.fake.SetDelay(700 * time.Millisecond) // under the client's 1 s timeout; long enough to find it running
		done := make(chan struct{})
		go func() { defer close(done); _, _ = h.poller.SyncNow(context.Background(), rsync.TriggerManual) }()
		deadline := time.Now().Add(10 * time.Second)
		for !h.poller.Status().Running {
			if time.Now().After(deadline) {
				t.Fatal("the sync did not start")
			}
			time.Sleep(time.Millisecond)
		}
		a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache")
		if a.status != 200 || a.header.Get("X-Cache") != "REVALIDATED" {
			t.Errorf("a forced refresh during a sync: %d %s (joined, no token needed)", a.status, a.header.Get("X-Cache"))
		}
		<-done
	})
}

// TestCache_RateLimitedReloadBoundary: a rate-limited forced refresh of data younger than the
// poll interval is answered from the cache (a browser reload); at exactly the poll interval's
// age it is a 429. The clock is injected so the ages are exact.
func TestCache_RateLimitedReloadBoundary(t *testing.T) {
	t.Parallel()
	var at atomic.Pointer[time.Time]
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
		o.RefreshRate, o.RefreshBurst, o.PollInterval = 0.001, 1, time.Minute
		o.Now = func() time.Time {
			if p := at.Load(); p != nil {
				return *p
			}
			return time.Now()
		}
	})
	h.sync(t)
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache"); a.status != 200 {
		t.Fatalf("the one token: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		age    time.Duration
		status int
	}{{time.Minute - time.Nanosecond, 200}, {time.Minute, 429}} {
		now := h.live.Load().FetchedAt.Add(tc.age)
		at.Store(&now)
		if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache"); a.status != tc.status {
			t.Errorf("rate-limited reload at age %v: %d, want %d", tc.age, a.status, tc.status)
		}
	}
}

// skippingSync is an enabled sync whose runs are skipped, as while the list breaker is open.
type skippingSync struct{}

func (skippingSync) SyncNow(context.Context, string) (health.Run, error) {
	return health.Run{Outcome: health.OutcomeSkipped, Error: "skipped: circuit breaker open for list; the next probe goes when it turns half-open"}, nil
}
func (skippingSync) Status() health.SyncStatus { return health.SyncStatus{Enabled: true} }

// A forced refresh skipped by an open breaker said so twice: `Warning: 111 runtimesd
// "Revalidation Failed: refresh skipped: skipped: circuit breaker open ..."`.
func TestCache_RefreshSkippedSaysItOnce(t *testing.T) {
	now := time.Now()
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour), Catalog: store.SeedCatalog()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: skippingSync{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	a := do(t, "GET", srv.URL+"/v1/runtimes", "", "Cache-Control", "max-age=0, stale-if-error=86400")
	w := a.header.Get("Warning")
	if a.status != 200 || !strings.Contains(w, "refresh skipped: circuit breaker open for list") || strings.Contains(w, "skipped: skipped") {
		t.Fatalf("%d Warning %q", a.status, w)
	}
	a = do(t, "GET", srv.URL+"/v1/runtimes", "", "Cache-Control", "max-age=0")
	if msg := a.json(t)["error"].(map[string]any)["message"].(string); a.status != 504 || strings.Contains(msg, "skipped: skipped") {
		t.Fatalf("%d %s", a.status, msg)
	}
}

// Accept-Encoding sent as several header lines is one list (RFC 9110 5.3): only the first
// line was read, so "identity" then "gzip" got an identity answer, and "*" then "gzip;q=0"
// a gzip one.
func TestCache_AcceptEncodingOverSeveralLines(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{Catalog: fakecp.SyntheticCatalog(200)})
	h.sync(t)
	for _, tc := range []struct {
		lines []string
		gzip  bool
	}{
		{[]string{"identity", "gzip"}, true},
		{[]string{"*", "gzip;q=0"}, false}, // "*" stands only for the codings not listed
		{[]string{"br", "*"}, true},
	} {
		req, _ := http.NewRequest("GET", h.url+"/api/v1/runtimes", nil)
		req.Header["Accept-Encoding"] = tc.lines
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding lines %q: gzip %v, want %v", tc.lines, got, tc.gzip)
		}
	}
}
