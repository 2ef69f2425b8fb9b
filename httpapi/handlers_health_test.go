package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestDashboard_CSPAllowsItsOwnScriptAndStyle: the page's Content-Security-Policy names the
// SHA-256 of its inline script and style, as a browser computes it from the page served; a
// wrong hash would leave the dashboard blank (the browser refuses to run the script). This is
// what the Chromium-driven TestDashboard* show, without a browser.
func TestDashboard_CSPAllowsItsOwnScriptAndStyle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	a := do(t, "GET", h.url+"/dashboard", "")
	if a.status != 200 || a.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %v", a.status, a.header)
	}
	csp := a.header.Get("Content-Security-Policy")
	page := string(a.body)
	for _, el := range []struct{ tag, directive string }{{"script", "script-src"}, {"style", "style-src"}} {
		_, rest, ok := strings.Cut(page, "<"+el.tag+">")
		body, _, ok2 := strings.Cut(rest, "</"+el.tag+">")
		if !ok || !ok2 || strings.TrimSpace(body) == "" {
			t.Fatalf("the page has no inline <%s>", el.tag)
		}
		sum := sha256.Sum256([]byte(body))
		want := el.directive + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, want+";") {
			t.Errorf("Content-Security-Policy %q lacks %q (the browser would refuse the page's %s)", csp, want, el.tag)
		}
		if n := strings.Count(page, "<"+el.tag); n != 1 {
			t.Errorf("the page has %d <%s> elements; the policy allows exactly one", n, el.tag)
		}
	}
	for _, d := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
}
