package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestDefaultOptions: the defaults the Options doc comments promise, which the daemon's
// config documents and reuses (a zero field takes them).
func TestDefaultOptions(t *testing.T) {
	t.Parallel()
	o := httpapi.DefaultOptions()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"MaxBodyBytes", o.MaxBodyBytes, int64(1 << 20)},
		{"MaxStale", o.MaxStale, 5 * time.Minute},
		{"SyncWait", o.SyncWait, 60 * time.Second},
		{"ShutdownTimeout", o.ShutdownTimeout, 10 * time.Second},
		{"DefaultWait", o.DefaultWait, 5 * time.Minute},
		{"MaxWait", o.MaxWait, 10 * time.Minute},
		{"RefreshWait", o.RefreshWait, 10 * time.Second},
		{"RefreshRate", o.RefreshRate, 1.0},
		{"RefreshBurst", o.RefreshBurst, 3},
		{"PollInterval", o.PollInterval, 30 * time.Second},
		{"ReadHeaderTimeout", o.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", o.ReadTimeout, 30 * time.Second},
		{"MaxConnections", o.MaxConnections, 16384},
		{"ProbeSlots", o.ProbeSlots, 16},
		{"FilterMemoBytes", o.FilterMemoBytes, 8 << 20},
		{"Heartbeat", o.Heartbeat, 15 * time.Second},
		{"ValidateMode", o.ValidateMode, httpapi.ValidateLocal},
		{"Version", o.Version, "dev"},
	} {
		if c.got != c.want {
			t.Errorf("DefaultOptions().%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.Validator == nil || o.Classifier == nil || o.Logger == nil {
		t.Errorf("DefaultOptions leaves Validator %v, Classifier %v or Logger %v nil", o.Validator, o.Classifier, o.Logger)
	}
}

// upstreamOK is a control plane's validate endpoint that accepts everything.
type upstreamOK struct{}

func (upstreamOK) ValidateUpstream(context.Context, []byte, string) (int, []byte, error) {
	return 200, []byte(`{"valid":true,"errors":[]}`), nil
}

// TestServer_ReloadKeepsWhatItDoesNotName: a reload changes the options it names and keeps
// the others (validator, classifier, max_stale, validation mode) as they were.
func TestServer_ReloadKeepsWhatItDoesNotName(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceCache, Catalog: store.SeedCatalog(),
		FetchedAt: now.Add(-10 * time.Minute), UpdatedAt: now.Add(-10 * time.Minute)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, Now: func() time.Time { return now },
		MaxStale: time.Hour, ValidateMode: httpapi.ValidateUpstream, UpstreamValidator: upstreamOK{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	check := func(when, wantCache string, wantUnhealthy float64) {
		t.Helper()
		a := do(t, "GET", srv.URL+"/v1/runtimes?health=unhealthy", "")
		if got := a.header.Get(httpapi.HeaderCache); a.status != 200 || got != wantCache {
			t.Errorf("%s: %d, X-Cache %q, want %q (data 10 min old)", when, a.status, got, wantCache)
		}
		if n := a.json(t)["count"]; n != wantUnhealthy {
			t.Errorf("%s: %v unhealthy runtimes, want %v", when, n, wantUnhealthy)
		}
		v := do(t, "POST", srv.URL+"/api/v1/runtimes/validate", `{"runtime_type":"default"}`, "Content-Type", "application/json")
		if by := v.header.Get(httpapi.HeaderValidatedBy); v.status != 200 || by != "upstream" {
			t.Errorf("%s: drop-in validate %d, validated by %q, want upstream", when, v.status, by)
		}
		if n := do(t, "POST", srv.URL+"/v1/validate", `{"runtime_type":"default","model_id":"claude-sonnet-4"}`); n.status != 200 {
			t.Errorf("%s: native validate %d %s", when, n.status, n.body)
		}
	}
	check("before any reload", "HIT", 0)

	cls, err := health.NewClassifier(map[string]string{"beta": "unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	api.Reload(httpapi.Reloadable{Classifier: cls}) // max_stale, mode and validator kept
	check("after reloading the status map", "HIT", 1)

	api.Reload(httpapi.Reloadable{MaxStale: time.Minute}) // the status map kept
	check("after reloading max_stale to 1m", "STALE", 1)
}

// TestServer_NewRequiresLiveAndSyncer: a server without its snapshot holder or its poller is
// a start-up error naming them, not a nil-pointer panic at the first request.
func TestServer_NewRequiresLiveAndSyncer(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]httpapi.Options{
		"NoLive":   {Syncer: noSync{}},
		"NoSyncer": {Live: store.NewLive(nil)},
	} {
		if _, err := httpapi.New(o); err == nil || !strings.Contains(err.Error(), "Live and Syncer are required") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestServer_TrailingSlashRedirectKeepsEscapes: the trailing-slash 307 points at the same
// path without the slash, its percent-escapes as sent (a%2Fb stays one segment), leading
// slashes collapsed, the query kept.
func TestServer_TrailingSlashRedirectKeepsEscapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	addr := strings.TrimPrefix(h.url, "http://")
	for target, want := range map[string]string{
		"/v1/runtimes/":           "/v1/runtimes",
		"/v1/runtimes/a%2Fb/":     "/v1/runtimes/a%2Fb",
		"//v1/runtimes/a%2Fb//":   "/v1/runtimes/a%2Fb",
		"/v1/runtimes/?status=ok": "/v1/runtimes?status=ok",
		"//":                      "/",
	} {
		status, header, _ := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		if status != 307 || header.Get("Location") != want {
			t.Errorf("GET %s: %d Location %q, want 307 %q", target, status, header.Get("Location"), want)
		}
	}
	if status, _, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); status == 307 {
		t.Errorf("GET / redirected to itself")
	}
}

// TestServer_UnixSocketPathInUse: Listen on a unix socket takes over a stale socket file
// (nobody answers on it), refuses one another process answers on, and never removes a file
// that is not a socket.
func TestServer_UnixSocketPathInUse(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "rtd") // unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	newAPI := func() *httpapi.Server {
		api, err := httpapi.New(httpapi.Options{Live: store.NewLive(nil), Syncer: noSync{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { api.Shutdown() })
		return api
	}
	if a := newAPI().Addr(); a != "" {
		t.Errorf("Addr before Listen = %q, want empty", a)
	}

	file := filepath.Join(dir, "data")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newAPI().Listen("unix:" + file); err == nil {
		t.Errorf("Listen on a regular file succeeded")
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Fatalf("the regular file at the socket path was touched: %q %v", b, err)
	}

	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the socket file stays, nobody answers on it
	if err := newAPI().Listen("unix:" + stale); err != nil {
		t.Errorf("Listen on a stale socket: %v", err)
	}

	busy := filepath.Join(dir, "busy.sock")
	other, err := net.Listen("unix", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := newAPI().Listen("unix:" + busy); err == nil || !strings.Contains(err.Error(), "another process answers on this socket") {
		t.Errorf("Listen on a socket another process answers on: %v", err)
	}
}

// TestServer_ServeAndShutdown: a served TCP listener answers, keeps an idle keep-alive
// connection open beyond the read timeout (idle connections have their own, longer timeout),
// and shuts down cleanly: Shutdown returns nil, logs no error, and the port is closed. A
// server that listened but never served also releases its port.
func TestServer_ServeAndShutdown(t *testing.T) {
	t.Parallel()
	var out logBuffer
	api, err := httpapi.New(httpapi.Options{Live: store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}),
		Syncer: noSync{}, ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := api.Addr()
	api.Serve()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 2 {
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatalf("request %d on the kept-alive connection: %v", i, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("answer %d: %d", i, resp.StatusCode)
		}
		if i == 0 {
			// Idle for three read timeouts: the server must not close the connection.
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the idle connection was closed after the read timeout: %v", err)
			}
			_ = conn.SetReadDeadline(time.Time{})
		}
	}
	<-api.Primed()
	if err := api.Shutdown(); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if strings.Contains(out.String(), "level=ERROR") {
		t.Errorf("a clean shutdown logged an error:\n%s", out.String())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Shutdown", addr)
	}

	unserved, err := httpapi.New(httpapi.Options{Live: store.NewLive(nil), Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := unserved.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr = unserved.Addr()
	unserved.Prime() // no snapshot: nothing to encode, no panic
	if err := unserved.Shutdown(); err != nil {
		t.Errorf("Shutdown of a server never served: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Shutdown of a server never served", addr)
	}
}

// TestServer_ShutdownBoundsAStalledRequest: a client that stalls inside a request (a body
// announced and never sent) holds Shutdown no longer than ShutdownTimeout: Shutdown then says
// so and closes the connection, rather than leaving it open until the read timeout.
func TestServer_ShutdownBoundsAStalledRequest(t *testing.T) {
	t.Parallel()
	api, err := httpapi.New(httpapi.Options{Live: store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}),
		Syncer: noSync{}, ShutdownTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	conn, err := net.Dial("tcp", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"runtime"); err != nil {
		t.Fatal(err)
	}
	// The request is in the handler once its headers are read; give the server a moment by
	// waiting for a second, complete request on another connection to be answered.
	if a := do(t, "GET", "http://"+api.Addr()+"/healthz", ""); a.status != 200 {
		t.Fatalf("healthz %d", a.status)
	}
	// Shutdown says the deadline passed when the stalled request was in its handler by then; a
	// request still unread at that moment is refused with the listener, and Shutdown returns
	// nil. Either way it returns within ShutdownTimeout (not the 30 s read timeout).
	start := time.Now()
	if err := api.Shutdown(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a stalled request: %v, want nil or the deadline exceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown with a stalled request took %v; ShutdownTimeout is 100 ms", took)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the stalled connection is still open after Shutdown returned")
	}
}
