package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

const testKey = "test-key-not-a-secret"

type env struct {
	fake   *fakecp.Server
	db     *store.DB
	live   *store.Live
	client *rsync.Client
	poller *rsync.Poller
	path   string
}

type setup struct {
	fake   fakecp.Options
	client rsync.ClientOptions
	poller rsync.Options
	path   string
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	s.fake.APIKey = testKey
	fake, err := fakecp.Start(s.fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	if s.path == "" {
		s.path = filepath.Join(t.TempDir(), "runtimesd.db")
	}
	db, err := store.Open(s.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	initial := db.Loaded()
	if initial == nil {
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
	}
	live := store.NewLive(initial)
	s.client.BaseURL, s.client.APIKey = fake.URL(), testKey
	if s.client.Timeout == 0 {
		s.client.Timeout = 2 * time.Second
	}
	client, err := rsync.NewClient(s.client)
	if err != nil {
		t.Fatal(err)
	}
	s.poller.Upstream, s.poller.DB, s.poller.Live = client, db, live
	p, err := rsync.NewPoller(s.poller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &env{fake: fake, db: db, live: live, client: client, poller: p, path: s.path}
}

func (e *env) sync(t testing.TB) health.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := e.poller.SyncNow(ctx, rsync.TriggerManual)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// syncWith runs one sync through a second poller built from o over the env's data file and
// live snapshot (o's DB and Live are set here).
func (e *env) syncWith(t testing.TB, o rsync.Options) health.Run {
	t.Helper()
	o.DB, o.Live = e.db, e.live
	p, err := rsync.NewPoller(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := p.SyncNow(ctx, rsync.TriggerManual)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) servedIDs() string {
	var ids []string
	for _, rt := range e.live.Load().Catalog.Runtimes() {
		ids = append(ids, rt.ID)
	}
	return strings.Join(ids, ",")
}

// reorderSets reverses every supported_providers and supported_families array and re-encodes
// the objects (which also reorders their keys).
func reorderSets(t *testing.T, list []byte) []byte {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal(list, &items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		mr := it["requirements"].(map[string]any)["model_requirement"].(map[string]any)
		for _, k := range []string{"supported_providers", "supported_families"} {
			arr := mr[k].([]any)
			slices.Reverse(arr)
		}
	}
	out, err := json.MarshalIndent(items, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func catalogJSON(objs ...string) []byte { return []byte("[" + strings.Join(objs, ",") + "]") }

func rtJSON(id string, extra string) string {
	return fmt.Sprintf(`{"id":%q,"name":"Runtime %s","status":"available","features":["f1"]%s,"requirements":{"model_requirement":{"description":"d","supported_providers":["openai","anthropic"],"supported_families":["gpt","claude"],"examples":[]},"required_config_fields":[],"recommended_config_fields":[],"max_history_length":10,"requires_system_prompt":false,"requires_tools":false}}`, id, id, extra)
}

func TestPoller_SyncOnce(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", `,"x_future":{"k":[1,2]}`), rtJSON("b", ""))}})
		r := e.sync(t)
		if r.Outcome != health.OutcomeChanged || r.Revision != 1 {
			t.Fatalf("run = %+v", r)
		}
		snap := e.live.Load()
		if snap.Source != store.SourceUpstream || e.servedIDs() != "a,b" {
			t.Fatalf("served %s from %s", e.servedIDs(), snap.Source)
		}
		a, _ := snap.Catalog.Get("a")
		if string(a.Raw) != rtJSON("a", `,"x_future":{"k":[1,2]}`) {
			t.Errorf("raw object not verbatim, unknown field lost: %s", a.Raw)
		}
		if got := e.fake.AuthorizationHeaders()["Bearer "+testKey]; got == 0 {
			t.Error("the API key was not sent as a Bearer token")
		}
	})

	t.Run("UnchangedWritesNothing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{})
		e.sync(t)
		writes := e.db.WriteCount()
		first := e.live.Load()
		// The same catalog with providers and families in another order, keys in another
		// order and other whitespace is no change.
		if err := e.fake.SetCatalog(reorderSets(t, store.SeedJSON())); err != nil {
			t.Fatal(err)
		}
		r := e.sync(t)
		if r.Outcome != health.OutcomeUnchanged {
			t.Fatalf("outcome %s, want unchanged (%s)", r.Outcome, r.Error)
		}
		if got := e.db.WriteCount(); got != writes {
			t.Fatalf("an unchanged sync wrote %d pages", got-writes)
		}
		now := e.live.Load()
		if now.Revision != first.Revision || now.Catalog != first.Catalog {
			t.Error("an unchanged sync must keep the revision and the bytes served")
		}
		if !now.FetchedAt.After(first.FetchedAt) && !now.FetchedAt.Equal(first.FetchedAt) {
			t.Error("fetched_at must move forward")
		}
	})

	t.Run("UnchangedConfirmsTheAgeAcrossARestart", func(t *testing.T) {
		t.Parallel()
		// A clock the test moves: the data is committed at t0, then confirmed unchanged.
		var mu sync.Mutex
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		e := newEnv(t, setup{poller: rsync.Options{Now: clock, ConfirmEvery: time.Minute}})
		e.sync(t)
		committed := e.live.Load().FetchedAt
		writes := e.db.WriteCount()
		advance(30 * time.Second)
		if r := e.sync(t); r.Outcome != health.OutcomeUnchanged {
			t.Fatalf("outcome %s, want unchanged (%s)", r.Outcome, r.Error)
		}
		if e.db.WriteCount() != writes {
			t.Fatal("an unchanged run within ConfirmEvery of the file's time must write nothing")
		}
		advance(40 * time.Second) // 70 s after the commit
		e.sync(t)
		if e.db.WriteCount() == writes {
			t.Fatal("an unchanged run ConfirmEvery after the file's time must record the confirmation")
		}
		confirmed := e.live.Load().FetchedAt
		if !confirmed.Equal(committed.Add(70 * time.Second)) {
			t.Fatalf("fetched_at %v, want %v", confirmed, committed.Add(70*time.Second))
		}
		rev := e.live.Load().Revision
		e.poller.Close()
		if err := e.db.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(e.path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		got := db.Loaded()
		if !got.FetchedAt.Equal(confirmed) || got.Revision != rev {
			t.Errorf("after a restart: fetched_at %v revision %d, want %v (the last confirmation) and %d",
				got.FetchedAt, got.Revision, confirmed, rev)
		}
		if n := len(got.Changes); n != 1 {
			t.Errorf("a confirmation must add no change record: %d records", n)
		}
	})

	t.Run("ChangeBumpsRevision", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", ""))}})
		e.sync(t)
		e.fake.RemoveRuntime("b")
		e.fake.PutRuntime([]byte(rtJSON("a", `,"description":"new"`)))
		e.fake.PutRuntime([]byte(rtJSON("d", "")))
		r := e.sync(t)
		if r.Outcome != health.OutcomeChanged || r.Revision != 2 || r.Change == nil {
			t.Fatalf("run = %+v", r)
		}
		c := r.Change
		if strings.Join(c.Added, ",") != "d" || strings.Join(c.Removed, ",") != "b" || strings.Join(c.Changed, ",") != "a" {
			t.Errorf("change = %+v", c)
		}
		if changes, _ := e.live.Load().ChangesSince(1); len(changes) != 1 || changes[0].Revision != 2 {
			t.Errorf("changes since 1 = %+v", changes)
		}
	})

	for _, f := range []fakecp.Fault{fakecp.Fault500, fakecp.Fault401, fakecp.FaultGarbage, fakecp.FaultTruncated,
		fakecp.FaultObject, fakecp.FaultReset, fakecp.FaultHang, fakecp.Fault429} {
		t.Run("Err"+string(f)+"KeepsData", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{client: rsync.ClientOptions{Timeout: 300 * time.Millisecond}})
			e.sync(t)
			before := e.live.Load()
			writes := e.db.WriteCount()
			e.fake.SetFault(f)
			r := e.sync(t)
			if r.Outcome != health.OutcomeFailed || r.Error == "" {
				t.Fatalf("run = %+v", r)
			}
			if !strings.Contains(r.Error, "GET /api/v1/runtimes") {
				t.Errorf("error must name the call: %s", r.Error)
			}
			if e.live.Load() != before || e.db.WriteCount() != writes {
				t.Error("a failed run must change nothing served or stored")
			}
			st := e.poller.Status()
			if st.ConsecutiveFailures != 1 || st.LastRuns[0].Outcome != health.OutcomeFailed {
				t.Errorf("status = %+v", st)
			}
			e.fake.SetFault(fakecp.FaultNone)
			if f == fakecp.Fault429 {
				return // Retry-After holds the next run back: TestPoller_RetryAfterHonoured
			}
			if r := e.sync(t); r.Outcome != health.OutcomeUnchanged {
				t.Errorf("after recovery: %+v", r)
			}
		})
	}

	t.Run("Err401IsCredentials", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{})
		e.fake.SetFault(fakecp.Fault401)
		r := e.sync(t)
		if !strings.Contains(r.Error, "credentials rejected") || !strings.Contains(r.Error, "KUBIYA_API_KEY") {
			t.Errorf("401 must read as a credentials problem: %s", r.Error)
		}
		if strings.Contains(r.Error, testKey) {
			t.Error("the API key leaked into an error")
		}
	})

	t.Run("EmptyAnswerHeld", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{poller: rsync.Options{HoldRepeats: 3}})
		e.sync(t)
		e.fake.SetFault(fakecp.FaultEmpty)
		for i := 1; i <= 2; i++ {
			r := e.sync(t)
			if r.Outcome != health.OutcomeHeld {
				t.Fatalf("run %d: %+v", i, r)
			}
			h := e.poller.Status().Held
			if h == nil || h.Seen != i || h.Needed != 3 || h.Serving != 2 || h.Answer != 0 {
				t.Fatalf("hold = %+v", h)
			}
			if e.servedIDs() != "default,claude_code" {
				t.Fatal("a held answer must not change what is served")
			}
		}
		if r := e.sync(t); r.Outcome != health.OutcomeChanged || e.live.Load().Catalog.Len() != 0 {
			t.Fatalf("the third identical answer must be committed: %+v", r)
		}
		if e.poller.Status().Held != nil {
			t.Error("hold must clear once committed")
		}
	})

	t.Run("MostlyDroppedHeldThenHealed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", ""), rtJSON("d", ""))}})
		e.sync(t)
		e.fake.SetCatalog(catalogJSON(rtJSON("a", "")))
		if r := e.sync(t); r.Outcome != health.OutcomeHeld || !strings.Contains(r.Error, "removes 3 of the 4") {
			t.Fatalf("run = %+v", r)
		}
		e.fake.SetCatalog(catalogJSON(rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", ""), rtJSON("d", "")))
		if r := e.sync(t); r.Outcome != health.OutcomeUnchanged || e.poller.Status().Held != nil {
			t.Fatalf("healed answer: %+v, hold %+v", r, e.poller.Status().Held)
		}
	})

	t.Run("OneRequirementFailingDegrades", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{NoInline: true}})
		if r := e.sync(t); r.Outcome != health.OutcomeChanged {
			t.Fatalf("first run %+v", r)
		}
		cc, _ := e.live.Load().Catalog.Get("claude_code")
		if cc.Requirements == nil || *cc.Requirements.MaxHistoryLength != 200 {
			t.Fatalf("requirements not fetched: %+v", cc.Requirements)
		}
		prevReq := string(cc.RequirementsRaw)
		e.fake.FailRequirements("claude_code", http.StatusInternalServerError)
		e.fake.PutRuntime([]byte(`{"id":"new_one","name":"N","status":"available"}`))
		r := e.sync(t)
		if r.Outcome != health.OutcomeChanged || strings.Join(r.Degraded, ",") != "claude_code" {
			t.Fatalf("run = %+v", r)
		}
		snap := e.live.Load()
		cc, _ = snap.Catalog.Get("claude_code")
		if cc.Degraded == "" || string(cc.RequirementsRaw) != prevReq {
			t.Errorf("degraded runtime must keep its previous requirements: degraded=%q", cc.Degraded)
		}
		if _, ok := snap.Catalog.Get("new_one"); !ok {
			t.Error("the rest of the run must commit")
		}
		e.fake.FailRequirements("claude_code", 0)
		r = e.sync(t)
		cc, _ = e.live.Load().Catalog.Get("claude_code")
		if r.Outcome != health.OutcomeUnchanged || cc.Degraded != "" {
			t.Errorf("healed: %+v degraded=%q", r, cc.Degraded)
		}
	})

	t.Run("NoRequirementsIsNotAFailure", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(`{"id":"bare","status":"available"}`)}, poller: rsync.Options{RequirementsMode: rsync.ModeFetch}})
		r := e.sync(t)
		rt, _ := e.live.Load().Catalog.Get("bare")
		if r.Outcome != health.OutcomeChanged || rt.Requirements != nil || rt.Degraded != "" {
			t.Fatalf("run %+v, runtime %+v", r, rt)
		}
	})

	t.Run("InvalidRuntimeObjectLeftOut", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(`{"name":"no id"}`)}})
		r := e.sync(t)
		if len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0], "missing id") {
			t.Fatalf("run = %+v", r)
		}
		if e.live.Load().Source != store.SourceSeed {
			t.Error("seed must stay served")
		}
	})

	t.Run("RestartServesStored", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "runtimesd.db")
		e := newEnv(t, setup{path: path, fake: fakecp.Options{Catalog: catalogJSON(rtJSON("only", ""))}})
		e.sync(t)
		e.poller.Close()
		e.db.Close()
		e.fake.Close()
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := db.Loaded()
		if s == nil || s.Catalog.Len() != 1 || s.Source != store.SourceCache || s.Revision != 1 {
			t.Fatalf("after restart: %+v", s)
		}
	})
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestPoller_RetryAfterHonoured(t *testing.T) {
	t.Parallel()
	for _, f := range []fakecp.Fault{fakecp.Fault429, fakecp.Fault503} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Now()}
			e := newEnv(t, setup{poller: rsync.Options{Now: clock.Now}})
			e.sync(t)
			e.fake.SetFault(f)
			if r := e.sync(t); r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "Retry-After (7s)") {
				t.Fatalf("run %+v", r)
			}
			e.fake.SetFault(fakecp.FaultNone)
			calls := e.fake.Count("/api/v1/runtimes")
			r := e.sync(t)
			if r.Outcome != health.OutcomeSkipped || !strings.Contains(r.Error, "Retry-After") || e.fake.Count("/api/v1/runtimes") != calls {
				t.Fatalf("a run within Retry-After must make no call: %+v", r)
			}
			if st := e.poller.Status(); st.RetryAfterUntil == nil {
				t.Error("status must show the Retry-After wait")
			}
			clock.Add(8 * time.Second)
			if r := e.sync(t); r.Outcome != health.OutcomeUnchanged {
				t.Fatalf("after Retry-After: %+v", r)
			}
		})
	}
}

