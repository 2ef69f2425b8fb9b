// Package health owns the answers that depend on health: the record of sync runs and the
// control plane's state as the sync sees it, runtime health classes, staleness and fallback
// rules.
//
// health is a leaf beside store: it may use store's types and imports nothing else of this
// project.
package health

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/store"
)

// Outcome is how a sync run ended.
type Outcome string

// The outcomes of a sync run.
const (
	// OutcomeChanged: a new revision was committed and published.
	OutcomeChanged Outcome = "changed"
	// OutcomeUnchanged: upstream confirmed the data; nothing was written.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeHeld: upstream's answer would empty or mostly drop the catalog; it is held back
	// until it repeats.
	OutcomeHeld Outcome = "held"
	// OutcomeFailed: nothing was stored; Error says why.
	OutcomeFailed Outcome = "failed"
	// OutcomeSkipped: no upstream call was made: no control plane configured, its breaker
	// is open, or its Retry-After has not passed.
	OutcomeSkipped Outcome = "skipped"
)

// Run is the record of one sync run.
type Run struct {
	ID         uint64        `json:"id"`
	Trigger    string        `json:"trigger"`
	StartedAt  time.Time     `json:"started_at"`
	DurationMS float64       `json:"duration_ms"`
	Outcome    Outcome       `json:"outcome"`
	Error      string        `json:"error,omitempty"`
	Revision   uint64        `json:"revision"`
	Runtimes   int           `json:"runtimes"`
	Change     *store.Change `json:"change,omitempty"`
	// Degraded lists runtimes whose requirements could not be refreshed in this run.
	Degraded []string `json:"degraded,omitempty"`
	// DataAgeSeconds is the age of the data served when the run ended; nil when that data
	// was never confirmed by the control plane (seed data).
	DataAgeSeconds *float64 `json:"data_age_seconds,omitempty"`
	// Rejected says which runtime objects of the answer were left out as unusable, and why.
	Rejected []string `json:"rejected,omitempty"`
}

// DataAge is the age of snap's data at now in seconds, for Run.DataAgeSeconds: nil when there
// is no snapshot or its data was never confirmed by the control plane.
func DataAge(snap *store.Snapshot, now time.Time) *float64 {
	if snap == nil || snap.FetchedAt.IsZero() {
		return nil
	}
	a := snap.Age(now).Seconds()
	return &a
}

// RunPoint is one sync run on the dashboard's timeline: small, so that many are kept.
type RunPoint struct {
	ID             uint64    `json:"id"`
	StartedAt      time.Time `json:"started_at"`
	DurationMS     float64   `json:"duration_ms"`
	Outcome        Outcome   `json:"outcome"`
	Revision       uint64    `json:"revision"`
	DataAgeSeconds *float64  `json:"data_age_seconds,omitempty"`
	// Error is the run's error, cut to maxPointError bytes.
	Error string `json:"error,omitempty"`
}

// TimelineSize is how many runs the timeline keeps (an hour at the default 30s schedule).
const TimelineSize = 120

const maxPointError = 200

// Hold describes an upstream answer being held back.
type Hold struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
	// Seen is how many runs in a row returned this answer; it is committed when Seen
	// reaches Needed.
	Seen    int `json:"seen"`
	Needed  int `json:"needed"`
	Serving int `json:"runtimes_serving"`
	Answer  int `json:"runtimes_in_answer"`
}

