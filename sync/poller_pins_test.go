package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	stdsync "sync"
	"testing"
	"time"

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

// gatedUpstream lets a test hold a list call in flight: started is closed when the call has
// begun, and the call answers only after release is closed.
type gatedUpstream struct {
	rsync.Upstream
	started, release chan struct{}
	once             stdsync.Once
}

func (g *gatedUpstream) ListRuntimes(ctx context.Context) ([]json.RawMessage, error) {
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Upstream.ListRuntimes(ctx)
}

// GET /v1/sync says running while a run is in flight, and not before or after; runs are
// numbered 1, 2, ... and each reports its duration in milliseconds.
func TestPoller_StatusRunningAndRunNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	g := &gatedUpstream{Upstream: e.client, started: make(chan struct{}), release: make(chan struct{})}
	p, err := rsync.NewPoller(rsync.Options{Upstream: g, DB: e.db, Live: e.live})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.Status().Running {
		t.Fatal("running before any run")
	}
	type result struct {
		r   health.Run
		err error
	}
	done := make(chan result, 1)
	begin := time.Now()
	go func() {
		r, err := p.SyncNow(context.Background(), "test")
		done <- result{r, err}
	}()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never called upstream")
	}
	if !p.Status().Running {
		t.Error("not running while a run is in flight")
	}
	time.Sleep(20 * time.Millisecond) // a run at least this long, so its duration is measurable
	close(g.release)
	var first result
	select {
	case first = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never ended")
	}
	took := time.Since(begin)
	if first.err != nil || first.r.Outcome != health.OutcomeChanged {
		t.Fatalf("run: %+v, %v", first.r, first.err)
	}
	if p.Status().Running {
		t.Error("still running after the run ended")
	}
	if first.r.DurationMS < 20 || first.r.DurationMS > float64(took.Milliseconds())+1 {
		t.Errorf("duration_ms %v, want between 20 and the %d ms the call took", first.r.DurationMS, took.Milliseconds())
	}
	second, err := p.SyncNow(context.Background(), "test") // release stays closed: ungated
	if err != nil || second.Outcome != health.OutcomeUnchanged {
		t.Fatalf("second run: %+v, %v", second, err)
	}
	if first.r.ID != 1 || second.ID != 2 {
		t.Errorf("run ids %d, %d; want 1, 2", first.r.ID, second.ID)
	}
	if runs := p.Status().LastRuns; len(runs) != 2 || runs[0].ID != 2 || runs[1].ID != 1 {
		t.Errorf("last runs %+v, want runs 2 and 1, newest first", runs)
	}
}

// Cumulative shrink: an answer that ends exactly at the high-water floor ((1 - drop_ratio) ×
// the most served) is committed; one runtime fewer is held.
func TestPoller_HighWaterFloorItselfIsAllowed(t *testing.T) {
	t.Parallel()
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = rtJSON(fmt.Sprintf("r%d", i), "")
	}
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(ten...)}})
	e.sync(t)
	for _, step := range []struct {
		n    int
		want health.Outcome
	}{{6, health.OutcomeChanged}, {5, health.OutcomeChanged}, {4, health.OutcomeHeld}} {
		e.setCatalog(t, catalogJSON(ten[:step.n]...))
		if r := e.sync(t); r.Outcome != step.want {
			t.Fatalf("answer of %d after a high-water mark of 10 (floor 5): %s (%s), want %s", step.n, r.Outcome, r.Error, step.want)
		}
	}
}

// hold_repeats 1 turns the guard off: an emptying answer is committed at once, and the log
// does not claim an answer was held back.
func TestPoller_HoldRepeatsOneHoldsNothing(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""))},
		poller: rsync.Options{HoldRepeats: 1, Logger: logs.logger()}})
	e.sync(t)
	e.setCatalog(t, catalogJSON())
	if r := e.sync(t); r.Outcome != health.OutcomeChanged || e.servedIDs() != "" {
		t.Fatalf("hold_repeats 1, empty answer: %s (%s), serving %q; want it committed", r.Outcome, r.Error, e.servedIDs())
	}
	if l := logs.take(); strings.Contains(l, "held back") {
		t.Errorf("log claims a hold that never was: %s", l)
	}
}

// lateUpstream answers the list only once the run's own context has ended (a list that
// arrives just as the run's time runs out).
type lateUpstream struct{ rsync.Upstream }

func (l lateUpstream) ListRuntimes(ctx context.Context) ([]json.RawMessage, error) {
	items, err := l.Upstream.ListRuntimes(ctx)
	<-ctx.Done()
	return items, err
}

