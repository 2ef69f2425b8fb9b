package health_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

func catalog(t testing.TB, objs ...string) *store.Catalog {
	t.Helper()
	c, err := store.ParseSnapshotFile([]byte("[" + strings.Join(objs, ",") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rt(id, status string, features []string, providers ...string) string {
	return fmt.Sprintf(`{"id":%q,"name":%q,"status":%q,"features":%s,"requirements":{"model_requirement":{"supported_providers":%s,"supported_families":["gpt"]}}}`,
		id, strings.ToUpper(id), status, jsonList(features), jsonList(providers))
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func anyModel(*store.Runtime, string) bool { return true }

func ids(rs []health.Ranked) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func TestSelect(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	c := catalog(t,
		rt("b_tied", "available", []string{"Code Review", "Streaming"}, "openai"),
		rt("a_tied", "available", []string{"code_review", "streaming"}, "openai"),
		rt("partial", "available", []string{"Code Review"}, "openai", "anthropic"),
		rt("sick", "error", []string{"Code Review", "Streaming", "Voice"}, "openai"),
		rt("odd", "experimental", []string{"Code Review", "Streaming"}, "openai"),
	)
	t.Run("TieBrokenByID", func(t *testing.T) {
		sel, err := health.Select(c, cls, anyModel, health.SelectRequest{Features: []string{"code-review", "STREAMING"}, Provider: "OpenAI"})
		if err != nil {
			t.Fatal(err)
		}
		if sel.Best == nil || sel.Best.ID != "a_tied" || sel.Best.Score != 100 {
			t.Fatalf("best %+v", sel.Best)
		}
		// Among the ineligible, score decides: sick has every feature but is unhealthy.
		if got := ids(sel.Candidates); got != "a_tied,b_tied,odd,sick,partial" {
			t.Errorf("ranking %s", got)
		}
		odd := sel.Candidates[2]
		if odd.Health != health.Unknown || odd.Score != 95 || !odd.Eligible {
			t.Errorf("unknown health ranks below healthy but stays eligible: %+v", odd)
		}
		partial := sel.Candidates[4]
		if partial.Eligible || strings.Join(partial.MissingFeatures, ",") != "STREAMING" || !strings.Contains(partial.Reason, "lacks 1 of 2 features") {
			t.Errorf("partial %+v", partial)
		}
	})
	t.Run("UnhealthyOnlyWhenAllowed", func(t *testing.T) {
		req := health.SelectRequest{Features: []string{"voice"}}
		sel, _ := health.Select(c, cls, anyModel, req)
		if sel.Best != nil || !strings.Contains(strings.Join(sel.Unmet, " "), "every runtime") && !strings.Contains(strings.Join(sel.Unmet, " "), "no single runtime") {
			t.Fatalf("best %+v unmet %v", sel.Best, sel.Unmet)
		}
		req.AllowUnhealthy = true
		sel, _ = health.Select(c, cls, anyModel, req)
		if sel.Best == nil || sel.Best.ID != "sick" {
			t.Fatalf("with allow_unhealthy: %+v", sel.Best)
		}
	})
	t.Run("UnmetNamesRequirement", func(t *testing.T) {
		sel, _ := health.Select(c, cls, func(*store.Runtime, string) bool { return false },
			health.SelectRequest{Features: []string{"teleport"}, Provider: "cohere", Model: "x"})
		got := strings.Join(sel.Unmet, "\n")
		for _, want := range []string{`feature "teleport"`, `provider "cohere"`, `model "x"`} {
			if !strings.Contains(got, want) {
				t.Errorf("unmet lacks %s:\n%s", want, got)
			}
		}
	})
	t.Run("Candidates", func(t *testing.T) {
		sel, err := health.Select(c, cls, anyModel, health.SelectRequest{Candidates: []string{"partial", "sick", "partial"}})
		if err != nil || ids(sel.Candidates) != "partial,sick" || sel.Best.ID != "partial" {
			t.Fatalf("%v %s", err, ids(sel.Candidates))
		}
		if _, err := health.Select(c, cls, anyModel, health.SelectRequest{Candidates: []string{"nope", "Partial"}}); !errors.Is(err, health.ErrUnknownCandidates) || !strings.Contains(err.Error(), "nope, Partial") {
			t.Errorf("unknown candidates: %v", err)
		}
	})
	t.Run("ThousandRuntimes", func(t *testing.T) {
		var objs []string
		for i := range 1000 {
			feats := []string{fmt.Sprintf("f%d", i%7), "common"}
			status := []string{"available", "beta", "error", "coming_soon"}[i%4]
			objs = append(objs, rt(fmt.Sprintf("rt-%04d", i), status, feats, []string{"openai", "anthropic"}[i%2]))
		}
		big := catalog(t, objs...)
		sel, err := health.Select(big, cls, anyModel, health.SelectRequest{Features: []string{"F3", "common"}, Provider: "anthropic"})
		if err != nil {
			t.Fatal(err)
		}
		// i%7==3 and i%2==1 and healthy (i%4 in 0,1): the smallest such i is 3? 3%4=3 (coming_soon) -> no; 17: 17%4=1 beta -> yes.
		if sel.Best == nil || sel.Best.ID != "rt-0017" || len(sel.Candidates) != health.DefaultSelectLimit || sel.Total != 1000 {
			t.Fatalf("best %+v", sel.Best)
		}
		for i, r := range sel.Candidates {
			if r.Rank != i+1 {
				t.Fatalf("rank %d at %d", r.Rank, i)
			}
		}
	})
}

func TestClassifier(t *testing.T) {
	t.Parallel()
	cls, err := health.NewClassifier(map[string]string{"Beta": "unknown", "maintenance": "unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]health.Class{
		"available": health.Healthy, "ACTIVE": health.Healthy, "beta": health.Unknown, "inactive": health.Unhealthy,
		"error": health.Unhealthy, "coming_soon": health.Unhealthy, "maintenance": health.Unhealthy, "whatever": health.Unknown,
	} {
		if got := cls.Classify(status); got != want {
			t.Errorf("%s: %s, want %s", status, got, want)
		}
	}
	if _, err := health.NewClassifier(map[string]string{"x": "fine"}); err == nil {
		t.Error("a bad class must be refused")
	}
}
