package health_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
)

// A candidate id of exactly MaxSelectFieldBytes is accepted; one byte more is a bad request
// naming the candidate.
func TestSelectRequest_CandidateLengthBoundary(t *testing.T) {
	t.Parallel()
	ok := health.SelectRequest{Candidates: []string{"x", strings.Repeat("a", health.MaxSelectFieldBytes)}}
	if err := ok.Check(); err != nil {
		t.Fatalf("a %d-byte candidate: %v", health.MaxSelectFieldBytes, err)
	}
	long := health.SelectRequest{Candidates: []string{"x", strings.Repeat("a", health.MaxSelectFieldBytes+1)}}
	if err := long.Check(); err == nil || !strings.Contains(err.Error(), "candidates[1] is longer than 256 bytes") {
		t.Fatalf("a %d-byte candidate: %v, want candidates[1] named", health.MaxSelectFieldBytes+1, err)
	}
}

// Unknown candidates are all named up to ten; beyond ten, the first ten and how many more.
func TestSelect_UnknownCandidatesListed(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	c := catalog(t, rt("a", "available", nil, "openai"))
	unknown := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	_, err := health.Select(c, cls, anyModel, health.SelectRequest{Candidates: unknown(10)})
	if !errors.Is(err, health.ErrUnknownCandidates) || !strings.HasSuffix(err.Error(), ": u0, u1, u2, u3, u4, u5, u6, u7, u8, u9") {
		t.Fatalf("ten unknown candidates: %v, want all ten named", err)
	}
	_, err = health.Select(c, cls, anyModel, health.SelectRequest{Candidates: unknown(12)})
	if !errors.Is(err, health.ErrUnknownCandidates) || !strings.HasSuffix(err.Error(), ": u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, and 2 more") {
		t.Fatalf("twelve unknown candidates: %v, want ten named and 2 more", err)
	}
}

// When no runtime is eligible, "every runtime is unhealthy" is said only when that is so.
func TestSelect_UnmetUnhealthyOnlyWhenAllAre(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	const sentence = "every runtime is unhealthy (allow_unhealthy: true would allow them)"
	sel, err := health.Select(catalog(t, rt("sick", "error", []string{"x"}, "openai"), rt("sick2", "error", nil, "openai")), cls, anyModel,
		health.SelectRequest{Features: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if sel.Best != nil || !strings.Contains(strings.Join(sel.Unmet, "|"), sentence) {
		t.Fatalf("all unhealthy: best %v unmet %q, want %q", sel.Best, sel.Unmet, sentence)
	}
	sel, err = health.Select(catalog(t, rt("sick", "error", []string{"x"}, "openai"), rt("fine", "available", nil, "openai")), cls, anyModel,
		health.SelectRequest{Features: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if sel.Best != nil || strings.Contains(strings.Join(sel.Unmet, "|"), "unhealthy") {
		t.Fatalf("one healthy runtime lacking the feature: best %v unmet %q, want no word of unhealthy", sel.Best, sel.Unmet)
	}
}

// The last success is when the successful run ended: its start plus its duration.
func TestHistory_LastSuccessIsRunEnd(t *testing.T) {
	t.Parallel()
	h := health.NewHistory(10)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.Add(health.Run{ID: 1, StartedAt: start, DurationMS: 1500, Outcome: health.OutcomeUnchanged})
	var st health.SyncStatus
	h.Fill(&st)
	if want := start.Add(1500 * time.Millisecond); st.LastSuccess == nil || !st.LastSuccess.Equal(want) {
		t.Fatalf("last_success %v, want %v", st.LastSuccess, want)
	}
}

// An error of exactly the timeline's limit (200 bytes) is kept whole; a longer one is cut on a
// rune boundary and marked with "…".
func TestHistory_TimelineErrorCut(t *testing.T) {
	t.Parallel()
	h := health.NewHistory(10)
	exact := strings.Repeat("e", 200)
	long := strings.Repeat("e", 199) + "é" // 201 bytes, the last rune straddling the limit
	h.Add(health.Run{ID: 1, Outcome: health.OutcomeFailed, Error: exact})
	h.Add(health.Run{ID: 2, Outcome: health.OutcomeFailed, Error: long})
	var st health.SyncStatus
	h.Fill(&st)
	if len(st.Timeline) != 2 || st.Timeline[0].Error != exact || st.Timeline[1].Error != strings.Repeat("e", 199)+"…" {
		t.Fatalf("timeline errors %+v, want the 200-byte one whole and the 201-byte one cut to 199 and \"…\"", st.Timeline)
	}
}

// An error that is not UTF-8 at all (no rune start within the limit) is cut to nothing and
// marked, without running off the front of the string.
func TestHistory_TimelineErrorNotUTF8(t *testing.T) {
	t.Parallel()
	h := health.NewHistory(10)
	h.Add(health.Run{ID: 1, Outcome: health.OutcomeFailed, Error: strings.Repeat("\x80", 300)})
	var st health.SyncStatus
	h.Fill(&st)
	if len(st.Timeline) != 1 || st.Timeline[0].Error != "…" {
		t.Fatalf("timeline %+v, want the error cut to \"…\"", st.Timeline)
	}
}
