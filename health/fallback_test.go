package health_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

func TestFallback(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	c := catalog(t,
		rt("claude_code", "error", []string{"Code review"}, "anthropic"),
		rt("backup", "available", []string{"Streaming"}, "openai"),
		rt("default", "available", []string{"Code review", "Streaming"}, "openai"),
		rt("gone_sick", "coming_soon", nil, "openai"),
	)
	rules := health.FallbackRules{
		Chains:  map[string][]string{"claude_code": {"backup"}, "missing_rt": {"backup"}, "backup": {"gone_sick"}},
		Default: "default",
	}
	if err := rules.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, id   string
		features   []string
		want       string
		isFallback bool
		why        []string
	}{
		{"Qualifies", "backup", nil, "backup", false, []string{"the requested runtime qualifies"}},
		{"Unhealthy", "claude_code", nil, "backup", true, []string{`claude_code unhealthy (status "error")`, "next in the fallback chain"}},
		{"Missing", "missing_rt", nil, "backup", true, []string{"missing_rt not in the catalog"}},
		{"LacksFeatureThenDefault", "claude_code", []string{"code review"}, "default", true,
			[]string{`backup lacks "code review"`, `gone_sick unhealthy`, "the default runtime"}},
		{"NoChainUsesDefault", "nowhere", nil, "default", true, []string{"nowhere not in the catalog", "the default runtime"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, ok := rules.Resolve(c, cls, tc.id, tc.features)
			if !ok || res.Runtime.ID != tc.want || res.IsFallback != tc.isFallback {
				t.Fatalf("ok=%v res=%+v", ok, res)
			}
			for _, w := range tc.why {
				if !strings.Contains(res.Reason, w) {
					t.Errorf("reason %q lacks %q", res.Reason, w)
				}
			}
			last := res.Tried[len(res.Tried)-1]
			if !last.Chosen || last.ID != tc.want {
				t.Errorf("tried %+v", res.Tried)
			}
		})
	}
	t.Run("NothingQualifies", func(t *testing.T) {
		res, ok := rules.Resolve(c, cls, "claude_code", []string{"voice"})
		if ok {
			t.Fatalf("resolved %s", res.Runtime.ID)
		}
		var ids []string
		for _, a := range res.Tried {
			ids = append(ids, a.ID)
			if a.Chosen || a.Why == "" {
				t.Errorf("attempt %+v", a)
			}
		}
		if strings.Join(ids, ",") != "claude_code,backup,gone_sick,default" {
			t.Errorf("every candidate must be named, in order: %v", ids)
		}
	})
	t.Run("ConditionsConfigurable", func(t *testing.T) {
		only := rules
		only.Conditions = []health.Condition{health.WhenMissing}
		res, ok := only.Resolve(c, cls, "claude_code", []string{"voice"})
		if !ok || res.Runtime.ID != "claude_code" || res.IsFallback {
			t.Fatalf("with only 'missing' enabled an unhealthy runtime lacking a feature is kept: %+v", res)
		}
	})
	t.Run("ActiveFallbacks", func(t *testing.T) {
		var got []string
		for _, f := range rules.Fallbacks(c, cls) {
			got = append(got, f.Runtime+"="+f.ResolvesTo+":"+map[bool]string{true: "active", false: "idle"}[f.Active])
		}
		if strings.Join(got, " ") != "backup=backup:idle claude_code=backup:active missing_rt=backup:active" {
			t.Errorf("%v", got)
		}
	})
}

func TestFallbackRules_Validate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rules health.FallbackRules
		want  string
	}{
		"Cycle":     {health.FallbackRules{Chains: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}}, "a -> b -> c -> a"},
		"SelfLoop":  {health.FallbackRules{Chains: map[string][]string{"x": {"x"}}}, "x -> x"},
		"Condition": {health.FallbackRules{Conditions: []health.Condition{"sometimes"}}, `"sometimes"`},
		"EmptyID":   {health.FallbackRules{Chains: map[string][]string{"x": {""}}}, "empty id"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.rules.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
	ok := health.FallbackRules{Chains: map[string][]string{"a": {"b", "c"}, "b": {"c"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a diamond is not a loop: %v", err)
	}
}

func TestAssess(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fresh := &store.Snapshot{Revision: 2, Source: store.SourceUpstream, FetchedAt: now.Add(-time.Minute), Catalog: store.SeedCatalog()}
	closed := map[string]health.BreakerStatus{"list": {State: "closed"}}
	cases := []struct {
		name   string
		in     health.Inputs
		status string
		reason string
	}{
		{"OK", health.Inputs{Snapshot: fresh, Now: now, MaxStale: 5 * time.Minute, Sync: health.SyncStatus{Enabled: true}, Breakers: closed}, "ok", ""},
		{"Down", health.Inputs{Now: now}, "down", "no runtime data"},
		{"Stale", health.Inputs{Snapshot: fresh, Now: now, MaxStale: 30 * time.Second, Sync: health.SyncStatus{Enabled: true}}, "degraded", "beyond max_stale"},
		{"Seed", health.Inputs{Snapshot: &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}, Now: now, MaxStale: time.Minute, Sync: health.SyncStatus{Enabled: true}}, "degraded", "seed data"},
		{"BreakerOpen", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{Enabled: true}, Breakers: map[string]health.BreakerStatus{"list": {State: "open"}}}, "degraded", "list calls is open"},
		{"Held", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{Enabled: true, Held: &health.Hold{Reason: "empty", Seen: 1, Needed: 3}}}, "degraded", "held back"},
		{"Failures", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{Enabled: true, ConsecutiveFailures: 2, LastRuns: []health.Run{{Outcome: health.OutcomeFailed, Error: "GET x: HTTP 500"}}}}, "degraded", "2 sync runs failed since the last success; last error: GET x: HTTP 500"},
		{"FailedThenSkipped", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{Enabled: true, ConsecutiveFailures: 1, SkippedSinceSuccess: 3,
			LastRuns: []health.Run{{Outcome: health.OutcomeSkipped, Error: "skipped: circuit breaker open"}, {Outcome: health.OutcomeFailed, Error: "GET x: HTTP 500"}}}},
			"degraded", "1 sync run failed and 3 were skipped since the last success; last error: GET x: HTTP 500"},
		{"Notice", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{Enabled: true}, Notices: []string{"moved aside to x"}}, "degraded", "moved aside"},
		{"Disabled", health.Inputs{Snapshot: fresh, Now: now, MaxStale: time.Hour, Sync: health.SyncStatus{DisabledReason: "no API key"}}, "degraded", "sync disabled: no API key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, reasons := health.Assess(tc.in)
			if status != tc.status || !strings.Contains(strings.Join(reasons, "|"), tc.reason) {
				t.Fatalf("%s %v", status, reasons)
			}
			if status == "ok" && len(reasons) != 0 {
				t.Fatalf("ok with reasons %v", reasons)
			}
		})
	}
}
