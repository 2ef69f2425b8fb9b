package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// The breakers as main wires them (config -> health.Breakers with sync's error classes): the
// control plane answering 404 for requirements or 422 for a validate body is the caller's
// problem and never opens a breaker, while a 500 opens it at the configured count. The sync
// package's tests build their own breakers, so only this test covers the wiring.
func TestWiring_CallerErrorsDoNotTripBreakers(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "wiring-key", NoInline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	for _, id := range []string{"default", "claude_code"} {
		fake.FailRequirements(id, http.StatusNotFound)
	}
	env := map[string]string{EnvAPIKey: "wiring-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(`control_plane:
  requirements_mode: fetch
  retry: {attempts: 0}
  breaker: {consecutive_failures: 1, open_timeout: 1h}
validation:
  mode: upstream
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _, stop := serveLogged(t, env, "--data", t.TempDir(), "--config", cfg)
	defer stop()
	base := "http://" + addr

	breakers := func() map[string]string {
		t.Helper()
		var h struct {
			ControlPlane struct {
				Breakers map[string]struct {
					State     string `json:"state"`
					LastError string `json:"last_error"`
				} `json:"breakers"`
			} `json:"control_plane"`
		}
		_, body := get(t, base+"/v1/health")
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatalf("health: %v: %s", err, body)
		}
		out := map[string]string{}
		for k, b := range h.ControlPlane.Breakers {
			out[k] = b.State
			if k == "requirements" && b.LastError == "" {
				t.Errorf("requirements breaker: the 404 must be shown (last_error empty)")
			}
		}
		return out
	}

	for range 3 {
		resp, body := post(t, base+"/v1/sync")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sync: %d %s", resp.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/runtimes/validate", strings.NewReader(`{"runtime_type":7}`))
		req.Header.Set("Content-Type", "application/json")
		resp, body = doReq(t, req)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("validate forwarded upstream: %d %s, want the control plane's 422", resp.StatusCode, body)
		}
	}
	if n := fake.Count("/api/v1/runtimes/claude_code/requirements"); n < 3 {
		t.Fatalf("requirements fetched %d times, want one per sync (breaker open?)", n)
	}
	if n := fake.Count("/api/v1/runtimes/validate"); n != 3 {
		t.Fatalf("validate forwarded %d times, want 3", n)
	}
	if st := breakers(); st["requirements"] != "closed" || st["validate"] != "closed" || st["list"] != "closed" {
		t.Fatalf("404 and 422 answers tripped a breaker (consecutive_failures 1): %v", st)
	}

	// The same wiring does open on the control plane's own failure.
	fake.SetFault(fakecp.Fault500)
	resp, _ := post(t, base+"/v1/sync")
	resp.Body.Close()
	if st := breakers(); st["list"] != "open" {
		t.Fatalf("a 500 with consecutive_failures 1 must open the list breaker: %v", st)
	}
}
