package health_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// denyGate denies claude_code (blocking, rule "no-beta") and warns about default (rule
// "prefer-pinned-model"); it records the configurations it was shown.
func denyGate(seen *[]map[string]any) health.Gate {
	return health.GateFunc(func(rt *store.Runtime, cfg map[string]any) []health.Verdict {
		if seen != nil && cfg != nil {
			*seen = append(*seen, cfg)
		}
		switch rt.ID {
		case "claude_code":
			return []health.Verdict{{Rule: "no-beta", Severity: health.SeverityError, Outcome: health.VerdictDeny,
				Message: "beta runtimes are not allowed in production", Blocking: true}}
		case "default":
			return []health.Verdict{{Rule: "prefer-pinned-model", Severity: health.SeverityWarning, Outcome: health.VerdictDeny,
				Message: "pin a model version"}}
		}
		return nil
	})
}

func gateAnswers(t *testing.T, gate health.Gate) (health.Answers, *store.Snapshot, time.Time) {
	t.Helper()
	v, err := store.NewValidator(nil)
	if err != nil {
		t.Fatal(err)
	}
	cls, err := health.NewClassifier(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	snap := &store.Snapshot{Revision: 2, Source: store.SourceUpstream, FetchedAt: now.Add(-time.Second), Catalog: store.SeedCatalog()}
	return health.Answers{Validator: v, Classifier: cls, MaxStale: time.Minute, Gate: gate,
		Fallback: health.FallbackRules{Chains: map[string][]string{"claude_code": {"default"}}}}, snap, now
}

func TestAnswers_Gate(t *testing.T) {
	t.Parallel()
	t.Run("ValidateBlockingMakesInvalid", func(t *testing.T) {
		t.Parallel()
		var seen []map[string]any
		a, snap, now := gateAnswers(t, denyGate(&seen))
		model := "claude-3-opus"
		req := health.ValidateRequest{ValidationRequest: store.ValidationRequest{RuntimeType: "claude_code", ModelID: &model,
			AgentConfig: map[string]any{"timeout": 30}}}
		rep := a.Validate(snap, now, req)
		if rep.Valid || rep.ValidatedConfigValid || len(rep.Policy) != 1 || rep.Policy[0].Rule != "no-beta" {
			t.Fatalf("valid=%v vc_valid=%v policy=%+v errors=%q", rep.Valid, rep.ValidatedConfigValid, rep.Policy, rep.Errors)
		}
		if got := strings.Join(rep.Errors, "|"); !strings.Contains(got, "policy rule 'no-beta' denies runtime 'claude_code': beta runtimes are not allowed in production") {
			t.Fatalf("errors %q", got)
		}
		if len(seen) != 1 || seen[0]["runtime_type"] != "claude_code" || seen[0]["model_id"] != model {
			t.Fatalf("the gate saw %v, want the validated configuration", seen)
		}
	})
	t.Run("ValidateWarningKeepsValid", func(t *testing.T) {
		t.Parallel()
		a, snap, now := gateAnswers(t, denyGate(nil))
		model := "gpt-4o"
		rep := a.Validate(snap, now, health.ValidateRequest{ValidationRequest: store.ValidationRequest{RuntimeType: "default", ModelID: &model,
			AgentConfig: map[string]any{"timeout": 30, "max_tokens": 100}}})
		if !rep.Valid || len(rep.Policy) != 1 || !strings.Contains(strings.Join(rep.Warnings, "|"), "policy rule 'prefer-pinned-model' warns about runtime 'default': pin a model version") {
			t.Fatalf("valid=%v errors=%q warnings=%q policy=%+v", rep.Valid, rep.Errors, rep.Warnings, rep.Policy)
		}
	})
	t.Run("NilGateAllowsEverything", func(t *testing.T) {
		t.Parallel()
		a, snap, now := gateAnswers(t, nil)
		rep := a.Validate(snap, now, health.ValidateRequest{ValidationRequest: store.ValidationRequest{RuntimeType: "claude_code"}})
		if rep.Policy != nil || strings.Contains(strings.Join(rep.Errors, "|"), "policy") {
			t.Fatalf("policy %+v errors %q", rep.Policy, rep.Errors)
		}
		if b, _ := rep.AppendJSON(nil); strings.Contains(string(b), `"policy"`) {
			t.Fatalf("a report without a gate names policy: %s", b)
		}
	})
	t.Run("SelectDeniedIsIneligible", func(t *testing.T) {
		t.Parallel()
		a, snap, _ := gateAnswers(t, denyGate(nil))
		sel, err := a.Select(snap, health.SelectRequest{Provider: "anthropic", AllowUnhealthy: true})
		if err != nil {
			t.Fatal(err)
		}
		if sel.Best == nil || sel.Best.ID != "default" {
			t.Fatalf("best %+v", sel.Best)
		}
		for _, c := range sel.Candidates {
			if c.ID == "claude_code" && (c.Eligible || !strings.Contains(c.Reason, "denied by policy rule 'no-beta'")) {
				t.Fatalf("claude_code %+v", c)
			}
		}
		// Without a policy, the same request may choose claude_code: the gate made the difference.
		a.Gate = nil
		sel, _ = a.Select(snap, health.SelectRequest{Provider: "anthropic", AllowUnhealthy: true, Candidates: []string{"claude_code"}})
		if sel.Best == nil || sel.Best.ID != "claude_code" {
			t.Fatalf("without a gate: best %+v", sel.Best)
		}
	})
	t.Run("ResolveSkipsDenied", func(t *testing.T) {
		t.Parallel()
		a, snap, _ := gateAnswers(t, denyGate(nil))
		res, ok := a.Resolve(snap, "claude_code", nil)
		if !ok || res.Runtime.ID != "default" || !res.IsFallback || !strings.Contains(res.Reason, "claude_code denied by policy rule 'no-beta'") {
			t.Fatalf("ok=%v %+v", ok, res)
		}
	})
	t.Run("MatrixPolicyColumn", func(t *testing.T) {
		t.Parallel()
		a, snap, _ := gateAnswers(t, denyGate(nil))
		got := map[string]string{}
		for _, r := range a.Matrix(snap) {
			got[r.ID] = r.Policy
		}
		if got["claude_code"] != "denied by no-beta" || got["default"] != health.PolicyAllowed {
			t.Fatalf("policy column %v", got)
		}
		a.Gate = nil
		for _, r := range a.Matrix(snap) {
			if r.Policy != "" {
				t.Fatalf("without a gate, row %s has policy %q", r.ID, r.Policy)
			}
		}
	})
	t.Run("BuildConfigRefused", func(t *testing.T) {
		t.Parallel()
		a, snap, now := gateAnswers(t, denyGate(nil))
		_, err := a.BuildConfig(snap, now, "claude_code", store.ConfigOverrides{})
		var pe *health.PolicyError
		if !errors.Is(err, health.ErrPolicyDenied) || !errors.As(err, &pe) || pe.Verdict.Rule != "no-beta" ||
			!strings.Contains(err.Error(), "policy rule 'no-beta' denies runtime 'claude_code'") {
			t.Fatalf("err = %v", err)
		}
		ans, err := a.BuildConfig(snap, now, "default", store.ConfigOverrides{})
		if err != nil || len(ans.Policy) != 1 || !strings.Contains(strings.Join(ans.Warnings, "|"), "prefer-pinned-model") {
			t.Fatalf("default: %v %+v", err, ans)
		}
	})
	// A rule that could not be evaluated: its message (health/policy's sentence naming the rule,
	// its on_error and the cause) is quoted once, after the runtime, in the 403 and in warnings.
	t.Run("ErroredRuleWordedOnce", func(t *testing.T) {
		t.Parallel()
		a, snap, now := gateAnswers(t, health.GateFunc(func(rt *store.Runtime, _ map[string]any) []health.Verdict {
			deny := rt.ID == "claude_code"
			word := "on_error: allow, so it allows"
			if deny {
				word = "on_error: deny, so it denies"
			}
			return []health.Verdict{{Rule: "broken", Severity: health.SeverityError, Outcome: health.VerdictError, Blocking: deny,
				Message: `policy rule "broken" could not be evaluated (` + word + `): no such key: max_tokens`}}
		}))
		_, err := a.BuildConfig(snap, now, "claude_code", store.ConfigOverrides{})
		if want := `runtime 'claude_code': policy rule "broken" could not be evaluated (on_error: deny, so it denies): no such key: max_tokens`; err == nil || err.Error() != want {
			t.Fatalf("403 text %v, want %q", err, want)
		}
		ans, err := a.BuildConfig(snap, now, "default", store.ConfigOverrides{})
		if want := `runtime 'default': policy rule "broken" could not be evaluated (on_error: allow, so it allows): no such key: max_tokens`; err != nil || len(ans.Warnings) == 0 || ans.Warnings[len(ans.Warnings)-1] != want {
			t.Fatalf("warnings %q (err %v), want the last %q", ans.Warnings, err, want)
		}
		// A gate that gives no message still names the rule and the runtime.
		a.Gate = health.GateFunc(func(*store.Runtime, map[string]any) []health.Verdict {
			return []health.Verdict{{Rule: "silent", Severity: health.SeverityError, Outcome: health.VerdictError, Blocking: true}}
		})
		if _, err := a.BuildConfig(snap, now, "claude_code", store.ConfigOverrides{}); err == nil || err.Error() != "policy rule 'silent' could not be evaluated for runtime 'claude_code'" {
			t.Fatalf("without a message: %v", err)
		}
	})
}
