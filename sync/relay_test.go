package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// fleetNode is a whole runtimesd in process: bbolt file, poller, HTTP server on loopback.
type fleetNode struct {
	name   string
	db     *store.DB
	live   *store.Live
	poller *rsync.Poller
	api    *httpapi.Server
	url    string
	relays *rsync.Relays
}

// nodeSpec says where a node syncs from: a control plane (cp) or relays.
type nodeSpec struct {
	name        string
	cp          string
	relays      []string
	direct      string // control plane for the direct fallback
	schedule    string
	holdRepeats int
	initial     *store.Snapshot
	relayNow    func() time.Time // the relays' clock (way back, refusals)
	relayLog    *slog.Logger
}

func startNode(t *testing.T, sp nodeSpec) *fleetNode {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	initial := sp.initial
	if initial == nil {
		initial = db.Loaded()
	}
	if initial == nil {
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
	}
	n := &fleetNode{name: sp.name, db: db, live: store.NewLive(initial)}
	var up rsync.Upstream
	switch {
	case sp.cp != "":
		c, err := rsync.NewClient(rsync.ClientOptions{BaseURL: sp.cp, APIKey: testKey, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		up = c
	case len(sp.relays) > 0:
		ro := rsync.RelayOptions{URLs: sp.relays, Name: sp.name, Wait: 5 * time.Second, Now: sp.relayNow, Logger: sp.relayLog,
			Client: rsync.ClientOptions{APIKey: "relay-token", Timeout: 2 * time.Second}}
		if sp.direct != "" {
			c, err := rsync.NewClient(rsync.ClientOptions{BaseURL: sp.direct, APIKey: testKey, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ro.Direct = c
		}
		n.relays, err = rsync.NewRelays(ro)
		if err != nil {
			t.Fatal(err)
		}
		up = n.relays
	}
	if sp.schedule == "" {
		sp.schedule = "@every 1h" // the schedule is only the safety net: changes must come by push
	}
	p, err := rsync.NewPoller(rsync.Options{Upstream: up, DisabledReason: "none", DB: db, Live: n.live,
		Schedule: sp.schedule, HoldRepeats: sp.holdRepeats})
	if err != nil {
		t.Fatal(err)
	}
	n.poller = p
	t.Cleanup(func() { p.Close() })
	api, err := httpapi.New(httpapi.Options{Live: n.live, Syncer: p, NodeName: sp.name, Token: "relay-token"})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	n.api, n.url = api, "http://"+api.Addr()
	t.Cleanup(func() { _ = api.Shutdown() })
	return n
}

func (n *fleetNode) stop() {
	_ = n.api.Shutdown()
	_ = n.poller.Close()
}

func (n *fleetNode) syncNow(t *testing.T) health.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := n.poller.SyncNow(ctx, rsync.TriggerManual)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor waits (on the node's publish channel, with a deadline) until cond holds.
func (n *fleetNode) waitFor(t *testing.T, within time.Duration, what string, cond func(*store.Snapshot) bool) *store.Snapshot {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		ch := n.live.Changed()
		if s := n.live.Load(); cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline.C:
			s := n.live.Load()
			t.Fatalf("%s: not within %s (revision %d, source %s, %d runtimes; sync: %+v)", what, within, s.Revision, s.Source, s.Catalog.Len(), n.poller.Status().LastRuns)
			return nil
		}
	}
}

func startCP(t *testing.T) *fakecp.Server {
	t.Helper()
	cp, err := fakecp.Start(fakecp.Options{APIKey: testKey, ETags: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp
}

func hasRuntime(id string) func(*store.Snapshot) bool {
	return func(s *store.Snapshot) bool { _, ok := s.Catalog.Get(id); return ok }
}

func putRuntime(t *testing.T, cp *fakecp.Server, id string) {
	t.Helper()
	if err := cp.PutRuntime(fmt.Appendf(nil, `{"id":%q,"name":"%s","status":"available"}`, id, id)); err != nil {
		t.Fatal(err)
	}
}

// A follower whose schedule is an hour away still serves a change committed on its relay
// within seconds (by push), with the control plane's fetched_at, source relay and the chain.
func TestRelays_PushAndProvenance(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	relay := startNode(t, nodeSpec{name: "relay-a", cp: cp.URL()})
	relay.syncNow(t)
	f := startNode(t, nodeSpec{name: "sidecar-1", relays: []string{relay.url}})
	if err := f.poller.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 10*time.Second, "first copy through the relay", func(s *store.Snapshot) bool { return s.Source == store.SourceRelay })

	putRuntime(t, cp, "pushed_runtime")
	if r := relay.syncNow(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("relay run: %+v", r)
	}
	got := f.waitFor(t, 5*time.Second, "change pushed to the follower", hasRuntime("pushed_runtime"))
	origin := relay.live.Load()
	if !got.FetchedAt.Equal(origin.FetchedAt) {
		t.Errorf("follower fetched_at %s, want the control plane's answer to the relay %s", got.FetchedAt, origin.FetchedAt)
	}
	if got.Source != store.SourceRelay || !slices.Equal(got.Relays, []string{"relay-a"}) {
		t.Errorf("source %s chain %v, want relay [relay-a]", got.Source, got.Relays)
	}
	st := f.poller.Status()
	if st.Relay == nil || st.Relay.Following != relay.url || !slices.Equal(st.Relay.Chain, []string{"relay-a"}) ||
		st.Relay.OriginSource != "upstream" || st.Relay.OriginFetchedAt == nil {
		t.Errorf("relay status %+v", st.Relay)
	}
	// Provenance after the relay's idle confirmation: an unchanged relay run moves its
	// fetched_at; the follower's next run takes it, never the follower's own clock.
	relay.syncNow(t)
	// The push run that published the change may still be finishing (its snapshot is served
	// before its record is written): a first SyncNow can join it and report "changed".
	if r := f.syncNow(t); r.Trigger == rsync.TriggerPush {
		t.Logf("joined the push run still in flight: %+v", r)
	} else if r.Outcome != health.OutcomeUnchanged {
		t.Fatalf("follower run: %+v", r)
	}
	if r := f.syncNow(t); r.Outcome != health.OutcomeUnchanged {
		t.Fatalf("follower run: %+v", r)
	}
	if a, b := f.live.Load().FetchedAt, relay.live.Load().FetchedAt; !a.Equal(b) {
		t.Errorf("after an unchanged run the follower's fetched_at is %s, the relay's %s", a, b)
	}
	// A two-hop chain: a follower of the follower names both.
	f2 := startNode(t, nodeSpec{name: "sidecar-2", relays: []string{f.url}})
	f2.syncNow(t)
	if s := f2.live.Load(); !slices.Equal(s.Relays, []string{"relay-a", "sidecar-1"}) || !s.FetchedAt.Equal(relay.live.Load().FetchedAt) {
		t.Errorf("second hop: chain %v fetched_at %s", s.Relays, s.FetchedAt)
	}
}

// Losing the relay in use moves the follower to the next within seconds; with every relay
// gone it keeps serving its copy; with the direct fallback it asks the control plane.
func TestRelays_FailoverAndFailStatic(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	r1 := startNode(t, nodeSpec{name: "relay-1", cp: cp.URL()})
	r2 := startNode(t, nodeSpec{name: "relay-2", cp: cp.URL()})
	r1.syncNow(t)
	r2.syncNow(t)
	f := startNode(t, nodeSpec{name: "sidecar", relays: []string{r1.url, r2.url}})
	if err := f.poller.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 10*time.Second, "copy through relay-1", func(s *store.Snapshot) bool {
		return s.Source == store.SourceRelay && slices.Equal(s.Relays, []string{"relay-1"})
	})
	r1.stop()
	putRuntime(t, cp, "after_failover")
	r2.syncNow(t)
	got := f.waitFor(t, 10*time.Second, "change through relay-2 after relay-1 died", hasRuntime("after_failover"))
	if !slices.Equal(got.Relays, []string{"relay-2"}) {
		t.Errorf("chain %v, want [relay-2]", got.Relays)
	}
	if st := f.poller.Status().Relay; st.Following != r2.url || st.Relays[0].LastError == "" {
		t.Errorf("relay status after failover: %+v", st)
	}

	r2.stop()
	// The push run that published the change may still be finishing (its snapshot is served
	// before its record is written): a first SyncNow can join it and report "changed". It
	// settles that run; the run checked is the next one, made with every relay gone.
	if r := f.syncNow(t); r.Trigger == rsync.TriggerPush && r.Outcome != health.OutcomeFailed {
		t.Logf("joined the push run still in flight: %+v", r)
	}
	before := f.live.Load()
	r := f.syncNow(t)
	if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "every relay failed") {
		t.Fatalf("run with every relay gone: %+v", r)
	}
	if f.live.Load() != before {
		t.Error("the follower's copy changed with every relay gone")
	}
	resp, err := http.Get(f.url + "/api/v1/runtimes/after_failover/requirements")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // no requirements, but the runtime is served
		t.Errorf("follower answer with every relay gone: %d", resp.StatusCode)
	}
	if _, ok := f.live.Load().Catalog.Get("after_failover"); !ok {
		t.Error("fail static: the copy lost a runtime")
	}

	d := startNode(t, nodeSpec{name: "sidecar-d", relays: []string{r1.url, r2.url}, direct: cp.URL()})
	if r := d.syncNow(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("direct fallback run: %+v", r)
	}
	if s := d.live.Load(); s.Source != store.SourceUpstream || s.Relays != nil {
		t.Errorf("direct fallback: source %s chain %v", s.Source, s.Relays)
	}
	if st := d.poller.Status().Relay; st.Following != "direct" || !st.DirectFallback {
		t.Errorf("direct fallback status: %+v", st)
	}
}

// A relay loop (A follows B, B follows A) is refused with an error naming it.
func TestRelays_LoopRefused(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	seed := startNode(t, nodeSpec{name: "origin", cp: cp.URL()})
	seed.syncNow(t)
	// A starts with a real copy (as after a restart: source cache), then B follows A and A
	// follows B.
	cur := seed.live.Load()
	initial := &store.Snapshot{Revision: 0, Source: store.SourceCache, FetchedAt: cur.FetchedAt, Catalog: cur.Catalog}
	a := startNode(t, nodeSpec{name: "node-a", relays: []string{"http://127.0.0.1:1"}, initial: initial})
	b := startNode(t, nodeSpec{name: "node-b", relays: []string{a.url}})
	if r := b.syncNow(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("B following A: %+v", r)
	}
	a2 := startNode(t, nodeSpec{name: "node-a", relays: []string{b.url}, initial: initial})
	r := a2.syncNow(t)
	if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "relay loop") || !strings.Contains(r.Error, "node-a -> node-b -> node-a") {
		t.Fatalf("A following B following A: %+v", r)
	}
	// The follower side refuses too, even when the relay does not (an older relay).
	if err := rsync.LoopError([]string{"x", "y", "x"}); !errors.Is(err, rsync.ErrRelayLoop) || !strings.Contains(err.Error(), "x -> y -> x") {
		t.Error(err)
	}
}

