package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"
)

// echoingControlPlane answers the list with a failure whose body quotes the request's
// Authorization header (as some gateways do), or a 503 with a huge Retry-After.
type echoingControlPlane struct {
	mu         stdsync.Mutex
	retryAfter string // when set: 503 with this Retry-After
}

func (e *echoingControlPlane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	ra := e.retryAfter
	e.mu.Unlock()
	auth := r.Header.Get("Authorization")
	key := strings.TrimPrefix(auth, "Bearer ")
	w.Header().Set("Content-Type", "application/json")
	if ra != "" {
		w.Header().Set("Retry-After", ra)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"detail":"overloaded; your header was %s"}`, auth)
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `{"detail":"upstream proxy error","request_headers":{"Authorization":%q},"key":%q,"lower":"bearer %s"}`, auth, key, key)
}

// TestTrust_UpstreamEchoAndRetryAfter: a control plane that echoes the API key in error bodies
// never gets it into logs, /v1/health or /v1/sync; a Retry-After of 31 years waits at most
// control_plane.max_retry_after, and /v1/sync says until when and why.
func TestTrust_UpstreamEchoAndRetryAfter(t *testing.T) {
	const apiKey = "SECRET-ECHOED-KEY-5c2e91"
	cp := &echoingControlPlane{}
	srv := httptest.NewServer(cp)
	defer srv.Close()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: debug\ncontrol_plane:\n  max_retry_after: 2m\n  retry:\n    attempts: 0\n"), 0o600)
	env := map[string]string{EnvAPIKey: apiKey, EnvBaseURL: srv.URL, "HOME": t.TempDir()}
	addr, logs, stop := serveLogged(t, env, "--data", data, "--config", cfg)
	base := "http://" + addr
	var bodies []string
	_, b := post(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	for _, path := range []string{"/v1/health", "/v1/sync"} {
		_, b := get(t, base+path)
		bodies = append(bodies, string(b))
	}
	if !strings.Contains(strings.Join(bodies, ""), "upstream proxy error") {
		t.Fatalf("the echoed failure is not reported at all: %s", bodies)
	}

	cp.mu.Lock()
	cp.retryAfter = "999999999"
	cp.mu.Unlock()
	before := time.Now()
	_, b = post(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	_, b = get(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	var view struct {
		Sync struct {
			RetryAfterUntil  *time.Time `json:"retry_after_until"`
			RetryAfterReason string     `json:"retry_after_reason"`
		} `json:"sync"`
	}
	if err := json.Unmarshal(b, &view); err != nil {
		t.Fatal(err)
	}
	st := view.Sync
	if st.RetryAfterUntil == nil || st.RetryAfterUntil.After(before.Add(2*time.Minute+5*time.Second)) || st.RetryAfterUntil.Before(before.Add(time.Minute)) {
		t.Fatalf("retry_after_until %v, want about 2m from %v: %s", st.RetryAfterUntil, before, b)
	}
	if !strings.Contains(st.RetryAfterReason, "999999999") || !strings.Contains(st.RetryAfterReason, "capped at 2m") {
		t.Fatalf("retry_after_reason %q", st.RetryAfterReason)
	}
	_, b = get(t, base+"/v1/health")
	bodies = append(bodies, string(b))
	stop()
	if strings.Contains(logs(), apiKey) {
		t.Errorf("the API key is in the log:\n%s", logs())
	}
	for _, b := range bodies {
		if strings.Contains(b, apiKey) {
			t.Errorf("the API key is in an answer: %.400s", b)
		}
	}
	if !strings.Contains(strings.Join(bodies, ""), "[REDACTED]") {
		t.Error("no redaction marker: the scan did not see the echo it meant to provoke")
	}
}
