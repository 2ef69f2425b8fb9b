package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// harness is the real stack: a fake control plane, the real client and poller, a bbolt file,
// and the API on a real loopback listener.
type harness struct {
	api    *httpapi.Server
	fake   *fakecp.Server
	live   *store.Live
	poller *rsync.Poller
	url    string
}

// newHarness builds the stack; mods adjust the API options (the client is the real one).
func newHarness(t *testing.T, fakeOpts fakecp.Options, mods ...func(*httpapi.Options, *rsync.Client)) *harness {
	t.Helper()
	fakeOpts.APIKey = "k"
	fake, err := fakecp.Start(fakeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	db, err := store.Open(filepath.Join(t.TempDir(), "runtimesd.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	client, err := rsync.NewClient(rsync.ClientOptions{BaseURL: fake.URL(), APIKey: "k", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	poller, err := rsync.NewPoller(rsync.Options{Upstream: client, DB: db, Live: live})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { poller.Close() })
	h := &harness{fake: fake, live: live, poller: poller}
	opts := httpapi.Options{Live: live, Syncer: poller, MaxStale: time.Minute, MaxBodyBytes: 64 << 10}
	for _, mod := range mods {
		mod(&opts, client)
	}
	api, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Every answer is checked against openapi.yaml on its way out.
	srv := httptest.NewServer(validating(t, api.Handler()))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { api.Shutdown() }) // runs first: releases blocking reads and streams
	h.url = srv.URL
	h.api = api
	return h
}

func fakeDefault() fakecp.Options { return fakecp.Options{} }

func (h *harness) sync(t *testing.T) health.Run {
	t.Helper()
	r, err := h.poller.SyncNow(context.Background(), rsync.TriggerManual)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, a.body)
	}
	return m
}

// identityTransport asks for identity bodies unless a test sets Accept-Encoding itself (Go's
// default transport would add gzip and undo it out of sight).
var identityTransport = &http.Transport{DisableCompression: true}

