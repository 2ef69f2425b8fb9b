package sync_test

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// catalogN is a catalog of runtimes r0..r<n-1>.
func catalogN(n int) []byte {
	objs := make([]string, n)
	for i := range objs {
		objs[i] = rtJSON(fmt.Sprintf("r%d", i), "")
	}
	return catalogJSON(objs...)
}

func (e *env) setCatalog(t *testing.T, b []byte) {
	t.Helper()
	if err := e.fake.SetCatalog(b); err != nil {
		t.Fatal(err)
	}
}

func TestPoller_CumulativeShrinkIsHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogN(100)}})
	if r := e.sync(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("first run: %+v", r)
	}
	// 100 -> 51 stays under drop_ratio 0.5 of what is served: committed at once.
	e.setCatalog(t, catalogN(51))
	if r := e.sync(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("100 -> 51: %s (%s), want changed", r.Outcome, r.Error)
	}
	// 51 -> 26 also removes less than half of what is served, but is far below the 100 of
	// the window's high-water mark: held until it repeats.
	e.setCatalog(t, catalogN(26))
	for i := 1; i < 3; i++ {
		r := e.sync(t)
		if r.Outcome != health.OutcomeHeld || !strings.Contains(r.Error, "far below the 100 served") {
			t.Fatalf("51 -> 26, run %d: %s (%s), want held below the high-water mark", i, r.Outcome, r.Error)
		}
		if n := e.live.Load().Catalog.Len(); n != 51 {
			t.Fatalf("serving %d runtimes while the answer is held, want 51", n)
		}
	}
	st := e.poller.Status()
	if st.HighWater == nil || st.HighWater.Runtimes != 100 || st.HighWater.WindowSeconds != 86400 {
		t.Fatalf("status high water = %+v, want 100 over 24h", st.HighWater)
	}
	if r := e.sync(t); r.Outcome != health.OutcomeChanged || e.live.Load().Catalog.Len() != 26 {
		t.Fatalf("third identical answer: %s, serving %d; want committed", r.Outcome, e.live.Load().Catalog.Len())
	}

	// The mark survives a restart: a new daemon on the same file still holds 26 -> 13.
	e.poller.Close()
	e.db.Close()
	e2 := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogN(13)}, path: e.path})
	r := e2.sync(t)
	if r.Outcome != health.OutcomeHeld || !strings.Contains(r.Error, "far below the 100 served") {
		t.Fatalf("after a restart, 26 -> 13: %s (%s), want held below the persisted high-water mark", r.Outcome, r.Error)
	}
	// Growing back is never held.
	e2.setCatalog(t, catalogN(30))
	if r := e2.sync(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("26 -> 30: %s (%s), want changed", r.Outcome, r.Error)
	}
}

func TestHealth_ServingFarBelowHighWaterIsDegraded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogN(10)}})
	e.sync(t)
	assess := func() (string, []string) {
		return health.Assess(health.Inputs{Snapshot: e.live.Load(), Now: e.live.Load().FetchedAt,
			MaxStale: 1 << 62, Sync: e.poller.Status()})
	}
	if st, reasons := assess(); st != health.StatusOK {
		t.Fatalf("full catalog: %s %v, want ok", st, reasons)
	}
	e.setCatalog(t, catalogN(4))
	for range 3 {
		e.sync(t)
	}
	if n := e.live.Load().Catalog.Len(); n != 4 {
		t.Fatalf("serving %d, want the confirmed 4", n)
	}
	st, reasons := assess()
	if st != health.StatusDegraded || !strings.Contains(strings.Join(reasons, "|"), "serving 4 runtimes, far below the 10 served") {
		t.Fatalf("serving 4 of a high-water mark of 10: %s %v, want degraded saying so", st, reasons)
	}
	conds := health.CatalogConditions(e.live.Load(), e.poller.Status().HighWater)
	if len(conds) != 1 || conds[0].Code != health.CondBelowHighWater {
		t.Fatalf("conditions = %+v", conds)
	}

	e.setCatalog(t, []byte("[]"))
	for range 3 {
		e.sync(t)
	}
	st, reasons = assess()
	if n := e.live.Load().Catalog.Len(); n != 0 || st != health.StatusDegraded ||
		!strings.Contains(strings.Join(reasons, "|"), "serving an empty catalog") {
		t.Fatalf("serving %d runtimes: %s %v, want degraded for an empty catalog", n, st, reasons)
	}
}

