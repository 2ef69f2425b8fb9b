package httpapi_test

import (
	"fmt"
	"net/url"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestTrust_RedirectStaysOnHost: the trailing-slash redirect never sends a browser to another
// host (a Location that is scheme-relative, or that a browser reads as one).
func TestTrust_RedirectStaysOnHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakeDefault())
	addr := strings.TrimPrefix(h.url, "http://")
	base, _ := url.Parse(h.url + "/")
	cases := map[string]string{
		"DoubleSlash":        "//evil.example/",
		"TripleSlash":        "///evil.example/",
		"DoubleSlashPath":    "//evil.example/v1/runtimes/",
		"EncodedSlashes":     "/%2F%2Fevil.example/",
		"BackslashAfterRoot": "/%5Cevil.example/",
		"DoubleSlashQuery":   "//evil.example/?a=b",
	}
	for name, target := range cases {
		t.Run(name, func(t *testing.T) {
			status, header, _ := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
			if status != 307 {
				return // not redirected at all: nothing to follow
			}
			loc := header.Get("Location")
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
				t.Fatalf("Location %q leaves the host", loc)
			}
			u, err := base.Parse(loc)
			if err != nil || u.Host != base.Host {
				t.Fatalf("Location %q resolves to host %q", loc, u.Host)
			}
		})
	}
}

// TestTrust_MetricLabelsBounded: invented methods do not grow /metrics; they count as "other".
func TestTrust_MetricLabelsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Registerer, o.Gatherer = reg, reg })
	addr := strings.TrimPrefix(h.url, "http://")
	for i := range 200 {
		method := "X" + strings.Repeat("Q", 50) + string(rune('A'+i%26)) + string(rune('A'+i/26))
		for _, path := range []string{"/v1/runtimes", "/nowhere", "/v1/sync"} {
			rawExchange(t, addr, method+" "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		}
	}
	m := do(t, "GET", h.url+"/metrics", "")
	if m.status != 200 {
		t.Fatalf("/metrics: %d", m.status)
	}
	body := string(m.body)
	if strings.Contains(body, "QQQQ") {
		t.Fatalf("an invented method became a label:\n%.2000s", body)
	}
	if !strings.Contains(body, `method="other"`) {
		t.Fatalf("invented methods are not counted as other:\n%.2000s", body)
	}
	if len(m.body) > 64<<10 {
		t.Fatalf("/metrics is %d bytes after 600 invented-method requests", len(m.body))
	}
}

