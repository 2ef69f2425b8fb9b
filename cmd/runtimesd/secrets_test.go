package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// The API key and the local token never appear in logs, error answers, /v1/health, /metrics,
// the sync status or the data file, whatever the control plane does.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const apiKey, token = "SECRET-APIKEY-7f3a9c", "SECRET-TOKEN-b81d2e"
	fake, err := fakecp.Start(fakecp.Options{APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: debug\ncontrol_plane:\n  breaker:\n    consecutive_failures: 2\n"), 0o600)
	env := map[string]string{EnvAPIKey: apiKey, EnvToken: token, EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	addr, logs, stop := serveLogged(t, env, "--data", data, "--config", cfg)
	base := "http://" + addr

	var bodies []string
	grab := func(method, path string, auth bool) {
		req, _ := newRequest(method, base+path)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, body := doReq(t, req)
		bodies = append(bodies, resp.Status+" "+path+" "+string(body))
	}
	for _, f := range []fakecp.Fault{fakecp.Fault401, fakecp.Fault500, fakecp.FaultGarbage, fakecp.FaultNone} {
		fake.SetFault(f)
		grab("POST", "/v1/sync", true)
		grab("POST", "/v1/sync", false) // 401 from the sidecar itself
	}
	fake.SetFault(fakecp.FaultRedirect)
	fake.SetRedirectTarget("http://localhost:1")
	grab("POST", "/v1/sync", true)
	for _, path := range []string{"/v1/health", "/v1/sync", "/metrics", "/api/v1/runtimes", "/v1/runtimes/nope", "/readyz"} {
		grab("GET", path, false)
	}
	code, out, errOut := runMain(t, env, "config", "check", cfg)
	bodies = append(bodies, out, errOut)
	if code != 0 {
		t.Fatalf("config check: %s", errOut)
	}
	stop()

	file, err := os.ReadFile(filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{apiKey, token} {
		if strings.Contains(logs(), secret) {
			t.Errorf("%s in the log", secret)
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("%s in an answer: %.200s", secret, b)
			}
		}
		if strings.Contains(string(file), secret) {
			t.Errorf("%s in the data file", secret)
		}
	}
	if !strings.Contains(strings.Join(bodies, "\n"), "credentials rejected") {
		t.Error("the scan did not see the credentials failure it meant to provoke")
	}
}
