package sync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestSRE_RunThatTripsTheBreakerIsFailed: with the default 3 attempts a run and 5 failures to
// open the breaker, the second run against a failing control plane makes two calls that fail
// (HTTP 500) and then finds the breaker it opened: that run failed, with the 500 as its error,
// and is not a skipped run (runtimesd_sync_runs_total{outcome="failed"} and /v1/health's
// "sync runs failed" must count it).
func TestSRE_RunThatTripsTheBreakerIsFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{client: rsync.ClientOptions{BreakerFailures: 5, BreakerOpenTimeout: time.Minute,
		Retries: 2, RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond}})
	e.sync(t)
	e.fake.SetFault(fakecp.Fault500)
	if r := e.sync(t); r.Outcome != health.OutcomeFailed {
		t.Fatalf("first failing run: %+v", r)
	}
	calls := e.fake.Count("/api/v1/runtimes")
	r := e.sync(t)
	if e.fake.Count("/api/v1/runtimes") == calls || e.client.BreakerStates()[rsync.CallList] != "open" {
		t.Fatalf("the second run made no call or left the breaker %v", e.client.BreakerStates())
	}
	if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "500") {
		t.Errorf("a run whose calls failed with HTTP 500 (and opened the breaker): outcome %s, error %q; want failed with the 500", r.Outcome, r.Error)
	}
}
