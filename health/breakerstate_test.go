package health_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The record a trip writes is the documented format (breakerRecord): format 1, the state, when
// it was entered, when the first probe goes, and the counts that tripped it.
func TestBreakers_RecordFormat(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	now := time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: 30 * time.Second, Now: func() time.Time { return now }})
	for range 2 {
		b.Execute("list", func() ([]byte, error) { return nil, errUpstream })
	}
	recs, err := db.BreakerRecords()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs["requirements"]; ok || len(recs) != 1 {
		t.Fatalf("records %q: want only list's (no transition, no record)", recs)
	}
	var got map[string]any
	if err := json.Unmarshal(recs["list"], &got); err != nil {
		t.Fatalf("record %s: %v", recs["list"], err)
	}
	want := map[string]any{
		"format": 1.0, "state": "open", "since": "2026-11-29T19:00:00Z", "expiry": "2026-11-29T19:00:30Z",
		"tripped_by": map[string]any{"requests": 2.0, "failures": 2.0, "consecutive_failures": 2.0, "at": "2026-11-29T19:00:00Z"},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("record\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

// A record written by hand in the documented format restores: open until its expiry (no call
// goes through), with its trip counts and opened_at; one whose expiry has passed starts
// half-open and lets a probe through.
func TestBreakers_RestoreFromRecord(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	since := time.Now().UTC().Truncate(time.Second)
	put := func(kind, rec string) {
		if err := db.PutBreakerRecord(kind, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	put("list", `{"format":1,"state":"open","since":"`+since.Format(time.RFC3339)+`","expiry":"`+since.Add(time.Hour).Format(time.RFC3339)+
		`","tripped_by":{"requests":7,"failures":6,"consecutive_failures":5,"at":"`+since.Format(time.RFC3339)+`"}}`)
	put("requirements", `{"format":1,"state":"open","since":"2020-01-01T00:00:00Z","expiry":"2020-01-01T00:00:30Z"}`)
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2})
	st := b.Status()
	l := st["list"]
	if l.State != "open" || l.OpenedAt == nil || !l.OpenedAt.Equal(since) || l.TrippedBy == nil || l.TrippedBy.Requests != 7 || l.TrippedBy.ConsecutiveFailures != 5 {
		t.Fatalf("restored list breaker %+v (tripped_by %+v)", l, l.TrippedBy)
	}
	called := false
	if _, err := b.Execute("list", func() ([]byte, error) { called = true; return nil, nil }); err == nil || called {
		t.Fatal("a breaker restored open let a call through")
	}
	if r := st["requirements"]; r.State != "half-open" {
		t.Fatalf("a record past its expiry: %s, want half-open", r.State)
	}
	if _, err := b.Execute("requirements", func() ([]byte, error) { called = true; return nil, nil }); err != nil || !called || b.State("requirements") != "closed" {
		t.Fatalf("the probe after expiry: %v called=%v state %s", err, called, b.State("requirements"))
	}
}

// A damaged or foreign value under a breaker's key is logged with the call and why, and that
// breaker starts closed and works; the others are unaffected. Never an error, never a panic.
func TestBreakers_UnreadableRecord(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"NotJSON":         `{"format":1,"state":"op`,
		"Binary":          "\x00\xff\xfe garbage",
		"Null":            `null`,
		"Array":           `[1,2,3]`,
		"OtherFormat":     `{"format":2,"state":"open","since":"2026-01-01T00:00:00Z","expiry":"2999-01-01T00:00:00Z"}`,
		"UnknownState":    `{"format":1,"state":"sideways","since":"2026-01-01T00:00:00Z"}`,
		"OpenNoExpiry":    `{"format":1,"state":"open","since":"2026-01-01T00:00:00Z"}`,
		"BadTime":         `{"format":1,"state":"open","since":"yesterday","expiry":"2999-01-01T00:00:00Z"}`,
		"GobreakerShared": `{"state":2,"generation":0,"age":0,"counts":{},"buckets":[],"start":"2026-01-01T00:00:00Z","expiry":"2999-01-01T00:00:00Z"}`,
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := openDB(t)
			if err := db.PutBreakerRecord("list", []byte(rec)); err != nil {
				t.Fatal(err)
			}
			ok := `{"format":1,"state":"open","since":"2026-01-01T00:00:00Z","expiry":"2999-01-01T00:00:00Z"}`
			if err := db.PutBreakerRecord("requirements", []byte(ok)); err != nil {
				t.Fatal(err)
			}
			var logs syncBuf
			b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if b.State("list") != "closed" || b.Status()["list"].TrippedBy != nil {
				t.Errorf("list after an unreadable record: %s %+v, want a fresh closed breaker", b.State("list"), b.Status()["list"].TrippedBy)
			}
			if b.State("requirements") != "open" {
				t.Errorf("a readable record beside it was not restored: %s", b.State("requirements"))
			}
			out := logs.String()
			if !strings.Contains(out, "circuit breaker state in the data file is unreadable") || !strings.Contains(out, "call=list") || strings.Contains(out, "call=requirements") {
				t.Errorf("log:\n%s", out)
			}
			if _, err := b.Execute("list", func() ([]byte, error) { return []byte("ok"), nil }); err != nil {
				t.Errorf("the fresh breaker refused a call: %v", err)
			}
		})
	}
}

// syncBuf is a bytes.Buffer safe for the logger and the test at once.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}
func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

// A record whose expiry is far ahead (written while the clock ran a year ahead, or under a
// longer open_timeout) restores open for at most one open_timeout from now: restored as
// written, the breaker stayed open, and every sync was skipped, until that far date.
func TestBreakers_RestoredExpiryBoundedByOpenTimeout(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	since := time.Now().UTC().Truncate(time.Second)
	rec := `{"format":1,"state":"open","since":"` + since.Format(time.RFC3339) + `","expiry":"` + since.AddDate(1, 0, 0).Format(time.RFC3339) + `"}`
	if err := db.PutBreakerRecord("list", []byte(rec)); err != nil {
		t.Fatal(err)
	}
	b := newBreakers(t, db, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: 200 * time.Millisecond})
	if b.State("list") != "open" {
		t.Fatalf("restored %s, want open", b.State("list"))
	}
	waitState(t, b, "list", "half-open")
	called := false
	if _, err := b.Execute("list", func() ([]byte, error) { called = true; return nil, nil }); err != nil || !called {
		t.Fatalf("the probe after one open_timeout: %v called=%v", err, called)
	}
}