func TestPoller_HoldFingerprintIgnoresOrder(t *testing.T) {
	t.Parallel()
	a, b, c := rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", "")
	objs := []string{a, b, c}
	for i := range 7 {
		objs = append(objs, rtJSON(fmt.Sprintf("x%d", i), ""))
	}

	t.Run("AlternatingOrderConfirms", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(objs...)}})
		e.sync(t)
		answers := [][]byte{catalogJSON(a, b), catalogJSON(b, a), catalogJSON(a, b)}
		for i, ans := range answers {
			e.setCatalog(t, ans)
			r := e.sync(t)
			want := health.OutcomeHeld
			if i == 2 {
				want = health.OutcomeChanged
			}
			if r.Outcome != want {
				t.Fatalf("answer %d (%s): %s (%s), want %s", i, e.fake.Catalog()[:20], r.Outcome, r.Error, want)
			}
		}
	})
	t.Run("AlternatingContentDoesNot", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(objs...)}})
		e.sync(t)
		for i, ans := range [][]byte{catalogJSON(a, b), catalogJSON(a, c), catalogJSON(a, b), catalogJSON(a, c)} {
			e.setCatalog(t, ans)
			if r := e.sync(t); r.Outcome != health.OutcomeHeld {
				t.Fatalf("answer %d: %s (%s): different shrinking answers must not count as repeats", i, r.Outcome, r.Error)
			}
		}
		if n := e.live.Load().Catalog.Len(); n != 10 {
			t.Fatalf("serving %d, want the 10 held on to", n)
		}
	})
}

func TestPoller_KeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	// "ID" and "Status" are other fields than "id" and "status" to the control plane.
	obj := `{"ID":"evil","id":"a","Status":"error","status":"available","name":"bad ` + "\xff\xfe" + ` byte","requirements":null}`
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: []byte("[" + obj + `,{"Id":"b","id":"b2","name":"B"}]`)}})
	if r := e.sync(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("run: %+v", r)
	}
	if got := e.servedIDs(); got != "a,b2" {
		t.Fatalf("served ids %s, want a,b2 (indexed under the exact key id)", got)
	}
	rt, _ := e.live.Load().Catalog.Get("a")
	if rt.Status != "available" {
		t.Errorf("status %q, want available (the lowercase key)", rt.Status)
	}
	if !json.Valid(rt.Raw) || !strings.Contains(string(rt.Raw), "bad \uFFFD byte") || rt.Name != "bad \uFFFD byte" {
		t.Errorf("invalid UTF-8 must become U+FFFD in what is served: raw %q, name %q", rt.Raw, rt.Name)
	}
}

// TestPoller_MemoryIndependentOfHistory commits a few hundred revisions of a large catalog, one
// runtime changed each time, and checks that the live heap stays flat: no revision pins the
// upstream answer it came from.
func TestPoller_MemoryIndependentOfHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("commits hundreds of revisions")
	}
	n, revisions := 1000, 150
	// A longer run for the README's figures: RUNTIMESD_HEAP_RUNTIMES=3000 RUNTIMESD_HEAP_REVISIONS=400.
	if v, err := strconv.Atoi(os.Getenv("RUNTIMESD_HEAP_RUNTIMES")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("RUNTIMESD_HEAP_REVISIONS")); err == nil && v > 20 {
		revisions = v
	}
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: fakecp.SyntheticCatalog(n)}})
	e.sync(t)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var base uint64
	for i := 1; i <= revisions; i++ {
		// Requirements inline: the next runs reuse the runtime as it is, as a sync does with
		// every unchanged runtime.
		if err := e.fake.PutRuntime([]byte(fmt.Sprintf(`{"id":"rt-%d","name":"changed %d","status":"available","requirements":{"required_config_fields":["timeout"]}}`, i%n, i))); err != nil {
			t.Fatal(err)
		}
		if r := e.sync(t); r.Outcome != health.OutcomeChanged {
			t.Fatalf("revision %d: %s (%s)", i, r.Outcome, r.Error)
		}
		if i == 20 {
			base = heap()
		}
	}
	end := heap()
	body := len(e.fake.Catalog())
	t.Logf("%d runtimes (%d-byte answer): live heap %.1f MB after 20 revisions, %.1f MB after %d",
		n, body, float64(base)/1e6, float64(end)/1e6, revisions)
	// Pinning one answer per revision would add about body × 280 bytes (≈400 MB); allow a
	// generous 16 answers' worth for noise.
	if end > base && end-base > uint64(16*body) {
		t.Fatalf("live heap grew by %.1f MB over %d revisions (answer is %d bytes): old answers are kept alive",
			float64(end-base)/1e6, revisions-20, body)
	}
}

