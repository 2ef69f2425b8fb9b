package sync_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// Behaviours a planted one-line bug broke without any test noticing (issue 14).

// rtReqJSON is a runtime whose requirements carry the given max_history_length.
func rtReqJSON(id string, maxHistory int) string {
	return strings.Replace(rtJSON(id, ""), `"max_history_length":10`, `"max_history_length":`+strconv.Itoa(maxHistory), 1)
}

// When requirements come from the per-runtime endpoint, a runtime object that stays byte for
// byte the same while its requirements change is a change: committed, announced, served.
func TestPoller_FetchedRequirementsChangeIsAChange(t *testing.T) {
	t.Parallel()
	for _, mode := range []rsync.RequirementsMode{rsync.ModeFetch, rsync.ModeAuto} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{
				fake:   fakecp.Options{NoInline: true, Catalog: catalogJSON(rtReqJSON("a", 10), rtReqJSON("b", 10))},
				poller: rsync.Options{RequirementsMode: mode},
			})
			if r := e.sync(t); r.Outcome != health.OutcomeChanged || r.Revision != 1 {
				t.Fatalf("first run %+v", r)
			}
			listBefore := e.fake.Count("/api/v1/runtimes")
			if err := e.fake.SetCatalog(catalogJSON(rtReqJSON("a", 20), rtReqJSON("b", 10))); err != nil {
				t.Fatal(err)
			}
			r := e.sync(t)
			if r.Outcome != health.OutcomeChanged || r.Revision != 2 || r.Change == nil ||
				strings.Join(r.Change.Changed, ",") != "a" || len(r.Change.Added)+len(r.Change.Removed) != 0 {
				t.Fatalf("requirements of a changed upstream, object unchanged: run %+v change %+v", r, r.Change)
			}
			if e.fake.Count("/api/v1/runtimes") != listBefore+1 {
				t.Fatal("one list call per run expected")
			}
			a, _ := e.live.Load().Catalog.Get("a")
			if a.Requirements == nil || *a.Requirements.MaxHistoryLength != 20 {
				t.Fatalf("served requirements of a: %s, want max_history_length 20", a.RequirementsRaw)
			}
			if r := e.sync(t); r.Outcome != health.OutcomeUnchanged || r.Revision != 2 {
				t.Fatalf("the same answer again must change nothing: %+v", r)
			}
		})
	}
}

// The seed is a stand-in: an empty answer on a fresh machine is held (seed beats nothing),
// while the control plane's first non-empty answer replaces the seed whatever it drops.
func TestPoller_EmptyFirstAnswerKeepsSeed(t *testing.T) {
	t.Parallel()
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{poller: rsync.Options{HoldRepeats: 3}})
		e.fake.SetFault(fakecp.FaultEmpty)
		writes := e.db.WriteCount()
		for i := 1; i <= 2; i++ {
			r := e.sync(t)
			snap := e.live.Load()
			if r.Outcome != health.OutcomeHeld || snap.Source != store.SourceSeed || snap.Catalog.Len() != store.SeedCatalog().Len() {
				t.Fatalf("empty first answer %d: run %+v, serving %s with %d runtimes; want held, seed served", i, r, snap.Source, snap.Catalog.Len())
			}
			if e.db.WriteCount() != writes {
				t.Fatalf("a held answer must write nothing (writes %d -> %d)", writes, e.db.WriteCount())
			}
		}
	})
	t.Run("DisjointReplacesSeedAtOnce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, setup{fake: fakecp.Options{Catalog: catalogJSON(rtJSON("other", ""))}, poller: rsync.Options{HoldRepeats: 3}})
		if r := e.sync(t); r.Outcome != health.OutcomeChanged || e.servedIDs() != "other" || e.live.Load().Source != store.SourceUpstream {
			t.Fatalf("first non-empty answer must replace the seed: %+v, serving %s", r, e.servedIDs())
		}
	})
}

// Two different shrinking answers in alternation are two answers, each seen once: neither
// reaches the repeat count, so neither is committed.
func TestPoller_AlternatingShrinkingAnswersNeverRepeat(t *testing.T) {
	t.Parallel()
	full := catalogJSON(rtJSON("a", ""), rtJSON("b", ""), rtJSON("c", ""), rtJSON("d", ""))
	e := newEnv(t, setup{fake: fakecp.Options{Catalog: full}, poller: rsync.Options{HoldRepeats: 2}})
	if r := e.sync(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("first run %+v", r)
	}
	answers := [][]byte{catalogJSON(rtJSON("a", "")), catalogJSON(rtJSON("b", ""))}
	for i := range 6 {
		if err := e.fake.SetCatalog(answers[i%2]); err != nil {
			t.Fatal(err)
		}
		r := e.sync(t)
		if r.Outcome != health.OutcomeHeld || e.servedIDs() != "a,b,c,d" {
			t.Fatalf("run %d: %+v serving %s; alternating answers must stay held", i, r, e.servedIDs())
		}
		if h := e.poller.Status().Held; h == nil || h.Seen != 1 || h.Answer != 1 {
			t.Fatalf("run %d: hold %+v, want a fresh count for each different answer", i, h)
		}
	}
	// The same shrinking answer twice in a row is committed.
	r := e.sync(t)
	if r.Outcome != health.OutcomeChanged || e.servedIDs() != "b" {
		t.Fatalf("repeated answer: %+v serving %s", r, e.servedIDs())
	}
}

// The client's own breakers (sync's classification): a 404 on requirements and a 422 on a
// validate body are the caller's problem and never open a breaker, even at a threshold of 1.
func TestClient_CallerErrorsDoNotTripBreakers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fake: fakecp.Options{NoInline: true}, client: rsync.ClientOptions{BreakerFailures: 1, Retries: -1}})
	e.fake.FailRequirements("default", http.StatusNotFound)
	e.fake.FailRequirements("claude_code", http.StatusUnprocessableEntity)
	ctx := context.Background()
	for range 3 {
		if _, err := e.client.GetRequirements(ctx, "default"); err == nil {
			t.Fatal("a 404 must be an error")
		}
		if _, err := e.client.GetRequirements(ctx, "claude_code"); err == nil {
			t.Fatal("a 422 must be an error")
		}
		status, _, err := e.client.ValidateUpstream(ctx, []byte(`{"runtime_type":7}`), "application/json")
		if err != nil || status != http.StatusUnprocessableEntity {
			t.Fatalf("validate: %d %v; want the control plane's 422 passed through", status, err)
		}
	}
	if n := e.fake.Count("/api/v1/runtimes/default/requirements"); n != 3 {
		t.Fatalf("%d requirements calls made, want 3 (an open breaker stops calls)", n)
	}
	if st := e.client.BreakerStates(); st[rsync.CallRequirements] != "closed" || st[rsync.CallValidate] != "closed" {
		t.Fatalf("caller errors tripped a breaker: %v", st)
	}
	// Control: the same client does trip on the control plane's own failure.
	e.fake.SetFault(fakecp.Fault500)
	e.client.GetRequirements(ctx, "default")
	if st := e.client.BreakerStates(); st[rsync.CallRequirements] != "open" {
		t.Fatalf("a 500 with BreakerFailures 1 must open the requirements breaker: %v", st)
	}
}