// SyncStatus is what GET /v1/sync reports.
type SyncStatus struct {
	Enabled bool `json:"enabled"`
	// DisabledReason says why no sync runs, when Enabled is false.
	DisabledReason string     `json:"disabled_reason,omitempty"`
	Schedule       string     `json:"schedule,omitempty"`
	Running        bool       `json:"running"`
	NextRun        *time.Time `json:"next_run,omitempty"`
	// Scheduled is true while the schedule is started (the poller runs and syncs): only then
	// is a missing or far-off NextRun a fault. A poller never started, or with sync disabled,
	// has no next run and is not judged on it.
	Scheduled bool `json:"-"`
	// Interval is the schedule's longest gap between runs from NextRun on, and
	// Jitter the random delay a scheduled run may add; health judges NextRun against them.
	Interval    time.Duration `json:"-"`
	Jitter      time.Duration `json:"-"`
	LastSuccess *time.Time    `json:"last_success,omitempty"`
	// ConsecutiveFailures counts the failed runs since the last successful one (changed,
	// unchanged or held); skipped runs neither count nor reset it.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// SkippedSinceSuccess counts the skipped runs (breaker open, Retry-After) since then.
	SkippedSinceSuccess int   `json:"skipped_since_success"`
	Held                *Hold `json:"held,omitempty"`
	// HighWater is the catalog size guard's high-water mark; nil when no store keeps one.
	HighWater *HighWater `json:"high_water,omitempty"`
	// RetryAfterUntil is set while the control plane's Retry-After holds calls back.
	RetryAfterUntil *time.Time `json:"retry_after_until,omitempty"`
	// RetryAfterReason says which answer asked for the wait, and whether it was capped.
	RetryAfterReason string `json:"retry_after_reason,omitempty"`
	// Relay is set when the upstream is a list of relays (fleet mode): which one is followed,
	// the chain the data came through and each relay's state.
	Relay *RelayStatus `json:"relay,omitempty"`
	// LastRuns is newest first.
	LastRuns []Run `json:"last_runs"`
	// Timeline is the last TimelineSize runs, oldest first, for history at a glance.
	Timeline []RunPoint `json:"timeline"`
}

// History keeps the last runs, bounded. It is safe for concurrent use.
type History struct {
	mu          sync.Mutex
	max         int
	runs        []Run // oldest first
	lastSuccess time.Time
	failures    int
	skipped     int
	// points is a ring of the last TimelineSize runs; next is where the next one goes.
	points []RunPoint
	next   int
}

// NewHistory keeps up to limit runs (at least 1).
func NewHistory(limit int) *History {
	return &History{max: max(limit, 1)}
}

// Add records a finished run.
func (h *History) Add(r Run) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs = append(h.runs, r)
	if len(h.runs) > h.max {
		h.runs = slices.Clone(h.runs[len(h.runs)-h.max:])
	}
	switch r.Outcome {
	case OutcomeFailed:
		h.failures++
	case OutcomeSkipped:
		h.skipped++
	case OutcomeChanged, OutcomeUnchanged, OutcomeHeld:
		h.failures, h.skipped = 0, 0
		h.lastSuccess = r.StartedAt.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))
	}
	p := RunPoint{ID: r.ID, StartedAt: r.StartedAt, DurationMS: r.DurationMS, Outcome: r.Outcome,
		Revision: r.Revision, DataAgeSeconds: r.DataAgeSeconds, Error: cutUTF8(r.Error, maxPointError)}
	if len(h.points) < TimelineSize {
		h.points = append(h.points, p)
	} else {
		h.points[h.next] = p
	}
	h.next = (h.next + 1) % TimelineSize
}

// cutUTF8 returns s cut to at most n bytes on a rune boundary, as a copy (a long error must
// not keep its whole backing array alive in the ring).
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n]) + "…"
}

// Fill sets the history fields of st: runs newest first, last success, consecutive failures.
func (h *History) Fill(st *SyncStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.LastRuns = make([]Run, 0, len(h.runs))
	for i := len(h.runs) - 1; i >= 0; i-- {
		st.LastRuns = append(st.LastRuns, h.runs[i])
	}
	st.ConsecutiveFailures = h.failures
	st.SkippedSinceSuccess = h.skipped
	st.Timeline = make([]RunPoint, 0, len(h.points))
	if len(h.points) == TimelineSize {
		st.Timeline = append(st.Timeline, h.points[h.next:]...)
		st.Timeline = append(st.Timeline, h.points[:h.next]...)
	} else {
		st.Timeline = append(st.Timeline, h.points...)
	}
	if !h.lastSuccess.IsZero() {
		t := h.lastSuccess
		st.LastSuccess = &t
	}
}
