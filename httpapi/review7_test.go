package httpapi_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestListen_WriteTimeoutOnAKeptAliveConnection: net/http clears the connection's write
// deadline after every request (server.go: c.rwc.SetWriteDeadline(time.Time{})). capConn.Write
// remembered the deadline it last set and re-armed it only when less than half was left, so
// the second request on a kept-alive connection, within half of write_timeout of the first,
// was written with no deadline at all: a client that read one small answer and then never
// read a large one held its connection (and the cap) for good.
func TestListen_WriteTimeoutOnAKeptAliveConnection(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(10000)) // ~11 MB native list
	if err != nil {
		t.Fatal(err)
	}
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: time.Now()})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}, MaxConnections: 1, ProbeSlots: 1,
		WriteTimeout: time.Second})
	stalled, err := net.Dial("tcp", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(4096)
	if resp, _ := rawGet(t, stalled, "/v1/runtimes/rt-1"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d, close %v", resp.StatusCode, resp.Close)
	}
	_ = stalled.SetDeadline(time.Time{})
	if _, err := io.WriteString(stalled, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cap freed from a kept-alive client that stopped reading", func() bool {
		conn, err := net.Dial("tcp", api.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, _ := rawGet(t, conn, "/v1/runtimes/rt-1")
		return resp.StatusCode == 200 && !resp.Close
	})
}

// TestCache_IfModifiedSinceOnDegraded: a sync whose requirements fetch fails keeps the
// requirements and the revision and marks the runtime degraded (Last-Modified, the
// revision's commit, does not move). c80fa12 made the requirements ETag follow "degraded"
// (the list's and a runtime's follow their items), but If-Modified-Since still compares
// Last-Modified only: a client revalidating with it gets 304 and keeps "degraded": false (and
// "true" after a recovery, which is unchanged too). Native answers now revalidate by ETag
// only: If-Modified-Since is not honoured where the body holds such state.
func TestCache_IfModifiedSinceOnDegraded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{NoInline: true})
	h.sync(t)
	paths := []string{"/v1/runtimes/claude_code/requirements", "/v1/runtimes/claude_code", "/v1/runtimes"}
	before := map[string]answer{}
	for _, p := range paths {
		before[p] = do(t, "GET", h.url+p, "")
	}
	time.Sleep(1100 * time.Millisecond) // If-Modified-Since has whole seconds
	h.fake.FailRequirements("claude_code", 500)
	if r := h.sync(t); len(r.Degraded) != 1 {
		t.Fatalf("the run did not degrade claude_code: %+v", r)
	}
	for _, p := range paths {
		a := before[p]
		nm := do(t, "GET", h.url+p, "", "If-None-Match", a.header.Get("ETag"))
		ims := do(t, "GET", h.url+p, "", "If-Modified-Since", a.header.Get("Last-Modified"))
		if nm.status != http.StatusOK || ims.status != http.StatusOK {
			t.Errorf("%s: degraded since, without a new revision: If-None-Match %d, If-Modified-Since %d, want 200 and 200", p, nm.status, ims.status)
		}
	}
}

// TestMatrix_FollowsAPolicyReload: the matrix is memoised per catalog, classifier and format,
// not per policy rule set, so once the rules of Options.Policy were replaced GET /v1/matrix
// kept the POLICY column of the old rules, with the same ETag, until the catalog changed
// (the daemon's SIGHUP also calls Server.Reload, which drops the memo, so there only a
// request racing the reload kept it). 5f156be made the column follow the configured rules,
// read once per answer; the memo kept the first answer's.
func TestMatrix_FollowsAPolicyReload(t *testing.T) {
	t.Parallel()
	gate := policyHolder(t, false, policyTestRules...)
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = gate })
	h.sync(t)
	for _, format := range []string{"csv", "table", "json"} {
		p := "/v1/matrix?format=" + format
		if a := do(t, "GET", h.url+p, ""); !strings.Contains(string(a.body), "denied by no-beta") {
			t.Fatalf("%s under the no-beta rule: %s", p, a.body)
		}
	}
	if _, err := gate.Replace([]policy.Rule{{Name: "no-default", Deny: `runtime.id == "default"`}}, policy.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"csv", "table", "json"} {
		p := "/v1/matrix?format=" + format
		a := do(t, "GET", h.url+p, "")
		if strings.Contains(string(a.body), "no-beta") || !strings.Contains(string(a.body), "no-default") { // the table may wrap "denied by no-default"
			t.Errorf("%s after the rules were replaced (no-beta -> no-default): still the old POLICY column\n%s", p, a.body)
		}
	}
}
