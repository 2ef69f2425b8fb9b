package httpapi_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

// TestErrors_CountedOnce: an error answer is counted once, under its route pattern when a route
// matched (a 404 of an unknown runtime) and under "unmatched" when none did (an unknown path),
// never under both.
func TestErrors_CountedOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}, Registerer: reg, Gatherer: reg})
	url := "http://" + api.Addr()

	count := func(route, code string) float64 {
		t.Helper()
		return requestsCount(t, reg, route, "GET", code)
	}
	if a := do(t, "GET", url+"/v1/runtimes/nope", ""); a.status != 404 || !strings.Contains(string(a.body), "runtime_not_found") {
		t.Fatalf("unknown runtime: %d %s", a.status, a.body)
	}
	if got := count("/v1/runtimes/:id", "404"); got != 1 {
		t.Errorf("a 404 of a matched route counted %v times under its route", got)
	}
	if got := count("unmatched", "404"); got != 0 {
		t.Errorf("a 404 of a matched route also counted as unmatched (%v)", got)
	}
	for range 2 {
		if a := do(t, "GET", url+"/no/such/path", ""); a.status != 404 || string(a.body) != `{"detail":"Not Found"}` {
			t.Fatalf("unknown path: %d %s", a.status, a.body)
		}
	}
	if got := count("unmatched", "404"); got != 2 {
		t.Errorf("2 requests of an unknown path counted %v times as unmatched", got)
	}
}

// requestsCount is runtimesd_http_requests_total{route,method,code} as gathered from reg (0
// when the series does not exist).
func requestsCount(t *testing.T, reg *prometheus.Registry, route, method, code string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"route": route, "method": method, "code": code}
	for _, f := range families {
		if f.GetName() != "runtimesd_http_requests_total" {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
