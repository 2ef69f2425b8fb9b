package health_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// TestAssessDetailed_AnyReasonDegrades: a condition the detailed report has no component for
// (here a start-up notice) still makes it degraded and is named, so conditions added to Assess
// later are never reported as healthy.
func TestAssessDetailed_AnyReasonDegrades(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := &store.Snapshot{Source: store.SourceUpstream, Catalog: store.SeedCatalog(), FetchedAt: now}
	in := health.Inputs{Snapshot: snap, Now: now, MaxStale: time.Minute, Sync: health.SyncStatus{Enabled: true}}
	if d := health.AssessDetailed(in); d.Status != "healthy" {
		t.Fatalf("fresh data: %+v", d)
	}
	in.Notices = []string{"data file was corrupt and moved aside"}
	d := health.AssessDetailed(in)
	if d.Status != "degraded" {
		t.Fatalf("a notice must degrade: %+v", d)
	}
	var found bool
	for _, c := range d.Components {
		if c.Name == "sidecar" && strings.Contains(c.State, "corrupt") && strings.HasPrefix(c.State, "unhealthy: ") {
			found = true
		}
	}
	if !found {
		t.Errorf("the reason is not named: %+v", d.Components)
	}
	in.Notices = nil
	in.Snapshot = nil
	if d := health.AssessDetailed(in); d.Status != "degraded" || d.Components[0].State == "healthy" {
		t.Errorf("no data: %+v", d)
	}
	in.Snapshot = snap
	in.Sync = health.SyncStatus{DisabledReason: "no API key"}
	d = health.AssessDetailed(in)
	if d.Status != "degraded" || d.Components[1] != (health.Component{Name: "control_plane", State: "not configured"}) {
		t.Errorf("sync disabled: %+v", d)
	}
}