func TestPoller_SyncNowJoinsRunInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.fake.SetDelay(300 * time.Millisecond)
	results := make(chan health.Run, 5)
	for range 5 {
		go func() {
			r, err := e.poller.SyncNow(context.Background(), rsync.TriggerManual)
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
	}
	var ids []uint64
	for range 5 {
		select {
		case r := <-results:
			ids = append(ids, r.ID)
		case <-time.After(10 * time.Second):
			t.Fatal("SyncNow did not return")
		}
	}
	lists := e.fake.Count("/api/v1/runtimes")
	if lists > 2 {
		t.Errorf("5 concurrent SyncNow calls made %d list calls; they must join the run in flight", lists)
	}
	if ids[0] != ids[len(ids)-1] && lists == 1 {
		t.Errorf("joined callers must get the same run: %v", ids)
	}
}

func TestPoller_CallerGivingUpDoesNotCancelRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.fake.SetDelay(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.poller.SyncNow(ctx, rsync.TriggerManual); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	deadline := time.After(10 * time.Second)
	for e.live.Load().Revision != 1 {
		select {
		case <-deadline:
			t.Fatal("the run must finish although its first caller gave up")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestPoller_StartRunsAtBootAndOnSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{poller: rsync.Options{Schedule: "@every 1s"}})
	if err := e.poller.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for e.fake.Count("/api/v1/runtimes") < 2 {
		select {
		case <-deadline:
			t.Fatalf("expected a boot run and a scheduled run, saw %d list calls", e.fake.Count("/api/v1/runtimes"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	st := e.poller.Status()
	if st.NextRun == nil || st.Schedule != "@every 1s" {
		t.Errorf("status = %+v", st)
	}
	var triggers []string
	for _, r := range st.LastRuns {
		triggers = append(triggers, r.Trigger)
	}
	if !strings.Contains(strings.Join(triggers, ","), rsync.TriggerBoot) {
		t.Errorf("no boot run in %v", triggers)
	}
	if err := e.poller.Close(); err != nil {
		t.Fatal(err)
	}
	n := e.fake.Count("/api/v1/runtimes")
	time.Sleep(1500 * time.Millisecond)
	if e.fake.Count("/api/v1/runtimes") != n {
		t.Error("no run may start after Close")
	}
	if _, err := e.poller.SyncNow(context.Background(), rsync.TriggerManual); !errors.Is(err, rsync.ErrClosed) {
		t.Errorf("SyncNow after Close: %v", err)
	}
}

func TestPoller_DisabledWithoutUpstream(t *testing.T) {
	t.Parallel()
	db, _ := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{})
	defer db.Close()
	p, err := rsync.NewPoller(rsync.Options{DB: db, Live: store.NewLive(nil), DisabledReason: "no API key"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	r, _ := p.SyncNow(context.Background(), rsync.TriggerManual)
	st := p.Status()
	if r.Outcome != health.OutcomeSkipped || st.Enabled || st.DisabledReason != "no API key" {
		t.Fatalf("run %+v status %+v", r, st)
	}
}

func TestNewPoller_BadOptions(t *testing.T) {
	t.Parallel()
	db, _ := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{})
	defer db.Close()
	for name, o := range map[string]rsync.Options{
		"Schedule": {DB: db, Live: store.NewLive(nil), Schedule: "every now and then"},
		"Mode":     {DB: db, Live: store.NewLive(nil), RequirementsMode: "sometimes"},
		"NoDB":     {Live: store.NewLive(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := rsync.NewPoller(o); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	t.Run("ETagRevalidation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{ETags: true}})
		ctx := context.Background()
		a, err := e.client.ListRuntimes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.client.ListRuntimes(ctx) // 304 from the fake, body from the client's cache
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 2 || len(b) != 2 || string(a[0]) != string(b[0]) {
			t.Fatalf("revalidated list differs: %d vs %d", len(a), len(b))
		}
	})

	t.Run("ResponseCap", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{client: rsync.ClientOptions{MaxResponseBytes: 1024}})
		_, err := e.client.ListRuntimes(context.Background())
		var ue *rsync.Error
		if !errors.As(err, &ue) || ue.Kind != rsync.KindTooLarge || !strings.Contains(err.Error(), "1024-byte cap") {
			t.Fatalf("err = %v", err)
		}
		if n := e.fake.Count("/api/v1/runtimes"); n != 1 {
			t.Errorf("an answer beyond the cap must not be fetched again (retried %d times)", n-1)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{client: rsync.ClientOptions{Timeout: 100 * time.Millisecond}})
		e.fake.SetFault(fakecp.FaultHang)
		start := time.Now()
		_, err := e.client.ListRuntimes(context.Background())
		var ue *rsync.Error
		if !errors.As(err, &ue) || ue.Kind != rsync.KindTimeout {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("the call took %v despite a 100ms timeout", time.Since(start))
		}
	})

	t.Run("RetryAfterRead", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{})
		e.fake.SetFault(fakecp.Fault503)
		_, err := e.client.ListRuntimes(context.Background())
		var ue *rsync.Error
		if !errors.As(err, &ue) || ue.Kind != rsync.KindServer || ue.RetryAfter != 7*time.Second {
			t.Fatalf("err = %#v", err)
		}
	})

	t.Run("RedirectToAnotherHostNotFollowed", func(t *testing.T) {
		t.Parallel()
		var leaked []string
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked = append(leaked, r.Header.Get("Authorization"))
			w.Write([]byte("[]"))
		}))
		defer other.Close()
		e := newEnv(t, setup{})
		// 127.0.0.1 vs localhost: another host by name, as a browser or Go would judge it.
		e.fake.SetRedirectTarget(strings.Replace(other.URL, "127.0.0.1", "localhost", 1))
		e.fake.SetFault(fakecp.FaultRedirect)
		_, err := e.client.ListRuntimes(context.Background())
		if err == nil || !strings.Contains(err.Error(), "another host") {
			t.Fatalf("err = %v", err)
		}
		if len(leaked) != 0 {
			t.Fatalf("the redirect target was called (Authorization %q)", leaked)
		}
	})

	t.Run("BreakerOpensAndStopsCalls", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{client: rsync.ClientOptions{BreakerFailures: 3, BreakerOpenTimeout: time.Hour}})
		e.fake.SetFault(fakecp.Fault500)
		for range 3 {
			e.client.ListRuntimes(context.Background())
		}
		n := e.fake.Count("/api/v1/runtimes")
		_, err := e.client.ListRuntimes(context.Background())
		var ue *rsync.Error
		if !errors.As(err, &ue) || ue.Kind != rsync.KindBreakerOpen {
			t.Fatalf("err = %v", err)
		}
		if e.fake.Count("/api/v1/runtimes") != n {
			t.Error("an open breaker must not call upstream")
		}
		if e.client.BreakerStates()[rsync.CallList] != "open" {
			t.Errorf("states = %v", e.client.BreakerStates())
		}
	})

	t.Run("CredentialErrorsDoNotTripBreaker", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{client: rsync.ClientOptions{BreakerFailures: 2}})
		e.fake.SetFault(fakecp.Fault401)
		for range 5 {
			e.client.ListRuntimes(context.Background())
		}
		if e.fake.Count("/api/v1/runtimes") != 5 || e.client.BreakerStates()[rsync.CallList] != "closed" {
			t.Errorf("401s tripped the breaker: %v", e.client.BreakerStates())
		}
	})

	t.Run("BadBaseURL", func(t *testing.T) {
		t.Parallel()
		if _, err := rsync.NewClient(rsync.ClientOptions{BaseURL: "ftp://x"}); err == nil {
			t.Fatal("want an error")
		}
	})
}

