package httpapi_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func TestToken(t *testing.T) {
	const token = "local-token-123"
	t.Run("MutatingOnly", func(t *testing.T) {
		h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Token = token })
		a := do(t, "POST", h.url+"/v1/sync", "")
		if a.status != 401 || a.header.Get("WWW-Authenticate") == "" || a.json(t)["error"].(map[string]any)["code"] != "unauthorized" {
			t.Fatalf("POST /v1/sync without token: %d %v %s", a.status, a.header, a.body)
		}
		if strings.Contains(string(a.body), token) {
			t.Error("the token leaked into an error")
		}
		if a := do(t, "POST", h.url+"/v1/sync", "", "Authorization", "Bearer wrong"); a.status != 401 {
			t.Errorf("wrong token: %d", a.status)
		}
		if a := do(t, "POST", h.url+"/v1/sync", "", "Authorization", "Bearer "+token); a.status != 200 {
			t.Errorf("right token: %d %s", a.status, a.body)
		}
		if a := do(t, "GET", h.url+"/v1/runtimes", ""); a.status != 200 {
			t.Errorf("reads stay open without token_reads: %d", a.status)
		}
	})
	t.Run("Reads", func(t *testing.T) {
		h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Token, o.TokenReads = token, true })
		for _, path := range []string{"/v1/runtimes", "/api/v1/runtimes", "/v1/health", "/metrics", "/v1/changes", "/v1/watch"} {
			if a := do(t, "GET", h.url+path, ""); a.status != 401 {
				t.Errorf("%s without token: %d", path, a.status)
			}
		}
		if a := do(t, "GET", h.url+"/api/v1/runtimes", ""); a.json(t)["detail"] == nil {
			t.Errorf("drop-in 401 in the control plane's shape: %s", a.body)
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if a := do(t, "GET", h.url+path, ""); a.status != 200 {
				t.Errorf("probe %s must stay open: %d", path, a.status)
			}
		}
		// The page holds no data: a browser gets it (and then asks for the token), not JSON.
		if a := do(t, "GET", h.url+"/dashboard", ""); a.status != 200 || !strings.Contains(string(a.body), `id="login"`) {
			t.Errorf("/dashboard with token_reads: %d", a.status)
		}
		if a := do(t, "GET", h.url+"/", "", "Accept", "text/html"); a.status != 302 || a.header.Get("Location") != "/dashboard" {
			t.Errorf("/ with token_reads: %d %v", a.status, a.header)
		}
		if a := do(t, "GET", h.url+"/v1/runtimes", "", "Authorization", "Bearer "+token); a.status != 200 {
			t.Errorf("with token: %d", a.status)
		}
	})
}

func TestCORS(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Origin", "https://evil.example"); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no CORS unless configured: %v", a.header)
	}
	h = newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.CORSOrigins = []string{"https://ok.example"} })
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Origin", "https://ok.example"); a.header.Get("Access-Control-Allow-Origin") != "https://ok.example" {
		t.Errorf("configured origin: %v", a.header)
	}
	if a := do(t, "GET", h.url+"/v1/runtimes", "", "Origin", "https://evil.example"); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %v", a.header)
	}
}

func TestDashboardCSP(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	csp := do(t, "GET", h.url+"/dashboard", "").header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
}

// TestToken_Forms: the local token is accepted in every form the control plane accepts an API
// key (the Python SDK sends "UserKey <key>"), schemes case-insensitively; anything else is 401.
func TestToken_Forms(t *testing.T) {
	t.Parallel()
	const token = "local-token-123"
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Token, o.TokenReads = token, true })
	accepted := [][]string{
		{"Authorization", "Bearer " + token},
		{"Authorization", "bearer " + token},
		{"Authorization", "BEARER  " + token + " "},
		{"Authorization", "UserKey " + token},
		{"Authorization", "userkey " + token},
		{"Authorization", "Baerer " + token},
		{"Authorization", token},
		{"UserKey", token},
		{"Authorization", "Bearer wrong", "UserKey", token},
	}
	for _, hdr := range accepted {
		if a := do(t, "GET", h.url+"/api/v1/runtimes", "", hdr...); a.status != 200 {
			t.Errorf("%q: %d %s", hdr, a.status, a.body)
		}
	}
	refused := [][]string{
		{},
		{"Authorization", "Bearer wrong"},
		{"Authorization", "UserKey wrong"},
		{"Authorization", "Basic " + token},
		{"Authorization", "Bearer"},
		{"Authorization", "UserKey"},
		{"Authorization", ""},
		{"Authorization", "Bearer " + token + "x"},
		{"Authorization", "Bearer " + token[:len(token)-1]},
		{"UserKey", "Bearer " + token},
		{"UserKey", ""},
		{"X-Api-Key", token},
	}
	for _, hdr := range refused {
		a := do(t, "GET", h.url+"/api/v1/runtimes", "", hdr...)
		if a.status != 401 || a.json(t)["detail"] == nil {
			t.Errorf("%q: %d %s", hdr, a.status, a.body)
		}
		if strings.Contains(string(a.body), token) {
			t.Errorf("%q: the token leaked into the answer", hdr)
		}
	}
}
