package health_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

var errUpstream = errors.New("upstream 500")
var errCaller = errors.New("caller 404")

func newBreakers(t *testing.T, db *store.DB, opts health.BreakerOptions) *health.Breakers {
	t.Helper()
	opts.IsSuccessful = func(err error) bool { return err == nil || errors.Is(err, errCaller) }
	if db != nil {
		opts.Store = db
	}
	b, err := health.NewBreakers([]string{"list", "requirements"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitState polls until kind reaches state (gobreaker keeps its own clock).
func waitState(t *testing.T, b *health.Breakers, kind, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.State(kind) != state {
		if time.Now().After(deadline) {
			t.Fatalf("%s breaker is %s, want %s", kind, b.State(kind), state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBreakers_OpenProbeClose(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 3, OpenTimeout: 200 * time.Millisecond})
	var calls atomic.Int32
	fail := func() ([]byte, error) { calls.Add(1); return nil, errUpstream }
	ok := func() ([]byte, error) { calls.Add(1); return []byte("ok"), nil }

	for range 3 {
		b.Execute("list", fail)
	}
	if b.State("list") != "open" || b.State("requirements") != "closed" {
		t.Fatalf("states: list %s requirements %s", b.State("list"), b.State("requirements"))
	}
	st := b.Status()["list"]
	if st.TrippedBy == nil || st.TrippedBy.ConsecutiveFailures != 3 || st.OpenedAt == nil || st.NextProbeAt == nil || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
	n := calls.Load()
	if _, err := b.Execute("list", ok); err == nil || calls.Load() != n {
		t.Fatal("an open breaker must not call")
	}
	waitState(t, b, "list", "half-open")
	if _, err := b.Execute("list", fail); err == nil {
		t.Fatal("probe must fail")
	}
	if b.State("list") != "open" {
		t.Fatalf("a failed probe must reopen: %s", b.State("list"))
	}
	waitState(t, b, "list", "half-open")
	if _, err := b.Execute("list", ok); err != nil {
		t.Fatal(err)
	}
	if b.State("list") != "closed" {
		t.Fatalf("a good probe must close: %s", b.State("list"))
	}
	var seq []string
	for _, tr := range b.Transitions() { // newest first
		seq = append([]string{tr.From + ">" + tr.To}, seq...)
	}
	if got, want := strings.Join(seq, " "), "closed>open open>half-open half-open>open open>half-open half-open>closed"; got != want {
		t.Errorf("transitions %q, want %q", got, want)
	}
}

func TestBreakers_CallerErrorsDoNotTrip(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{ConsecutiveFailures: 2})
	for range 10 {
		b.Execute("list", func() ([]byte, error) { return nil, errCaller })
	}
	if b.State("list") != "closed" {
		t.Fatalf("4xx tripped the breaker")
	}
	if st := b.Status()["list"]; st.LastError == "" || st.LastSuccess == nil {
		t.Errorf("a caller error is shown but counts as the control plane answering: %+v", st)
	}
}

func TestBreakers_FailureRatio(t *testing.T) {
	t.Parallel()
	b := newBreakers(t, nil, health.BreakerOptions{FailureRatio: 0.5, MinRequests: 4, Window: time.Minute})
	ok := func() ([]byte, error) { return nil, nil }
	fail := func() ([]byte, error) { return nil, errUpstream }
	b.Execute("list", fail)
	b.Execute("list", ok)
	b.Execute("list", fail)
	if b.State("list") != "closed" {
		t.Fatal("below min_requests the ratio must not trip")
	}
	b.Execute("list", fail) // 3 of 4 failed
	if b.State("list") != "open" {
		t.Fatalf("ratio 3/4 >= 0.5 must trip: %s", b.State("list"))
	}
}

// A restarted sidecar keeps an open breaker open until its timeout, so it does not stampede
// a control plane that was failing; the trip counts survive too.
func TestBreakers_StateSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: 1500 * time.Millisecond})
	for range 2 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	if b.State("list") != "open" {
		t.Fatal("not open")
	}
	db.Close()

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b2 := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: 1500 * time.Millisecond})
	if b2.State("list") != "open" || b2.State("requirements") != "closed" {
		t.Fatalf("after restart: list %s requirements %s", b2.State("list"), b2.State("requirements"))
	}
	st := b2.Status()["list"]
	if st.TrippedBy == nil || st.TrippedBy.ConsecutiveFailures != 2 {
		t.Errorf("trip counts lost: %+v", st.TrippedBy)
	}
	var calls atomic.Int32
	if _, err := b2.Execute("list", func() ([]byte, error) { calls.Add(1); return nil, nil }); err == nil || calls.Load() != 0 {
		t.Fatal("restored open breaker let a call through")
	}
	waitState(t, b2, "list", "half-open")
	if _, err := b2.Execute("list", func() ([]byte, error) { calls.Add(1); return nil, nil }); err != nil || calls.Load() != 1 {
		t.Fatalf("probe after the timeout: %v", err)
	}
	if b2.State("list") != "closed" {
		t.Fatal("probe success must close")
	}
}

// Ordinary calls (no transition) write nothing to the data file.
func TestBreakers_NoWriteWithoutTransition(t *testing.T) {
	t.Parallel()
	db, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 100})
	b.Execute("list", func() ([]byte, error) { return nil, nil })
	writes := db.WriteCount()
	for range 20 {
		b.Execute("list", func() ([]byte, error) { return nil, nil })
		b.Execute("requirements", func() ([]byte, error) { return nil, errUpstream })
	}
	if db.WriteCount() != writes {
		t.Fatalf("%d pages written without a state change", db.WriteCount()-writes)
	}
}