// heapAfterGC is the live heap in bytes.
func heapAfterGC() uint64 {
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestTrust_FilterMemoBounded: case, spelling and order variants of one filter share one memo
// entry, so sweeping them does not grow memory with the number of variants.
func TestTrust_FilterMemoBounded(t *testing.T) {
	h := newHarness(t, fakecp.Options{Catalog: fakecp.SyntheticCatalog(100)})
	h.sync(t)
	spell := []string{"session management", "Session Management", "SESSION_MANAGEMENT", "session-management", "Session_management", "  session   management "}
	other := []string{"multi step task execution", "Multi-step task execution", "MULTI_STEP_TASK_EXECUTION"}
	var queries []string
	for i := range 150 {
		a := url.QueryEscape(spell[i%len(spell)])
		b := url.QueryEscape(other[i/len(spell)%len(other)])
		q := "feature=" + a + "&feature=" + b
		if i%2 == 1 {
			q = "feature=" + b + "&feature=" + a
		}
		queries = append(queries, q+strings.Repeat("&feature="+a, i/(2*len(spell)*len(other))))
	}
	first := do(t, "GET", h.url+"/v1/runtimes?"+queries[0], "")
	if first.status != 200 || len(first.body) < 64<<10 {
		t.Fatalf("first filter: %d, %d bytes", first.status, len(first.body))
	}
	before := heapAfterGC()
	for _, q := range queries {
		a := do(t, "GET", h.url+"/v1/runtimes?"+q, "")
		if a.status != 200 || a.header.Get("ETag") != first.header.Get("ETag") {
			t.Fatalf("%s: %d, ETag %s, want %s", q, a.status, a.header.Get("ETag"), first.header.Get("ETag"))
		}
	}
	grew := int64(heapAfterGC()) - int64(before)
	t.Logf("150 variants of a %d-byte filtered list: live heap grew %d KB", len(first.body), grew>>10)
	if grew > 4<<20 {
		t.Fatalf("live heap grew %d MB over 150 variants of one filter", grew>>20)
	}
}

// TestTrust_SelectAnswerBounded: whatever the body asks, a selection answer stays small: a
// default limit, bounded features (clear 400s beyond), and no feature text repeated in reasons.
func TestTrust_SelectAnswerBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{Catalog: fakecp.SyntheticCatalog(300)})
	h.sync(t)
	post := func(body string) answer {
		return do(t, "POST", h.url+"/v1/select", body, "Content-Type", "application/json")
	}
	feats := func(n, size int, ch string) string {
		f := make([]string, n)
		for i := range f {
			f[i] = fmt.Sprintf("%q", fmt.Sprint(i)+strings.Repeat(ch, size-len(fmt.Sprint(i))))
		}
		return "[" + strings.Join(f, ",") + "]"
	}
	if a := post(`{}`); a.status != 200 || len(a.json(t)["candidates"].([]any)) != 20 || a.json(t)["total"] != 300.0 {
		t.Fatalf("default limit: %d, %.300s", a.status, a.body)
	}
	// The largest answer: every bound at its maximum, with characters JSON escapes.
	worst := fmt.Sprintf(`{"features":%s,"model_provider":%q,"model_id":%q,"limit":50,"allow_unhealthy":true}`,
		feats(32, 128, `"`), strings.Repeat(`"`, 256), strings.Repeat(`\`, 256))
	a := post(worst)
	if a.status != 200 && a.status != 404 {
		t.Fatalf("worst case: %d %.300s", a.status, a.body)
	}
	t.Logf("largest select answer: %d bytes from a %d-byte body", len(a.body), len(worst))
	if len(a.body) > 1<<20 {
		t.Fatalf("select answered %d bytes to a %d-byte body", len(a.body), len(worst))
	}
	cases := map[string]struct{ body, want string }{
		"TooManyFeatures": {`{"features":` + feats(33, 4, "x") + `}`, "at most 32 features"},
		"LongFeature":     {`{"features":` + feats(1, 129, "x") + `}`, "features[0] is longer than 128 bytes"},
		"ControlFeature":  {`{"features":["a\u0001b"]}`, "control characters"},
		"LimitTooHigh":    {`{"limit":51}`, "limit must be"},
		"LongProvider":    {`{"model_provider":"` + strings.Repeat("p", 300) + `"}`, "model_provider is longer"},
		"ManyCandidates":  {`{"candidates":` + feats(1001, 5, "c") + `}`, "at most 1000 candidates"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := post(tc.body)
			if a.status != 400 || !strings.Contains(string(a.body), tc.want) {
				t.Fatalf("%d %.300s, want 400 saying %q", a.status, a.body, tc.want)
			}
		})
	}
	// Unknown candidates are named, but not without end.
	if a := post(`{"candidates":` + feats(500, 100, "u") + `}`); a.status != 400 || len(a.body) > 4<<10 {
		t.Fatalf("unknown candidates: %d, %d bytes", a.status, len(a.body))
	}
}

// listening is a server on its own loopback listener (Listen and Serve, as the daemon runs).
func listening(t *testing.T, opts httpapi.Options) string {
	t.Helper()
	if opts.Live == nil {
		opts.Live = store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	}
	if opts.Syncer == nil {
		opts.Syncer = noSync{}
	}
	return serveLoopback(t, opts).Addr()
}

// TestTrust_HostAndCrossSite: names the sidecar does not know (DNS rebinding) are refused;
// mutating requests a browser could send cross-site without a preflight are refused; curl,
// the SDKs, same-origin pages and configured CORS origins still work.
func TestTrust_HostAndCrossSite(t *testing.T) {
	t.Parallel()
	addr := listening(t, httpapi.Options{AllowedHosts: []string{"runtimesd.internal", "fqdn.internal."}, CORSOrigins: []string{"https://ops.example"}})
	req := func(method, path, host string, headers ...string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\nContent-Length: 0\r\n" + strings.Join(headers, "") + "\r\n"
	}
	_, port, _ := strings.Cut(addr, ":")
	cases := map[string]struct {
		raw  string
		want int
		says string
	}{
		"RebindingName":         {req("GET", "/v1/health", "evil.example:"+port), 421, "http.allowed_hosts"},
		"RebindingNameDropIn":   {req("GET", "/api/v1/runtimes", "attacker.test"), 421, "not served"},
		"RebindingLocalhostish": {req("GET", "/v1/health", "localhost.evil.example"), 421, "not served"},
		"Localhost":             {req("GET", "/v1/health", "localhost:"+port), 200, ""},
		"LocalhostUpper":        {req("GET", "/v1/health", "LOCALHOST"), 200, ""},
		"Loopback":              {req("GET", "/v1/health", "127.0.0.1:"+port), 200, ""},
		"LoopbackOther":         {req("GET", "/v1/health", "127.1.2.3"), 200, ""},
		"IPv6Loopback":          {req("GET", "/v1/health", "[::1]:"+port), 200, ""},
		"Configured":            {req("GET", "/v1/health", "RuntimesD.internal:"+port), 200, ""},
		"ConfiguredWithRootDot": {req("GET", "/v1/health", "fqdn.internal:"+port), 200, ""},
		"FormPost":              {req("POST", "/v1/sync", "localhost", "Origin: http://evil.example\r\nContent-Type: text/plain\r\n"), 403, "cross_site_request"},
		"FormPostValidate":      {req("POST", "/api/v1/runtimes/validate", "localhost", "Origin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"), 403, "cors_origins"},
		"FetchMetadataOnly":     {req("POST", "/v1/sync", "localhost", "Sec-Fetch-Site: cross-site\r\n"), 403, "from another site (Sec-Fetch-Site: cross-site, no Origin) is refused"},
		"SameSiteOtherPort":     {req("POST", "/v1/sync", "localhost", "Origin: http://localhost:3000\r\nSec-Fetch-Site: same-site\r\n"), 403, "refused"},
		"NullOrigin":            {req("POST", "/v1/sync", "localhost", "Origin: null\r\n"), 403, "refused"},
		"CurlOrSDK":             {req("POST", "/v1/sync", "127.0.0.1", "Content-Type: application/json\r\n"), 409, "sync_disabled"},
		"SameOriginDashboard":   {req("POST", "/v1/sync", "localhost:"+port, "Origin: http://localhost:"+port+"\r\nSec-Fetch-Site: same-origin\r\n"), 409, "sync_disabled"},
		"SameOriginOldBrowser":  {req("POST", "/v1/sync", "localhost:"+port, "Origin: http://localhost:"+port+"\r\n"), 409, "sync_disabled"},
		"ConfiguredCORSOrigin":  {req("POST", "/v1/sync", "localhost", "Origin: https://ops.example\r\nSec-Fetch-Site: cross-site\r\n"), 409, "sync_disabled"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, _, body := rawExchange(t, addr, tc.raw)
			if status != tc.want || !strings.Contains(string(body), tc.says) {
				t.Fatalf("%d %.300s, want %d saying %q", status, body, tc.want, tc.says)
			}
		})
	}
}

// TestTrust_ForcedRefreshStorm: forced refreshes are limited per resource (the list, or one
// known runtime); unknown ids never reach the control plane; sweeping ids never hands out
// fresh tokens; a reload on fresh data is answered from the cache.
func TestTrust_ForcedRefreshStorm(t *testing.T) {
	t.Parallel()
	t.Run("UnknownIDsAndSweeps", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) {
			o.RefreshRate, o.RefreshBurst, o.PollInterval = 0.001, 3, time.Minute
			o.Now = func() time.Time { return time.Now().Add(time.Hour) } // the data is an hour old
		})
		h.sync(t)
		before := h.fake.Count("/api/v1/runtimes")
		for i := range 300 {
			for _, p := range []string{"/v1/runtimes/nope-%d", "/api/v1/runtimes/nope-%d/requirements", "/v1/runtimes/nope-%d/requirements"} {
				a := do(t, "GET", h.url+fmt.Sprintf(p, i), "", "Cache-Control", "no-cache")
				if a.status != 404 {
					t.Fatalf("%s: %d %s", fmt.Sprintf(p, i), a.status, a.body)
				}
			}
		}
		calls := h.fake.Count("/api/v1/runtimes") - before
		t.Logf("900 forced refreshes of unknown ids: %d upstream calls", calls)
		if calls != 0 {
			t.Fatalf("unknown ids made %d upstream calls", calls)
		}
		// The list's bucket: 3 refreshes, then 429; a sweep of known and unknown ids in between
		// does not refill it.
		statuses := []int{}
		for i := range 8 {
			if i == 4 {
				for j := range 5000 {
					do(t, "GET", h.url+fmt.Sprintf("/v1/runtimes/sweep-%d", j), "", "Cache-Control", "max-age=0")
				}
				for _, id := range []string{"default", "claude_code", "default", "claude_code", "default"} {
					do(t, "GET", h.url+"/v1/runtimes/"+id, "", "Cache-Control", "max-age=0")
				}
			}
			statuses = append(statuses, do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache").status)
		}
		if fmt.Sprint(statuses) != "[200 200 200 429 429 429 429 429]" {
			t.Fatalf("list forced refreshes answered %v", statuses)
		}
		calls = h.fake.Count("/api/v1/runtimes") - before
		t.Logf("forced-refresh storm (900 unknown ids, 5000 swept ids, 5 known-id and 8 list refreshes): %d upstream list calls", calls)
		if calls > 3+2*3 {
			t.Fatalf("%d upstream calls, want at most 9 (3 per bucket: list, default, claude_code)", calls)
		}
	})
	t.Run("ReloadOnFreshData", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) {
			o.RefreshRate, o.RefreshBurst, o.PollInterval = 0.001, 1, time.Hour
		})
		h.sync(t)
		for i := range 10 {
			if a := do(t, "GET", h.url+"/v1/runtimes", "", "Cache-Control", "no-cache"); a.status != 200 {
				t.Fatalf("reload %d on fresh data: %d %s", i, a.status, a.body)
			}
		}
	})
}