func do(t *testing.T, method, url string, body string, headers ...string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Transport: identityTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func TestDropIn(t *testing.T) {
	h := newHarness(t, fakecp.Options{Catalog: []byte(`[{"id":"a","name":"A","status":"available","x_new_field":{"n":[1,2]},"requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":[]},"required_config_fields":["k"],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":true,"requires_tools":false}},{"id":"b","status":"beta","requirements":null}]`)})

	t.Run("SeedBeforeFirstSync", func(t *testing.T) {
		a := do(t, "GET", h.url+"/api/v1/runtimes", "")
		if a.status != 200 || a.header.Get("X-Runtimes-Source") != "seed" || a.header.Get("X-Cache") != "STALE" {
			t.Fatalf("status %d headers %v", a.status, a.header)
		}
		if string(a.body) != string(store.SeedJSON()) {
			t.Errorf("seed list differs from the public catalog")
		}
	})

	h.sync(t)

	t.Run("ListIsUpstreamVerbatim", func(t *testing.T) {
		a := do(t, "GET", h.url+"/api/v1/runtimes", "")
		if a.status != 200 || string(a.body) != string(h.fake.Catalog()) {
			t.Fatalf("status %d\n got %s\nwant %s", a.status, a.body, h.fake.Catalog())
		}
		for _, k := range []string{"ETag", "Age", "X-Cache", "X-Runtimes-Revision", "Last-Modified"} {
			if a.header.Get(k) == "" {
				t.Errorf("missing header %s", k)
			}
		}
		if a.header.Get("X-Runtimes-Revision") != "1" || a.header.Get("X-Cache") != "HIT" || a.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", a.header)
		}
		nm := do(t, "GET", h.url+"/api/v1/runtimes", "", "If-None-Match", `"x", `+a.header.Get("ETag"))
		if nm.status != http.StatusNotModified || len(nm.body) != 0 {
			t.Errorf("If-None-Match: status %d body %q", nm.status, nm.body)
		}
		if star := do(t, "GET", h.url+"/api/v1/runtimes", "", "If-None-Match", "*"); star.status != 304 {
			t.Errorf("If-None-Match *: %d", star.status)
		}
		head := do(t, "HEAD", h.url+"/api/v1/runtimes", "")
		if head.status != 200 || len(head.body) != 0 || head.header.Get("Content-Length") != fmt.Sprint(len(a.body)) {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %s", head.status, len(head.body), head.header.Get("Content-Length"))
		}
	})

	t.Run("Requirements", func(t *testing.T) {
		a := do(t, "GET", h.url+"/api/v1/runtimes/a/requirements", "")
		want := `{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":[]},"required_config_fields":["k"],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":true,"requires_tools":false}`
		if a.status != 200 || string(a.body) != want {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if enc := do(t, "GET", h.url+"/api/v1/runtimes/%61/requirements", ""); enc.status != 200 {
			t.Errorf("percent-encoded id: %d", enc.status)
		}
	})

	for _, tc := range []struct{ path, detail string }{
		{"/api/v1/runtimes/b/requirements", "Runtime 'b' not found or has no requirements"},
		{"/api/v1/runtimes/A/requirements", "Runtime 'A' not found or has no requirements"},
		{"/api/v1/runtimes/%20a/requirements", "Runtime ' a' not found or has no requirements"},
		{"/api/v1/runtimes/a%2Fb/requirements", "Not Found"}, // Starlette routes on the decoded path
		{"/api/v1/runtimes/%FF/requirements", "Runtime '\ufffd' not found or has no requirements"},
		{"/api/v1/runtimes/%C3%A9/requirements", "Runtime 'é' not found or has no requirements"},
	} {
		t.Run("404"+tc.path, func(t *testing.T) {
			a := do(t, "GET", h.url+tc.path, "")
			if a.status != 404 || a.json(t)["detail"] != tc.detail {
				t.Fatalf("%d %s", a.status, a.body)
			}
		})
	}

	t.Run("MethodNotAllowed", func(t *testing.T) {
		a := do(t, "POST", h.url+"/api/v1/runtimes", "{}")
		if a.status != 405 || string(a.body) != `{"detail":"Method Not Allowed"}` {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	t.Run("TrailingSlashRedirects", func(t *testing.T) {
		a := do(t, "GET", h.url+"/api/v1/runtimes/a/requirements/?x=1", "")
		if a.status != 307 || a.header.Get("Location") != "/api/v1/runtimes/a/requirements?x=1" {
			t.Fatalf("%d Location=%q", a.status, a.header.Get("Location"))
		}
	})

	t.Run("HealthAndReady", func(t *testing.T) {
		if a := do(t, "GET", h.url+"/api/health", ""); a.status != 200 || a.json(t)["status"] != "healthy" {
			t.Errorf("%d %s", a.status, a.body)
		}
		if a := do(t, "GET", h.url+"/api/ready", ""); a.status != 200 || a.json(t)["status"] != "ready" {
			t.Errorf("%d %s", a.status, a.body)
		}
	})

	t.Run("UnknownRouteUnderAPI", func(t *testing.T) {
		a := do(t, "GET", h.url+"/api/v2/nothing", "")
		if a.status != 404 || string(a.body) != `{"detail":"Not Found"}` {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
}

func TestNative(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)

	t.Run("ListWithProvenance", func(t *testing.T) {
		a := do(t, "GET", h.url+"/v1/runtimes", "")
		m := a.json(t)
		if a.status != 200 || m["revision"] != 1.0 || m["source"] != "upstream" || m["count"] != 2.0 || m["stale"] != false {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if _, ok := m["age_seconds"].(float64); !ok || m["fetched_at"] == nil {
			t.Errorf("provenance missing: %s", a.body)
		}
		rts := m["runtimes"].([]any)
		first := rts[0].(map[string]any)
		if first["id"] != "default" || first["runtime"].(map[string]any)["icon"] != "agno" || first["requirements"].(map[string]any)["max_history_length"] != 100.0 {
			t.Errorf("first runtime: %v", first)
		}
		if strings.Join(toStrings(first["providers"]), ",") != "anthropic,azure,cohere,google,mistral,openai" {
			t.Errorf("providers %v", first["providers"])
		}
		if nm := do(t, "GET", h.url+"/v1/runtimes", "", "If-None-Match", a.header.Get("ETag")); nm.status != 304 {
			t.Errorf("If-None-Match on native list: %d", nm.status)
		}
	})

	for _, tc := range []struct{ query, want string }{
		{"status=beta", "claude_code"},
		{"provider=OpenAI", "default"},
		{"feature=session%20management", "default"},
		{"feature=code-first_design&feature=Repository+awareness", "claude_code"},
		{"feature=code-first_design&status=available", ""},
		{"health=healthy", "default,claude_code"},
		{"health=unhealthy", ""},
	} {
		t.Run("Filter?"+tc.query, func(t *testing.T) {
			a := do(t, "GET", h.url+"/v1/runtimes?"+tc.query, "")
			var ids []string
			for _, rt := range a.json(t)["runtimes"].([]any) {
				ids = append(ids, rt.(map[string]any)["id"].(string))
			}
			if a.status != 200 || strings.Join(ids, ",") != tc.want {
				t.Fatalf("%d: got %v want %q", a.status, ids, tc.want)
			}
		})
	}

	for _, tc := range []struct{ path, code string }{
		{"/v1/runtimes?stauts=beta", "unknown_parameter"},
		{"/v1/runtimes?status=", "bad_parameter"},
		{"/v1/runtimes?health=fine", "bad_parameter"},
		{"/v1/runtimes/nope", "runtime_not_found"},
		{"/v1/runtimes/Default", "runtime_not_found"},
		{"/v1/runtimes/nope/requirements", "runtime_not_found"},
		{"/v1/changes?since=-1", "bad_parameter"},
		{"/v1/changes?since=abc", "bad_parameter"},
		{"/v1/nothing", "route_not_found"},
		{"/v1/runtimes/a%2Fb", "runtime_not_found"},
	} {
		t.Run("Error"+tc.path, func(t *testing.T) {
			a := do(t, "GET", h.url+tc.path, "")
			if a.status < 400 || a.status >= 500 {
				t.Fatalf("status %d for %s", a.status, tc.path)
			}
			e, _ := a.json(t)["error"].(map[string]any)
			if e["code"] != tc.code {
				t.Errorf("code %v, want %s: %s", e["code"], tc.code, a.body)
			}
			if msg, _ := e["message"].(string); msg == "" {
				t.Errorf("no message: %s", a.body)
			}
		})
	}

	t.Run("GetAndRequirements", func(t *testing.T) {
		a := do(t, "GET", h.url+"/v1/runtimes/claude_code", "")
		rt := a.json(t)["runtime"].(map[string]any)
		if a.status != 200 || rt["status"] != "beta" || rt["degraded"] != false {
			t.Fatalf("%d %s", a.status, a.body)
		}
		r := do(t, "GET", h.url+"/v1/runtimes/claude_code/requirements", "")
		m := r.json(t)
		if r.status != 200 || m["id"] != "claude_code" || m["requirements"].(map[string]any)["max_history_length"] != 200.0 || m["revision"] != 1.0 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	t.Run("ChangesAndSync", func(t *testing.T) {
		h.fake.PutRuntime([]byte(`{"id":"third","name":"T","status":"coming_soon","requirements":null}`))
		a := do(t, "POST", h.url+"/v1/sync", "")
		m := a.json(t)
		run := m["run"].(map[string]any)
		if a.status != 200 || run["outcome"] != "changed" || m["revision"] != 2.0 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		c := do(t, "GET", h.url+"/v1/changes?since=1", "").json(t)
		changes := c["changes"].([]any)
		if len(changes) != 1 || c["complete"] != true || strings.Join(toStrings(changes[0].(map[string]any)["added"]), ",") != "third" {
			t.Fatalf("changes: %v", c)
		}
		st := do(t, "GET", h.url+"/v1/sync", "").json(t)["sync"].(map[string]any)
		if st["enabled"] != true || len(st["last_runs"].([]any)) != 2 {
			t.Errorf("sync status: %v", st)
		}
	})

	t.Run("UpstreamDownStillServes", func(t *testing.T) {
		before := do(t, "GET", h.url+"/api/v1/runtimes", "")
		h.fake.SetFault(fakecp.Fault500)
		a := do(t, "POST", h.url+"/v1/sync", "")
		if a.status != 200 || a.json(t)["run"].(map[string]any)["outcome"] != "failed" {
			t.Fatalf("%d %s", a.status, a.body)
		}
		after := do(t, "GET", h.url+"/api/v1/runtimes", "")
		if after.status != 200 || string(after.body) != string(before.body) {
			t.Fatal("a failing control plane changed what is served")
		}
		h.fake.SetFault(fakecp.FaultNone)
	})

	t.Run("Probes", func(t *testing.T) {
		if a := do(t, "GET", h.url+"/healthz", ""); a.status != 200 {
			t.Errorf("healthz %d", a.status)
		}
		a := do(t, "GET", h.url+"/readyz", "")
		if a.status != 200 || a.json(t)["status"] != "ready" {
			t.Errorf("readyz %d %s", a.status, a.body)
		}
	})

	t.Run("BodyLimit", func(t *testing.T) {
		a := do(t, "POST", h.url+"/v1/sync", strings.Repeat("x", 128<<10))
		if a.status != 413 || a.json(t)["error"].(map[string]any)["code"] != "body_too_large" {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
}

func TestStaleness(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	live := store.NewLive(&store.Snapshot{Revision: 3, Source: store.SourceCache, FetchedAt: now.Add(-2 * time.Minute), UpdatedAt: now.Add(-2 * time.Minute), Catalog: store.SeedCatalog()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, MaxStale: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	a := do(t, "GET", srv.URL+"/v1/runtimes/default", "")
	m := a.json(t)
	if a.header.Get("Age") != "120" || a.header.Get("X-Cache") != "STALE" || m["age_seconds"] != 120.0 || m["stale"] != true {
		t.Fatalf("headers %v body %s", a.header, a.body)
	}
	if !strings.Contains(m["stale_reason"].(string), "max_stale") {
		t.Errorf("stale_reason: %v", m["stale_reason"])
	}
	if p := do(t, "POST", srv.URL+"/v1/sync", ""); p.status != 409 {
		t.Errorf("POST /v1/sync with sync disabled: %d %s", p.status, p.body)
	}
}

type noSync struct{}

func (noSync) SyncNow(context.Context, string) (health.Run, error) {
	return health.Run{Outcome: health.OutcomeSkipped}, nil
}
func (noSync) Status() health.SyncStatus { return health.SyncStatus{DisabledReason: "no API key"} }

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestServer_UnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "rtd") // short path: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "api.sock")
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("unix:" + sock); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	defer api.Shutdown()
	if api.Addr() != "unix:"+sock {
		t.Errorf("Addr = %q", api.Addr())
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := client.Get("http://sidecar/api/v1/runtimes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestServer_BusyPortFailsAtListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	api, _ := httpapi.New(httpapi.Options{Live: store.NewLive(nil), Syncer: noSync{}})
	if err := api.Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("err = %v", err)
	}
	// And with no snapshot at all, reads say so with a 503, readiness too.
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	if a := do(t, "GET", srv.URL+"/v1/runtimes", ""); a.status != 503 || a.json(t)["error"].(map[string]any)["code"] != "no_data" {
		t.Errorf("%d %s", a.status, a.body)
	}
	if a := do(t, "GET", srv.URL+"/readyz", ""); a.status != 503 {
		t.Errorf("readyz %d", a.status)
	}
}

// A reload of the status map changes what a memoised health filter answers.
func TestHealthFilterFollowsReload(t *testing.T) {
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceCache, Catalog: store.SeedCatalog()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	if m := do(t, "GET", srv.URL+"/v1/runtimes?health=unhealthy", "").json(t); m["count"] != 0.0 {
		t.Fatalf("before: %v", m["count"])
	}
	cls, _ := health.NewClassifier(map[string]string{"beta": "unhealthy"})
	api.Reload(httpapi.Reloadable{Classifier: cls})
	if m := do(t, "GET", srv.URL+"/v1/runtimes?health=unhealthy", "").json(t); m["count"] != 1.0 {
		t.Fatalf("after the reload: %v", m["count"])
	}
}