// A relay that is no runtimesd, serves seed data, or answers older data than served is
// refused; a relay's shrinking answer is held like the control plane's.
func TestRelays_BadRelays(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	t.Run("NotARuntimesd", func(t *testing.T) {
		plain, err := fakecp.Start(fakecp.Options{APIKey: "relay-token"}) // the token is right, the server is no relay
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		f := startNode(t, nodeSpec{name: "s", relays: []string{plain.URL()}})
		r := f.syncNow(t)
		if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "not a runtimesd relay") {
			t.Fatalf("%+v", r)
		}
		if f.live.Load().Source != store.SourceSeed {
			t.Error("the follower took the answer")
		}
	})
	t.Run("SeedRelay", func(t *testing.T) {
		empty := startNode(t, nodeSpec{name: "empty-relay"})
		f := startNode(t, nodeSpec{name: "s", relays: []string{empty.url}})
		if r := f.syncNow(t); r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "serves seed data") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("OlderDataNotFollowedBackwards", func(t *testing.T) {
		fresh := startNode(t, nodeSpec{name: "fresh", cp: cp.URL()})
		fresh.syncNow(t)
		// An old relay: a copy the control plane gave an hour ago, with a runtime since removed.
		old := startNode(t, nodeSpec{name: "old"})
		cat, err := store.ParseSnapshotFile(append([]byte(`[{"id":"gone_since","name":"g","status":"available"},`), cp.Catalog()[1:]...))
		if err != nil {
			t.Fatal(err)
		}
		hourAgo := time.Now().Add(-time.Hour)
		snap, err := old.db.CommitAt(cat, store.SourceUpstream, hourAgo, hourAgo)
		if err != nil {
			t.Fatal(err)
		}
		old.live.Publish(snap)
		f := startNode(t, nodeSpec{name: "s", relays: []string{fresh.url, old.url}})
		f.syncNow(t)
		before := f.live.Load()
		fresh.stop()
		r := f.syncNow(t)
		if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "not followed backwards") {
			t.Fatalf("run against the older relay: %+v", r)
		}
		if got := f.live.Load(); got.Revision != before.Revision || !got.FetchedAt.Equal(before.FetchedAt) {
			t.Errorf("followed backwards: revision %d -> %d, fetched_at %s -> %s", before.Revision, got.Revision, before.FetchedAt, got.FetchedAt)
		}
	})
	t.Run("ShrinkHeld", func(t *testing.T) {
		cp2 := startCP(t)
		relay := startNode(t, nodeSpec{name: "r", cp: cp2.URL(), holdRepeats: 1})
		relay.syncNow(t)
		f := startNode(t, nodeSpec{name: "s", relays: []string{relay.url}})
		f.syncNow(t)
		n := f.live.Load().Catalog.Len()
		if err := cp2.SetCatalog([]byte(`[{"id":"only","name":"o","status":"available"}]`)); err != nil {
			t.Fatal(err)
		}
		relay.syncNow(t)
		r := f.syncNow(t)
		if r.Outcome != health.OutcomeHeld || f.live.Load().Catalog.Len() != n {
			t.Fatalf("shrinking relay answer: %+v, serving %d of %d", r, f.live.Load().Catalog.Len(), n)
		}
	})
}

