package health

import (
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Report is the health report (GET /v1/health, `runtimesd health`, the dashboard): overall
// status with reasons, the control plane and its breakers, the sync, runtimes by health class
// and the fallback rules active now.
type Report struct {
	Status       string          `json:"status"`
	Reasons      []string        `json:"reasons"`
	Version      string          `json:"version"`
	Snapshot     *ReportSnapshot `json:"snapshot"`
	ControlPlane struct {
		URL         string                   `json:"url,omitempty"`
		Breakers    map[string]BreakerStatus `json:"breakers"`
		Transitions []Transition             `json:"transitions"`
	} `json:"control_plane"`
	Sync     SyncStatus `json:"sync"`
	Runtimes struct {
		Healthy   []string        `json:"healthy"`
		Unhealthy []string        `json:"unhealthy"`
		Unknown   []string        `json:"unknown"`
		Degraded  []string        `json:"degraded"`
		Details   []RuntimeHealth `json:"details"`
	} `json:"runtimes"`
	Fallbacks      []ActiveFallback `json:"fallbacks"`
	DefaultRuntime string           `json:"default_runtime,omitempty"`
	// RecentChanges are the last change records, newest first, each list cut for the page.
	RecentChanges []ChangeSummary `json:"recent_changes"`
}

// ReportSnapshot is the data served: its provenance, size and bound of staleness.
type ReportSnapshot struct {
	Provenance
	MaxStaleSeconds int64     `json:"max_stale_seconds"`
	UpdatedAt       time.Time `json:"updated_at"`
	Runtimes        int       `json:"runtimes"`
	// ClockSkew: fetched_at is ahead of this machine's clock, so age_seconds (0) means
	// "unknown", not "fresh" (the dashboard and `runtimesd health` say so).
	ClockSkew bool `json:"clock_skew,omitempty"`
}

// RuntimeHealth is one runtime's status and health class.
type RuntimeHealth struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Health   Class  `json:"health"`
	Degraded string `json:"degraded,omitempty"`
}

// Bounds of recent_changes: the report is read every few seconds by every open dashboard, so
// a first sync that added 10,000 runtimes must not make it 10,000 ids long.
const (
	RecentChanges   = 10
	RecentChangeIDs = 20
)

// ChangeSummary is a change record with its id lists cut to RecentChangeIDs; the counts are
// the full ones (/v1/changes has the whole record).
type ChangeSummary struct {
	store.Change
	AddedCount   int `json:"added_count"`
	RemovedCount int `json:"removed_count"`
	ChangedCount int `json:"changed_count"`
}

// SummarizeChanges is the newest RecentChanges records of all, newest first, cut.
func SummarizeChanges(all []store.Change) []ChangeSummary {
	out := make([]ChangeSummary, 0, min(len(all), RecentChanges))
	for i := len(all) - 1; i >= 0 && len(out) < RecentChanges; i-- {
		c := all[i]
		sum := ChangeSummary{Change: c, AddedCount: len(c.Added), RemovedCount: len(c.Removed), ChangedCount: len(c.Changed)}
		sum.Added, sum.Removed, sum.Changed = c.Added[:min(len(c.Added), RecentChangeIDs)],
			c.Removed[:min(len(c.Removed), RecentChangeIDs)], c.Changed[:min(len(c.Changed), RecentChangeIDs)]
		if c.Fields != nil {
			sum.Fields = make(map[string][]string, len(sum.Changed))
			for _, id := range sum.Changed {
				if f, ok := c.Fields[id]; ok {
					sum.Fields[id] = f
				}
			}
		}
		out = append(out, sum)
	}
	return out
}

// ReportInputs is what a health report is made of besides the rules in force: the data served
// (nil when there is none), the moment, the process's own state.
type ReportInputs struct {
	Snapshot        *store.Snapshot
	Now             time.Time
	Version         string
	ControlPlaneURL string
	Sync            SyncStatus
	// Breakers and Transitions are the control plane's circuit breakers (nil: none).
	Breakers    map[string]BreakerStatus
	Transitions []Transition
	// Notices are conditions an operator must hear of (a corrupt data file moved aside).
	Notices []string
}

// Report assembles the health report.
func (a Answers) Report(in ReportInputs) Report {
	var r Report
	r.Version = in.Version
	r.Sync = in.Sync
	r.ControlPlane.URL = in.ControlPlaneURL
	r.ControlPlane.Breakers = in.Breakers
	if r.ControlPlane.Breakers == nil {
		r.ControlPlane.Breakers = map[string]BreakerStatus{}
	}
	r.ControlPlane.Transitions = in.Transitions
	if r.ControlPlane.Transitions == nil {
		r.ControlPlane.Transitions = []Transition{}
	}
	snap := in.Snapshot
	r.Status, r.Reasons = Assess(Inputs{Snapshot: snap, Now: in.Now, MaxStale: a.MaxStale,
		Sync: r.Sync, Breakers: r.ControlPlane.Breakers, Notices: in.Notices})
	r.DefaultRuntime = a.Fallback.Default
	r.Fallbacks = []ActiveFallback{}
	r.Runtimes.Healthy, r.Runtimes.Unhealthy, r.Runtimes.Unknown = []string{}, []string{}, []string{}
	r.Runtimes.Degraded, r.Runtimes.Details = []string{}, []RuntimeHealth{}
	r.RecentChanges = []ChangeSummary{}
	if snap == nil {
		return r
	}
	r.RecentChanges = SummarizeChanges(snap.Changes)
	r.Snapshot = &ReportSnapshot{Provenance: ProvenanceOf(snap, in.Now, a.MaxStale), MaxStaleSeconds: int64(a.MaxStale / time.Second),
		UpdatedAt: snap.UpdatedAt.UTC(), Runtimes: snap.Catalog.Len(), ClockSkew: snap.FromFuture(in.Now)}
	g := Groups(snap.Catalog, a.Classifier)
	r.Runtimes.Healthy, r.Runtimes.Unhealthy, r.Runtimes.Unknown = g[Healthy], g[Unhealthy], g[Unknown]
	for _, rt := range snap.Catalog.Runtimes() {
		r.Runtimes.Details = append(r.Runtimes.Details, RuntimeHealth{ID: rt.ID, Name: rt.Name, Status: rt.Status,
			Health: a.Classifier.Of(rt), Degraded: rt.Degraded})
		if rt.Degraded != "" {
			r.Runtimes.Degraded = append(r.Runtimes.Degraded, rt.ID)
		}
	}
	r.Fallbacks = a.Fallback.Fallbacks(snap.Catalog, a.Classifier)
	return r
}
