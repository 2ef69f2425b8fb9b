package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkReadFreshHeader is a cached read with a new header map per request, as net/http
// gives each answer (BenchmarkReadRoutes reuses one map, which hides its growth past 8
// entries): the drop-in list at 2 runtimes (under net/http's 2 KiB buffer) and at 1,000.
func BenchmarkReadFreshHeader(b *testing.B) {
	for _, n := range []int{2, 1000} {
		h := benchServer(b, n)
		for _, path := range []string{"/api/v1/runtimes", "/v1/runtimes/rt-1"} {
			b.Run(fmt.Sprintf("%s/%d", path, n), func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				h.ServeHTTP(&discard{h: http.Header{}}, req) // encode once, outside the timing
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(&discard{h: make(http.Header)}, req)
				}
			})
		}
	}
}
