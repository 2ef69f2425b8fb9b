package httpapi_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

// TestDefaultOptions: the defaults the Options doc comments promise, which the daemon's
// config documents and reuses (a zero field takes them).
func TestDefaultOptions(t *testing.T) {
	t.Parallel()
	o := httpapi.DefaultOptions()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"MaxBodyBytes", o.MaxBodyBytes, int64(1 << 20)},
		{"MaxStale", o.MaxStale, 5 * time.Minute},
		{"SyncWait", o.SyncWait, 60 * time.Second},
		{"ShutdownTimeout", o.ShutdownTimeout, 10 * time.Second},
		{"DefaultWait", o.DefaultWait, 5 * time.Minute},
		{"MaxWait", o.MaxWait, 10 * time.Minute},
		{"RefreshWait", o.RefreshWait, 10 * time.Second},
		{"RefreshRate", o.RefreshRate, 1.0},
		{"RefreshBurst", o.RefreshBurst, 3},
		{"PollInterval", o.PollInterval, 30 * time.Second},
		{"ReadHeaderTimeout", o.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", o.ReadTimeout, 30 * time.Second},
		{"MaxConnections", o.MaxConnections, 16384},
		{"ProbeSlots", o.ProbeSlots, 16},
		{"FilterMemoBytes", o.FilterMemoBytes, 8 << 20},
		{"Heartbeat", o.Heartbeat, 15 * time.Second},
		{"ValidateMode", o.ValidateMode, httpapi.ValidateLocal},
		{"Version", o.Version, "dev"},
	} {
		if c.got != c.want {
			t.Errorf("DefaultOptions().%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.Validator == nil || o.Classifier == nil || o.Logger == nil {
		t.Errorf("DefaultOptions leaves Validator %v, Classifier %v or Logger %v nil", o.Validator, o.Classifier, o.Logger)
	}
}

// upstreamOK is a control plane's validate endpoint that accepts everything.
type upstreamOK struct{}

func (upstreamOK) ValidateUpstream(context.Context, []byte, string) (int, []byte, error) {
	return 200, []byte(`{"valid":true,"errors":[]}`), nil
}

// TestServer_ReloadKeepsWhatItDoesNotName: a reload changes the options it names and keeps
// the others (validator, classifier, max_stale, validation mode) as they were.
func TestServer_ReloadKeepsWhatItDoesNotName(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceCache, Catalog: store.SeedCatalog(),
		FetchedAt: now.Add(-10 * time.Minute), UpdatedAt: now.Add(-10 * time.Minute)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, Now: func() time.Time { return now },
		MaxStale: time.Hour, ValidateMode: httpapi.ValidateUpstream, UpstreamValidator: upstreamOK{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	check := func(when, wantCache string, wantUnhealthy float64) {
		t.Helper()
		a := do(t, "GET", srv.URL+"/v1/runtimes?health=unhealthy", "")
		if got := a.header.Get(httpapi.HeaderCache); a.status != 200 || got != wantCache {
			t.Errorf("%s: %d, X-Cache %q, want %q (data 10 min old)", when, a.status, got, wantCache)
		}
		if n := a.json(t)["count"]; n != wantUnhealthy {
			t.Errorf("%s: %v unhealthy runtimes, want %v", when, n, wantUnhealthy)
		}
		v := do(t, "POST", srv.URL+"/api/v1/runtimes/validate", `{"runtime_type":"default"}`, "Content-Type", "application/json")
		if by := v.header.Get(httpapi.HeaderValidatedBy); v.status != 200 || by != "upstream" {
			t.Errorf("%s: drop-in validate %d, validated by %q, want upstream", when, v.status, by)
		}
		if n := do(t, "POST", srv.URL+"/v1/validate", `{"runtime_type":"default","model_id":"claude-sonnet-4"}`); n.status != 200 {
			t.Errorf("%s: native validate %d %s", when, n.status, n.body)
		}
	}
	check("before any reload", "HIT", 0)

	cls, err := health.NewClassifier(map[string]string{"beta": "unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	api.Reload(httpapi.Reloadable{Classifier: cls}) // max_stale, mode and validator kept
	check("after reloading the status map", "HIT", 1)

	api.Reload(httpapi.Reloadable{MaxStale: time.Minute}) // the status map kept
	check("after reloading max_stale to 1m", "STALE", 1)
}
