package health

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Overall statuses.
const (
	StatusOK       = "ok"       // fresh data, breakers closed
	StatusDegraded = "degraded" // serving, but something an operator should know about
	StatusDown     = "down"     // no snapshot at all
)

// Inputs is what the overall status is assessed from.
type Inputs struct {
	Snapshot *store.Snapshot
	Now      time.Time
	MaxStale time.Duration
	Sync     SyncStatus
	Breakers map[string]BreakerStatus
	// Notices are conditions found at start that an operator must hear of (a corrupt data
	// file moved aside).
	Notices []string
}

// HighWater is the largest catalog served within the guard's window (persisted across
// restarts) and the floor below which an upstream answer is held and serving is degraded.
type HighWater struct {
	Runtimes      int   `json:"runtimes"`
	WindowSeconds int64 `json:"window_seconds"`
	// Floor is (1 - drop_ratio) × Runtimes.
	Floor float64 `json:"floor"`
}

// Window is the window as people write it: "24h", "90m", "1h30m".
func (h HighWater) Window() string {
	s := (time.Duration(h.WindowSeconds) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Condition codes of the catalog served.
const (
	// CondCatalogEmpty: the catalog served has no runtime.
	CondCatalogEmpty = "catalog_empty"
	// CondBelowHighWater: the catalog served is below the floor of its high-water mark.
	CondBelowHighWater = "catalog_below_high_water"
)

// CatalogCondition is one typed reason the data served is not what it should be: a stable code for
// programs and a sentence for people.
type CatalogCondition struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CatalogConditions says whether the catalog served is empty or far below what was served
// within the high-water window. Either makes the overall status degraded, never ok: agents
// must learn that they are served less than there was.
func CatalogConditions(snap *store.Snapshot, hw *HighWater) []CatalogCondition {
	if snap == nil {
		return nil
	}
	n := snap.Catalog.Len()
	var out []CatalogCondition
	if n == 0 {
		out = append(out, CatalogCondition{Code: CondCatalogEmpty, Message: "serving an empty catalog: no runtime is known"})
	}
	if hw != nil && hw.Runtimes > 0 && float64(n) < hw.Floor {
		out = append(out, CatalogCondition{Code: CondBelowHighWater, Message: fmt.Sprintf(
			"serving %d runtimes, far below the %d served within the last %s", n, hw.Runtimes, hw.Window())})
	}
	return out
}

// Assess returns the overall status and every reason it is not ok, most serious first.
func Assess(in Inputs) (string, []string) {
	if in.Snapshot == nil {
		return StatusDown, []string{"no runtime data: nothing stored, no seed, no successful sync"}
	}
	var reasons []string
	s := in.Snapshot
	for _, c := range CatalogConditions(s, in.Sync.HighWater) {
		reasons = append(reasons, c.Message)
	}
	if st := StalenessOf(s, in.Now, in.MaxStale); st.Stale() {
		reasons = append(reasons, st.HealthReason())
	}
	kinds := make([]string, 0, len(in.Breakers))
	for k := range in.Breakers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if st := in.Breakers[k].State; st != "closed" {
			reasons = append(reasons, fmt.Sprintf("circuit breaker for %s calls is %s", k, st))
		}
	}
	if !in.Sync.Enabled && in.Sync.DisabledReason != "" {
		reasons = append(reasons, "sync disabled: "+in.Sync.DisabledReason)
	}
	if reason := scheduleStalled(in.Sync, in.Now); reason != "" {
		reasons = append(reasons, reason)
	}
	if in.Sync.ConsecutiveFailures > 0 {
		reasons = append(reasons, syncFailures(in.Sync))
	}
	if in.Sync.RetryAfterUntil != nil {
		reasons = append(reasons, "the control plane asked to wait (Retry-After) until "+in.Sync.RetryAfterUntil.Format(time.RFC3339))
	}
	if h := in.Sync.Held; h != nil {
		reasons = append(reasons, fmt.Sprintf("an upstream answer is held back: %s (%d of %d)", h.Reason, h.Seen, h.Needed))
	}
	reasons = append(reasons, in.Notices...)
	if d := s.Catalog.Degraded(); len(d) > 0 {
		reasons = append(reasons, fmt.Sprintf("%s could not be refreshed (serving the previous data; see each runtime's degraded reason)", quoteList(d)))
	}
	if len(in.Sync.LastRuns) > 0 && len(in.Sync.LastRuns[0].Rejected) > 0 {
		reasons = append(reasons, fmt.Sprintf("the last sync left out %d unusable runtime object(s): %s",
			len(in.Sync.LastRuns[0].Rejected), strings.Join(in.Sync.LastRuns[0].Rejected, "; ")))
	}
	if len(reasons) == 0 {
		return StatusOK, []string{}
	}
	return StatusDegraded, reasons
}

// scheduleOverdue is how long past its due time a scheduled run may be before health says the
// schedule has stalled (a run in flight or its jitter delay accounts for less).
const scheduleOverdue = time.Minute

// scheduleAheadIntervals is how many schedule intervals ahead the next scheduled run may be
// before health says no run is due (beyond the interval itself and the jitter).
const scheduleAheadIntervals = 3

// scheduleStalled says why no scheduled sync is coming, or "": the schedule is running but has
// no next run, its next run is long overdue, or it is further off than a few intervals (a
// clock jump, a stuck scheduler). A poller not started, or with sync disabled, has no
// schedule running and is not judged here (sync disabled is reported on its own).
func scheduleStalled(st SyncStatus, now time.Time) string {
	if !st.Enabled || st.Schedule == "" || st.Running {
		return ""
	}
	if st.NextRun == nil {
		if st.Scheduled {
			return fmt.Sprintf("scheduled syncs are not running: the schedule %q has no next run", st.Schedule)
		}
		return ""
	}
	if now.Sub(*st.NextRun) > scheduleOverdue {
		return fmt.Sprintf("scheduled syncs are not running: the next run of %q was due at %s", st.Schedule, st.NextRun.UTC().Format(time.RFC3339))
	}
	if st.Scheduled && st.Interval > 0 {
		limit := scheduleAheadIntervals*st.Interval + st.Jitter + scheduleOverdue
		if ahead := st.NextRun.Sub(now); ahead > limit {
			return fmt.Sprintf("no scheduled sync is due soon: the next run of %q is at %s, %s away (more than %d intervals of %s)",
				st.Schedule, st.NextRun.UTC().Format(time.RFC3339), ahead.Truncate(time.Second), scheduleAheadIntervals, st.Interval)
		}
	}
	return ""
}

// Groups sorts a catalog's runtimes into health classes, ids in catalog order.
func Groups(c *store.Catalog, cls *Classifier) map[Class][]string {
	g := map[Class][]string{Healthy: {}, Unhealthy: {}, Unknown: {}}
	for _, rt := range c.Runtimes() {
		cl := cls.Of(rt)
		g[cl] = append(g[cl], rt.ID)
	}
	return g
}

// ActiveFallback is one fallback rule and what it does now.
type ActiveFallback struct {
	Runtime string   `json:"runtime"`
	Chain   []string `json:"chain"`
	// Active is true when a request for Runtime resolves to another runtime now.
	Active     bool   `json:"active"`
	ResolvesTo string `json:"resolves_to,omitempty"`
	Reason     string `json:"reason"`
}

// Fallbacks evaluates every rule (each chain, without required features) against c.
func (r FallbackRules) Fallbacks(c *store.Catalog, cls *Classifier) []ActiveFallback {
	ids := make([]string, 0, len(r.Chains))
	for id := range r.Chains {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]ActiveFallback, 0, len(ids))
	for _, id := range ids {
		res, ok := r.Resolve(c, cls, id, nil)
		af := ActiveFallback{Runtime: id, Chain: slices.Clone(r.Chains[id]), Reason: res.Reason}
		if ok {
			af.Active, af.ResolvesTo = res.IsFallback, res.Runtime.ID
		} else {
			af.Active = true
		}
		out = append(out, af)
	}
	return out
}

// syncFailures says how many runs failed and were skipped since the last success, and the
// last failure's error (a skipped run's "breaker open" is not the cause).
func syncFailures(st SyncStatus) string {
	msg := plural(st.ConsecutiveFailures, "sync run", "sync runs") + " failed"
	if st.SkippedSinceSuccess > 0 {
		msg += " and " + plural(st.SkippedSinceSuccess, "was", "were") + " skipped"
	}
	msg += " since the last success"
	for _, r := range st.LastRuns {
		if r.Outcome == OutcomeFailed && r.Error != "" {
			return msg + "; last error: " + r.Error
		}
	}
	return msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
