package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestSRE_ReloadedStatusMapReachesMetrics: health.status_map is reloadable, and after a SIGHUP
// that makes every status unhealthy /metrics' runtimesd_runtimes{health=...} must count the
// runtimes by the new classes, as /v1/health does; a monitoring system alerting on
// runtimesd_runtimes{health="unhealthy"} must see what the API answers.
func TestSRE_ReloadedStatusMapReachesMetrics(t *testing.T) {
	t.Parallel()
	m, logs, _, cfgPath := startSRE(t, "sync:\n  schedule: '@every 1h'\n")
	sreSync(t, m)
	base := "http://" + m.API.Addr()
	statuses := map[string]bool{}
	for _, rt := range m.Live.Load().Catalog.Runtimes() {
		statuses[rt.Status] = true
	}
	cfg := "sync:\n  schedule: '@every 1h'\nhealth:\n  status_map:\n"
	for s := range statuses {
		cfg += "    " + s + ": unhealthy\n"
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	_, hb := get(t, base+"/v1/health")
	_, mb := get(t, base+"/metrics")
	healthy := regexp.MustCompile(`(?m)^runtimesd_runtimes\{health="healthy"\} (\d+)`).FindSubmatch(mb)
	if healthy != nil && string(healthy[1]) != "0" {
		t.Errorf("after the reload every status is unhealthy, but /metrics still counts %s healthy runtimes\n/v1/health: %.400s\nlog: %s", healthy[1], hb, logs.String())
	}
	// And the runtimes are counted under the new class, not left out.
	want := fmt.Sprintf("runtimesd_runtimes{health=\"unhealthy\"} %d\n", m.Live.Load().Catalog.Len())
	if !strings.Contains(string(mb), want) {
		t.Errorf("after the reload /metrics lacks %q:\n%s", want, regexp.MustCompile(`(?m)^runtimesd_runtimes\{.*$`).FindAll(mb, -1))
	}
}

// TestSRE_ReloadToUpstreamValidation: validation.mode is reloadable, so a SIGHUP from local to
// upstream (logged as changed) must forward the next drop-in validation to the control plane.
func TestSRE_ReloadToUpstreamValidation(t *testing.T) {
	t.Parallel()
	m, logs, fake, cfgPath := startSRE(t, "validation:\n  mode: local\n")
	if err := os.WriteFile(cfgPath, []byte("validation:\n  mode: upstream\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	req, _ := http.NewRequest("POST", "http://"+m.API.Addr()+"/api/v1/runtimes/validate",
		strings.NewReader(`{"runtime_type":"claude_code","model_id":"gpt-4"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if by, n := resp.Header.Get(httpapi.HeaderValidatedBy), fake.Count("/api/v1/runtimes/validate"); by != "upstream" || n != 1 {
		t.Errorf("after reloading validation.mode to upstream: validated by %q, %d upstream calls; want upstream, 1\n%s", by, n, logs.String())
	}
}

// TestSRE_ClockStepBackShowsInMetrics: after the clock steps back an hour (here: the data's
// fetched_at an hour ahead of the clock), /v1/health calls the data stale (clock_skew), its age
// unknown. /metrics must not report it as just fetched (runtimesd_snapshot_age_seconds 0), and
// must show the staleness an operator acts on.
func TestSRE_ClockStepBackShowsInMetrics(t *testing.T) {
	t.Parallel()
	m, _, _, _ := startSRE(t, "")
	sreSync(t, m)
	base := "http://" + m.API.Addr()
	if _, mb := get(t, base+"/metrics"); !regexp.MustCompile(`(?m)^runtimesd_snapshot_stale 0$`).Match(mb) {
		t.Errorf("fresh data: /metrics lacks runtimesd_snapshot_stale 0")
	}
	snap := *m.Live.Load()
	snap.FetchedAt = time.Now().Add(time.Hour)
	m.Live.Publish(&snap)
	_, hb := get(t, base+"/v1/health")
	if !strings.Contains(string(hb), `"clock_skew":true`) {
		t.Fatalf("/v1/health does not see the skew: %.500s", hb)
	}
	_, mb := get(t, base+"/metrics")
	if regexp.MustCompile(`(?m)^runtimesd_snapshot_age_seconds `).Match(mb) {
		t.Errorf("/metrics reports an age for data of unknown age (clock skew); the gauge must be absent")
	}
	if !regexp.MustCompile(`(?m)^runtimesd_snapshot_stale 1$`).Match(mb) {
		t.Errorf("/v1/health says stale (clock_skew), /metrics has no runtimesd_snapshot_stale 1:\n%s", regexp.MustCompile(`(?m)^runtimesd_snapshot.*$`).FindAll(mb, -1))
	}
}

// TestSRE_ReplacedDataFileShowsInMetrics: the data file is moved over while the daemon runs
// (a restore done the wrong way); the daemon stops writing to it and /v1/health says nothing
// is persisted. /metrics must show that state too, and the file size it reports must not be
// the orphaned file's.
func TestSRE_ReplacedDataFileShowsInMetrics(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	m, _, fake, _ := startSRE(t, "", "--data", data)
	sreSync(t, m)
	other := filepath.Join(data, "other")
	if err := os.WriteFile(other, []byte("not a bbolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, filepath.Join(data, dbFile)); err != nil {
		t.Fatal(err)
	}
	cat := strings.Replace(string(fake.Catalog()), `"status":"`, `"status":"x`, 1)
	if err := fake.SetCatalog([]byte(cat)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if run, err := m.Poller.SyncNow(ctx, rsync.TriggerManual); err != nil {
		t.Fatalf("sync: %v %+v", err, run)
	}
	base := "http://" + m.API.Addr()
	_, hb := get(t, base+"/v1/health")
	if !strings.Contains(string(hb), "nothing is persisted") {
		t.Fatalf("/v1/health does not say the data is not persisted: %.800s", hb)
	}
	_, mb := get(t, base+"/metrics")
	if !regexp.MustCompile(`(?m)^runtimesd_store_persisting 0$`).Match(mb) {
		t.Errorf("/v1/health says nothing is persisted; /metrics has no runtimesd_store_persisting 0")
	}
}

// TestSRE_ReloadedScheduleSetsBrowserReloadWindow: a forced refresh refused by the rate limit
// on data younger than the schedule's interval is answered from the cache, not 429. After a
// SIGHUP from "@every 30s" to "@every 1h", data 2 minutes old is within the interval in force.
func TestSRE_ReloadedScheduleSetsBrowserReloadWindow(t *testing.T) {
	t.Parallel()
	head := "http:\n  refresh_rate: 0.001\n  refresh_burst: 1\nsync:\n  schedule: "
	m, logs, fake, cfgPath := startSRE(t, head+"'@every 30s'\n")
	sreSync(t, m)
	if err := os.WriteFile(cfgPath, []byte(head+"'@every 1h'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	snap := *m.Live.Load()
	snap.FetchedAt = time.Now().Add(-2 * time.Minute)
	m.Live.Publish(&snap)
	fake.SetFault(fakecp.Fault500) // the first forced refresh fails and takes the one token
	read := func() int {
		req, _ := http.NewRequest("GET", "http://"+m.API.Addr()+"/v1/runtimes", nil)
		req.Header.Set("Cache-Control", "no-cache")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	read()
	if code := read(); code != 200 {
		t.Errorf("a rate-limited browser reload on data 2 minutes old under '@every 1h': %d, want 200 from the cache\n%s", code, logs.String())
	}
}

// TestSRE_RotatedKeyFilesAreNamedOnReload: an operator rotates the local token and the
// control plane's API key in their files and sends SIGHUP. The paths are unchanged, so the
// reload used to log "config reloaded" with nothing changed and no warning, while the daemon
// kept the old token and key (the new token refused, the old one still accepted). The reload
// must say that the files' new contents need a restart.
func TestSRE_RotatedKeyFilesAreNamedOnReload(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "cp-key-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := t.TempDir()
	tokenFile, keyFile := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	for f, v := range map[string]string{tokenFile: "local-token-1", keyFile: "cp-key-1"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "runtimesd.yaml")
	cfg := "http:\n  token_file: " + tokenFile + "\ncontrol_plane:\n  api_key_file: " + keyFile + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	m, logs := startMain(t, env, "--data", t.TempDir(), "--config", cfgPath)
	for f, v := range map[string]string{tokenFile: "local-token-2", keyFile: "cp-key-2"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m.Reload()
	log := logs.String()
	if !strings.Contains(log, "need a restart") || !strings.Contains(log, "http.token_file") || !strings.Contains(log, "control_plane.api_key_file") {
		t.Errorf("rotated key files, SIGHUP: the reload does not say the new token and key need a restart:\n%s", log)
	}
	if strings.Contains(log, "local-token-") || strings.Contains(log, "cp-key-") {
		t.Errorf("a secret reached the log:\n%s", log)
	}
}

// startSRE runs the daemon in-process against a fake control plane, with a config file
// holding cfg (rewritten by the test before a reload; none when cfg is "") and a fresh data
// directory unless args name one.
func startSRE(t *testing.T, cfg string, args ...string) (*Main, *syncBuffer, *fakecp.Server, string) {
	t.Helper()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "sre-key"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	if len(args) == 0 {
		args = []string{"--data", t.TempDir()}
	}
	cfgPath := ""
	if cfg != "" {
		cfgPath = filepath.Join(t.TempDir(), "runtimesd.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfgPath)
	}
	env := map[string]string{EnvAPIKey: "sre-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	m, logs := startMain(t, env, args...)
	return m, logs, fake, cfgPath
}

// sreSync runs one sync now and fails the test unless it reached the control plane.
func sreSync(t *testing.T, m *Main) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if run, err := m.Poller.SyncNow(ctx, rsync.TriggerManual); err != nil || run.Outcome == health.OutcomeFailed {
		t.Fatalf("sync: %v %+v", err, run)
	}
}
