package store_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/runtimesd/runtimesd/store"
)

// Behaviours a planted one-line bug broke without any test noticing (issue 14); each test
// names what a user would see.

func runtimeWithReqs(t *testing.T, raw, req string) *store.Runtime {
	t.Helper()
	var reqRaw json.RawMessage
	if req != "" {
		reqRaw = json.RawMessage(req)
	}
	rt, err := store.NewRuntime(json.RawMessage(raw), reqRaw)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// In fetch mode the runtime object stays byte for byte the same while its requirements
// (fetched separately) change: that is a change, stored and announced in the change log.
func TestDiff_RequirementsChangeWithSameObject(t *testing.T) {
	t.Parallel()
	obj := `{"id":"a","status":"available"}`
	before := `{"max_history_length":10,"model_requirement":{"supported_providers":["openai"]}}`
	after := `{"max_history_length":20,"model_requirement":{"supported_providers":["openai"]}}`

	prev, _ := store.NewCatalog([]*store.Runtime{runtimeWithReqs(t, obj, before)})
	next, _ := store.NewCatalog([]*store.Runtime{runtimeWithReqs(t, obj, after)})
	if d := store.Diff(prev, next); strings.Join(d.Changed, ",") != "a" || len(d.Added)+len(d.Removed) != 0 {
		t.Fatalf("requirements 10 -> 20 with the same runtime object: diff = %+v, want a changed", d)
	}
	gained, _ := store.NewCatalog([]*store.Runtime{runtimeWithReqs(t, obj, before)})
	none, _ := store.NewCatalog([]*store.Runtime{runtimeWithReqs(t, obj, "")})
	if d := store.Diff(none, gained); strings.Join(d.Changed, ",") != "a" {
		t.Errorf("requirements appearing: diff = %+v, want a changed", d)
	}
	if d := store.Diff(gained, none); strings.Join(d.Changed, ",") != "a" {
		t.Errorf("requirements disappearing: diff = %+v, want a changed", d)
	}
	same, _ := store.NewCatalog([]*store.Runtime{runtimeWithReqs(t, obj, ` {"model_requirement":{"supported_providers":["openai"]}, "max_history_length":10}`)})
	if d := store.Diff(prev, same); !d.Empty() {
		t.Errorf("the same requirements re-encoded are not a change: %+v", d)
	}

	db := MustOpen(t, store.Options{})
	if _, err := db.Commit(prev, store.SourceUpstream, t0); err != nil {
		t.Fatal(err)
	}
	snap, err := db.Commit(next, store.SourceUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	last := snap.Changes[len(snap.Changes)-1]
	if snap.Revision != 2 || strings.Join(last.Changed, ",") != "a" {
		t.Fatalf("revision %d, last change %+v", snap.Revision, last)
	}
	path := db.Path()
	db.Close()
	re, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	rt, _ := re.Loaded().Catalog.Get("a")
	if rt.Requirements == nil || *rt.Requirements.MaxHistoryLength != 20 {
		t.Fatalf("after a restart the new requirements must be served: %s", rt.RequirementsRaw)
	}
}

// With the default options (no LockTimeout given) a second open of a held file still fails
// with ErrLocked instead of waiting for the lock forever (bbolt's zero timeout).
func TestDB_DefaultLockTimeoutFailsFast(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan error, 1)
	go func() {
		second, err := store.Open(path, store.Options{})
		if err == nil {
			second.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("err = %v, want ErrLocked", err)
		}
	case <-time.After(20 * time.Second):
		db.Close() // releases the waiting open
		t.Fatal("a second open with default options waited for the lock instead of failing")
	}
}

// Reopening an existing file writes nothing (no page written at open); a new file gets its
// buckets once.
func TestDB_ReopenWritesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.WriteCount() == 0 {
		t.Error("a new file must get its buckets written at open")
	}
	if _, err := db.Commit(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	re, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if n := re.WriteCount(); n != 0 {
		t.Fatalf("reopening an existing file wrote %d pages; want none", n)
	}
}

// A file written by a newer runtimesd (higher schema version) is refused and left untouched;
// a schema version that is not a number is corruption: the file is moved aside.
func TestDB_SchemaVersionChecked(t *testing.T) {
	t.Parallel()
	newFile := func(schema string) string {
		path := filepath.Join(t.TempDir(), "runtimesd.db")
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		setSchema(t, path, schema)
		return path
	}

	path := newFile("999")
	before, _ := os.ReadFile(path)
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrNewerSchema) {
		t.Errorf("schema 999: err = %v, want ErrNewerSchema", err)
	}
	if after, _ := os.ReadFile(path); string(before) != string(after) {
		t.Error("a newer file must be left untouched")
	}

	path = newFile("x")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.MovedAside() == "" {
		t.Error("a schema version that is not a number must count as corruption (moved aside)")
	}
}

func setSchema(t *testing.T, path, v string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}
