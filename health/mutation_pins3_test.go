package health_test

// Pins for the gremlins survivors of the merged answer layer (issue 14, round 3): each test
// names the mutant it kills and asserts what a caller of the answer would notice.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// The feature error carries a did-you-mean only when there is something to suggest
// (answer_validate.go: alt != "").
func TestValidate_FeatureSuggestionOnlyWhenOneExists(t *testing.T) {
	t.Parallel()
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now, Catalog: catalogOf(t, strictRT)}
	a := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Hour}
	rep := a.Validate(snap, now, request(t, `{"runtime_type":"strict","features":["code-reviw","time travel"]}`))
	want := []string{"Feature 'code-reviw' is not supported by runtime 'strict' (did you mean 'code review'?)",
		"Feature 'time travel' is not supported by runtime 'strict'"}
	for _, w := range want {
		if !slices.Contains(rep.Errors, w) {
			t.Errorf("errors %q lack exactly %q", rep.Errors, w)
		}
	}
}

// "model" without model_id warns whether model_id is absent or empty, and not when model_id is
// set (answer_validate.go: *req.ModelID == "").
func TestValidate_ModelWithoutModelIDWarning(t *testing.T) {
	t.Parallel()
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now, Catalog: catalogOf(t, bareRT)}
	a := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Hour}
	for body, want := range map[string]bool{
		`{"runtime_type":"bare","model":"gpt-4"}`:                  true,
		`{"runtime_type":"bare","model":"gpt-4","model_id":""}`:    true,
		`{"runtime_type":"bare","model":"gpt-4","model_id":"gpt"}`: false,
		`{"runtime_type":"bare","model_id":""}`:                    false,
	} {
		rep := a.Validate(snap, now, request(t, body))
		if got := strings.Contains(strings.Join(rep.Warnings, "\n"), "the request has model but no model_id"); got != want {
			t.Errorf("%s: model warning %v, want %v (warnings %q)", body, got, want, rep.Warnings)
		}
	}
}

// The policy sees the built configuration itself, decoded, when it judges a build-config
// answer (answer_config.go configMap: a lost configuration would let a rule on it pass).
func TestBuildConfig_GateSeesTheBuiltConfiguration(t *testing.T) {
	t.Parallel()
	gate := health.GateFunc(func(rt *store.Runtime, cfg map[string]any) []health.Verdict {
		if cfg == nil {
			return nil
		}
		if _, ok := cfg["runtime_type"]; !ok {
			return nil
		}
		return []health.Verdict{{Rule: "saw-config", Severity: health.SeverityError, Outcome: health.VerdictDeny,
			Message: fmt.Sprintf("config of %v", cfg["runtime_type"]), Blocking: true}}
	})
	a, snap, now := gateAnswers(t, gate)
	_, err := a.BuildConfig(snap, now, "default", store.ConfigOverrides{})
	if err == nil || !strings.Contains(err.Error(), "policy rule 'saw-config' denies runtime 'default': config of default") {
		t.Fatalf("err = %v, want the rule on the built configuration to deny", err)
	}
}

// Health judges a schedule too far ahead only past 3 intervals + jitter + 1 min, exactly
// (assess.go scheduleStalled), and never a schedule without an interval.
func TestAssess_ScheduleAheadBoundary(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now.Add(-time.Second), Catalog: store.SeedCatalog()}
	ran := []health.Run{{ID: 1, Trigger: "schedule", Outcome: health.OutcomeUnchanged}}
	const interval, jitter = 30 * time.Second, 20 * time.Second
	limit := 3*interval + jitter + time.Minute
	for _, tc := range []struct {
		name     string
		interval time.Duration
		ahead    time.Duration
		degraded bool
	}{
		{"AtTheLimit", interval, limit, false},
		{"JustPast", interval, limit + time.Nanosecond, true},
		{"NoIntervalIsNotJudged", 0, time.Hour, false},
	} {
		next := now.Add(tc.ahead)
		st, reasons := health.Assess(health.Inputs{Snapshot: fresh, Now: now, MaxStale: 5 * time.Minute, Sync: health.SyncStatus{
			Enabled: true, Schedule: "@every 30s", Scheduled: true, Interval: tc.interval, Jitter: jitter, NextRun: &next, LastRuns: ran}})
		got := strings.Contains(strings.Join(reasons, "\n"), "no scheduled sync is due soon")
		if got != tc.degraded || (st == health.StatusOK) == tc.degraded {
			t.Errorf("%s: status %s %q, want degraded=%v", tc.name, st, reasons, tc.degraded)
		}
	}
}

