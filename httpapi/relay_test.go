package httpapi_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// A follower's reads of the drop-in list and requirements carry the origin (the control
// plane's fetched_at and the relay chain); ordinary reads do not; a follower already in the
// chain is refused (508) and a malformed follower name is a 400. Answers are checked against
// openapi.yaml by the harness.
func TestRelayHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.NodeName = "relay-x" })
	h.sync(t)
	snap := h.live.Load()

	plain := do(t, "GET", h.url+"/api/v1/runtimes", "")
	if plain.status != 200 || plain.header.Get(httpapi.HeaderRelayChain) != "" || plain.header.Get(httpapi.HeaderFetchedAt) != "" {
		t.Errorf("ordinary read: %d, chain %q, fetched-at %q (want neither)", plain.status,
			plain.header.Get(httpapi.HeaderRelayChain), plain.header.Get(httpapi.HeaderFetchedAt))
	}
	for _, path := range []string{"/api/v1/runtimes", "/api/v1/runtimes/default/requirements"} {
		a := do(t, "GET", h.url+path, "", httpapi.HeaderFollower, "sidecar-1")
		if a.status != 200 || a.header.Get(httpapi.HeaderRelayChain) != "relay-x" || a.header.Get("X-Runtimes-Source") != "upstream" {
			t.Errorf("%s for a follower: %d chain %q source %q", path, a.status, a.header.Get(httpapi.HeaderRelayChain), a.header.Get("X-Runtimes-Source"))
		}
		got, err := time.Parse(time.RFC3339Nano, a.header.Get(httpapi.HeaderFetchedAt))
		if err != nil || !got.Equal(snap.FetchedAt) {
			t.Errorf("%s: fetched-at %q, want %s", path, a.header.Get(httpapi.HeaderFetchedAt), snap.FetchedAt)
		}
		// A 304 revalidation carries them too (the follower's copy stays with its provenance).
		n := do(t, "GET", h.url+path, "", httpapi.HeaderFollower, "sidecar-1", "If-None-Match", a.header.Get("ETag"))
		if n.status != 304 || n.header.Get(httpapi.HeaderFetchedAt) == "" {
			t.Errorf("%s revalidated: %d, fetched-at %q", path, n.status, n.header.Get(httpapi.HeaderFetchedAt))
		}
	}
	loop := do(t, "GET", h.url+"/api/v1/runtimes", "", httpapi.HeaderFollower, "relay-x")
	if loop.status != 508 || !strings.Contains(string(loop.body), "relay loop: relay-x -> relay-x") {
		t.Errorf("loop: %d %s", loop.status, loop.body)
	}
	for _, bad := range []string{"a,b", "a b", strings.Repeat("n", 257)} {
		if a := do(t, "GET", h.url+"/api/v1/runtimes", "", httpapi.HeaderFollower, bad); a.status != 400 || !strings.Contains(string(a.body), httpapi.HeaderFollower) {
			t.Errorf("follower %.20q: %d %s", bad, a.status, a.body)
		}
	}
}

// TestRelayHeaders_Edges: a follower name of exactly 256 bytes is accepted; seed data (never
// fetched from the control plane) carries the chain but no fetched-at; without a NodeName the
// chain names this runtimesd by host name and bound address.
func TestRelayHeaders_Edges(t *testing.T) {
	t.Parallel()
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog(), Relays: []string{"up-1"}})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}})
	host, _ := os.Hostname()
	a := do(t, "GET", "http://"+api.Addr()+"/api/v1/runtimes", "", httpapi.HeaderFollower, strings.Repeat("n", 256))
	if a.status != 200 {
		t.Fatalf("a 256-byte follower name: %d %s", a.status, a.body)
	}
	if got, want := a.header.Get(httpapi.HeaderRelayChain), "up-1,"+strings.ReplaceAll(host, ",", "_")+"/"+api.Addr(); got != want {
		t.Errorf("chain %q, want %q", got, want)
	}
	if _, ok := a.header[httpapi.HeaderFetchedAt]; ok {
		t.Errorf("seed data has no fetched-at, got %q", a.header.Get(httpapi.HeaderFetchedAt))
	}
}
