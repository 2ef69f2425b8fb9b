package health_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
)

// TestHistory_Counts: failed and skipped runs are counted apart, and a success resets both
// (four runs after a success, one failed and three skipped, read as such).
func TestHistory_Counts(t *testing.T) {
	t.Parallel()
	h := health.NewHistory(5)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	add := func(o health.Outcome) {
		h.Add(health.Run{ID: uint64(t0.Unix()), StartedAt: t0, Outcome: o})
		t0 = t0.Add(30 * time.Second)
	}
	add(health.OutcomeChanged)
	add(health.OutcomeFailed)
	for range 3 {
		add(health.OutcomeSkipped)
	}
	var st health.SyncStatus
	h.Fill(&st)
	if st.ConsecutiveFailures != 1 || st.SkippedSinceSuccess != 3 {
		t.Fatalf("failures %d skipped %d, want 1 and 3", st.ConsecutiveFailures, st.SkippedSinceSuccess)
	}
	add(health.OutcomeUnchanged)
	h.Fill(&st)
	if st.ConsecutiveFailures != 0 || st.SkippedSinceSuccess != 0 {
		t.Fatalf("after a success: failures %d skipped %d", st.ConsecutiveFailures, st.SkippedSinceSuccess)
	}
}

// TestHistory_Timeline: the timeline keeps the last TimelineSize runs oldest first, more than
// the last runs listed in full, with long errors cut.
func TestHistory_Timeline(t *testing.T) {
	t.Parallel()
	h := health.NewHistory(20)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	age := 12.0
	total := health.TimelineSize*2 + 7
	for i := 1; i <= total; i++ {
		r := health.Run{ID: uint64(i), StartedAt: t0.Add(time.Duration(i) * time.Second), DurationMS: float64(i), Outcome: health.OutcomeUnchanged}
		if i == total {
			r.Outcome, r.Error, r.DataAgeSeconds = health.OutcomeFailed, strings.Repeat("é", 5000), &age
		}
		h.Add(r)
	}
	var st health.SyncStatus
	h.Fill(&st)
	if len(st.LastRuns) != 20 || len(st.Timeline) != health.TimelineSize {
		t.Fatalf("last runs %d, timeline %d", len(st.LastRuns), len(st.Timeline))
	}
	for i, p := range st.Timeline {
		if want := uint64(total - health.TimelineSize + 1 + i); p.ID != want {
			t.Fatalf("timeline[%d] is run %d, want %d (oldest first)", i, p.ID, want)
		}
	}
	last := st.Timeline[len(st.Timeline)-1]
	if last.Outcome != health.OutcomeFailed || last.DataAgeSeconds == nil || *last.DataAgeSeconds != 12 {
		t.Errorf("last point %+v", last)
	}
	if len(last.Error) > 210 || !strings.HasSuffix(last.Error, "…") || !strings.HasPrefix(last.Error, "éé") {
		t.Errorf("error kept %d bytes: %.40q", len(last.Error), last.Error)
	}
}