// The run timeout bounds the requirement fetches still to make: a list that arrived with every
// requirement inline is committed even when the run's time ran out just after it, since nothing
// was left to fetch (poller.go:566 survivor).
func TestPoller_InlineListArrivingAtTheTimeoutIsCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""))}})
	r := e.syncWith(t, rsync.Options{Upstream: lateUpstream{e.client}, RunTimeout: 300 * time.Millisecond})
	if r.Outcome != health.OutcomeChanged || e.servedIDs() != "a,b" {
		t.Fatalf("run %s (%s), serving %q; want the inline answer committed", r.Outcome, r.Error, e.servedIDs())
	}
}

// A left-out object is named by its place in the list and, when it has one, its id; an
// object without an id gets no empty quotes (poller.go:616 survivor).
func TestPoller_RejectedObjectsNamed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), `{"name":"no id"}`, `{"id":"f","status":["x"]}`)}})
	r := e.sync(t)
	if len(r.Rejected) != 2 || !strings.HasPrefix(r.Rejected[0], "runtime 1 in the list left out: ") ||
		!strings.HasPrefix(r.Rejected[1], `runtime 2 in the list ("f") left out: `) {
		t.Fatalf("rejected = %q; want runtime 1 named by place only, runtime 2 by place and id", r.Rejected)
	}
}

// With requirements_mode fetch the endpoint is asked every run, even when the list object is
// byte for byte the same and carries the same requirements inline: its failure then shows as
// degraded, the previous requirements kept (poller.go:634 survivor).
func TestPoller_FetchModeAsksTheEndpointEveryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""))}, poller: rsync.Options{RequirementsMode: rsync.ModeFetch}})
	e.sync(t)
	e.fake.FailRequirements("a", 500)
	r := e.sync(t)
	a, _ := e.live.Load().Catalog.Get("a")
	if n := e.fake.Count("/api/v1/runtimes/a/requirements"); n < 2 || a.Requirements == nil || !strings.Contains(a.Degraded, "serving the previous requirements") {
		t.Fatalf("second run %s: %d requirement requests, degraded %q; want the endpoint asked again, its failure shown", r.Outcome, n, a.Degraded)
	}
}

// hold_repeats 1: a runtime that loses its requirements loses them at once, and the log does
// not claim upstream repeated anything (poller.go:663 survivor).
func TestPoller_HoldRepeatsOneDropsLostRequirementsQuietly(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""))},
		poller: rsync.Options{HoldRepeats: 1, Logger: logs.logger()}})
	e.sync(t)
	if err := e.fake.PutRuntime([]byte(`{"id":"b","name":"Runtime b","status":"available","features":["f1"]}`)); err != nil {
		t.Fatal(err)
	}
	r := e.sync(t)
	b, _ := e.live.Load().Catalog.Get("b")
	if r.Outcome != health.OutcomeChanged || b.Requirements != nil || b.Degraded != "" {
		t.Fatalf("hold_repeats 1: %s, requirements %v, degraded %q; want the loss committed at once", r.Outcome, b.Requirements != nil, b.Degraded)
	}
	if l := logs.take(); strings.Contains(l, "repeated") {
		t.Errorf("log claims upstream repeated the loss: %s", l)
	}
}

// A restart into requirements_mode inline does not take requirements fetched earlier for ones
// the object carries inline: the object carries none, so they are lost (held, degraded, as any
// loss) although the object is byte for byte the same (poller.go:689 survivor).
func TestPoller_InlineModeDoesNotReuseFetchedRequirements(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{NoInline: true, Catalog: catalogJSON(rtJSON("a", ""))}})
	e.sync(t)
	if a, _ := e.live.Load().Catalog.Get("a"); a.Requirements == nil {
		t.Fatal("auto mode: requirements not fetched")
	}
	r := e.syncWith(t, rsync.Options{Upstream: e.client, RequirementsMode: rsync.ModeInline})
	if a, _ := e.live.Load().Catalog.Get("a"); !strings.Contains(a.Degraded, "no longer gives requirements") {
		t.Fatalf("inline mode, object without requirements: run %s, degraded %q; want the loss held and shown", r.Outcome, a.Degraded)
	}
}

