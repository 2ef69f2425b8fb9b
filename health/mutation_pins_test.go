package health_test

import (
	"fmt"
	"strings"
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
// in the future within store.ClockSkewTolerance is fresh; further ahead it is clock skew:
// its age is unknown, so it is degraded (issue 12.4 reversed the first rule, "the future is
// fresh", which this pin kept asserting after the merge).
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
	}{{time.Minute, health.StatusOK}, {time.Minute + time.Nanosecond, health.StatusDegraded},
		{-store.ClockSkewTolerance, health.StatusOK}, {-store.ClockSkewTolerance - time.Nanosecond, health.StatusDegraded},
		{-time.Hour, health.StatusDegraded}} {
		if status, reasons := health.Assess(at(tc.age)); status != tc.status {
			t.Errorf("age %v with max_stale 1m: %s %v, want %s", tc.age, status, reasons, tc.status)
		}
	}
}

// Equal scores are broken by health (healthy before unknown), then a generally available
// runtime before a beta one, then id; Limit keeps the best ones and Total counts them all.
func TestSelect_TieBreaks(t *testing.T) {
	t.Parallel()
	cls, err := health.NewClassifier(nil)
	if err != nil {
		t.Fatal(err)
	}
	twelve := make([]string, 12)
	for i := range twelve {
		twelve[i] = fmt.Sprintf("f%d", i)
	}
	// Healthy with 10 of 12 features: 50+20+10+10 = 90; unknown with 11 of 12: 55+20+10+5 = 90.
	c := catalog(t,
		rt("a_unknown", "experimental", twelve[:11], "openai"),
		rt("b_healthy", "available", twelve[:10], "openai"),
	)
	sel, err := health.Select(c, cls, anyModel, health.SelectRequest{Features: twelve, AllowUnhealthy: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(sel.Candidates); got != "b_healthy,a_unknown" || sel.Candidates[0].Score != sel.Candidates[1].Score {
		t.Fatalf("equal scores (%v, %v): order %s, want the healthy one first", sel.Candidates[0].Score, sel.Candidates[1].Score, got)
	}

	c = catalog(t,
		rt("a_beta", "beta", []string{"x"}, "openai"),
		rt("b_ga", "available", []string{"x"}, "openai"),
		rt("c_ga", "available", []string{"x"}, "openai"),
	)
	sel, err = health.Select(c, cls, anyModel, health.SelectRequest{Features: []string{"x"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(sel.Candidates); got != "b_ga,c_ga" || sel.Total != 3 || sel.Best.ID != "b_ga" || sel.Candidates[1].Rank != 2 {
		t.Fatalf("same score and health: %s (total %d), want b_ga,c_ga of 3: available before beta, then id", got, sel.Total)
	}
	sel, _ = health.Select(c, cls, anyModel, health.SelectRequest{Features: []string{"x"}, Limit: 3})
	if len(sel.Candidates) != 3 || sel.Candidates[2].ID != "a_beta" {
		t.Fatalf("limit equal to the count keeps all: %s", ids(sel.Candidates))
	}
}

// Each fallback condition acts alone: with only "unhealthy" on, a runtime lacking a feature
// is kept; with only "lacks_feature" on, an unhealthy one is kept; a missing runtime can never
// be used, condition or not. A default that is also in the chain is named as the chain's.
func TestFallback_EachConditionAlone(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	c := catalog(t,
		rt("sick", "error", []string{"x"}, "openai"),
		rt("plain", "available", nil, "openai"),
		rt("def", "available", []string{"x"}, "openai"),
	)
	chains := map[string][]string{"sick": {"def"}, "plain": {"def"}, "gone": {"def"}}
	for _, tc := range []struct {
		cond     health.Condition
		id       string
		features []string
		want     string
		reason   string
	}{
		{health.WhenUnhealthy, "plain", []string{"x"}, "plain", "the requested runtime qualifies"},
		{health.WhenUnhealthy, "sick", nil, "def", `sick unhealthy (status "error"); next in the fallback chain`},
		{health.WhenLacksFeature, "sick", []string{"x"}, "sick", "the requested runtime qualifies"},
		{health.WhenLacksFeature, "plain", []string{"x"}, "def", `plain lacks "x"; next in the fallback chain`},
		{health.WhenUnhealthy, "gone", nil, "def", "gone not in the catalog (and cannot be used without it); next in the fallback chain"},
		{health.WhenMissing, "gone", nil, "def", "gone not in the catalog; next in the fallback chain"},
	} {
		rules := health.FallbackRules{Chains: chains, Conditions: []health.Condition{tc.cond}, Default: "def"}
		res, ok := rules.Resolve(c, cls, tc.id, tc.features)
		if !ok || res.Runtime.ID != tc.want || res.IsFallback != (tc.want != tc.id) || res.Reason != tc.reason {
			t.Errorf("only %s, %s %v: ok=%v %+v, want %s (%q)", tc.cond, tc.id, tc.features, ok, res, tc.want, tc.reason)
		}
	}
}

// Failures counted before any run is kept in the history (e.g. after a restart) are reported
// without a last error; a single failure is worded in the singular.
func TestAssess_FailuresWithoutHistory(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	status, reasons := health.Assess(health.Inputs{Now: now, MaxStale: time.Hour,
		Snapshot: &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now, Catalog: store.SeedCatalog()},
		Sync:     health.SyncStatus{Enabled: true, ConsecutiveFailures: 2}})
	if status != health.StatusDegraded || strings.Join(reasons, "|") != "2 sync runs failed since the last success" {
		t.Fatalf("%s %q", status, reasons)
	}
	_, reasons = health.Assess(health.Inputs{Now: now, MaxStale: time.Hour,
		Snapshot: &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now, Catalog: store.SeedCatalog()},
		Sync:     health.SyncStatus{Enabled: true, ConsecutiveFailures: 1}})
	if strings.Join(reasons, "|") != "1 sync run failed since the last success" {
		t.Fatalf("one failure: %q", reasons)
	}
}

// Defaults and limits of the breaker options: an open breaker probes after 30 s by default;
// a failure ratio of exactly 1 is allowed; with 3 half-open probes one success does not
// close the breaker yet.
func TestBreakers_OptionDefaultsAndLimits(t *testing.T) {
	t.Parallel()
	fail := func() ([]byte, error) { return nil, errUpstream }
	ok := func() ([]byte, error) { return nil, nil }

	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 1})
	b.Execute("list", fail)
	st := b.Status()["list"]
	if st.State != "open" || st.OpenedAt == nil || st.NextProbeAt == nil || st.NextProbeAt.Sub(*st.OpenedAt) != 30*time.Second {
		t.Fatalf("default open timeout: %+v, want the next probe 30s after opening", st)
	}

	if _, err := health.NewBreakers([]string{"list"}, health.BreakerOptions{FailureRatio: 1, MinRequests: 1}); err != nil {
		t.Errorf("failure_ratio 1 must be accepted: %v", err)
	}

	b = newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond, HalfOpenProbes: 3})
	b.Execute("list", fail)
	waitState(t, b, "list", "half-open")
	b.Execute("list", ok)
	if b.State("list") != "half-open" {
		t.Fatalf("with 3 probes one success must not close the breaker: %s", b.State("list"))
	}
	b.Execute("list", ok)
	b.Execute("list", ok)
	if b.State("list") != "closed" {
		t.Fatalf("3 successful probes must close it: %s", b.State("list"))
	}
}

