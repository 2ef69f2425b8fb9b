package store_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// A runtime without required features gets an empty features list (JSON [], not null) and
// "features" is not reported as filled; one without a default model gets a warning that names
// at most three of its examples, or none when it has none.
func TestBuildConfig_NoRequiredFeaturesNoDefaultModel(t *testing.T) {
	t.Parallel()
	v, _ := store.NewValidator(nil)
	req := func(examples string) string {
		return `"requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":` +
			examples + `},"required_config_fields":[],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":false,"requires_tools":false}`
	}
	c := catalogWith(t,
		`{"id":"four","name":"Four","status":"available","features":["x"],`+req(`["m1","m2","m3","m4"]`)+`}`,
		`{"id":"none","name":"None","status":"available","features":["x"],`+req(`[]`)+`}`,
	)
	for id, warning := range map[string]string{
		"four": "runtime 'four' declares no default model: set model_id (e.g. m1, m2, m3)",
		"none": "runtime 'none' declares no default model: set model_id",
	} {
		b, err := v.BuildConfig(c, id, store.ConfigOverrides{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(b.Config)
		if string(got) != `{"runtime_type":"`+id+`","model_id":null,"features":[],"environment":null}` {
			t.Errorf("%s: config %s, want no features (an empty list) and no model", id, got)
		}
		if len(b.Filled) != 0 {
			t.Errorf("%s: filled %q, want nothing filled", id, b.Filled)
		}
		if strings.Join(b.Warnings, "|") != warning {
			t.Errorf("%s: warnings %q, want %q", id, b.Warnings, warning)
		}
	}
}

// A feature a runtime only requires (not in its features list) is still supported, compared as
// filters compare.
func TestSupports_RequiredFeature(t *testing.T) {
	t.Parallel()
	c := catalogWith(t, `{"id":"req","name":"Req","status":"available","features":["Code review"],"required_features":["Streaming"]}`)
	rt, ok := c.Get("req")
	if !ok {
		t.Fatal("runtime req missing")
	}
	for feature, want := range map[string]bool{"streaming": true, "STREAMING": true, "code_review": true, "batch": false} {
		if got := store.Supports(rt, feature); got != want {
			t.Errorf("Supports(req, %q) = %v, want %v", feature, got, want)
		}
	}
}

// The high-water window is 24 h unless configured; a configured one is kept.
func TestDB_HighWaterWindowDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct{ set, want time.Duration }{
		"default.db": {0, 24 * time.Hour}, "negative.db": {-time.Minute, 24 * time.Hour}, "set.db": {90 * time.Minute, 90 * time.Minute},
		"tiny.db": {time.Nanosecond, time.Nanosecond},
	} {
		db, err := store.Open(filepath.Join(dir, name), store.Options{HighWaterWindow: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.HighWaterWindow(); got != tc.want {
			t.Errorf("high_water_window %v: %v, want %v", tc.set, got, tc.want)
		}
		db.Close()
	}
}

// The high-water mark survives a restart: a catalog that shrank before the restart is still
// measured against the larger one served within the window.
func TestDB_HighWaterSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	big := catalogWith(t)
	small, err := store.NewCatalog(big.Runtimes()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if big.Len() < 2 {
		t.Fatalf("seed has %d runtimes; the test needs a catalog that shrinks", big.Len())
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitAt(big, store.SourceUpstream, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommitAt(small, store.SourceUpstream, now.Add(time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := db.HighWater(now.Add(2 * time.Minute)); got != big.Len() {
		t.Fatalf("before restart: high water %d, want %d", got, big.Len())
	}
	db.Close()
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.HighWater(now.Add(2 * time.Minute)); got != big.Len() {
		t.Fatalf("after restart: high water %d, want %d (the catalog served before the shrink)", got, big.Len())
	}
}

// A commit on a store opened read-only is refused by the store itself, with a message saying so
// (not by bbolt part-way through).
func TestDB_ReadOnlyCommitRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.Commit(catalogWith(t), store.SourceUpstream, time.Now())
	if err == nil || err.Error() != "commit: store is open read-only" {
		t.Fatalf("commit on a read-only store: %v, want \"commit: store is open read-only\"", err)
	}
	if s := ro.Loaded(); s == nil || s.Revision != 1 {
		t.Fatalf("read-only store changed: %+v", s)
	}
}

// When the data directory cannot be created, the memory fallback works on a scratch file; closing
// the store removes the scratch directory (a daemon restarting in a loop must not fill /tmp).
// The unwritable directory is one under /sys (refused even to root, which file modes are not).
func TestDB_ScratchRemovedOnClose(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.MkdirTemp("", ...) creates the scratch directory here
	dataDir := "/sys/runtimesd-mutation-test/data"
	if err := os.MkdirAll(dataDir, 0o700); !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EPERM) {
		if err == nil {
			os.RemoveAll(filepath.Dir(dataDir))
		}
		t.Skipf("no directory here that even root cannot create (mkdir %s: %v)", dataDir, err)
	}
	db, err := store.Open(filepath.Join(dataDir, "runtimesd.db"), store.Options{MemoryFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	scratch, _ := filepath.Glob(filepath.Join(tmp, "runtimesd-scratch-*"))
	if len(scratch) != 1 || db.NotPersisting() == "" {
		t.Fatalf("memory fallback: scratch dirs %q, not persisting %q", scratch, db.NotPersisting())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scratch[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("scratch directory %s left after Close: %v", scratch[0], err)
	}
}

// The high-water mark forgets sizes served before the window: a catalog that shrank two hours
// ago no longer counts with a one-hour window. A size served in the bucket that starts exactly
// one bucket width after the previous one stays until that later bucket leaves the window.
func TestDB_HighWaterWindowBuckets(t *testing.T) {
	t.Parallel()
	big := catalogWith(t)
	small, err := store.NewCatalog(big.Runtimes()[:1])
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{HighWaterWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One hour in 48 buckets: 75 s each. t0 is on a bucket boundary.
	const width = 75 * time.Second
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := db.CommitAt(big, store.SourceUpstream, t0, t0); err != nil {
		t.Fatal(err)
	}
	// Exactly one width later the catalog shrinks: the big size is recorded in the new bucket.
	if _, err := db.CommitAt(small, store.SourceUpstream, t0.Add(width), t0.Add(width)); err != nil {
		t.Fatal(err)
	}
	// Just after the first bucket left the window, the second still holds the big size.
	if got := db.HighWater(t0.Add(width + time.Hour + time.Nanosecond)); got != big.Len() {
		t.Fatalf("one hour after the shrink: high water %d, want %d", got, big.Len())
	}
	// Two hours later, both are gone: the mark is what is served.
	if got := db.HighWater(t0.Add(2*time.Hour + width)); got != small.Len() {
		t.Fatalf("two hours after the shrink with a one-hour window: high water %d, want %d", got, small.Len())
	}
}

// The high-water mark keeps every bucket that overlaps the window: after a full window of
// syncs, one per bucket, the size served in the oldest bucket (which ends just inside the
// window) still counts.
func TestDB_HighWaterKeepsOldestOverlappingBucket(t *testing.T) {
	t.Parallel()
	big := catalogWith(t)
	smallA, err := store.NewCatalog(big.Runtimes()[:1])
	if err != nil {
		t.Fatal(err)
	}
	smallB, err := store.NewCatalog(big.Runtimes()[1:2])
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{HighWaterWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const width = 75 * time.Second // one hour in 48 buckets
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	commit := func(c *store.Catalog, at time.Time) {
		t.Helper()
		if _, err := db.CommitAt(c, store.SourceUpstream, at, at); err != nil {
			t.Fatal(err)
		}
	}
	commit(big, t0)
	commit(smallA, t0.Add(time.Second)) // the shrink within the first bucket
	for i := 1; i <= 48; i++ {
		commit([]*store.Catalog{smallA, smallB}[i%2], t0.Add(time.Duration(i)*width))
	}
	if got := db.HighWater(t0.Add(48 * width)); got != big.Len() {
		t.Fatalf("the first bucket still ends inside the window: high water %d, want %d", got, big.Len())
	}
	if got := db.HighWater(t0.Add(49 * width)); got != 1 {
		t.Fatalf("a bucket width later the first bucket has left: high water %d, want 1", got)
	}
}

// Sizes recorded while the clock ran ahead do not count once it is put right: a bucket that
// starts after now was kept (and counted) until now caught up with it, so a catalog served a
// year "ahead" held shrinking answers and made health degraded for a year.
func TestDB_HighWaterIgnoresBucketsFromTheFuture(t *testing.T) {
	t.Parallel()
	big := catalogWith(t)
	small, err := store.NewCatalog(big.Runtimes()[:1])
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ahead := now.AddDate(1, 0, 0)
	if _, err := db.CommitAt(big, store.SourceUpstream, ahead, ahead); err != nil {
		t.Fatal(err)
	}
	if got := db.HighWater(ahead.Add(time.Minute)); got != big.Len() {
		t.Fatalf("at the clock that wrote it: high water %d, want %d", got, big.Len())
	}
	if _, err := db.CommitAt(small, store.SourceUpstream, ahead.Add(time.Second), ahead.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The clock is put right: the shrink a year "ahead" is not measured against what was
	// served then.
	if got := db.HighWater(now); got != small.Len() {
		t.Fatalf("a year before the bucket it was recorded in: high water %d, want %d (what is served)", got, small.Len())
	}
}
