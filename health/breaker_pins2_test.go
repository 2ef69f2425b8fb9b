package health_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// The latency reported for a call is in milliseconds: a call that took 1.5 ms reports 1.5.
func TestBreakers_LatencyInMilliseconds(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ticks atomic.Int64
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * 1500 * time.Microsecond) }
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 3, Now: clock})
	if _, err := b.Execute("list", func() ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	st := b.Status()["list"]
	if st.LastLatencyMS == nil || *st.LastLatencyMS != 1.5 {
		t.Fatalf("last_latency_ms = %v, want 1.5", st.LastLatencyMS)
	}
}

// A breaker found open at start reports when it opened (the time of the trip that opened it),
// so /v1/health does not show an open breaker without an opened_at.
func TestBreakers_RestoredOpenReportsOpenedAt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	tripped := time.Now().UTC().Truncate(time.Second) // the persisted gobreaker state expires on the wall clock
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: time.Hour, Now: func() time.Time { return tripped }}
	b := newBreakers(t, db, opts)
	for range 2 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	db.Close()

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opts.Now = func() time.Time { return tripped.Add(time.Minute) }
	st := newBreakers(t, db, opts).Status()
	if l := st["list"]; l.State != "open" || l.OpenedAt == nil || !l.OpenedAt.Equal(tripped) {
		t.Fatalf("restored open breaker: state %s opened_at %v, want open since %v", l.State, l.OpenedAt, tripped)
	}
	if r := st["requirements"]; r.OpenedAt != nil {
		t.Fatalf("closed breaker reports opened_at %v", r.OpenedAt)
	}
}

// A failed half-open probe reopens the breaker and says so: tripped_by becomes the one failed
// probe (1 request, 1 failure), not the counts of the earlier trip.
func TestBreakers_FailedProbeTripCounts(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 3, OpenTimeout: 50 * time.Millisecond})
	for range 3 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	if tb := b.Status()["list"].TrippedBy; tb == nil || tb.ConsecutiveFailures != 3 {
		t.Fatalf("first trip: %+v", tb)
	}
	waitState(t, b, "list", "half-open")
	b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	st := b.Status()["list"]
	if tb := st.TrippedBy; st.State != "open" || tb == nil || tb.Requests != 1 || tb.Failures != 1 || tb.ConsecutiveFailures != 1 {
		t.Fatalf("after a failed probe: state %s tripped_by %+v, want open by 1 request, 1 failure", st.State, tb)
	}
}

// Persisting a transition and its trip counts that succeeds logs no error (only the state
// change itself is logged, as a warning).
func TestBreakers_PersistLogsNoErrorOnSuccess(t *testing.T) {
	t.Parallel()
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 2 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	if b.State("list") != "open" {
		t.Fatal("not open")
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || !strings.Contains(out, "circuit breaker state changed") {
		t.Fatalf("log of a persisted trip:\n%s", out)
	}
}

// The breaker's counts cover the configured window, rolling: failures older than the window no
// longer count (here a 300 ms window forgets its failures well within 2 s).
func TestBreakers_WindowForgetsOldFailures(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 100, Window: 300 * time.Millisecond})
	for range 3 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	if st := b.Status()["list"]; st.Failures != 3 {
		t.Fatalf("failures counted: %d, want 3", st.Failures)
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.Status()["list"].Failures != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("failures still counted 2 s after a 300 ms window: %+v", b.Status()["list"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
