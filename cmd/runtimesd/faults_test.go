package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// faultConfig makes a daemon that notices faults fast: a run every second, short timeouts,
// one retry, a breaker that opens after 3 failures for 1s, and a guard that holds an emptying
// answer for the whole test.
const faultConfig = `
control_plane:
  timeout: 300ms
  max_response_bytes: 262144
  retry: {attempts: 1, base: 10ms, max: 50ms}
  breaker: {consecutive_failures: 3, open_timeout: 1s}
sync:
  schedule: "@every 1s"
  jitter: 0s
  run_timeout: 5s
  hold_repeats: 1000
`

type healthView struct {
	Status   string   `json:"status"`
	Reasons  []string `json:"reasons"`
	Snapshot struct {
		Source     string `json:"source"`
		AgeSeconds int    `json:"age_seconds"`
		Revision   int    `json:"revision"`
	} `json:"snapshot"`
	ControlPlane struct {
		Breakers map[string]struct {
			LastError   string     `json:"last_error"`
			LastErrorAt *time.Time `json:"last_error_at"`
		} `json:"breakers"`
	} `json:"control_plane"`
	Runtimes struct {
		Degraded []string `json:"degraded"`
	} `json:"runtimes"`
}

func readHealth(base string) (healthView, string, error) {
	var h healthView
	resp, err := http.Get(base + "/v1/health")
	if err != nil {
		return h, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return h, string(b), json.Unmarshal(b, &h)
}

// readers read every route continuously and count answers that are not a 2xx with the data.
func readers(ctx context.Context, base string, n int) (errs *atomic.Int64, reads *atomic.Int64, firstErr *atomic.Value, wait func()) {
	errs, reads, firstErr = &atomic.Int64{}, &atomic.Int64{}, &atomic.Value{}
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	routes := []struct{ method, path, body, want string }{
		{"GET", "/api/v1/runtimes", "", `"claude_code"`},
		{"GET", "/v1/runtimes", "", `"count":2`},
		{"GET", "/api/v1/runtimes/claude_code/requirements", "", `"max_history_length":200`},
		{"GET", "/v1/runtimes/default/requirements", "", `"max_history_length":100`},
		{"POST", "/api/v1/runtimes/validate", `{"runtime_type":"claude_code","model_id":"gpt-4"}`, `"valid":false`},
		{"GET", "/v1/matrix", "", `"default"`},
		{"GET", "/readyz", "", `"ready"`},
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; ctx.Err() == nil; j++ {
				r := routes[j%len(routes)]
				req, _ := http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.body))
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				reads.Add(1)
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 || !strings.Contains(string(body), r.want) {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %s: %v %.200s", r.method, r.path, err, body))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return errs, reads, firstErr, wg.Wait
}

// TestFaults puts the real daemon through every fault mode of the fake control plane while
// local clients read continuously: no local error, the last good data served, the fault
// visible in /v1/health, and fresh data again soon after the fault clears (one schedule
// interval, plus the breaker's open timeout when the fault opened it).
func TestFaults(t *testing.T) {
	t.Parallel()
	faults := []struct {
		fault   fakecp.Fault
		visible string // in /v1/health's body
		setup   func(*fakecp.Server)
	}{
		{fakecp.Fault500, "HTTP 500", nil},
		{fakecp.Fault503, "Retry-After", func(f *fakecp.Server) { f.SetRetryAfter("1") }},
		{fakecp.Fault401, "credentials rejected", nil},
		{fakecp.Fault403, "credentials rejected", nil},
		{fakecp.Fault429, "Retry-After", func(f *fakecp.Server) { f.SetRetryAfter("1") }},
		{"slow", "timed out", func(f *fakecp.Server) { f.SetDelay(time.Second) }},
		{fakecp.FaultHang, "timed out", nil},
		{fakecp.FaultReset, "GET /api/v1/runtimes", nil},
		{fakecp.FaultGarbage, "expected a JSON array", nil},
		{fakecp.FaultTruncated, "GET /api/v1/runtimes", nil},
		{fakecp.FaultObject, "expected a JSON array", nil},
		{fakecp.FaultEmpty, "held back", nil},
		{fakecp.FaultHuge, "byte cap", nil},
		{fakecp.FaultFlap, "flapping", nil},
		{"requirements", "could not be refreshed", func(f *fakecp.Server) { f.FailRequirements("claude_code", 500) }},
		{fakecp.FaultRedirect, "redirected to another host", nil},
	}
	for _, tc := range faults {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			fake, err := fakecp.Start(fakecp.Options{APIKey: "fault-key", NoInline: true})
			if err != nil {
				t.Fatal(err)
			}
			defer fake.Close()
			var leaked atomic.Int64
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					leaked.Add(1)
				}
				w.Write([]byte("[]"))
			}))
			defer other.Close()
			fake.SetRedirectTarget(strings.Replace(other.URL, "127.0.0.1", "localhost", 1))

			cfg := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(cfg, []byte(faultConfig), 0o600)
			env := map[string]string{EnvAPIKey: "fault-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
			addr, _, stop := serveLogged(t, env, "--data", t.TempDir(), "--config", cfg)
			defer stop()
			base := "http://" + addr

			ctx, cancel := context.WithCancel(context.Background())
			errs, reads, firstErr, wait := readers(ctx, base, 3)

			switch {
			case tc.setup != nil && tc.fault != "slow" && tc.fault != "requirements":
				tc.setup(fake)
				fake.SetFault(tc.fault)
			case tc.setup != nil:
				tc.setup(fake)
			default:
				fake.SetFault(tc.fault)
			}
			seen := ""
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, body, err := readHealth(base)
				// Visible: named in the report, and (but for flapping, which retries absorb)
				// the overall status says something is wrong.
				if err == nil && strings.Contains(body, tc.visible) && (tc.fault == fakecp.FaultFlap || !strings.HasPrefix(body, `{"status":"ok"`)) {
					break
				}
				seen = body
				if time.Now().After(deadline) {
					cancel()
					wait()
					t.Fatalf("the fault never showed in /v1/health (want %q):\n%s", tc.visible, seen)
				}
				time.Sleep(50 * time.Millisecond)
			}

			cleared := time.Now()
			fake.SetFault(fakecp.FaultNone)
			fake.SetDelay(0)
			fake.FailRequirements("claude_code", 0)
			for {
				h, body, err := readHealth(base)
				if err == nil && h.Status == "ok" && h.Snapshot.Source == "upstream" && h.Snapshot.AgeSeconds <= 1 {
					break
				}
				if time.Since(cleared) > 6*time.Second {
					cancel()
					wait()
					t.Fatalf("no recovery to fresh data within 6s of the fault clearing:\n%s", body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			recovery := time.Since(cleared)
			cancel()
			wait()
			if n := errs.Load(); n > 0 {
				t.Errorf("%d of %d local reads failed; first: %v", n, reads.Load(), firstErr.Load())
			}
			if leaked.Load() > 0 {
				t.Errorf("the API key reached the redirect target %d times", leaked.Load())
			}
			t.Logf("%s: %d local reads, 0 errors, recovered %v after the fault cleared", tc.fault, reads.Load(), recovery.Round(10*time.Millisecond))
		})
	}
}