func TestValidNodeName(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "a,b", "a b", "a\nb", strings.Repeat("x", 257), "é"} {
		if rsync.ValidNodeName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := rsync.ValidNodeName("relay-0.runtimesd/10.0.0.1:7878"); err != nil {
		t.Error(err)
	}
}

// After a failover the follower goes back to its first relay once that answers again, at the
// first run WayBack (30s) after it moved.
func TestRelays_WayBack(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	r1 := startNode(t, nodeSpec{name: "relay-1", cp: cp.URL()})
	r2 := startNode(t, nodeSpec{name: "relay-2", cp: cp.URL()})
	r1.syncNow(t)
	r2.syncNow(t)
	var mu stdsync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	f := startNode(t, nodeSpec{name: "sidecar", relays: []string{r1.url, r2.url}, relayNow: now})
	following := func() string { return f.poller.Status().Relay.Following }
	f.syncNow(t)
	if following() != r1.url {
		t.Fatalf("first choice: following %s", following())
	}
	addr := strings.TrimPrefix(r1.url, "http://")
	_ = r1.api.Shutdown()
	f.syncNow(t)
	if following() != r2.url {
		t.Fatalf("after relay-1 stopped: following %s", following())
	}
	api, err := httpapi.New(httpapi.Options{Live: r1.live, Syncer: r1.poller, NodeName: "relay-1", Token: "relay-token"})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen(addr); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	t.Cleanup(func() { _ = api.Shutdown() })
	f.syncNow(t)
	if following() != r2.url {
		t.Fatalf("before the way-back interval: following %s, want relay-2 still", following())
	}
	mu.Lock()
	clock = clock.Add(31 * time.Second)
	mu.Unlock()
	f.syncNow(t)
	if following() != r1.url {
		t.Fatalf("after the way-back interval: following %s, want relay-1 again", following())
	}
}

// A hostile or broken relay's provenance headers are refused, each with an error naming what
// is wrong, and nothing it sent is served.
func TestRelays_HostileHeaders(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	good := map[string]string{rsync.HeaderSource: "upstream", rsync.HeaderFetchedAt: now.Format(time.RFC3339Nano),
		rsync.HeaderRevision: "3", rsync.HeaderRelayChain: "relay-h"}
	long := strings.TrimSuffix(strings.Repeat("h,", rsync.MaxRelayChain+1), ",")
	for _, c := range []struct {
		name, header, value, want string
	}{
		{"FutureFetchedAt", rsync.HeaderFetchedAt, now.Add(time.Hour).Format(time.RFC3339Nano), "ahead of this machine's clock"},
		{"BadFetchedAt", rsync.HeaderFetchedAt, "yesterday", "want an RFC 3339 time"},
		{"UnknownSource", rsync.HeaderSource, "banana", "is not one of"},
		{"BadRevision", rsync.HeaderRevision, "-1", "want a revision number"},
		{"NoChain", rsync.HeaderRelayChain, "", "no " + rsync.HeaderRelayChain},
		{"ChainTooLong", rsync.HeaderRelayChain, long, "at most 16 hops"},
		{"ChainBadName", rsync.HeaderRelayChain, "a,b c", "a name is"},
		{"ChainLoop", rsync.HeaderRelayChain, "relay-h,sidecar-h", "relay loop: relay-h -> sidecar-h -> sidecar-h"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range good {
					w.Header().Set(k, v)
				}
				if c.value == "" {
					w.Header().Del(c.header)
				} else {
					w.Header().Set(c.header, c.value)
				}
				_, _ = w.Write([]byte(`[{"id":"hostile","name":"h","status":"available"}]`))
			}))
			defer srv.Close()
			f := startNode(t, nodeSpec{name: "sidecar-h", relays: []string{srv.URL}})
			r := f.syncNow(t)
			if r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, c.want) {
				t.Fatalf("run: %+v, want failed naming %q", r, c.want)
			}
			if _, ok := f.live.Load().Catalog.Get("hostile"); ok {
				t.Error("the hostile relay's answer is served")
			}
		})
	}
}

