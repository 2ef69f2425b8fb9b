package store_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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

// The change log is pruned in the file, not only in memory: reopened with a larger bound,
// only the records kept at the last commit are there.
func TestDB_ChangeLogPrunedOnDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{ChangeLogSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := db.Commit(mustCatalog(t, `{"id":"a","v":`+strconv.Itoa(i)+`}`), store.SourceUpstream, t0); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = store.Open(path, store.Options{ChangeLogSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if ch := db.Loaded().Changes; len(ch) != 3 || ch[0].Revision != 4 {
		t.Fatalf("records in the file: %d (first %+v), want revisions 4-6", len(ch), ch)
	}
	db.Close()
	// A smaller bound prunes every surplus record at the next commit, not one per commit.
	db, err = store.Open(path, store.Options{ChangeLogSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mustCatalog(t, `{"id":"a","v":"last"}`), store.SourceUpstream, t0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.Open(path, store.Options{ChangeLogSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ch := db.Loaded().Changes; len(ch) != 1 || ch[0].Revision != 7 {
		t.Fatalf("after a commit with change_log_size 1 the file holds %d records, want only revision 7", len(ch))
	}
}

// A change that adds one runtime and removes another is not empty (counts must not cancel).
func TestChange_Empty(t *testing.T) {
	t.Parallel()
	d := store.Diff(mustCatalog(t, `{"id":"a"}`), mustCatalog(t, `{"id":"b"}`))
	if d.Empty() {
		t.Fatalf("one added and one removed is a change: %+v", d)
	}
	if !(store.Change{}).Empty() || (store.Change{Changed: []string{"x"}}).Empty() ||
		(store.Change{Removed: []string{"a"}, Changed: []string{"b"}}).Empty() {
		t.Error("Empty must be true only with nothing added, removed or changed")
	}
}

// Feature matching: separators at the start do not count, an empty feature matches nothing.
func TestFeatureMatching(t *testing.T) {
	t.Parallel()
	rt := mustRuntime(t, `{"id":"a","features":["Built-in code review"]}`)
	if !store.HasFeature(rt, "code review") || !store.HasFeature(rt, "_Code-Review") {
		t.Error(`"code review" and "_Code-Review" must match "Built-in code review"`)
	}
	if store.HasFeature(rt, "") || store.HasFeature(rt, " - ") {
		t.Error("an empty feature matches nothing")
	}
	if got := store.NormalizeFeature("-_multi-step task_execution"); got != "multi step task execution" {
		t.Errorf("NormalizeFeature = %q", got)
	}
}

// A Live made with a snapshot serves it at once; one made with nil serves nothing.
func TestNewLive_ServesInitial(t *testing.T) {
	t.Parallel()
	s := &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
	if store.NewLive(s).Load() != s {
		t.Error("NewLive(s) must serve s")
	}
	if store.NewLive(nil).Load() != nil {
		t.Error("NewLive(nil) must serve nothing")
	}
}

// ChangesSince is complete exactly when the log reaches back to the record after rev.
func TestSnapshot_ChangesSinceBoundaries(t *testing.T) {
	t.Parallel()
	logged := &store.Snapshot{Revision: 6, Changes: []store.Change{{Revision: 4}, {Revision: 5}, {Revision: 6}}}
	for _, tc := range []struct {
		rev      uint64
		n        int
		complete bool
	}{{2, 3, false}, {3, 3, true}, {5, 1, true}, {6, 0, true}} {
		if ch, complete := logged.ChangesSince(tc.rev); len(ch) != tc.n || complete != tc.complete {
			t.Errorf("log 4-6, since %d: %d records, complete=%v; want %d, %v", tc.rev, len(ch), complete, tc.n, tc.complete)
		}
	}
	empty := &store.Snapshot{Revision: 5}
	if _, complete := empty.ChangesSince(5); !complete {
		t.Error("no log, since the current revision: nothing missing")
	}
	if _, complete := empty.ChangesSince(4); complete {
		t.Error("no log, since an older revision: records are missing")
	}
	if ch, complete := (&store.Snapshot{}).ChangesSince(0); !complete || len(ch) != 0 {
		t.Error("seed (revision 0, no log), since 0: complete and empty")
	}
}

// Features and supported_features are merged whichever list is longer.
func TestNewRuntime_FeatureUnion(t *testing.T) {
	t.Parallel()
	rt := mustRuntime(t, `{"id":"a","features":["x"],"supported_features":["y","z","x"]}`)
	if strings.Join(rt.Features, ",") != "x,y,z" {
		t.Errorf("features = %v, want x,y,z", rt.Features)
	}
	if rt := mustRuntime(t, `{"id":"b","supported_features":["y"]}`); strings.Join(rt.Features, ",") != "y" {
		t.Errorf("features = %v, want y", rt.Features)
	}
}

// Each rule reports met exactly when it has no error (requirements_met in /v1/validate).
func TestValidator_ChecksMet(t *testing.T) {
	t.Parallel()
	cat := mustCatalog(t, strict)
	v, err := store.NewValidator(nil)
	if err != nil {
		t.Fatal(err)
	}
	model, prompt := "gpt-4o", "be brief"
	ok := v.Validate(cat, store.ValidationRequest{RuntimeType: "strict", ModelID: &model, SystemPrompt: &prompt,
		AgentConfig: map[string]any{"timeout": 1, "max_tokens": 2}})
	if !ok.Valid || !ok.Model.Met || !ok.Config.Met || !ok.SystemPrompt.Met {
		t.Fatalf("everything given: %+v", ok)
	}
	bad := v.Validate(cat, store.ValidationRequest{RuntimeType: "strict", ModelID: &model, AgentConfig: map[string]any{"timeout": 1}})
	if bad.Valid || !bad.Model.Met || bad.Config.Met || bad.SystemPrompt.Met {
		t.Fatalf("config field and prompt missing: model met %v, config met %v, prompt met %v", bad.Model.Met, bad.Config.Met, bad.SystemPrompt.Met)
	}
}