// The transition history keeps exactly the configured number of latest transitions (newest first).
func TestBreakers_TransitionHistoryBound(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond, History: 2})
	b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	waitState(t, b, "list", "half-open")
	if n := len(b.Transitions()); n != 2 {
		t.Fatalf("2 transitions with history 2: %d kept", n)
	}
	b.Execute("list", func() ([]byte, error) { return nil, nil })
	tr := b.Transitions()
	if len(tr) != 2 || tr[0].To != "closed" || tr[1].To != "half-open" {
		t.Fatalf("after a 3rd transition the latest 2 are kept: %+v", tr)
	}
}

// Edge answers of Select: an empty catalog has no best and says why; a request without
// features scores a healthy runtime 100 and does not talk about features; an eligible runtime
// with every feature says so.
func TestSelect_EmptyAndNoFeatures(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	empty, _ := store.NewCatalog(nil)
	sel, err := health.Select(empty, cls, anyModel, health.SelectRequest{})
	if err != nil || sel.Best != nil || strings.Join(sel.Unmet, "|") != "there are no runtimes to choose from" {
		t.Fatalf("empty catalog: %+v %v", sel, err)
	}
	c := catalog(t, rt("a", "available", []string{"x"}, "openai"))
	sel, _ = health.Select(c, cls, anyModel, health.SelectRequest{})
	if sel.Best == nil || sel.Best.Score != 100 || sel.Best.Reason != "eligible: healthy" {
		t.Fatalf("no features asked: %+v", sel.Best)
	}
	sel, _ = health.Select(c, cls, anyModel, health.SelectRequest{Features: []string{"x"}})
	if sel.Best == nil || sel.Best.Reason != "eligible: has all 1 features; healthy" {
		t.Fatalf("all features: %+v", sel.Best)
	}
}
