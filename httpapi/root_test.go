package httpapi_test

import (
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestRoot: a browser opening the sidecar's address lands on the dashboard, and nothing in
// the request can move the redirect elsewhere.
func TestRoot(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	for _, target := range []string{"/", "/?next=//evil.example/", "/?url=https://evil.example", "/%2F%2Fevil.example"} {
		a := do(t, "GET", h.url+target, "", "Accept", "text/html")
		if target == "/%2F%2Fevil.example" {
			if a.status != 404 {
				t.Errorf("GET %s: %d %v, want 404", target, a.status, a.header)
			}
			continue
		}
		if a.status != 302 || a.header.Get("Location") != "/dashboard" {
			t.Errorf("GET %s: %d Location %q, want 302 to /dashboard", target, a.status, a.header.Get("Location"))
		}
	}
	if a := do(t, "HEAD", h.url+"/", "", "Accept", "text/html,application/xhtml+xml"); a.status != 302 || a.header.Get("Location") != "/dashboard" {
		t.Errorf("HEAD /: %d %v", a.status, a.header)
	}
	// Not a browser (an SDK, curl): the control plane's answer for an unknown path.
	if a := do(t, "GET", h.url+"/", ""); a.status != 404 || a.header.Get("Location") != "" || string(a.body) != `{"detail":"Not Found"}` {
		t.Errorf("GET / without text/html: %d %q, want FastAPI's 404", a.status, a.body)
	}
}