// Ensure the fake's requirements body parses as the contract's shape.
func TestFake_RequirementsEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	raw, err := e.client.GetRequirements(context.Background(), "claude_code")
	if err != nil {
		t.Fatal(err)
	}
	var req store.Requirements
	if err := json.Unmarshal(raw, &req); err != nil || req.RecommendedConfigFields[0] != "timeout" {
		t.Fatalf("req = %+v, %v", req, err)
	}
	if _, err := e.client.GetRequirements(context.Background(), "nope"); !errors.Is(err, rsync.ErrNoRequirements) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestPoller_BreakerOpenSkipsRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{client: rsync.ClientOptions{BreakerFailures: 2, BreakerOpenTimeout: 400 * time.Millisecond, Retries: -1}})
	e.sync(t)
	e.fake.SetFault(fakecp.Fault500)
	e.sync(t)
	e.sync(t)
	if e.client.BreakerStates()[rsync.CallList] != "open" {
		t.Fatalf("breaker %v", e.client.BreakerStates())
	}
	calls := e.fake.Count("/api/v1/runtimes")
	r := e.sync(t)
	if r.Outcome != health.OutcomeSkipped || !strings.Contains(r.Error, "circuit breaker open") || e.fake.Count("/api/v1/runtimes") != calls {
		t.Fatalf("while open: %+v, calls %d -> %d", r, calls, e.fake.Count("/api/v1/runtimes"))
	}
	e.fake.SetFault(fakecp.FaultNone)
	deadline := time.Now().Add(10 * time.Second)
	for e.client.BreakerStates()[rsync.CallList] != "half-open" {
		if time.Now().After(deadline) {
			t.Fatal("breaker never went half-open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := e.sync(t); r.Outcome != health.OutcomeUnchanged || e.client.BreakerStates()[rsync.CallList] != "closed" {
		t.Fatalf("probe run: %+v, %v", r, e.client.BreakerStates())
	}
}

// Restarted with the list breaker open, the sidecar makes no request until the open timeout
// passes.
func TestPoller_RestartWhileOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	fake, err := fakecp.Start(fakecp.Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	start := func() (*store.DB, *rsync.Client, *rsync.Poller) {
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		br, err := health.NewBreakers(rsync.CallKinds, health.BreakerOptions{ConsecutiveFailures: 2, OpenTimeout: 1500 * time.Millisecond,
			Store: db, IsSuccessful: rsync.IsSuccessful, IsExcluded: rsync.IsExcluded})
		if err != nil {
			t.Fatal(err)
		}
		c, err := rsync.NewClient(rsync.ClientOptions{BaseURL: fake.URL(), APIKey: testKey, Breakers: br, Retries: -1, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		live := store.NewLive(db.Loaded())
		if live.Load() == nil {
			live.Publish(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
		}
		p, err := rsync.NewPoller(rsync.Options{Upstream: c, DB: db, Live: live})
		if err != nil {
			t.Fatal(err)
		}
		return db, c, p
	}
	db, _, p := start()
	p.SyncNow(context.Background(), rsync.TriggerManual)
	fake.SetFault(fakecp.Fault500)
	p.SyncNow(context.Background(), rsync.TriggerManual)
	p.SyncNow(context.Background(), rsync.TriggerManual)
	p.Close()
	db.Close()

	db, c, p := start()
	defer db.Close()
	defer p.Close()
	if c.BreakerStates()[rsync.CallList] != "open" {
		t.Fatalf("after restart: %v", c.BreakerStates())
	}
	fake.SetFault(fakecp.FaultNone)
	calls := fake.Count("/api/v1/runtimes")
	if r, _ := p.SyncNow(context.Background(), rsync.TriggerBoot); r.Outcome != health.OutcomeSkipped || fake.Count("/api/v1/runtimes") != calls {
		t.Fatalf("boot run after restart while open: %+v (calls %d -> %d)", r, calls, fake.Count("/api/v1/runtimes"))
	}
	time.Sleep(1600 * time.Millisecond)
	if r, _ := p.SyncNow(context.Background(), rsync.TriggerSchedule); r.Outcome != health.OutcomeUnchanged || fake.Count("/api/v1/runtimes") != calls+1 {
		t.Fatalf("after the open timeout one probe must go: %+v", r)
	}
}

// 12.6: health judges a schedule's next run only while the schedule runs: a poller never
// started (or closed) says so, a started one gives its next run and its longest gap.
func TestPoller_ScheduledStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{poller: rsync.Options{Schedule: "0 9 * * 1,2"}}) // Mondays and Tuesdays
	assess := func(st health.SyncStatus) (string, []string) {
		return health.Assess(health.Inputs{Snapshot: &store.Snapshot{Revision: 1, Source: store.SourceCache, FetchedAt: time.Now(),
			Catalog: store.SeedCatalog()}, Now: time.Now(), MaxStale: time.Hour, Sync: st})
	}
	st := e.poller.Status()
	if st.Scheduled || st.NextRun != nil {
		t.Fatalf("never started: scheduled %v next %v", st.Scheduled, st.NextRun)
	}
	if status, reasons := assess(st); status != health.StatusOK {
		t.Fatalf("a poller not started is not judged on its schedule: %s %q", status, reasons)
	}
	if err := e.poller.Start(); err != nil {
		t.Fatal(err)
	}
	st = e.poller.Status()
	if !st.Scheduled || st.NextRun == nil || st.Interval != 6*24*time.Hour {
		t.Fatalf("started: scheduled %v next %v interval %s, want the six days from Tuesday to Monday", st.Scheduled, st.NextRun, st.Interval)
	}
	st.Running, st.LastRuns, st.ConsecutiveFailures = false, nil, 0
	if status, reasons := assess(st); status != health.StatusOK {
		t.Fatalf("a next run within the schedule's longest gap is due: %s %q", status, reasons)
	}
	if err := e.poller.Close(); err != nil {
		t.Fatal(err)
	}
	if e.poller.Status().Scheduled {
		t.Fatal("closed poller still reports its schedule running")
	}
}
