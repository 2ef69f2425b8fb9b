package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func waitLog(t *testing.T, d *daemon, want string) {
	t.Helper()
	// An event wait: the deadline only bounds a failure, so it allows for a loaded machine.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(d.stderr.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReload sends SIGHUP to the real binary: reloadable keys take effect, restart-only keys
// are named and left, and an invalid file is rejected with the reason while the old config
// stays.
func TestReload(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "reload-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfgPath := filepath.Join(t.TempDir(), "runtimesd.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sync:\n  schedule: '@every 30s'\n")
	env := append(baseEnv(t), EnvAPIKey+"=reload-secret", EnvBaseURL+"="+fake.URL())
	d := start(t, bin, env, "serve", "--config", cfgPath, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	base := "http://" + d.addr

	write("log:\n  level: debug\nsync:\n  schedule: '@every 1h'\nfallback:\n  chains:\n    claude_code: [default]\nstore:\n  lock_timeout: 3s\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "config reloaded")
	waitLog(t, d, "need a restart")
	log := d.stderr.String()
	if !strings.Contains(log, "sync.schedule") || !strings.Contains(log, "fallback.chains") || !strings.Contains(log, "store.lock_timeout") {
		t.Errorf("the reload log must name what changed and what needs a restart:\n%s", log)
	}
	_, body := get(t, base+"/v1/sync")
	if !strings.Contains(string(body), `"schedule":"@every 1h"`) {
		t.Errorf("schedule not reloaded: %s", body)
	}
	_, body = get(t, base+"/v1/health")
	if !strings.Contains(string(body), `"runtime":"claude_code","chain":["default"]`) {
		t.Errorf("fallback rules not reloaded: %s", body)
	}
	get(t, base+"/v1/runtimes")
	waitLog(t, d, `msg=request`) // debug level now on

	write("sync:\n  schedule: 'every so often'\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "config reload rejected")
	if !strings.Contains(d.stderr.String(), "sync.schedule (line 2)") {
		t.Errorf("the rejection must name the key and line:\n%s", d.stderr)
	}
	_, body = get(t, base+"/v1/sync")
	if !strings.Contains(string(body), `"schedule":"@every 1h"`) {
		t.Errorf("a rejected reload must keep the running config: %s", body)
	}
	if strings.Contains(d.stderr.String(), "reload-secret") {
		t.Error("the API key appeared in the log")
	}
	d.stop(t)
}

func TestConfigCheckNamesKeyAndLine(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:7878\nsync:\n  hold_repeats: 0\nfallback:\n  chains:\n    a: [b]\n    b: [a]\n"), 0o600)
	code, _, stderr := runMain(t, map[string]string{}, "config", "check", bad)
	if code != 1 || !strings.Contains(stderr, "sync.hold_repeats (line 3)") || !strings.Contains(stderr, "fallback (line 4)") || !strings.Contains(stderr, "a -> b -> a") {
		t.Fatalf("code %d:\n%s", code, stderr)
	}
	os.WriteFile(bad, []byte("sync:\n  schedul: x\n"), 0o600)
	code, _, stderr = runMain(t, map[string]string{}, "config", "check", bad)
	if code != 1 || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "schedul") {
		t.Fatalf("unknown key: code %d:\n%s", code, stderr)
	}
}