// A sidecar whose control_plane.base_url is another runtimesd is told, once, to follow it as
// a relay instead.
func TestClient_RecognisesRuntimesd(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	relay := startNode(t, nodeSpec{name: "relay-r", cp: cp.URL()})
	relay.syncNow(t)
	var logs strings.Builder
	var mu stdsync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	for _, base := range []string{cp.URL(), relay.url} {
		c, err := rsync.NewClient(rsync.ClientOptions{BaseURL: base, APIKey: map[string]string{cp.URL(): testKey, relay.url: "relay-token"}[base], Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := c.ListRuntimes(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "answers like a runtimesd"); n != 1 || !strings.Contains(logs.String(), relay.url) {
		t.Errorf("want one hint naming %s, got %d:\n%s", relay.url, n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// With every relay gone and the direct fallback on, the follower's watch keeps probing the
// relays (with backoff) but calls the control plane only once, then on its schedule: a fleet
// whose relays are down must not stampede the control plane.
func TestRelays_DirectFallbackDoesNotStampede(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	dead := closedURLs(t, 2)
	f := startNode(t, nodeSpec{name: "sidecar", relays: dead, direct: cp.URL()})
	if err := f.poller.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 10*time.Second, "data through the direct fallback", func(s *store.Snapshot) bool { return s.Source == store.SourceUpstream })
	// Wait (bounded) until the watch has failed over both relays several times more.
	probes := func() (n int) {
		for _, e := range f.poller.Status().Relay.Relays {
			if e.LastErrorAt != nil {
				n++
			}
		}
		return n
	}
	seen := map[time.Time]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(seen) < 6; {
		for _, e := range f.poller.Status().Relay.Relays {
			if e.LastErrorAt != nil {
				seen[*e.LastErrorAt] = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch probed the relays only %d times in 20s (%d relays probed)", len(seen), probes())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The boot run and the run after the first failed round of watches: 2 list calls at most.
	if n := cp.Count("/api/v1/runtimes"); n > 2 {
		t.Errorf("the control plane got %d list calls while the relays were down (schedule 1h): want at most 2", n)
	}
}

// closedURLs returns n distinct loopback URLs nothing listens on. The listeners are all
// open while the ports are taken, so the kernel cannot hand the same free port out twice (two
// one-at-a-time picks once did, and the relay list was refused as listing one relay twice).
func closedURLs(t *testing.T, n int) []string {
	t.Helper()
	var urls []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	return urls
}

// A relay URL whose blocking reads answer at once (a proxy that drops ?index&wait, or two relays
// with different revisions behind one round-robin URL, as deploy/nginx balances them) must not
// make the follower spin: reads and the syncs they trigger are rate-limited, and the follower
// still serves the relay's data.
func TestRelays_NonBlockingRelayDoesNotSpin(t *testing.T) {
	t.Parallel()
	var mu stdsync.Mutex
	heads, gets := 0, 0
	now := time.Now().UTC()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rev := "5"
		if r.Method == http.MethodHead {
			heads++
			if heads%2 == 0 {
				rev = "7" // the other relay behind the same URL
			}
		} else {
			gets++
		}
		mu.Unlock()
		w.Header().Set(rsync.HeaderSource, "upstream")
		w.Header().Set(rsync.HeaderFetchedAt, now.Format(time.RFC3339Nano))
		w.Header().Set(rsync.HeaderRevision, rev)
		w.Header().Set(rsync.HeaderRelayChain, "relay-x")
		_, _ = w.Write([]byte(`[{"id":"pushed","name":"P","status":"available"}]`))
	}))
	defer srv.Close()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	f := startNode(t, nodeSpec{name: "sidecar-spin", relays: []string{srv.URL}, relayLog: logger})
	if err := f.poller.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 5*time.Second, "the relay's data", hasRuntime("pushed"))
	mu.Lock()
	h0, g0 := heads, gets
	mu.Unlock()
	time.Sleep(2 * time.Second) // a window in which a spinning follower makes thousands of requests
	mu.Lock()
	h, g := heads-h0, gets-g0
	mu.Unlock()
	// At most the burst of 5 and one read a second; each read here "changes" the revision, so
	// each triggers a sync (a list and one requirements call).
	if h > 10 || g > 20 {
		t.Fatalf("in two seconds the follower sent %d blocking reads and %d list reads to a relay that answers at once", h, g)
	}
	// The operator is told, once (at most once a minute), with the likely causes.
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "following is slowed to one read a second"); n != 1 || !strings.Contains(logs.String(), "drops ?index&wait") {
		t.Fatalf("%d warnings about the throttled reads in two seconds, want 1:\n%s", n, logs.String())
	}
}

// scriptedRelay is a relay runtimesd's HTTP surface written by hand: the test decides each
// answer (status, provenance headers, revision, list, requirements) and reads back every
// request. A blocking read (HEAD with ?index) reports its query on parked and is held until
// the follower gives up or the test ends.
type scriptedRelay struct {
	srv    *httptest.Server
	parked chan string
	done   chan struct{}
	kick   chan struct{} // closed (and replaced) by release: the parked reads answer

	mu        stdsync.Mutex
	status    int // 0: 200
	source    string
	fetchedAt time.Time
	rev       uint64
	chain     string
	list      string
	reqs      map[string]string // runtime id -> requirements object (404 when absent)
	got       []string          // "METHOD /path?query" of each request
	followers []string          // X-Runtimes-Follower of each request
	auths     []string          // Authorization of each request
	hold      time.Duration     // a blocking read answers (unchanged) after hold; 0: when released
	noBlock   bool              // blocking reads answer at once (a proxy dropping ?index&wait)
}

const scriptedList = `[{"id":"a","name":"A","status":"available"}]`

func newScriptedRelay(t *testing.T, fetchedAt time.Time) *scriptedRelay {
	t.Helper()
	s := &scriptedRelay{parked: make(chan string, 64), done: make(chan struct{}), kick: make(chan struct{}), source: "upstream",
		fetchedAt: fetchedAt, rev: 5, chain: "relay-s", list: scriptedList, reqs: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.URL.RequestURI())
		s.followers = append(s.followers, r.Header.Get(rsync.HeaderFollower))
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		status, rev, list, kick, hold, noBlock := s.status, s.rev, s.list, s.kick, s.hold, s.noBlock
		h := map[string]string{rsync.HeaderSource: s.source, rsync.HeaderFetchedAt: s.fetchedAt.Format(time.RFC3339Nano),
			rsync.HeaderRevision: fmt.Sprint(s.rev), rsync.HeaderRelayChain: s.chain}
		req, haveReq := s.reqs[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/runtimes/"), "/requirements")]
		s.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		for k, v := range h {
			w.Header().Set(k, v)
		}
		switch {
		case r.Method == http.MethodHead && r.URL.Query().Get("index") == fmt.Sprint(rev) && !noBlock:
			s.parked <- r.URL.RawQuery
			var held <-chan time.Time
			if hold > 0 {
				held = time.After(hold)
			}
			select { // a blocking read: held until released, or the follower gives up
			case <-r.Context().Done():
			case <-s.done:
			case <-held:
			case <-kick:
				s.mu.Lock()
				status, rev := s.status, s.rev
				s.mu.Unlock()
				if status != 0 {
					w.WriteHeader(status)
				}
				w.Header().Set(rsync.HeaderRevision, fmt.Sprint(rev))
			}
		case r.Method == http.MethodHead:
		case r.URL.Path == "/api/v1/runtimes":
			_, _ = w.Write([]byte(list))
		case strings.HasSuffix(r.URL.Path, "/requirements") && haveReq:
			_, _ = w.Write([]byte(req))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.done) }) // runs first: parked reads return, then the server closes
	return s
}

func (s *scriptedRelay) set(f func(*scriptedRelay)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// release answers the blocking reads parked now (with the status set by then).
func (s *scriptedRelay) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.kick)
	s.kick = make(chan struct{})
}

// waitParked waits until a blocking read parks on the relay and returns its query.
func (s *scriptedRelay) waitParked(t *testing.T, what string) string {
	t.Helper()
	select {
	case q := <-s.parked:
		return q
	case <-time.After(10 * time.Second):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("%s: no blocking read parked within 10s; requests: %q", what, s.got)
		return ""
	}
}

// count is the number of requests whose "METHOD /path?query" starts with prefix.
func (s *scriptedRelay) count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.got {
		if strings.HasPrefix(g, prefix) {
			n++
		}
	}
	return n
}