// A run's log line names the runtimes it left degraded, and a run with none says nothing of
// degradation (poller.go:755 survivors).
func TestPoller_RunLogNamesDegradedRuntimes(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	e := newEnv(t, setup{fake: fakecp.Options{NoInline: true, Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""))},
		poller: rsync.Options{Logger: logs.logger()}})
	runLine := func() string {
		lines := strings.Split(strings.TrimSpace(logs.take()), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], `msg="sync run"`) {
				return lines[i]
			}
		}
		return ""
	}
	e.sync(t)
	if l := runLine(); l == "" || strings.Contains(l, "degraded") {
		t.Fatalf("clean run logged %q; want a sync run line without degraded", l)
	}
	e.fake.FailRequirements("b", http.StatusInternalServerError)
	e.sync(t)
	if l := runLine(); !strings.Contains(l, "degraded=[b]") {
		t.Fatalf("run with b degraded logged %q; want degraded=[b]", l)
	}
}

// Reload: an invalid schedule is refused and changes nothing; a new one replaces the running
// schedule (the next run and the longest gap follow it). Not covered by a sync test before
// (poller.go:184, 189, 191, gremlins' "not covered").
func TestPoller_ReloadSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{poller: rsync.Options{Schedule: "0 9 * * 1,2"}}) // Mondays and Tuesdays
	if err := e.poller.Start(); err != nil {
		t.Fatal(err)
	}
	if err := e.poller.Reload(rsync.Tunables{Schedule: "every now and then"}); err == nil || !strings.Contains(err.Error(), `"every now and then"`) {
		t.Fatalf("invalid schedule: err %v, want it refused and named", err)
	}
	if st := e.poller.Status(); st.Schedule != "0 9 * * 1,2" || st.Interval != 6*24*time.Hour {
		t.Fatalf("after a refused reload: schedule %q interval %s, want the old one kept", st.Schedule, st.Interval)
	}
	if err := e.poller.Reload(rsync.Tunables{Schedule: "0 9 * * *"}); err != nil {
		t.Fatal(err)
	}
	if st := e.poller.Status(); st.Schedule != "0 9 * * *" || st.Interval != 24*time.Hour || !st.Scheduled {
		t.Fatalf("after reloading a daily schedule: schedule %q interval %s scheduled %v, want daily, running", st.Schedule, st.Interval, st.Scheduled)
	}
}

// A reload re-arms the schedule from the clock now even when the schedule is the same: cron
// keeps the next run by the wall clock, so after the clock was stepped back scheduled syncs
// waited for it to catch up (an hour back, an hour without syncs), and SIGHUP, which changed
// nothing when the schedule text was the same, could not recover them.
func TestPoller_ReloadRearmsTheSameSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{poller: rsync.Options{Schedule: "@every 1h"}})
	if err := e.poller.Start(); err != nil {
		t.Fatal(err)
	}
	// next waits (bounded) for the cron entry's next run to be after since.
	next := func(since time.Time) time.Time {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if st := e.poller.Status(); st.NextRun != nil && st.NextRun.After(since) {
				return *st.NextRun
			}
		}
		t.Fatalf("no next run after %v: %+v", since, e.poller.Status().NextRun)
		return time.Time{}
	}
	before := next(time.Time{})
	time.Sleep(1100 * time.Millisecond) // @every rounds the next run to the second
	if err := e.poller.Reload(rsync.Tunables{Schedule: "@every 1h"}); err != nil {
		t.Fatal(err)
	}
	next(before) // re-armed from now: a second or more later than before
}

// An unchanged run writes the control plane's confirmation (Poller.confirm): a success is
// silent, a failure a warning (the data stays served; after a restart its age counts from the
// last change). Logging the warning on success and nothing on failure passed every other test.
func TestPoller_ConfirmFailureIsLoggedSuccessIsNot(t *testing.T) {
	t.Parallel()
	var mu stdsync.Mutex
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var logs logBuffer
	e := newEnv(t, setup{poller: rsync.Options{Now: clock, ConfirmEvery: time.Minute, Logger: logs.logger()}})
	e.sync(t)
	const warning = "could not record the control plane's confirmation of the data"
	writes := e.db.WriteCount()
	advance(2 * time.Minute)
	if r := e.sync(t); r.Outcome != health.OutcomeUnchanged || e.db.WriteCount() == writes {
		t.Fatalf("outcome %s (%s), writes %d -> %d: want an unchanged run that records the confirmation", r.Outcome, r.Error, writes, e.db.WriteCount())
	}
	if got := logs.take(); strings.Contains(got, warning) {
		t.Errorf("a confirmation written logged a failure:\n%s", got)
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Minute)
	if r := e.sync(t); r.Outcome != health.OutcomeUnchanged {
		t.Fatalf("outcome %s (%s), want unchanged: a failed confirmation changes nothing served", r.Outcome, r.Error)
	}
	if got := logs.take(); !strings.Contains(got, warning) || !strings.Contains(got, "store is closed") {
		t.Errorf("a confirmation that could not be written: log %q, want the warning and the error", got)
	}
}
