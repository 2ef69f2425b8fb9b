package health_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// The catalog conditions health reports: an empty catalog, and a catalog below the floor of its
// high-water mark — strictly below: exactly at the floor is what the drop ratio allows. No
// high-water mark (or one of zero runtimes) says nothing; no snapshot says nothing either
// (Assess reports "down" for that).
func TestCatalogConditions_Boundaries(t *testing.T) {
	t.Parallel()
	three := catalog(t, rt("a", "available", nil), rt("b", "available", nil), rt("c", "available", nil))
	empty, err := store.NewCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := func(c *store.Catalog) *store.Snapshot { return &store.Snapshot{Revision: 1, Catalog: c} }
	codes := func(cs []health.CatalogCondition) string { return fmt.Sprint(cs) }
	for _, tc := range []struct {
		name string
		snap *store.Snapshot
		hw   *health.HighWater
		want string
	}{
		{"NoSnapshot", nil, &health.HighWater{Runtimes: 10, Floor: 5}, "[]"},
		{"ThreeNoMark", snap(three), nil, "[]"},
		{"Empty", snap(empty), nil, "[{catalog_empty serving an empty catalog: no runtime is known}]"},
		{"EmptyZeroMark", snap(empty), &health.HighWater{Runtimes: 0, Floor: 0, WindowSeconds: 3600}, "[{catalog_empty serving an empty catalog: no runtime is known}]"},
		{"AtFloor", snap(three), &health.HighWater{Runtimes: 6, Floor: 3, WindowSeconds: 86400}, "[]"},
		{"JustBelowFloor", snap(three), &health.HighWater{Runtimes: 6, Floor: 3.5, WindowSeconds: 86400},
			"[{catalog_below_high_water serving 3 runtimes, far below the 6 served within the last 24h}]"},
		{"ZeroRuntimesMarkWithFloor", snap(three), &health.HighWater{Runtimes: 0, Floor: 5, WindowSeconds: 86400}, "[]"},
		{"EmptyBelowFloor", snap(empty), &health.HighWater{Runtimes: 1, Floor: 0.5, WindowSeconds: 5400},
			"[{catalog_empty serving an empty catalog: no runtime is known} {catalog_below_high_water serving 0 runtimes, far below the 1 served within the last 1h30m}]"},
	} {
		if got := codes(health.CatalogConditions(tc.snap, tc.hw)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// The high-water window is written as people write it.
func TestHighWater_Window(t *testing.T) {
	t.Parallel()
	for secs, want := range map[int64]string{86400: "24h", 5400: "1h30m", 5400 + 7: "1h30m7s", 45 * 60: "45m", 30: "30s", 3600: "1h"} {
		if got := (health.HighWater{WindowSeconds: secs}).Window(); got != want {
			t.Errorf("%d s: %q, want %q", secs, got, want)
		}
	}
}

// A scheduled run is judged stalled only when more than a minute overdue: exactly one minute
// late is still on time (the run may be in its jitter delay); a nanosecond more is reported,
// naming the schedule and when the run was due.
func TestAssess_ScheduleOverdueBoundary(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(-time.Second), Catalog: store.SeedCatalog()}
	at := func(late time.Duration) health.Inputs {
		next := now.Add(-late)
		return health.Inputs{Snapshot: fresh, Now: now, MaxStale: 5 * time.Minute,
			Sync: health.SyncStatus{Enabled: true, Schedule: "@every 30s", NextRun: &next}}
	}
	if status, reasons := health.Assess(at(time.Minute)); status != health.StatusOK {
		t.Fatalf("a run one minute late: %s %q, want ok", status, reasons)
	}
	status, reasons := health.Assess(at(time.Minute + time.Nanosecond))
	want := `scheduled syncs are not running: the next run of "@every 30s" was due at 2026-01-02T03:03:04Z`
	if status != health.StatusDegraded || strings.Join(reasons, "|") != want {
		t.Fatalf("a run a minute and a nanosecond late: %s %q, want degraded: %s", status, reasons, want)
	}
}

// With fresh data and nothing wrong, every component of the detailed report is "healthy"
// (no component says "unhealthy: " with an empty reason).
func TestAssessDetailed_AllHealthy(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := &store.Snapshot{Source: store.SourceUpstream, Catalog: store.SeedCatalog(), FetchedAt: now}
	d := health.AssessDetailed(health.Inputs{Snapshot: snap, Now: now, MaxStale: time.Minute, Sync: health.SyncStatus{Enabled: true},
		Breakers: map[string]health.BreakerStatus{"list": {State: "closed"}}})
	if d.Status != "healthy" || len(d.Components) == 0 {
		t.Fatalf("fresh data: %+v", d)
	}
	for _, c := range d.Components {
		if c.State != "healthy" {
			t.Errorf("component %s is %q, want healthy", c.Name, c.State)
		}
	}
}