func newRelays(t *testing.T, o rsync.RelayOptions) *rsync.Relays {
	t.Helper()
	if o.Name == "" {
		o.Name = "sidecar-s"
	}
	if o.Client.Timeout == 0 {
		o.Client.Timeout = 2 * time.Second
	}
	r, err := rsync.NewRelays(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lists is the number of list calls (GET /api/v1/runtimes) the relay got.
func (s *scriptedRelay) lists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.got {
		if g == "GET /api/v1/runtimes" {
			n++
		}
	}
	return n
}

// Start names the relay a follower prefers: it asks that one first and the others after it in
// the operator's order, and reports them in that order.
func TestNewRelays_StartIsThePreferredRelay(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a, b, c := newScriptedRelay(t, now), newScriptedRelay(t, now), newScriptedRelay(t, now)
	r := newRelays(t, rsync.RelayOptions{URLs: []string{a.srv.URL, b.srv.URL, c.srv.URL}, Start: 1})
	if _, err := r.ListRuntimes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.lists() != 0 || b.lists() != 1 || c.lists() != 0 {
		t.Fatalf("start 1: list calls a=%d b=%d c=%d, want only b", a.lists(), b.lists(), c.lists())
	}
	var urls []string
	for _, e := range r.RelayStatus().Relays {
		urls = append(urls, e.URL)
	}
	if want := []string{b.srv.URL, c.srv.URL, a.srv.URL}; !slices.Equal(urls, want) {
		t.Fatalf("relays in order of preference %v, want %v", urls, want)
	}
	if _, err := rsync.NewRelays(rsync.RelayOptions{URLs: []string{a.srv.URL, a.srv.URL + "/"}, Name: "s"}); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("the same relay twice: %v", err)
	}
}

// Failing over to the next relay is the retry: a relay answering 500 is asked once per run,
// not retried like the control plane, unless the operator asks for retries.
func TestNewRelays_FailoverIsTheRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ retries, want int }{{0, 1}, {1, 2}} {
		t.Run(fmt.Sprint(tc.retries), func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			sick, good := newScriptedRelay(t, now), newScriptedRelay(t, now)
			sick.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
			r := newRelays(t, rsync.RelayOptions{URLs: []string{sick.srv.URL, good.srv.URL},
				Client: rsync.ClientOptions{Retries: tc.retries, RetryBase: time.Millisecond}})
			if _, err := r.ListRuntimes(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := sick.lists(); n != tc.want || good.lists() != 1 {
				t.Fatalf("retries %d: the failing relay got %d list calls (want %d), the next one %d (want 1)",
					tc.retries, n, tc.want, good.lists())
			}
		})
	}
}