func TestPoller_OneBadRuntimeDoesNotBlockTheRest(t *testing.T) {
	t.Parallel()
	good := []string{rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", ""), rtJSON("d", ""), rtJSON("e", "")}
	bad := map[string]string{
		"status":             `{"id":"b","status":3}`,
		"features":           `{"id":"b","features":"x"}`,
		"max_history_length": `{"id":"b","requirements":{"max_history_length":1.5}}`,
		"requirements":       `{"id":"b","requirements":"yes"}`,
	}
	for field, obj := range bad {
		t.Run(field, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(good...)}})
			e.sync(t)
			// b turns bad, c changes, f is new and bad, g is new and good.
			e.setCatalog(t, catalogJSON(good[0], obj, rtJSON("c", `,"description":"new"`), good[3], good[4],
				`{"id":"f","status":["x"]}`, rtJSON("g", "")))
			r := e.sync(t)
			if r.Outcome != health.OutcomeChanged || r.Change == nil {
				t.Fatalf("run: %s (%s), want the good runtimes committed", r.Outcome, r.Error)
			}
			if got := strings.Join(r.Change.Changed, ",") + "|" + strings.Join(r.Change.Added, ","); got != "c|g" {
				t.Errorf("changed|added = %s, want c|g", got)
			}
			if got := e.servedIDs(); got != "a,b,c,d,e,g" {
				t.Errorf("served %s, want a,b,c,d,e,g (b at its previous version, f left out)", got)
			}
			b, _ := e.live.Load().Catalog.Get("b")
			if b.Requirements == nil || b.Status != "available" || !strings.Contains(b.Degraded, field) {
				t.Errorf("b: status %q, requirements %v, degraded %q; want the previous version, degraded naming %s",
					b.Status, b.Requirements != nil, b.Degraded, field)
			}
			if len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0], `"f"`) || !strings.Contains(r.Rejected[0], `"status"`) {
				t.Errorf("rejected = %q, want f named with its bad field", r.Rejected)
			}
			st, reasons := health.Assess(health.Inputs{Snapshot: e.live.Load(), Now: e.live.Load().FetchedAt, MaxStale: 1 << 62, Sync: e.poller.Status()})
			if all := strings.Join(reasons, "|"); st != health.StatusDegraded || !strings.Contains(all, `"b"`) || !strings.Contains(all, "left out 1 unusable") {
				t.Errorf("health %s %v, want degraded naming b and the object left out", st, reasons)
			}
			// Healed: b is taken again and no longer degraded.
			e.setCatalog(t, catalogJSON(good...))
			e.sync(t)
			if b, _ := e.live.Load().Catalog.Get("b"); b.Degraded != "" {
				t.Errorf("b still degraded after upstream healed: %q", b.Degraded)
			}
		})
	}
}

func TestPoller_LostRequirementsAreHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("a", ""), rtJSON("b", ""))}})
	e.sync(t)
	// b keeps its id but loses its requirements: none inline, and the endpoint answers 404.
	if err := e.fake.PutRuntime([]byte(`{"id":"b","name":"Runtime b","status":"available","features":["f1"]}`)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		r := e.sync(t)
		b, _ := e.live.Load().Catalog.Get("b")
		if b.Requirements == nil || !strings.Contains(b.Degraded, fmt.Sprintf("no longer gives requirements for it (%d of 3", i)) {
			t.Fatalf("run %d (%s): requirements %v, degraded %q; want the previous ones kept, degraded", i, r.Outcome, b.Requirements != nil, b.Degraded)
		}
		if e.fake.Count("/api/v1/runtimes/b/requirements") < i {
			t.Fatal("the requirements endpoint was not asked")
		}
	}
	// Upstream repeated it: the loss is committed.
	r := e.sync(t)
	b, _ := e.live.Load().Catalog.Get("b")
	if r.Outcome != health.OutcomeChanged || b.Requirements != nil || b.Degraded != "" {
		t.Fatalf("third answer: %s, requirements %v, degraded %q; want the loss committed", r.Outcome, b.Requirements != nil, b.Degraded)
	}
}
