package health

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Component states, in the control plane's /api/health/detailed vocabulary.
const (
	ComponentHealthy       = "healthy"
	ComponentNotConfigured = "not configured"
	unhealthyPrefix        = "unhealthy: "
)

// Component is one dependency of the sidecar and its state: "healthy", "not configured" or
// "unhealthy: <why>".
type Component struct {
	Name  string
	State string
}

// Detailed is the sidecar's health in the control plane's detailed shape: one short state per
// component and an overall status, "healthy" or "degraded".
type Detailed struct {
	Components []Component
	// Status is "healthy" exactly when Assess finds nothing wrong; any other assessment,
	// whatever its reason, is "degraded" (and its reasons are in the "sidecar" component).
	Status string
}

// AssessDetailed describes in in the control plane's detailed shape. Components:
//   - store: the local copy of the catalog (unhealthy when there is none);
//   - control_plane: as the circuit breakers and the sync runs see it ("not configured"
//     when sync is disabled);
//   - sync: freshness of the data served (seed data, never confirmed, or beyond max_stale);
//   - sidecar: the overall assessment, "unhealthy: <every reason>" whenever it is not ok.
//
// The status comes from Assess alone, so every condition Assess learns about degrades it
// without this function listing it.
func AssessDetailed(in Inputs) Detailed {
	status, reasons := Assess(in)
	d := Detailed{Status: ComponentHealthy}
	if status != StatusOK {
		d.Status = StatusDegraded
	}
	add := func(name string, why []string) {
		st := ComponentHealthy
		if len(why) > 0 {
			st = unhealthyPrefix + strings.Join(why, "; ")
		}
		d.Components = append(d.Components, Component{Name: name, State: st})
	}

	var storeWhy []string
	if in.Snapshot == nil {
		storeWhy = append(storeWhy, "no runtime data")
	}
	add("store", storeWhy)

	var cpWhy []string
	kinds := make([]string, 0, len(in.Breakers))
	for k := range in.Breakers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if st := in.Breakers[k].State; st != "closed" {
			cpWhy = append(cpWhy, fmt.Sprintf("circuit breaker for %s calls is %s", k, st))
		}
	}
	if in.Sync.ConsecutiveFailures > 0 {
		cpWhy = append(cpWhy, fmt.Sprintf("%d sync run(s) failed in a row", in.Sync.ConsecutiveFailures))
	}
	if !in.Sync.Enabled && in.Sync.DisabledReason != "" && len(cpWhy) == 0 {
		d.Components = append(d.Components, Component{Name: "control_plane", State: ComponentNotConfigured})
	} else {
		add("control_plane", cpWhy)
	}

	var syncWhy []string
	if s := in.Snapshot; s != nil {
		switch {
		case s.Source == store.SourceSeed:
			syncWhy = append(syncWhy, "serving seed data")
		case s.FetchedAt.IsZero():
			syncWhy = append(syncWhy, "data never confirmed by the control plane")
		case s.Age(in.Now) > in.MaxStale:
			syncWhy = append(syncWhy, fmt.Sprintf("data is %s old, beyond max_stale %s", s.Age(in.Now).Truncate(time.Second), in.MaxStale))
		}
	}
	add("sync", syncWhy)

	if status == StatusOK {
		reasons = nil
	}
	add("sidecar", reasons)
	return d
}