// The report's recent changes stop at RecentChanges records, and a kept record's fields name
// only the ids it keeps (answer_report.go SummarizeChanges).
func TestSummarizeChanges_Bounds(t *testing.T) {
	t.Parallel()
	var all []store.Change
	for i := 1; i <= health.RecentChanges+3; i++ {
		all = append(all, store.Change{Revision: uint64(i)})
	}
	if got := health.SummarizeChanges(all); len(got) != health.RecentChanges || got[0].Revision != uint64(len(all)) {
		t.Fatalf("%d summaries (first %d), want %d newest first", len(got), got[0].Revision, health.RecentChanges)
	}
	c := store.Change{Revision: 1, Fields: map[string][]string{}}
	for i := range health.RecentChangeIDs + 5 {
		id := fmt.Sprint("rt", i)
		c.Changed = append(c.Changed, id)
		c.Fields[id] = []string{"/status"}
	}
	plain := store.Change{Revision: 2, Changed: []string{"x"}}
	got := health.SummarizeChanges([]store.Change{c, plain})
	if len(got[1].Fields) != health.RecentChangeIDs || got[1].ChangedCount != health.RecentChangeIDs+5 {
		t.Fatalf("fields for %d ids (changed_count %d), want the %d kept", len(got[1].Fields), got[1].ChangedCount, health.RecentChangeIDs)
	}
	if _, ok := got[1].Fields["rt"+fmt.Sprint(health.RecentChangeIDs)]; ok {
		t.Fatal("fields name an id the summary cut")
	}
	if got[0].Fields != nil {
		t.Fatalf("a record without fields got %v", got[0].Fields)
	}
}

// A fallback past a runtime the policy denies says which rule, and its message when it has one
// (fallback.go: v.Message != "").
func TestResolve_DeniedReasonNamesRuleAndMessage(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"beta runtimes are not allowed": "denied by policy rule 'no-beta' (beta runtimes are not allowed)",
		"":                              "denied by policy rule 'no-beta'",
	} {
		gate := health.GateFunc(func(rt *store.Runtime, _ map[string]any) []health.Verdict {
			if rt.ID != "claude_code" {
				return nil
			}
			return []health.Verdict{{Rule: "no-beta", Severity: health.SeverityError, Outcome: health.VerdictDeny, Message: msg, Blocking: true}}
		})
		a, snap, _ := gateAnswers(t, gate)
		res, ok := a.Resolve(snap, "claude_code", nil)
		if !ok || len(res.Tried) != 2 || res.Tried[0].Why != want || res.Tried[1].Why != "claude_code "+want+"; next in the fallback chain" {
			t.Errorf("message %q: ok=%v tried %+v, want why %q", msg, ok, res.Tried, want)
		}
	}
}

// The byte 0x80 (utf8.RuneSelf) is not ASCII: alone it is invalid UTF-8 and encodes as
// U+FFFD, as encoding/json does (jsonappend.go: c < utf8.RuneSelf).
func TestAppendJSONString_RuneSelfByte(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"\x80", "a\x80b", "\x7f", "\u0080"} {
		want, _ := json.Marshal(s)
		if got := health.AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

// A policy's config variable has one shape (policy_input.go PolicyInput): what the
// configuration sets is kept, what it lacks gets its documented default.
func TestPolicyInput_KeepsWhatIsSetAndDefaultsTheRest(t *testing.T) {
	t.Parallel()
	eu := map[string]any{"region": "eu"}
	us := map[string]any{"region": "us"}
	agent := map[string]any{"timeout": json.Number("30"), "environment": us, "features": []any{"x"}}
	got := health.PolicyInput(map[string]any{"agent_config": agent, "environment": eu, "extra": true})
	if a, _ := got["agent_config"].(map[string]any); a == nil || a["timeout"] != json.Number("30") {
		t.Errorf("agent_config %v, want the configuration's", got["agent_config"])
	}
	if e, _ := got["environment"].(map[string]any); e == nil || e["region"] != "eu" {
		t.Errorf("environment %v, want the configuration's own (eu)", got["environment"])
	}
	if f, _ := got["features"].([]any); len(f) != 1 || f[0] != "x" || got["extra"] != true || got["runtime_type"] != "" {
		t.Errorf("features %v extra %v runtime_type %q", got["features"], got["extra"], got["runtime_type"])
	}
	if v, ok := got["model_id"]; !ok || v != nil {
		t.Errorf("model_id %v (present %v), want null", v, ok)
	}
	got = health.PolicyInput(map[string]any{"agent_config": agent})
	if e, _ := got["environment"].(map[string]any); e == nil || e["region"] != "us" {
		t.Errorf("environment %v, want agent_config.environment (us)", got["environment"])
	}
	got = health.PolicyInput(map[string]any{"agent_config": map[string]any{"environment": map[string]any(nil)}, "environment": map[string]any(nil)})
	if e, ok := got["environment"].(map[string]any); !ok || e == nil || len(e) != 0 {
		t.Errorf("environment %#v, want {} for null environments", got["environment"])
	}
	got = health.PolicyInput(map[string]any{})
	if a, ok := got["agent_config"].(map[string]any); !ok || a == nil || len(a) != 0 {
		t.Errorf("agent_config %#v, want {}", got["agent_config"])
	}
}

// Provenance's age is in whole seconds (provenance.go ProvenanceOf).
func TestProvenanceOf_AgeSeconds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 3, Source: store.SourceUpstream, FetchedAt: now.Add(-90*time.Second - 400*time.Millisecond), Catalog: store.SeedCatalog()}
	if p := health.ProvenanceOf(snap, now, time.Hour); p.AgeSeconds != 90 || p.Stale {
		t.Fatalf("age_seconds %d stale %v, want 90 false", p.AgeSeconds, p.Stale)
	}
}
