package httpapi_test

import (
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestRoot_AcceptAndRefresh: GET / redirects a client that accepts HTML, read as RFC 9110 reads
// Accept (case-insensitive media types; q=0 refuses), and keeps the page's own ?refresh=N, which
// the redirect used to drop ("/?refresh=1" opened a page refreshing every 5 s). Any other query
// is still dropped and the target stays /dashboard.
func TestRoot_AcceptAndRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	for _, tc := range []struct {
		target, accept string
		status         int
		location       string
	}{
		{"/", "TEXT/HTML", 302, "/dashboard"},
		{"/", "application/json, text/html;q=0.5", 302, "/dashboard"},
		{"/", "text/html;q=0", 404, ""},
		{"/", "text/html; q=0.0, application/json", 404, ""},
		{"/", "application/json", 404, ""},
		{"/?refresh=1", "text/html", 302, "/dashboard?refresh=1"},
		{"/?refresh=1&next=//evil.example", "text/html", 302, "/dashboard"},
		{"/?refresh=//evil.example", "text/html", 302, "/dashboard"},
		{"/?refresh=1%0d%0aX-Injected:%201", "text/html", 302, "/dashboard"},
		{"/?refresh=99999999", "text/html", 302, "/dashboard"},
	} {
		a := do(t, "GET", h.url+tc.target, "", "Accept", tc.accept)
		if a.status != tc.status || a.header.Get("Location") != tc.location || a.header.Get("X-Injected") != "" {
			t.Errorf("GET %s (Accept: %s): %d Location %q, want %d %q", tc.target, tc.accept, a.status, a.header.Get("Location"), tc.status, tc.location)
		}
	}
}
