package sync_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// A runtime id longer than bbolt's key limit failed the commit of the whole catalog ("commit
// revision 1: key too large"), run after run: one such object stopped every sync and the
// runtimes beside it were never stored. It is now left out like any invalid object, its id
// clipped in the rejection; an id of exactly the limit is stored.
func TestPoller_OverlongIDLeftOut(t *testing.T) {
	t.Parallel()
	atLimit := strings.Repeat("y", store.MaxIDBytes)
	over := strings.Repeat("x", store.MaxIDBytes+1)
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON(over, ""), rtJSON(atLimit, ""))}})
	r := e.sync(t)
	if r.Outcome != health.OutcomeChanged {
		t.Fatalf("%s: %.300s", r.Outcome, r.Error)
	}
	cat := e.live.Load().Catalog
	if _, ok := cat.Get("a"); !ok || cat.Len() != 2 {
		t.Fatalf("served %d runtimes; want a and the id at the limit", cat.Len())
	}
	if _, ok := cat.Get(atLimit); !ok {
		t.Error("the id of exactly MaxIDBytes was not stored")
	}
	if len(r.Rejected) != 1 || len(r.Rejected[0]) > 512 || !strings.Contains(r.Rejected[0], "longer than the 32768 bytes") {
		t.Errorf("rejected (%d) = %.600q", len(r.Rejected), r.Rejected)
	}
	if r := e.sync(t); r.Outcome != health.OutcomeUnchanged {
		t.Errorf("second run: %s %.300s", r.Outcome, r.Error)
	}
}
