// Package health owns the answers that depend on health: the record of sync runs and the
// control plane's state as the sync sees it, runtime health classes, staleness and fallback
// rules.
//
// health is a leaf beside store: it may use store's types and imports nothing else of this
// project.
package health

import (
	"slices"
	"sync"
	"time"

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
	// Rejected says which runtime objects of the answer were left out as unusable, and why.
	Rejected []string `json:"rejected,omitempty"`
}

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
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	Schedule            string     `json:"schedule,omitempty"`
	Running             bool       `json:"running"`
	NextRun             *time.Time `json:"next_run,omitempty"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Held                *Hold      `json:"held,omitempty"`
	// HighWater is the catalog size guard's high-water mark; nil when no store keeps one.
	HighWater *HighWater `json:"high_water,omitempty"`
	// RetryAfterUntil is set while the control plane's Retry-After holds calls back.
	RetryAfterUntil *time.Time `json:"retry_after_until,omitempty"`
	// LastRuns is newest first.
	LastRuns []Run `json:"last_runs"`
}

// History keeps the last runs, bounded. It is safe for concurrent use.
type History struct {
	mu          sync.Mutex
	max         int
	runs        []Run // oldest first
	lastSuccess time.Time
	failures    int
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
	case OutcomeChanged, OutcomeUnchanged, OutcomeHeld:
		h.failures = 0
		h.lastSuccess = r.StartedAt.Add(time.Duration(r.DurationMS * float64(time.Millisecond)))
	}
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
	if !h.lastSuccess.IsZero() {
		t := h.lastSuccess
		st.LastSuccess = &t
	}
}
