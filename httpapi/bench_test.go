package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, Registerer: reg, Gatherer: reg})
	if err != nil {
		b.Fatal(err)
	}
	return api.Handler()
}

func benchGet(b *testing.B, h http.Handler, target string) {
	req := httptest.NewRequest("GET", target, nil)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, req) // encode once, outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

func BenchmarkDropInList(b *testing.B) {
	for _, n := range []int{2, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchGet(b, benchServer(b, n), "/api/v1/runtimes") })
	}
}

func BenchmarkNativeList(b *testing.B) {
	for _, n := range []int{2, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchGet(b, benchServer(b, n), "/v1/runtimes") })
	}
}

func BenchmarkNativeListFiltered(b *testing.B) {
	benchGet(b, benchServer(b, 1000), "/v1/runtimes?status=beta&feature=session_management")
}

func BenchmarkDropInRequirements(b *testing.B) {
	benchGet(b, benchServer(b, 1000), "/api/v1/runtimes/rt-500/requirements")
}
