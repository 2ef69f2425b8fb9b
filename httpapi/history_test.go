package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestHealthHistory: /v1/health carries what the dashboard draws: the run timeline with the
// data age after each run, the breaker transitions, the recent changes with their fields,
// failed and skipped runs counted apart, and bounded lists.
func TestHealthHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, withHealth(health.FallbackRules{}))
	type report struct {
		Sync struct {
			ConsecutiveFailures int `json:"consecutive_failures"`
			SkippedSinceSuccess int `json:"skipped_since_success"`
			Timeline            []struct {
				Outcome        string   `json:"outcome"`
				DataAgeSeconds *float64 `json:"data_age_seconds"`
				Error          string   `json:"error"`
			} `json:"timeline"`
		} `json:"sync"`
		ControlPlane struct {
			Transitions []health.Transition `json:"transitions"`
		} `json:"control_plane"`
		RecentChanges []struct {
			Revision     uint64              `json:"revision"`
			Added        []string            `json:"added"`
			AddedCount   int                 `json:"added_count"`
			Changed      []string            `json:"changed"`
			ChangedCount int                 `json:"changed_count"`
			Fields       map[string][]string `json:"fields"`
		} `json:"recent_changes"`
	}
	get := func() report {
		t.Helper()
		a := do(t, "GET", h.url+"/v1/health", "")
		var r report
		if err := json.Unmarshal(a.body, &r); err != nil || a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		return r
	}
	if r := get(); len(r.Sync.Timeline) != 0 || len(r.RecentChanges) != 0 {
		t.Fatalf("before any run: %+v", r)
	}
	h.sync(t) // 1: the fake's catalog
	for i := range 25 {
		if err := h.fake.PutRuntime(fmt.Appendf(nil, `{"id":"bulk%02d","status":"beta"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	h.sync(t) // 2: 25 added
	if err := h.fake.PutRuntime([]byte(`{"id":"bulk03","status":"active"}`)); err != nil {
		t.Fatal(err)
	}
	h.sync(t) // 3: bulk03 changed
	h.sync(t) // unchanged
	h.fake.SetFault(fakecp.Fault500)
	for range 8 {
		h.sync(t)
	}
	r := get()
	if n := len(r.Sync.Timeline); n != 12 {
		t.Fatalf("timeline has %d runs, want 12", n)
	}
	first, fourth, last := r.Sync.Timeline[0], r.Sync.Timeline[3], r.Sync.Timeline[11]
	if first.Outcome != "changed" || fourth.Outcome != "unchanged" || first.DataAgeSeconds == nil {
		t.Errorf("timeline starts %+v ... %+v", first, fourth)
	}
	if last.Outcome != "skipped" || last.DataAgeSeconds == nil || last.Error == "" {
		t.Errorf("last run %+v: want skipped (breaker open) with the data age", last)
	}
	failed, skipped := 0, 0
	for _, p := range r.Sync.Timeline {
		switch p.Outcome {
		case "failed":
			failed++
		case "skipped":
			skipped++
		}
	}
	if failed == 0 || skipped == 0 || r.Sync.ConsecutiveFailures != failed || r.Sync.SkippedSinceSuccess != skipped {
		t.Errorf("counts: failures %d skipped %d; timeline has %d failed, %d skipped",
			r.Sync.ConsecutiveFailures, r.Sync.SkippedSinceSuccess, failed, skipped)
	}
	opened := false
	for _, tr := range r.ControlPlane.Transitions {
		opened = opened || (tr.Kind == "list" && tr.To == "open")
	}
	if !opened {
		t.Errorf("transitions %+v: want the list breaker opening", r.ControlPlane.Transitions)
	}
	if len(r.RecentChanges) != 3 {
		t.Fatalf("recent changes: %+v", r.RecentChanges)
	}
	c3, c2 := r.RecentChanges[0], r.RecentChanges[1]
	if c3.Revision != 3 || len(c3.Changed) != 1 || c3.Changed[0] != "bulk03" || len(c3.Fields["bulk03"]) != 1 || c3.Fields["bulk03"][0] != "/status" {
		t.Errorf("newest change %+v", c3)
	}
	if c2.Revision != 2 || len(c2.Added) != 20 || c2.AddedCount != 25 {
		t.Errorf("a 25-runtime change: %d ids listed, count %d; want 20 and 25", len(c2.Added), c2.AddedCount)
	}
}
