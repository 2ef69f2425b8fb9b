package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

// TestWatch_HeadAndResumeForms: HEAD answers the stream's headers (with the revision) and no
// body; a watch resumes from ?since alone, and from Last-Event-ID when both are given, and a
// bad Last-Event-ID is a 400 naming it.
func TestWatch_HeadAndResumeForms(t *testing.T) {
	t.Parallel()
	live := store.NewLive(&store.Snapshot{Revision: 3, Source: store.SourceCache, Catalog: store.SeedCatalog(),
		Changes: []store.Change{{Revision: 2, Added: []string{"two"}}, {Revision: 3, Added: []string{"three"}}}})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}})
	url := "http://" + api.Addr() + "/v1/watch"

	head := do(t, "HEAD", url, "")
	if head.status != 200 || len(head.body) != 0 || head.header.Get("Content-Type") != "text/event-stream" ||
		head.header.Get("X-Runtimes-Revision") != "3" || head.header.Get("Cache-Control") != "no-cache" || head.header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("HEAD: %d %q %v", head.status, head.body, head.header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs := readEvents(t, openWatch(t, ctx, url+"?since=2"), 2)
	if evs[0].event != "hello" || evs[0].id != "2" || evs[1].id != "3" {
		t.Errorf("?since=2: %+v", evs)
	}
	evs = readEvents(t, openWatch(t, ctx, url+"?since=1", "Last-Event-ID", "3"), 1)
	if evs[0].event != "hello" || evs[0].id != "3" {
		t.Errorf("Last-Event-ID 3 with ?since=1: %+v", evs)
	}
	if a := do(t, "GET", url, "", "Last-Event-ID", "x"); a.status != http.StatusBadRequest {
		t.Errorf("Last-Event-ID x: %d %s", a.status, a.body)
	}
}
