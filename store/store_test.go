package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// MustOpen opens a store in a fresh temporary directory.
func MustOpen(tb testing.TB, opts store.Options) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "runtimesd.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func mustRuntime(tb testing.TB, raw string) *store.Runtime {
	tb.Helper()
	req, err := store.InlineRequirements(json.RawMessage(raw))
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := store.NewRuntime(json.RawMessage(raw), req)
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

func mustCatalog(tb testing.TB, raws ...string) *store.Catalog {
	tb.Helper()
	var rts []*store.Runtime
	for _, r := range raws {
		rts = append(rts, mustRuntime(tb, r))
	}
	c, err := store.NewCatalog(rts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestSeedCatalog(t *testing.T) {
	c := store.SeedCatalog()
	if c.Len() != 2 {
		t.Fatalf("seed has %d runtimes, want 2", c.Len())
	}
	cc, ok := c.Get("claude_code")
	if !ok || cc.Status != "beta" || cc.Requirements == nil || *cc.Requirements.MaxHistoryLength != 200 {
		t.Fatalf("claude_code in seed: %+v", cc)
	}
	if got := strings.Join(cc.Providers, ","); got != "anthropic" {
		t.Errorf("claude_code providers = %q", got)
	}
	d, _ := c.Get("default")
	if got := strings.Join(d.Providers, ","); got != "anthropic,azure,cohere,google,mistral,openai" {
		t.Errorf("default providers = %q, want sorted set", got)
	}
}

func TestNewRuntime(t *testing.T) {
	t.Run("FeaturesUnionAndUnknownFieldsKept", func(t *testing.T) {
		raw := `{"id":"x","status":"active","type":"agent","features":["A","B"],"supported_features":["B","C"],"x_new":{"k":1}}`
		rt := mustRuntime(t, raw)
		if got := strings.Join(rt.Features, "|"); got != "A|B|C" {
			t.Errorf("features = %q", got)
		}
		if string(rt.Raw) != raw {
			t.Errorf("raw not kept verbatim: %s", rt.Raw)
		}
		if rt.Type != "agent" || rt.Requirements != nil {
			t.Errorf("type=%q requirements=%v", rt.Type, rt.Requirements)
		}
	})
	for name, raw := range map[string]string{
		"NoID":           `{"name":"x"}`,
		"NotObject":      `["x"]`,
		"Null":           `null`,
		"BadRequirement": `{"id":"x","requirements":{"required_config_fields":"nope"}}`,
		"ReqNotObject":   `{"id":"x","requirements":[1]}`,
	} {
		t.Run("Invalid"+name, func(t *testing.T) {
			req, _ := store.InlineRequirements(json.RawMessage(raw))
			if _, err := store.NewRuntime(json.RawMessage(raw), req); !errors.Is(err, store.ErrInvalidRuntime) {
				t.Fatalf("err = %v, want ErrInvalidRuntime", err)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a := `{"id":"a","requirements":{"model_requirement":{"supported_providers":["x","y"],"supported_families":["f","g"]}}}`
	aReordered := `{ "id": "a", "requirements": {"model_requirement": {"supported_families":["g","f"], "supported_providers": ["y","x"]}}}`
	aChanged := `{"id":"a","requirements":{"model_requirement":{"supported_providers":["x","z"]}}}`
	b := `{"id":"b","name":"B"}`
	c := `{"id":"c"}`

	if d := store.Diff(mustCatalog(t, a, b), mustCatalog(t, b, aReordered)); !d.Empty() {
		t.Errorf("provider/family order, key order, whitespace and list order must not be a change: %+v", d)
	}
	d := store.Diff(mustCatalog(t, a, b), mustCatalog(t, aChanged, c))
	if strings.Join(d.Added, ",") != "c" || strings.Join(d.Removed, ",") != "b" || strings.Join(d.Changed, ",") != "a" {
		t.Errorf("diff = %+v", d)
	}
	if d := store.Diff(nil, mustCatalog(t, a)); strings.Join(d.Added, ",") != "a" {
		t.Errorf("diff from nothing = %+v", d)
	}
}

func TestFilter(t *testing.T) {
	c := store.SeedCatalog()
	ids := func(f store.Filter) string {
		var out []string
		for _, rt := range f.Apply(c) {
			out = append(out, rt.ID)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name string
		f    store.Filter
		want string
	}{
		{"All", store.Filter{}, "default,claude_code"},
		{"StatusFold", store.Filter{Status: "BETA"}, "claude_code"},
		{"Provider", store.Filter{Provider: "openai"}, "default"},
		{"ProviderShared", store.Filter{Provider: "anthropic"}, "default,claude_code"},
		{"FeatureNormalised", store.Filter{Features: []string{"code_first-DESIGN"}}, "claude_code"},
		{"PhraseInFeatureSentence", store.Filter{Features: []string{"code review"}}, "claude_code"},
		{"WholeWordsOnly", store.Filter{Features: []string{"revie"}}, ""},
		{"AllFeaturesMustMatch", store.Filter{Features: []string{"Code-first design", "Session management"}}, ""},
		{"Type", store.Filter{Type: "agent"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.f); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDB_CommitAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.Loaded() != nil {
		t.Fatal("new file must hold no snapshot")
	}
	cat1 := mustCatalog(t, `{"id":"a","v":1}`, `{"id":"b"}`)
	s1, err := db.Commit(cat1, store.SourceUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	cat2 := mustCatalog(t, `{"id":"a","v":2}`, `{"id":"c","x_unknown":[1,2]}`)
	s2, err := db.Commit(cat2, store.SourceUpstream, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if s1.Revision != 1 || s2.Revision != 2 {
		t.Fatalf("revisions %d, %d", s1.Revision, s2.Revision)
	}
	last := s2.Changes[len(s2.Changes)-1]
	if strings.Join(last.Added, ",") != "c" || strings.Join(last.Removed, ",") != "b" || strings.Join(last.Changed, ",") != "a" {
		t.Errorf("change record = %+v", last)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}

	db2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	got := db2.Loaded()
	if got == nil || got.Revision != 2 || got.Source != store.SourceCache {
		t.Fatalf("reloaded %+v", got)
	}
	if !got.FetchedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("fetched_at = %v", got.FetchedAt)
	}
	var ids []string
	for _, rt := range got.Catalog.Runtimes() {
		ids = append(ids, rt.ID+"="+string(rt.Raw))
	}
	if strings.Join(ids, " ") != `a={"id":"a","v":2} c={"id":"c","x_unknown":[1,2]}` {
		t.Errorf("reloaded runtimes in order, verbatim: %s", strings.Join(ids, " "))
	}
	if len(got.Changes) != 2 {
		t.Errorf("change log has %d records, want 2", len(got.Changes))
	}
}

func TestDB_ChangeLogBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{ChangeLogSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := db.Commit(mustCatalog(t, `{"id":"a","v":`+string(rune('0'+i))+`}`), store.SourceUpstream, t0); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = store.Open(path, store.Options{ChangeLogSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.Loaded()
	if len(s.Changes) != 3 || s.Changes[0].Revision != 4 || s.Changes[2].Revision != 6 {
		t.Fatalf("changes kept: %+v", s.Changes)
	}
	if _, complete := s.ChangesSince(1); complete {
		t.Error("ChangesSince(1) must report the pruned history as incomplete")
	}
	if ch, complete := s.ChangesSince(4); !complete || len(ch) != 2 {
		t.Errorf("ChangesSince(4) = %d records, complete=%v", len(ch), complete)
	}
}

func TestDB_SecondInstanceFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = store.Open(path, store.Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("message must name the file: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second open took %v; it must fail fast", time.Since(start))
	}
}

func TestDB_CorruptFileMovedAside(t *testing.T) {
	for name, content := range map[string][]byte{
		"Garbage":   []byte(strings.Repeat("not a bbolt file ", 1000)),
		"Truncated": []byte{1, 2, 3},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "runtimesd.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatalf("a corrupt file must not stop the daemon: %v", err)
			}
			defer db.Close()
			aside := db.MovedAside()
			if aside == "" || !strings.HasPrefix(aside, path+".corrupt-") {
				t.Fatalf("moved aside to %q", aside)
			}
			kept, err := os.ReadFile(aside)
			if err != nil || string(kept) != string(content) {
				t.Fatalf("corrupt file not kept intact for inspection: %v", err)
			}
			if db.Loaded() != nil {
				t.Error("fresh file must hold no snapshot")
			}
			if _, err := db.Commit(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0); err != nil {
				t.Fatalf("fresh file must be writable: %v", err)
			}
		})
	}
	t.Run("DamagedRecord", func(t *testing.T) {
		// A file bbolt can read whose records are not runtimesd's is corrupt for us too.
		path := filepath.Join(t.TempDir(), "runtimesd.db")
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Commit(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0); err != nil {
			t.Fatal(err)
		}
		db.Close()
		data, _ := os.ReadFile(path)
		i := strings.Index(string(data), "\x0a"+`{"id":"a"}`)
		if i < 0 {
			t.Fatal("record not found in file")
		}
		data[i] = 0x7f // the record's length prefix now runs past its end
		os.WriteFile(path, data, 0o600)
		db, err = store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.MovedAside() == "" || db.Loaded() != nil {
			t.Fatalf("damaged record: moved aside %q, loaded %v", db.MovedAside(), db.Loaded())
		}
	})
}

func TestDB_ReadOnlyDoesNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, _ := store.Open(path, store.Options{})
	db.Commit(mustCatalog(t, `{"id":"a"}`), store.SourceUpstream, t0)
	db.Close()
	ro, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Loaded().Catalog.Len() != 1 {
		t.Fatal("read-only open must load the snapshot")
	}
	if _, err := ro.Commit(mustCatalog(t, `{"id":"b"}`), store.SourceUpstream, t0); err == nil {
		t.Fatal("commit on a read-only store must fail")
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	db := MustOpen(t, store.Options{})
	s, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := store.Export(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := store.ParseSnapshotFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := store.Diff(s.Catalog, back); !d.Empty() {
		t.Fatalf("round trip changed the catalog: %+v", d)
	}
	for _, rt := range back.Runtimes() {
		orig, _ := s.Catalog.Get(rt.ID)
		if string(rt.Raw) != string(orig.Raw) || string(rt.RequirementsRaw) != string(orig.RequirementsRaw) {
			t.Errorf("%s: raw JSON not kept verbatim", rt.ID)
		}
	}
	for name, bad := range map[string]string{
		"Empty":       "",
		"WrongFormat": `{"format":"other","runtimes":[]}`,
		"Scalar":      `42`,
		"BadItem":     `[{"name":"no id"}]`,
		"Duplicate":   `[{"id":"a"},{"id":"a"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := store.ParseSnapshotFile([]byte(bad)); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestLive_PublishWakesWaiters(t *testing.T) {
	l := store.NewLive(nil)
	if l.Load() != nil {
		t.Fatal("empty Live must load nil")
	}
	ch := l.Changed()
	s := &store.Snapshot{Revision: 7, Catalog: store.SeedCatalog()}
	l.Publish(s)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish did not wake the waiter")
	}
	if l.Load() != s {
		t.Fatal("Load must return the published snapshot")
	}
}

// A data directory looser than 0700 is warned about, also when a corrupt file is moved aside
// at start (the fresh file was opened on a path that skipped the warning).
func TestDB_WarnsOnLoosePermissions(t *testing.T) {
	for name, corrupt := range map[string]bool{"Fresh": false, "AfterMovingCorruptAside": true} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			os.MkdirAll(dir, 0o755)
			os.Chmod(dir, 0o755)
			if corrupt {
				if err := os.WriteFile(filepath.Join(dir, "runtimesd.db"), bytes.Repeat([]byte{0xAB}, 32768), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs strings.Builder
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			db, err := store.Open(filepath.Join(dir, "runtimesd.db"), store.Options{Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if corrupt && db.MovedAside() == "" {
				t.Fatal("the corrupt file was not moved aside")
			}
			if !strings.Contains(logs.String(), "accessible to other users") || !strings.Contains(logs.String(), "0755") {
				t.Fatalf("no warning for a 0755 data directory:\n%s", logs.String())
			}
		})
	}
}

// A runtime read back from the file is the runtime that was stored, derived fields included.
func TestDB_RecordRoundTrip(t *testing.T) {
	objs := []string{
		`{"id":"full","name":"Full ✓","type":"agent","status":"beta","features":["A b","c_d"],"supported_features":["E"],"model_requirements":{"default_model":"gpt-4o","supported_providers":["x"]},"default_environment":{"region":"eu"},"requirements":{"model_requirement":{"description":"d","supported_providers":["openai"],"supported_families":["gpt"],"examples":["gpt-4o"]},"required_config_fields":["timeout"],"recommended_config_fields":["t"],"max_history_length":0,"requires_system_prompt":true,"requires_tools":true}}`,
		`{"id":"bare","status":"available"}`,
		`{"id":"nullhist","requirements":{"max_history_length":null}}`,
	}
	cat := mustCatalog(t, objs...)
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, _ := store.Open(path, store.Options{})
	db.Commit(cat, store.SourceUpstream, t0)
	db.Close()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, want := range cat.Runtimes() {
		got, ok := db.Loaded().Catalog.Get(want.ID)
		if !ok {
			t.Fatalf("%s missing", want.ID)
		}
		if !reflect.DeepEqual(*got, *want) {
			t.Errorf("%s differs after the round trip:\n got %+v\nwant %+v", want.ID, *got, *want)
		}
		if !store.HasFeature(got, "a-B") != !store.HasFeature(want, "a-B") {
			t.Errorf("%s: feature matching differs", want.ID)
		}
	}
}
