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

// TestRoot_RefreshDigits: GET / keeps ?refresh= of one to five ASCII digits, at both ends of
// the range, and drops anything else (six digits, the characters just outside '0'-'9', empty).
func TestRoot_RefreshDigits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	for refresh, location := range map[string]string{
		"90000":  "/dashboard?refresh=90000",
		"9":      "/dashboard?refresh=9",
		"0":      "/dashboard?refresh=0",
		"123456": "/dashboard",
		"1/":     "/dashboard",
		"1:":     "/dashboard",
		"":       "/dashboard",
	} {
		a := do(t, "GET", h.url+"/?refresh="+refresh, "", "Accept", "text/html;q=0.001")
		if a.status != 302 || a.header.Get("Location") != location {
			t.Errorf("GET /?refresh=%s: %d Location %q, want 302 %q", refresh, a.status, a.header.Get("Location"), location)
		}
	}
}
