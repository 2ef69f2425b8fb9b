package health_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

func TestAnswers_Report(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	a := health.Answers{Classifier: cls, MaxStale: time.Minute,
		Fallback: health.FallbackRules{Chains: map[string][]string{"soon": {"bare"}}, Default: "bare"}}
	now := time.Unix(1_700_000_100, 0)
	t.Run("Down", func(t *testing.T) {
		t.Parallel()
		r := a.Report(health.ReportInputs{Now: now, Version: "v1"})
		if r.Status != health.StatusDown || r.Snapshot != nil || r.Version != "v1" || r.ControlPlane.Breakers == nil ||
			r.ControlPlane.Transitions == nil || r.Runtimes.Details == nil || r.RecentChanges == nil || r.Fallbacks == nil {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("Serving", func(t *testing.T) {
		t.Parallel()
		cat := catalogOf(t, strictRT, soonRT, bareRT)
		strict, _ := cat.Get("strict")
		strict.Degraded = "x"
		var changes []store.Change
		for i := 1; i <= 12; i++ {
			c := store.Change{Revision: uint64(i)}
			for j := 0; j < 25; j++ {
				c.Added = append(c.Added, fmt.Sprint("a", j))
			}
			changes = append(changes, c)
		}
		snap := &store.Snapshot{Revision: 12, Source: store.SourceUpstream, FetchedAt: now.Add(-2 * time.Minute), Catalog: cat, Changes: changes}
		r := a.Report(health.ReportInputs{Snapshot: snap, Now: now, ControlPlaneURL: "http://cp", Notices: []string{"moved aside"},
			Breakers: map[string]health.BreakerStatus{"list": {State: "open"}}})
		reasons := strings.Join(r.Reasons, "|")
		if r.Status != health.StatusDegraded || !strings.Contains(reasons, "data is 2m0s old, beyond max_stale 1m0s") ||
			!strings.Contains(reasons, "circuit breaker for list calls is open") || !strings.Contains(reasons, "moved aside") {
			t.Fatalf("status %s reasons %q", r.Status, r.Reasons)
		}
		s := r.Snapshot
		if s == nil || !s.Stale || s.Runtimes != 3 || s.MaxStaleSeconds != 60 || s.Revision != 12 || s.ClockSkew {
			t.Fatalf("snapshot %+v", s)
		}
		if strings.Join(r.Runtimes.Healthy, ",") != "bare" || strings.Join(r.Runtimes.Unhealthy, ",") != "strict,soon" ||
			strings.Join(r.Runtimes.Degraded, ",") != "strict" || len(r.Runtimes.Details) != 3 || r.Runtimes.Details[0].Degraded != "x" {
			t.Fatalf("runtimes %+v", r.Runtimes)
		}
		if len(r.RecentChanges) != health.RecentChanges || r.RecentChanges[0].Revision != 12 ||
			len(r.RecentChanges[0].Added) != health.RecentChangeIDs || r.RecentChanges[0].AddedCount != 25 {
			t.Fatalf("recent changes %+v", r.RecentChanges[0])
		}
		if r.DefaultRuntime != "bare" || len(r.Fallbacks) != 1 || !r.Fallbacks[0].Active || r.Fallbacks[0].ResolvesTo != "bare" {
			t.Fatalf("fallbacks %+v", r.Fallbacks)
		}
	})
}

func TestAnswers_ListAndViews(t *testing.T) {
	t.Parallel()
	cls, _ := health.NewClassifier(nil)
	a := health.Answers{Classifier: cls, MaxStale: time.Minute}
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: now, Catalog: catalogOf(t, strictRT, soonRT, bareRT)}
	f, err := a.ListFilter(snap, store.Filter{}, "UNHEALTHY")
	if err != nil {
		t.Fatal(err)
	}
	l := a.List(snap, now, f)
	if l.Count != 2 || l.Runtimes[0].ID != "strict" || l.Runtimes[1].ID != "soon" {
		t.Fatalf("list %+v", l)
	}
	if _, err := a.ListFilter(snap, store.Filter{}, "sick"); err == nil || !strings.Contains(err.Error(), `health must be healthy, unhealthy or unknown, got "sick"`) {
		t.Fatalf("err %v", err)
	}
	if _, err := a.ListFilter(snap, store.Filter{Type: "x"}, ""); err == nil || !strings.Contains(err.Error(), "filter type: ") {
		t.Fatalf("err %v", err)
	}
	soon, _ := a.Lookup(snap, "soon")
	v := health.ViewOf(soon)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(v.Requirements) != "null" || v.Features == nil || v.Providers == nil || v.Families == nil || v.Degraded ||
		!strings.Contains(string(b), `"runtime":{"id":"soon"`) || strings.Contains(string(b), `"type"`) {
		t.Fatalf("view %s", b)
	}
	if _, err := a.Lookup(snap, "Soon"); err == nil || !strings.Contains(err.Error(), `did you mean "soon"?`) {
		t.Fatalf("lookup err %v", err)
	}
}
