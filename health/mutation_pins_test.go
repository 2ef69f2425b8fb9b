package health_test

import (
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Behaviours a planted one-line bug broke without any test noticing (issue 14).

// A caller error (4xx) is the control plane answering: it never counts as a failure, and it
// ends a run of consecutive failures.
func TestBreakers_CallerErrorsResetAndDoNotCount(t *testing.T) {
	t.Parallel()
	fail := func() ([]byte, error) { return nil, errUpstream }
	caller := func() ([]byte, error) { return nil, errCaller }

	t.Run("Consecutive", func(t *testing.T) {
		t.Parallel()
		b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
		for range 4 {
			b.Execute("list", fail)
			b.Execute("list", fail)
			b.Execute("list", caller)
		}
		if st := b.Status()["list"]; b.State("list") != "closed" || st.ConsecutiveFailures != 0 {
			t.Fatalf("fail, fail, 404 repeated must never reach 3 in a row: %s %+v", b.State("list"), st)
		}
		b.Execute("list", fail)
		b.Execute("list", fail)
		if b.State("list") != "closed" {
			t.Fatal("2 failures in a row with consecutive_failures 3 must not trip")
		}
		b.Execute("list", fail)
		if b.State("list") != "open" {
			t.Fatal("the 3rd failure in a row must trip")
		}
		if st := b.Status()["list"]; st.TrippedBy == nil || st.TrippedBy.ConsecutiveFailures != 3 {
			t.Errorf("tripped_by must show the counts that tripped it: %+v", st.TrippedBy)
		}
		if b.State("requirements") != "closed" {
			t.Error("one kind's failures must not open another kind's breaker")
		}
	})

	t.Run("Ratio", func(t *testing.T) {
		t.Parallel()
		b := newBreakers(t, nil, health.BreakerOptions{FailureRatio: 0.5, MinRequests: 4, Window: time.Minute, OpenTimeout: time.Hour})
		for range 20 {
			b.Execute("list", caller)
		}
		if b.State("list") != "closed" {
			t.Fatal("caller errors alone must not trip a ratio breaker")
		}
		// Caller errors count as requests that succeeded: 19 failures of 39 requests stay below
		// the ratio; the 20th (20 of 40, exactly 0.5) trips.
		for i := 1; i <= 19; i++ {
			b.Execute("list", fail)
			if b.State("list") != "closed" {
				t.Fatalf("%d failures of %d requests (< 0.5) tripped the breaker", i, 20+i)
			}
		}
		b.Execute("list", fail)
		if b.State("list") != "open" {
			t.Fatalf("20 failures of 40 requests (= 0.5) must trip: %s", b.State("list"))
		}
	})
}

// Data exactly max_stale old is still fresh; a nanosecond more is stale. A snapshot fetched
// in the future (clock skew) is not stale.
func TestAssess_StalenessBoundary(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(age time.Duration) health.Inputs {
		return health.Inputs{Now: now, MaxStale: time.Minute, Sync: health.SyncStatus{Enabled: true},
			Snapshot: &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now.Add(-age), Catalog: store.SeedCatalog()}}
	}
	for _, tc := range []struct {
		age    time.Duration
		status string
	}{{time.Minute, health.StatusOK}, {time.Minute + time.Nanosecond, health.StatusDegraded}, {-time.Hour, health.StatusOK}} {
		if status, reasons := health.Assess(at(tc.age)); status != tc.status {
			t.Errorf("age %v with max_stale 1m: %s %v, want %s", tc.age, status, reasons, tc.status)
		}
	}
}
