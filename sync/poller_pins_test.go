package sync_test

import (
	"fmt"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// Poller options that survived a gremlins run of sync (issue 14).

// drop_ratio: 1 lets an answer remove any share of the catalog (short of emptying it) at once;
// the default 0.5 holds an answer that removes 6 of 10 runtimes.
func TestPoller_DropRatioOption(t *testing.T) {
	t.Parallel()
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = rtJSON(fmt.Sprintf("r%d", i), "")
	}
	for _, tc := range []struct {
		ratio float64
		want  health.Outcome
	}{{1, health.OutcomeChanged}, {0, health.OutcomeHeld}, {0.7, health.OutcomeChanged}} {
		t.Run(fmt.Sprint(tc.ratio), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(ten...)}, poller: rsync.Options{DropRatio: tc.ratio}})
			e.sync(t)
			e.setCatalog(t, catalogJSON(ten[:4]...))
			if r := e.sync(t); r.Outcome != tc.want {
				t.Fatalf("drop_ratio %v, an answer removing 6 of 10: %s (%s), want %s", tc.ratio, r.Outcome, r.Error, tc.want)
			}
		})
	}
}

// history: the number of runs GET /v1/sync lists (default 20).
func TestPoller_HistoryOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ history, want int }{{2, 2}, {0, 3}} {
		t.Run(fmt.Sprint(tc.history), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{poller: rsync.Options{History: tc.history}})
			for range 3 {
				e.sync(t)
			}
			if got := len(e.poller.Status().LastRuns); got != tc.want {
				t.Fatalf("history %d after 3 runs: %d runs listed, want %d", tc.history, got, tc.want)
			}
		})
	}
}
