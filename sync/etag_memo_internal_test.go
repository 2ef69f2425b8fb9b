package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