// A name of exactly 256 bytes is allowed; DEL (0x7f) is no printable character.
func TestValidNodeName_Bounds(t *testing.T) {
	t.Parallel()
	if err := rsync.ValidNodeName(strings.Repeat("x", 256)); err != nil {
		t.Errorf("256 bytes: %v", err)
	}
	for _, bad := range []string{"a\x7fb", "a\x1fb", "~\x80"} {
		if rsync.ValidNodeName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := rsync.ValidNodeName("~!#$%&'()*+-./:;<=>?@[]^_`{|}"); err != nil {
		t.Errorf("printable ASCII refused: %v", err)
	}
}

// A relay's fetched_at may run ahead of this machine's clock by store.ClockSkewTolerance
// exactly, not a nanosecond more; a relay chain may name 16 runtimesds, not 17.
func TestRelays_ProvenanceLimitsExactly(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		ahead  time.Duration
		chain  string
		reject string
	}{
		{"SkewAtTolerance", store.ClockSkewTolerance, "relay-s", ""},
		{"SkewPastTolerance", store.ClockSkewTolerance + time.Nanosecond, "relay-s", "ahead of this machine's clock"},
		{"Chain16", 0, strings.TrimSuffix(strings.Repeat("h,", rsync.MaxRelayChain), ","), ""},
		{"Chain17", 0, strings.TrimSuffix(strings.Repeat("h,", rsync.MaxRelayChain+1), ","), "at most 16 hops"},
		{"ChainSpaces", 0, " relay-a , relay-b ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScriptedRelay(t, now.Add(tc.ahead))
			s.set(func(s *scriptedRelay) { s.chain = tc.chain })
			r := newRelays(t, rsync.RelayOptions{URLs: []string{s.srv.URL}, Now: func() time.Time { return now }})
			items, err := r.ListRuntimes(context.Background())
			if tc.reject != "" {
				if err == nil || !strings.Contains(err.Error(), tc.reject) {
					t.Fatalf("err %v, want %q", err, tc.reject)
				}
				return
			}
			if err != nil || len(items) != 1 {
				t.Fatalf("items %d err %v", len(items), err)
			}
			st := r.RelayStatus()
			wantChain := strings.Split(strings.ReplaceAll(tc.chain, " ", ""), ",")
			if !slices.Equal(st.Chain, wantChain) || st.OriginFetchedAt == nil || !st.OriginFetchedAt.Equal(now.Add(tc.ahead)) {
				t.Fatalf("status chain %v fetched_at %v, want %v %s", st.Chain, st.OriginFetchedAt, wantChain, now.Add(tc.ahead))
			}
		})
	}
}

// A header value quoted in an error is cut after 64 bytes, with an ellipsis; one of 64 bytes
// is quoted whole.
func TestRelays_ErrorQuotesAreClipped(t *testing.T) {
	t.Parallel()
	for _, n := range []int{64, 65} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			s := newScriptedRelay(t, time.Now())
			s.set(func(s *scriptedRelay) { s.source = strings.Repeat("b", n) })
			r := newRelays(t, rsync.RelayOptions{URLs: []string{s.srv.URL}})
			_, err := r.ListRuntimes(context.Background())
			want := `"` + strings.Repeat("b", 64) + `" is not one of`
			if n > 64 {
				want = `"` + strings.Repeat("b", 64) + `…" is not one of`
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want it to quote %s", err, want)
			}
		})
	}
}

// follower is a poller following relays (schedule an hour away: what arrives, arrives by push).
type follower struct {
	relays *rsync.Relays
	poller *rsync.Poller
	live   *store.Live
}

func startFollower(t *testing.T, o rsync.RelayOptions) *follower {
	t.Helper()
	f := newFollower(t, o)
	if err := f.poller.Start(); err != nil {
		t.Fatal(err)
	}
	return f
}

// newFollower is a follower not started: it syncs only when the test says (no watch).
func newFollower(t *testing.T, o rsync.RelayOptions) *follower {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &follower{relays: newRelays(t, o), live: store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})}
	f.poller, err = rsync.NewPoller(rsync.Options{Upstream: f.relays, DB: db, Live: f.live, Schedule: "@every 1h"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.poller.Close() })
	return f
}

func (f *follower) syncNow(t *testing.T) health.Run {
	t.Helper()
	return (&fleetNode{poller: f.poller}).syncNow(t)
}

func (f *follower) following() string { return f.poller.Status().Relay.Following }

func (f *follower) waitFor(t *testing.T, within time.Duration, what string, cond func(*store.Snapshot) bool) *store.Snapshot {
	t.Helper()
	return (&fleetNode{live: f.live, poller: f.poller}).waitFor(t, within, what, cond)
}

// The follower's watch is a blocking read on the relay's revision, waiting relay_wait (60s by
// default); a revision that moves is a push: the change is served without the schedule.
func TestRelays_FollowParksOnTheRelaysRevision(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{{0, "index=5&wait=60s"}, {7 * time.Second, "index=5&wait=7s"}} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			s := newScriptedRelay(t, time.Now())
			f := startFollower(t, rsync.RelayOptions{URLs: []string{s.srv.URL}, Wait: tc.wait, Client: rsync.ClientOptions{APIKey: "relay-token"}})
			if q := s.waitParked(t, "first watch"); q != tc.want {
				t.Fatalf("blocking read ?%s, want ?%s", q, tc.want)
			}
			if got := f.waitFor(t, 5*time.Second, "the relay's copy", hasRuntime("a")); got.Source != store.SourceRelay {
				t.Fatalf("source %s", got.Source)
			}
			s.set(func(s *scriptedRelay) {
				s.rev, s.list = 6, `[{"id":"a","name":"A","status":"available"},{"id":"b","name":"B","status":"available"}]`
			})
			s.release()
			f.waitFor(t, 5*time.Second, "the pushed change", hasRuntime("b"))
			if q := s.waitParked(t, "watch after the push"); !strings.HasPrefix(q, "index=6&") {
				t.Fatalf("after the push the watch waits on ?%s, want index=6", q)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			for i, name := range s.followers {
				if name != "sidecar-s" || s.auths[i] != "Bearer relay-token" {
					t.Fatalf("%s: follower %q, authorization %q; want sidecar-s and the relay token", s.got[i], name, s.auths[i])
				}
			}
		})
	}
}

