package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

type idleSyncer struct{}

func (idleSyncer) SyncNow(context.Context, string) (health.Run, error) { return health.Run{}, nil }
func (idleSyncer) Status() health.SyncStatus                           { return health.SyncStatus{} }

// A panic in a handler must reach the client as a 500 in the JSON error shape, never as a
// dropped connection, and the server must go on answering.
func TestServer_PanicRecovered(t *testing.T) {
	s, err := New(Options{Live: store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}), Syncer: idleSyncer{}})
	if err != nil {
		t.Fatal(err)
	}
	s.get("/v1/boom", func(echo.Context) error { panic("boom") })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/boom")
	if err != nil {
		t.Fatalf("the panic reached the connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e nativeError
	if resp.StatusCode != 500 || json.Unmarshal(body, &e) != nil || e.Error.Code != "internal" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("server stopped answering after a panic: %v", err)
	}
	resp.Body.Close()
}
