package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	stdsync "sync"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// The client keeps the last body and ETag of each path it read, for If-None-Match. A control
// plane whose runtime ids churn (versioned ids, short-lived runtimes) left an entry, body and
// all, for every requirements path ever fetched: memory grew with the ids ever seen, not with
// the catalog. Entries not used by the last two list runs are dropped.
func TestClient_ETagMemoFollowsTheCatalog(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{ETags: true, NoInline: true, Catalog: []byte(`[]`)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	c, err := NewClient(ClientOptions{BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const perRun = 10
	for run := range 40 {
		var objs []string
		for i := range perRun {
			objs = append(objs, fmt.Sprintf(`{"id":"rt-%d-%d","status":"available","requirements":{"required_config_fields":["k%d"]}}`, run, i, run))
		}
		if err := fake.SetCatalog([]byte("[" + strings.Join(objs, ",") + "]")); err != nil {
			t.Fatal(err)
		}
		items, err := c.ListRuntimes(ctx)
		if err != nil || len(items) != perRun {
			t.Fatalf("run %d: %d items, %v", run, len(items), err)
		}
		for _, it := range items {
			var rt struct{ ID string }
			_ = json.Unmarshal(it, &rt)
			if _, err := c.GetRequirements(ctx, rt.ID); err != nil {
				t.Fatalf("run %d: requirements of %s: %v", run, rt.ID, err)
			}
		}
	}
	c.mu.Lock()
	n := len(c.etags)
	c.mu.Unlock()
	// The list, and the requirements of the last two runs' runtimes at most.
	if n > 1+2*perRun {
		t.Fatalf("%d ETag entries kept after 40 runs of %d runtimes each: every id ever seen is kept", n, perRun)
	}
}

// The memo's pruning must keep what the catalog still lists: run after run over the same
// catalog, every list and requirements call after the first run is conditional (the control
// plane answers 304 and sends no body). Dropping every entry not used by the current run
// (used-1 < lists instead of used+1 < lists) passed the test above, whose bound it meets, while
// the requirements of every runtime were fetched whole again each run.
func TestClient_ETagMemoKeepsTheListedPaths(t *testing.T) {
	t.Parallel()
	var mu stdsync.Mutex
	var calls []string // path, and " INM" when If-None-Match came
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inm := r.Header.Get("If-None-Match")
		mu.Lock()
		calls = append(calls, r.URL.Path+map[bool]string{true: " INM"}[inm != ""])
		mu.Unlock()
		body := `{"required_config_fields":["k"]}`
		if r.URL.Path == listPath {
			body = `[{"id":"a","status":"available"},{"id":"b","status":"available"}]`
		}
		etag := fmt.Sprintf(`"%x"`, len(body))
		w.Header().Set("ETag", etag)
		if inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for run := range 4 {
		mu.Lock()
		calls = nil
		mu.Unlock()
		if _, err := c.ListRuntimes(ctx); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		for _, id := range []string{"a", "b"} {
			if _, err := c.GetRequirements(ctx, id); err != nil {
				t.Fatalf("run %d: requirements of %s: %v", run, id, err)
			}
		}
		want := []string{listPath, listPath + "/a/requirements", listPath + "/b/requirements"}
		if run > 0 {
			for i := range want {
				want[i] += " INM"
			}
		}
		mu.Lock()
		got := slices.Clone(calls)
		mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("run %d: calls %q, want %q", run, got, want)
		}
	}
}
