package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark measures the handler stack.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func benchServer(b *testing.B, n int) http.Handler {
	b.Helper()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(n))
	if err != nil {
		b.Fatal(err)
	}
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat})
	reg := prometheus.NewRegistry() // metrics on, as in the daemon
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, Registerer: reg, Gatherer: reg,
		Fallback: health.FallbackRules{Chains: map[string][]string{"rt-1": {"rt-0"}}, Default: "rt-0"}})
	if err != nil {
		b.Fatal(err)
	}
	return api.Handler()
}

func benchRequest(b *testing.B, h http.Handler, method, target, body string, headers ...string) {
	w := &discard{h: http.Header{}}
	newReq := func() *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}
	req := newReq()
	h.ServeHTTP(w, req) // encode once, outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if body != "" {
			req = newReq() // a body can be read once
		}
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkReadRoutes is every read route through the real echo stack, in-process.
func BenchmarkReadRoutes(b *testing.B) {
	routes := []string{
		"/api/v1/runtimes", "/api/v1/runtimes/rt-1/requirements",
		"/v1/runtimes", "/v1/runtimes?status=beta", "/v1/runtimes?feature=session_management&provider=openai",
		"/v1/runtimes/rt-1", "/v1/runtimes/rt-1/requirements",
		"/v1/matrix", "/v1/matrix?format=table", "/v1/changes?since=0", "/v1/resolve/rt-1",
		"/v1/health", "/v1/sync", "/healthz", "/readyz",
	}
	for _, n := range []int{2, 1000} {
		h := benchServer(b, n)
		for _, r := range routes {
			b.Run(fmt.Sprintf("%d%s", n, r), func(b *testing.B) { benchRequest(b, h, "GET", r, "") })
		}
	}
}

// BenchmarkReadGzip is the large cached reads with Accept-Encoding: gzip (pre-compressed).
func BenchmarkReadGzip(b *testing.B) {
	h := benchServer(b, 1000)
	for _, r := range []string{"/api/v1/runtimes", "/v1/runtimes"} {
		b.Run(r, func(b *testing.B) { benchRequest(b, h, "GET", r, "", "Accept-Encoding", "gzip") })
	}
}

func BenchmarkNotModified(b *testing.B) {
	h := benchServer(b, 1000)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/runtimes", nil))
	benchRequest(b, h, "GET", "/api/v1/runtimes", "", "If-None-Match", w.h.Get("ETag"))
}

func BenchmarkPostRoutes(b *testing.B) {
	h := benchServer(b, 1000)
	for _, r := range []struct{ path, body string }{
		{"/api/v1/runtimes/validate", `{"runtime_type":"rt-3","model_id":"gpt-4","agent_config":{"timeout":30}}`},
		{"/v1/validate", `{"runtime_type":"rt-3","model_id":"gpt-4","agent_config":{"timeout":30},"features":["session management"]}`},
		{"/v1/select", `{"features":["session management"],"model_provider":"openai"}`},
	} {
		b.Run(r.path, func(b *testing.B) { benchRequest(b, h, "POST", r.path, r.body, "Content-Type", "application/json") })
	}
}

// BenchmarkCompareRoutes is what bench/compare.sh drives at 2 runtimes, in-process: the seed
// catalog fetched a moment ago, the drop-in list and both validates with compare.sh's body
// (a valid request: no warnings, no errors).
func BenchmarkCompareRoutes(b *testing.B) {
	cat, err := store.ParseSnapshotFile(store.SeedJSON())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: now, UpdatedAt: now})
	reg := prometheus.NewRegistry()
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, Registerer: reg, Gatherer: reg})
	if err != nil {
		b.Fatal(err)
	}
	h := api.Handler()
	body := `{"runtime_type":"default","model_id":"gpt-4o","agent_config":{"timeout":30}}`
	b.Run("list", func(b *testing.B) { benchRequest(b, h, "GET", "/api/v1/runtimes", "") })
	b.Run("validate", func(b *testing.B) {
		benchRequest(b, h, "POST", "/v1/validate", body, "Content-Type", "application/json")
	})
	b.Run("dropin-validate", func(b *testing.B) {
		benchRequest(b, h, "POST", "/api/v1/runtimes/validate", body, "Content-Type", "application/json")
	})
}
