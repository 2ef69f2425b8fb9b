package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// serveLogged runs `serve` in-process with the given config and returns its address, its
// log so far (a func) and a stop func.
func serveLogged(t *testing.T, env map[string]string, args ...string) (string, func() string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCommand(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), io.Discard, &errb, func(k string) string { return env[k] })
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(errb.String()); m != nil {
			for !strings.Contains(errb.String(), "sync run") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			return m[1], errb.String, func() {
				cancel()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					t.Error("serve did not stop")
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var wantMetrics = []string{
	"runtimesd_sync_runs_total", "runtimesd_sync_duration_seconds", "runtimesd_upstream_requests_total",
	"runtimesd_upstream_request_duration_seconds", "runtimesd_breaker_state", "runtimesd_breaker_transitions_total",
	"runtimesd_snapshot_revision", "runtimesd_snapshot_age_seconds", "runtimesd_snapshot_stale", "runtimesd_runtimes", "runtimesd_sync_held_answers",
	"runtimesd_http_requests_total", "runtimesd_http_request_duration_seconds", "runtimesd_cache_results_total",
	"runtimesd_blocking_reads_waiting", "runtimesd_store_file_size_bytes", "runtimesd_store_persisting", "runtimesd_store_commit_duration_seconds",
	"runtimesd_build_info", "go_goroutines", "process_resident_memory_bytes",
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "metrics-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	env := map[string]string{EnvAPIKey: "metrics-secret-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: debug\n  format: json\ncontrol_plane:\n  breaker:\n    consecutive_failures: 1\n"), 0o600)
	addr, logs, stop := serveLogged(t, env, "--data", t.TempDir(), "--config", cfg)
	defer stop()

	get(t, "http://"+addr+"/api/v1/runtimes")
	get(t, "http://"+addr+"/v1/runtimes/nope")
	fake.SetFault(fakecp.Fault500)
	if code, _, _ := runMain(t, env, "list", "--addr", addr); code != 0 {
		t.Fatal("list failed")
	}
	resp, _ := post(t, "http://"+addr+"/v1/sync")
	resp.Body.Close()

	resp, body := get(t, "http://"+addr+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, name := range wantMetrics {
		if !strings.Contains(text, "\n"+name) && !strings.HasPrefix(text, name) {
			t.Errorf("no metric %s", name)
		}
	}
	for _, series := range []string{
		`runtimesd_sync_runs_total{outcome="changed"} 1`,
		`runtimesd_upstream_requests_total{call="list",status_class="5xx"}`,
		`runtimesd_breaker_state{call="list",state="open"} 1`,
		`runtimesd_breaker_transitions_total{call="list",to="open"} 1`,
		`runtimesd_http_requests_total{code="404",method="GET",route="/v1/runtimes/:id"} 1`,
		`runtimesd_cache_results_total{result="hit"}`,
		`runtimesd_snapshot_revision 1`,
		`runtimesd_runtimes{health="healthy"} 2`,
	} {
		if !strings.Contains(text, series) {
			t.Errorf("no series %s", series)
		}
	}

	if promtool, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Error("promtool is not installed, and CI must run this check (.ci/run installs the prometheus package)")
		} else {
			t.Log("skipping promtool check metrics: promtool not installed (Debian package prometheus; .ci/run installs it)")
		}
	} else {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	log := logs()
	if strings.Contains(log, "metrics-secret-key") {
		t.Error("the API key appeared in the log")
	}
	for _, want := range []string{`"msg":"request"`, `"msg":"sync run"`, `"msg":"circuit breaker state changed"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the JSON log has no %s line", want)
		}
	}
}