// A watch that fails moves to the next relay at once, and the run it triggers asks that relay
// first: the relay that just failed is tried first again only WayBack later (it may hang until
// the timeout), however long the follower had been on it.
func TestRelays_WatchFailureMovesToNextRelay(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	a, b := newScriptedRelay(t, clock.Now()), newScriptedRelay(t, clock.Now())
	f := startFollower(t, rsync.RelayOptions{URLs: []string{a.srv.URL, b.srv.URL}, Now: clock.Now})
	a.waitParked(t, "watch on the first relay")
	if f.following() != a.srv.URL {
		t.Fatalf("following %s, want the first relay", f.following())
	}
	lists := a.lists()
	clock.Add(time.Minute) // on the first relay for longer than WayBack
	a.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
	a.release()
	b.waitParked(t, "watch on the second relay after the first failed")
	if f.following() != b.srv.URL {
		t.Fatalf("following %s, want the second relay", f.following())
	}
	if n := a.lists(); n != lists {
		t.Fatalf("the run after the failover asked the failed relay again (%d list calls, had %d)", n, lists)
	}
	if r := f.poller.Status().LastRuns; len(r) == 0 || r[len(r)-1].Outcome == health.OutcomeFailed {
		t.Fatalf("runs %+v", r)
	}
}

// A watch failing on a relay the runs have already left (a run went back to the preferred
// relay meanwhile) does not move the runs off the relay they chose.
func TestRelays_WatchFailureAfterRunMovedOn(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	a, b, c := newScriptedRelay(t, clock.Now()), newScriptedRelay(t, clock.Now()), newScriptedRelay(t, clock.Now())
	a.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
	f := startFollower(t, rsync.RelayOptions{URLs: []string{a.srv.URL, b.srv.URL, c.srv.URL}, Now: clock.Now})
	b.waitParked(t, "watch on the second relay while the first fails")
	a.set(func(s *scriptedRelay) { s.status = 0 })
	clock.Add(31 * time.Second) // the way back is due
	if r := f.syncNow(t); r.Outcome == health.OutcomeFailed || f.following() != a.srv.URL {
		t.Fatalf("run after the way back: %+v, following %s", r, f.following())
	}
	b.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
	b.release()
	a.waitParked(t, "watch back on the first relay")
	if f.following() != a.srv.URL || c.count("") != 0 {
		t.Fatalf("following %s, %d requests to the third relay: want the first relay, none", f.following(), c.count(""))
	}
}

