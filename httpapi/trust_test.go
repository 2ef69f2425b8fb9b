package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
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
