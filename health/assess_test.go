package health_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

func TestAssess_Lifecycle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(-time.Second), Catalog: store.SeedCatalog()}
	ran := []health.Run{{ID: 1, Trigger: "schedule", Outcome: health.OutcomeUnchanged}}
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	cases := []struct {
		name string
		snap *store.Snapshot
		sync health.SyncStatus
		want string // "" means ok
	}{
		{"OK", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", NextRun: at(20 * time.Second), LastRuns: ran}, ""},
		{"ClockSkew", &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(time.Hour), Catalog: store.SeedCatalog()},
			health.SyncStatus{}, "clock skew"},
		{"SkewWithinTolerance", &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(time.Second), Catalog: store.SeedCatalog()},
			health.SyncStatus{}, ""},
		{"NotStartedIsNotJudged", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", LastRuns: ran}, ""},
		{"Overdue", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", NextRun: at(-10 * time.Minute), LastRuns: ran}, "not running"},
		{"RunningIsNotStalled", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", NextRun: at(-10 * time.Minute), Running: true, LastRuns: ran}, ""},
		// 12.6: a running schedule with no next run, or one further off than a few intervals
		// (a clock that jumped back, a stuck scheduler), is degraded; jitter is allowed for.
		{"ScheduledNoNextRun", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", Scheduled: true, LastRuns: ran}, "has no next run"},
		{"ScheduledFarOff", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", Scheduled: true, Interval: 30 * time.Second,
			NextRun: at(time.Hour), LastRuns: ran}, "no scheduled sync is due soon"},
		{"ScheduledWithinIntervalsAndJitter", fresh, health.SyncStatus{Enabled: true, Schedule: "@every 30s", Scheduled: true, Interval: 30 * time.Second,
			Jitter: 10 * time.Minute, NextRun: at(9 * time.Minute), LastRuns: ran}, ""},
		{"ScheduledDailyCron", fresh, health.SyncStatus{Enabled: true, Schedule: "0 3 * * *", Scheduled: true, Interval: 24 * time.Hour,
			NextRun: at(23 * time.Hour), LastRuns: ran}, ""},
		{"DisabledIsNotJudgedOnSchedule", fresh, health.SyncStatus{Enabled: false, DisabledReason: "no API key", Scheduled: false, LastRuns: ran}, "sync disabled: no API key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, reasons := health.Assess(health.Inputs{Snapshot: tc.snap, Now: now, MaxStale: 5 * time.Minute, Sync: tc.sync})
			if tc.want == "" {
				if status != health.StatusOK {
					t.Fatalf("status %s %q, want ok", status, reasons)
				}
				return
			}
			if status != health.StatusDegraded || !strings.Contains(strings.Join(reasons, "\n"), tc.want) {
				t.Fatalf("status %s %q, want degraded naming %q", status, reasons, tc.want)
			}
		})
	}
}