// With its only relay lost while following, the follower runs once at once: with the direct
// fallback it serves the control plane's data without waiting for its schedule.
func TestRelays_EveryRelayLostRunsOnce(t *testing.T) {
	t.Parallel()
	cp := startCP(t)
	direct, err := rsync.NewClient(rsync.ClientOptions{BaseURL: cp.URL(), APIKey: testKey, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := newScriptedRelay(t, time.Now())
	s.set(func(s *scriptedRelay) { s.list = string(cp.Catalog()) }) // the relay has the control plane's data
	f := startFollower(t, rsync.RelayOptions{URLs: []string{s.srv.URL}, Direct: direct})
	s.waitParked(t, "watch on the relay")
	f.waitFor(t, 5*time.Second, "the relay's copy", func(s *store.Snapshot) bool { return s.Source == store.SourceRelay })
	putRuntime(t, cp, "only_upstream")
	s.set(func(s *scriptedRelay) { s.status = http.StatusBadGateway })
	s.release()
	got := f.waitFor(t, 5*time.Second, "the control plane's data after the relay was lost", hasRuntime("only_upstream"))
	if got.Source != store.SourceUpstream || f.following() != "direct" {
		t.Fatalf("source %s following %s", got.Source, f.following())
	}
}

// A relay that answered data older than what is served is asked last for a while: the next
// run asks the other relay first instead of being refused again.
func TestRelays_RefusedRelayIsAskedLast(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	fresh, old := newScriptedRelay(t, clock.Now().Add(-time.Minute)), newScriptedRelay(t, clock.Now().Add(-time.Hour))
	old.set(func(s *scriptedRelay) {
		s.list = `[{"id":"a","name":"A","status":"available"},{"id":"gone_since","name":"G","status":"available"}]`
	})
	f := newFollower(t, rsync.RelayOptions{URLs: []string{fresh.srv.URL, old.srv.URL}, Now: clock.Now})
	if r := f.syncNow(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("first run %+v", r)
	}
	fresh.set(func(s *scriptedRelay) { s.status = http.StatusServiceUnavailable })
	if r := f.syncNow(t); r.Outcome != health.OutcomeFailed || !strings.Contains(r.Error, "not followed backwards") {
		t.Fatalf("run against the older relay: %+v", r)
	}
	st := f.poller.Status().Relay
	if !strings.Contains(st.Relays[1].LastError, "older than the data served") || strings.Contains(st.Relays[0].LastError, "older") {
		t.Fatalf("relay errors %q, %q: want the refusal on the older relay", st.Relays[0].LastError, st.Relays[1].LastError)
	}
	fresh.set(func(s *scriptedRelay) { s.status = 0 })
	asked := old.lists()
	if r := f.syncNow(t); r.Outcome != health.OutcomeUnchanged || old.lists() != asked {
		t.Fatalf("run after the refusal: %+v; the older relay got %d more list calls, want none", r, old.lists()-asked)
	}
}

// Requirements come from where this run's list came from: the relay answering (the first or
// another), or the control plane when the run fell back to it; before any list, nowhere.
func TestRelays_RequirementsFromTheListsSource(t *testing.T) {
	t.Parallel()
	cp, err := fakecp.Start(fakecp.Options{APIKey: testKey, NoInline: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	direct, err := rsync.NewClient(rsync.ClientOptions{BaseURL: cp.URL(), APIKey: testKey, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, b := newScriptedRelay(t, now), newScriptedRelay(t, now)
	a.set(func(s *scriptedRelay) { s.reqs["x"] = `{"max_history_length":1}` })
	b.set(func(s *scriptedRelay) { s.reqs["x"] = `{"max_history_length":2}` })
	r := newRelays(t, rsync.RelayOptions{URLs: []string{a.srv.URL, b.srv.URL}, Direct: direct})
	ctx := context.Background()
	_, err = r.GetRequirements(ctx, "x/y")
	if err == nil || !strings.Contains(err.Error(), "GET /api/v1/runtimes/x%2Fy/requirements") || !strings.Contains(err.Error(), "no relay answers") {
		t.Fatalf("before any list: %v", err)
	}
	reqFrom := func(want string) {
		t.Helper()
		if _, err := r.ListRuntimes(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetRequirements(ctx, "x")
		if err != nil || string(got) != want {
			t.Fatalf("requirements %s (%v), want %s", got, err, want)
		}
	}
	reqFrom(`{"max_history_length":1}`)
	a.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
	reqFrom(`{"max_history_length":2}`)
	if _, err := r.GetRequirements(ctx, "missing"); !errors.Is(err, rsync.ErrNoRequirements) {
		t.Fatalf("a relay's 404: %v", err)
	}
	b.set(func(s *scriptedRelay) { s.status = http.StatusInternalServerError })
	if _, err := r.ListRuntimes(ctx); err != nil {
		t.Fatal(err)
	}
	var listed []struct{ ID string }
	if err := json.Unmarshal(cp.Catalog(), &listed); err != nil || len(listed) == 0 {
		t.Fatalf("control plane catalog: %v", err)
	}
	id := listed[0].ID
	got, err := r.GetRequirements(ctx, id)
	if err != nil || !strings.HasPrefix(string(got), "{") || cp.Count("/api/v1/runtimes/"+id+"/requirements") != 1 {
		t.Fatalf("direct fallback: requirements of %s %.40s (%v), control plane asked %d times", id, got, err, cp.Count("/api/v1/runtimes/"+id+"/requirements"))
	}
	if n := a.count("GET /api/v1/runtimes/") + b.count("GET /api/v1/runtimes/x"); n != 2 {
		t.Fatalf("relays asked %d times for requirements, want 2 (one each)", n)
	}
}

// A blocking read lasts the relay's wait plus the spread it adds (up to 1/16): a relay holding it
// that long is not failed over; one that holds it longer than that and the call timeout is
// given up and watched again. The timeout (300 ms) is the slack a loaded machine has to answer
// the held read in time; it stays under wait/8 (400 ms), so a deadline that took the spread off
// instead of adding it would end before the held read does.
func TestRelays_BlockingReadDeadline(t *testing.T) {
	t.Parallel()
	const wait = 3200 * time.Millisecond
	s := newScriptedRelay(t, time.Now())
	s.set(func(s *scriptedRelay) { s.hold = wait + wait/16 })
	f := startFollower(t, rsync.RelayOptions{URLs: []string{s.srv.URL}, Wait: wait, Client: rsync.ClientOptions{Timeout: 300 * time.Millisecond}})
	s.waitParked(t, "first blocking read")
	s.set(func(s *scriptedRelay) { s.hold = time.Hour }) // the next read hangs
	s.waitParked(t, "blocking read after one held for wait + wait/16")
	if n := s.count("HEAD /api/v1/runtimes?"); n != 2 || s.count("HEAD") != 3 {
		t.Fatalf("reads %d blocking of %d: want the first read, then blocking reads only (no failure, no re-watch)", n, s.count("HEAD"))
	}
	if st := f.poller.Status().Relay; strings.HasPrefix(st.Relays[0].LastError, "HEAD") {
		t.Fatalf("a relay holding the read for wait + wait/16 counted as failed: %s", st.Relays[0].LastError)
	}
	// The hanging read is given up after timeout + wait + wait/16, and the relay watched again.
	deadline := time.After(10 * time.Second)
	for s.count("HEAD /api/v1/runtimes?") == s.count("HEAD")-1 {
		select {
		case <-deadline:
			t.Fatal("a hanging blocking read was not given up within 10s (wait 3.2s)")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st := f.poller.Status().Relay; !strings.HasPrefix(st.Relays[0].LastError, "HEAD") || !strings.Contains(st.Relays[0].LastError, "timed out") {
		t.Fatalf("relay error %q, want the blocking read's timeout", st.Relays[0].LastError)
	}
}

// A relay answering the data served, as the control plane gave it earlier than the copy served
// (a relay that lags), confirms it: the run is unchanged and fetched_at does not go back.
func TestRelays_OlderUnchangedAnswerKeepsFetchedAt(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	given := clock.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	fresh, lagging := newScriptedRelay(t, given), newScriptedRelay(t, given.Add(-time.Hour))
	f := newFollower(t, rsync.RelayOptions{URLs: []string{fresh.srv.URL, lagging.srv.URL}, Now: clock.Now})
	if r := f.syncNow(t); r.Outcome != health.OutcomeChanged {
		t.Fatalf("first run %+v", r)
	}
	fresh.set(func(s *scriptedRelay) { s.status = http.StatusServiceUnavailable })
	if r := f.syncNow(t); r.Outcome != health.OutcomeUnchanged || lagging.lists() != 1 {
		t.Fatalf("run through the lagging relay: %+v", r)
	}
	if s := f.live.Load(); !s.FetchedAt.Equal(given) || s.Source != store.SourceRelay {
		t.Fatalf("fetched_at %s source %s, want %s (not moved back an hour) and relay", s.FetchedAt, s.Source, given)
	}
}
