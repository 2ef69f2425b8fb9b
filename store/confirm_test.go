package store_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Confirm writes the control plane's confirmation of unchanged data at most every interval
// (either way in time), at once for another source, never before the first commit, on a
// read-only open or after Close; what it wrote is what the next open dates the data by.
func TestDB_Confirm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	confirm := func(src store.Source, at time.Time, wantWrote bool) {
		t.Helper()
		writes := db.WriteCount()
		wrote, err := db.Confirm(src, at, time.Minute)
		if err != nil {
			t.Fatalf("Confirm(%s, %v): %v", src, at, err)
		}
		if wrote != wantWrote || (db.WriteCount() != writes) != wantWrote {
			t.Fatalf("Confirm(%s, %v) wrote %v (%d pages), want %v", src, at, wrote, db.WriteCount()-writes, wantWrote)
		}
	}
	confirm(store.SourceUpstream, t0, false) // nothing stored yet: nothing to date
	if _, err := db.CommitAt(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0, t0); err != nil {
		t.Fatal(err)
	}
	confirm(store.SourceUpstream, time.Time{}, false)                       // never confirmed
	confirm(store.SourceUpstream, t0.Add(59*time.Second), false)            // within the interval
	confirm(store.SourceUpstream, t0.Add(-59*time.Second), false)           // a small step back
	confirm(store.SourceUpstream, t0.Add(time.Minute), true)                // the interval passed
	confirm(store.SourceUpstream, t0.Add(90*time.Second), false)            // counted from the last write
	confirm(store.SourceRelay, t0.Add(90*time.Second), true)                // another source at once
	confirm(store.SourceRelay, t0.Add(90*time.Second-time.Minute), true)    // a clock stepped back
	confirm(store.SourceRelay, t0.Add(90*time.Second-time.Minute+1), false) // and counted from there
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Confirm(store.SourceUpstream, t0.Add(time.Hour), time.Minute); err == nil {
		t.Error("Confirm after Close must fail")
	}

	ro, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got := ro.Loaded()
	if want := t0.Add(30 * time.Second); !got.FetchedAt.Equal(want) || got.Revision != 1 || len(got.Changes) != 1 {
		t.Errorf("reopened: fetched_at %v revision %d, %d change records; want %v, 1, 1", got.FetchedAt, got.Revision, len(got.Changes), want)
	}
	if wrote, err := ro.Confirm(store.SourceUpstream, t0.Add(time.Hour), time.Minute); wrote || err != nil {
		t.Errorf("read-only Confirm: wrote %v, %v; want nothing written and no error", wrote, err)
	}
}

// Imported data that the control plane then confirms unchanged is no longer the import's:
// the confirmation writes its source with its time, and a restart loads it as cached data.
func TestDB_ConfirmWritesTheSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitAt(mustCatalog(t, `{"id":"a"}`), store.SourceImport, t0, t0); err != nil {
		t.Fatal(err)
	}
	if wrote, err := db.Confirm(store.SourceUpstream, t0.Add(time.Second), time.Minute); !wrote || err != nil {
		t.Fatalf("Confirm from another source: wrote %v, %v", wrote, err)
	}
	db.Close()
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Loaded(); got.Source != store.SourceCache || !got.FetchedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("reopened: source %s fetched_at %v; want %s and %v", got.Source, got.FetchedAt, store.SourceCache, t0.Add(time.Second))
	}
}

// An id of exactly bbolt's key limit is a runtime, stored and loaded; one byte more is an
// invalid runtime (it would fail the commit of the whole catalog).
func TestNewRuntime_IDAtTheKeyLimit(t *testing.T) {
	for _, n := range []int{store.MaxIDBytes, store.MaxIDBytes + 1} {
		id := strings.Repeat("k", n)
		rt, err := store.NewRuntime(json.RawMessage(`{"id":"`+id+`"}`), nil)
		if n > store.MaxIDBytes {
			if !errors.Is(err, store.ErrInvalidRuntime) {
				t.Errorf("id of %d bytes: %v, want ErrInvalidRuntime", n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("id of %d bytes: %v", n, err)
		}
		cat, err := store.NewCatalog([]*store.Runtime{rt})
		if err != nil {
			t.Fatal(err)
		}
		db := MustOpen(t, store.Options{})
		if _, err := db.Commit(cat, store.SourceUpstream, t0); err != nil {
			t.Errorf("commit of an id of %d bytes: %v", n, err)
		}
	}
}
