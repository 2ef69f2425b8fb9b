package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// spawn runs the binary without waiting for it to listen (start-up tests signal it earlier).
func spawn(t *testing.T, bin string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.stderr.Write([]byte(sc.Text() + "\n"))
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-logDone
		d.done <- err
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return d
}

// exitWithin waits for the process to exit and fails unless it exits within limit, with code
// 0, by itself (not killed by a signal).
func exitWithin(t *testing.T, d *daemon, limit time.Duration, since time.Time) {
	t.Helper()
	select {
	case err := <-d.done:
		took := time.Since(since)
		if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("killed by signal %v instead of exiting cleanly\n%s", ws.Signal(), d.stderr)
		}
		if err != nil {
			t.Fatalf("exit: %v (after %v)\n%s", err, took, d.stderr)
		}
		if took > limit {
			t.Fatalf("exited after %v, want within %v\n%s", took, limit, d.stderr)
		}
	case <-time.After(limit + 5*time.Second):
		t.Fatalf("did not exit within %v\n%s", limit, d.stderr)
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runtimesd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// storeAt writes a data file in dir holding the seed catalog committed at fetchedAt.
func storeAt(t *testing.T, dir string, fetchedAt time.Time) string {
	t.Helper()
	path := filepath.Join(dir, dbFile)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, fetchedAt); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

type answer struct {
	status int
	xcache string
	body   string
	err    error
}

func do(client *http.Client, req *http.Request) answer {
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, xcache: resp.Header.Get("X-Cache"), body: string(b)}
}

// TestLifecycle runs the real binary through an operator's mistakes at start and stop.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	// 12.1: a second daemon on a live unix socket refuses to start, and the first keeps
	// answering; a stale socket file with nobody behind it is reclaimed.
	t.Run("SocketInUse", func(t *testing.T) {
		t.Parallel()
		sock := filepath.Join(t.TempDir(), "r.sock")
		first := start(t, bin, baseEnv(t), "serve", "--data", t.TempDir(), "--listen", "unix:"+sock)
		// Bounded: a second daemon that takes the socket over would serve until killed.
		code, out := runBin(t, bin, baseEnv(t), "serve", "--data", t.TempDir(), "--listen", "unix:"+sock)
		if code == 0 || !strings.Contains(out, "another process answers on this socket") {
			t.Fatalf("second daemon on a live socket: exit %d\n%s", code, out)
		}
		if a := do(unixClient(sock), mustReq(t, "GET", "http://runtimesd/healthz")); a.err != nil || a.status != 200 {
			t.Fatalf("the first daemon lost its socket: %+v", a)
		}
		first.stop(t)

		// A stale socket file: bound, then closed without unlinking.
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		if _, err := os.Lstat(sock); err != nil {
			t.Fatalf("stale socket not left behind: %v", err)
		}
		third := start(t, bin, baseEnv(t), "serve", "--data", t.TempDir(), "--listen", "unix:"+sock)
		if a := do(unixClient(sock), mustReq(t, "GET", "http://runtimesd/healthz")); a.err != nil || a.status != 200 {
			t.Fatalf("stale socket not reclaimed: %+v", a)
		}
		third.stop(t)
	})

	// 12.2: with the control plane hung and clients waiting on the sync, SIGTERM cancels the
	// sync, answers the waiters with a sentence, exits 0 well inside shutdown_timeout, and
	// commits nothing.
	t.Run("ShutdownCancelsSync", func(t *testing.T) {
		t.Parallel()
		fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer fake.Close()
		fake.SetDelay(time.Minute) // answers, but only after a minute
		const shutdownTimeout = 20 * time.Second
		cfg := writeConfig(t, "http:\n  shutdown_timeout: 20s\n  sync_wait: 2m\n  refresh_wait: 2m\nsync:\n  run_timeout: 2m\n")
		data := t.TempDir()
		env := append(baseEnv(t), EnvAPIKey+"=k", EnvBaseURL+"="+fake.URL())
		d := start(t, bin, env, "serve", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
		base := "http://" + d.addr
		for deadline := time.Now().Add(10 * time.Second); fake.Count("/api/v1/runtimes") == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("the boot sync never called the control plane\n%s", d.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		client := &http.Client{Timeout: time.Minute}
		results := map[string]chan answer{"sync": make(chan answer, 1), "maxage0": make(chan answer, 1), "blocking": make(chan answer, 1)}
		go func() { results["sync"] <- do(client, mustReq(t, "POST", base+"/v1/sync")) }()
		go func() {
			req := mustReq(t, "GET", base+"/v1/runtimes")
			req.Header.Set("Cache-Control", "max-age=0")
			results["maxage0"] <- do(client, req)
		}()
		go func() { results["blocking"] <- do(client, mustReq(t, "GET", base+"/v1/runtimes?index=0&wait=90s")) }()
		// Let the three requests reach their handlers (they wait on the hung sync).
		time.Sleep(500 * time.Millisecond)

		signalled := time.Now()
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exitWithin(t, d, shutdownTimeout/4, signalled)

		a := <-results["sync"]
		if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "shutting down") {
			t.Errorf("POST /v1/sync during shutdown: %+v", a)
		}
		a = <-results["maxage0"]
		if a.err != nil || (a.status != http.StatusServiceUnavailable && a.status != http.StatusGatewayTimeout) || !strings.Contains(a.body, "shutting down") {
			t.Errorf("max-age=0 read during shutdown: %+v", a)
		}
		a = <-results["blocking"]
		if a.err != nil || a.status != 200 {
			t.Errorf("blocking read during shutdown: %+v", a)
		}
		db, err := store.Open(filepath.Join(data, dbFile), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if s := db.Loaded(); s != nil {
			t.Errorf("revision %d committed during shutdown", s.Revision)
		}
	})

	// 12.3: SIGTERM while the daemon is still starting (just after its first log line) is a
	// clean, quick exit, not a death by the signal.
	t.Run("SignalDuringStartup", func(t *testing.T) {
		t.Parallel()
		for range 3 {
			d := spawn(t, bin, baseEnv(t), "serve", "--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
			for deadline := time.Now().Add(10 * time.Second); d.stderr.String() == ""; {
				if time.Now().After(deadline) {
					t.Fatal("no log line within 10s")
				}
				time.Sleep(time.Millisecond)
			}
			signalled := time.Now()
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exitWithin(t, d, 5*time.Second, signalled)
		}
	})

	// 12.7 and 12.3: a long store.lock_timeout says the file is locked and how long it waits;
	// SIGTERM during that wait exits at once.
	t.Run("LockWaitLoggedAndInterruptible", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		holder := start(t, bin, baseEnv(t), "serve", "--data", data, "--listen", "127.0.0.1:0")
		cfg := writeConfig(t, "store:\n  lock_timeout: 10m\n")
		d := spawn(t, bin, baseEnv(t), "serve", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
		waitLog(t, d, "locked by another process")
		if !strings.Contains(d.stderr.String(), "wait=9m59.75s") {
			t.Errorf("the log must say how long it waits:\n%s", d.stderr)
		}
		signalled := time.Now()
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exitWithin(t, d, 5*time.Second, signalled)
		holder.stop(t)
	})

	// 12.4: data fetched "in the future" is clock skew: stale in every answer, never a HIT,
	// and said in health and the log.
	t.Run("DataFromTheFuture", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		storeAt(t, data, time.Now().Add(time.Hour))
		d := start(t, bin, baseEnv(t), "serve", "--data", data, "--listen", "127.0.0.1:0")
		base := "http://" + d.addr
		if !strings.Contains(d.stderr.String(), "clock skew") {
			t.Errorf("the log must name the clock skew:\n%s", d.stderr)
		}
		a := do(http.DefaultClient, mustReq(t, "GET", base+"/v1/runtimes"))
		if a.xcache != "STALE" || !strings.Contains(a.body, `"stale":true`) || !strings.Contains(a.body, "clock skew") {
			t.Errorf("future data served as: %s %.300s", a.xcache, a.body)
		}
		req := mustReq(t, "GET", base+"/api/v1/runtimes")
		req.Header.Set("Cache-Control", "max-age=1")
		if a := do(http.DefaultClient, req); a.xcache == "HIT" {
			t.Errorf("max-age=1 on future data got X-Cache: HIT (%d)", a.status)
		}
		var h struct {
			Status  string   `json:"status"`
			Reasons []string `json:"reasons"`
		}
		a = do(http.DefaultClient, mustReq(t, "GET", base+"/v1/health"))
		if err := json.Unmarshal([]byte(a.body), &h); err != nil {
			t.Fatal(err)
		}
		if h.Status != "degraded" || !strings.Contains(strings.Join(h.Reasons, "\n"), "clock skew") {
			t.Errorf("health on future data: %s %q", h.Status, h.Reasons)
		}
		d.stop(t)
	})
}

func mustReq(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Error(err)
		return nil
	}
	return req
}

// runBin runs the binary to completion and returns its exit code and combined output.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("run %v: %v", args, err)
	return 0, ""
}

func TestLifecycleRefusals(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	// 12.6: schedules that never fire are refused by config check and at start, naming the key;
	// a reload to one is rejected and the running schedule stays.
	t.Run("SchedulesThatNeverFire", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ yaml, key, want string }{
			{"sync:\n  schedule: '0 0 30 2 *'\n", "sync.schedule (line 2)", "never fires"},
			{"sync:\n  schedule: '@every 0s'\n", "sync.schedule (line 2)", "at least 1s"},
			{"sync:\n  schedule: '@every -5s'\n", "sync.schedule (line 2)", "at least 1s"},
			{"sync:\n  schedule: '@every 500ms'\n", "sync.schedule (line 2)", "at least 1s"},
			{"sync:\n  schedule: '@every 10s'\n  jitter: 10s\n", "sync.jitter (line 3)", "not shorter than the schedule's interval (10s)"},
			{"sync:\n  schedule: '* * * * *'\n  jitter: 2m\n", "sync.jitter (line 3)", "interval (1m0s)"},
		} {
			cfg := writeConfig(t, c.yaml)
			code, out := runBin(t, bin, baseEnv(t), "config", "check", cfg)
			if code == 0 || !strings.Contains(out, c.key) || !strings.Contains(out, c.want) {
				t.Errorf("config check %q: exit %d\n%s", c.yaml, code, out)
			}
			code, out = runBin(t, bin, baseEnv(t), "serve", "--config", cfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(out, c.key) {
				t.Errorf("serve with %q: exit %d\n%s", c.yaml, code, out)
			}
		}
		cfg := writeConfig(t, "sync:\n  schedule: '@every 1h'\n")
		d := start(t, bin, baseEnv(t), "serve", "--config", cfg, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
		if err := os.WriteFile(cfg, []byte("sync:\n  schedule: '0 0 30 2 *'\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, d, "config reload rejected")
		if !strings.Contains(d.stderr.String(), "sync.schedule") || !strings.Contains(d.stderr.String(), "never fires") {
			t.Errorf("reload rejection must name the key:\n%s", d.stderr)
		}
		d.stop(t)
	})

	// 12.9: a schema version no release wrote (0, -1) is refused with a clear message, and the
	// file is left as it was.
	t.Run("OldSchemaRefused", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"0", "-1"} {
			data := t.TempDir()
			path := storeAt(t, data, time.Now())
			setSchema(t, path, v)
			before, _ := os.ReadFile(path)
			code, out := runBin(t, bin, baseEnv(t), "serve", "--data", data, "--listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(out, "schema version "+v) || !strings.Contains(out, "left untouched") {
				t.Errorf("schema %s: exit %d\n%s", v, code, out)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Errorf("schema %s: the file was changed", v)
			}
			if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) > 0 {
				t.Errorf("schema %s: the file was moved aside: %v", v, m)
			}
		}
	})

	// 12.10: --offline on a --data that holds no data file fails, unless the seed is asked for.
	t.Run("OfflineWrongData", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "afile")
		os.WriteFile(file, []byte("x"), 0o600)
		empty := t.TempDir()
		for _, c := range []struct{ data, want string }{
			{file, "is a file, not a directory"},
			{filepath.Join(t.TempDir(), "typo"), "does not exist (a typo?)"},
			{empty, "nothing stored there yet"},
		} {
			code, out := runBin(t, bin, baseEnv(t), "list", "--offline", "--data", c.data)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Errorf("list --offline --data %s: exit %d\n%s", c.data, code, out)
			}
		}
		code, out := runBin(t, bin, baseEnv(t), "list", "--offline", "--builtin-seed", "--data", filepath.Join(t.TempDir(), "typo"))
		if code != 0 || !strings.Contains(out, "claude_code") {
			t.Errorf("--builtin-seed: exit %d\n%s", code, out)
		}
	})

	// 12.11: config messages name the key (or the environment variable) that is wrong.
	t.Run("ConfigMessages", func(t *testing.T) {
		t.Parallel()
		cfg := writeConfig(t, "control_plane:\n  base_url: https://ok.example\n")
		code, out := runBin(t, bin, append(baseEnv(t), EnvBaseURL+"=ftp://bad"), "config", "check", cfg)
		if code == 0 || !strings.Contains(out, EnvBaseURL) || strings.Contains(out, "line 2") {
			t.Errorf("bad env value: exit %d\n%s", code, out)
		}
		cfg = writeConfig(t, "http:\n  max_wait: 0s\n")
		if code, out := runBin(t, bin, baseEnv(t), "config", "check", cfg); code == 0 || !strings.Contains(out, "http.max_wait (line 2): must be positive") || strings.Contains(out, "default_wait") {
			t.Errorf("max_wait 0: exit %d\n%s", code, out)
		}
		cfg = writeConfig(t, "sync:\n  run_timeout: 9999999999h\n")
		for _, args := range [][]string{{"config", "check", cfg}, {"serve", "--config", cfg}} {
			code, out := runBin(t, bin, baseEnv(t), args...)
			if code == 0 || !strings.Contains(out, "sync.run_timeout (line 2)") || strings.Count(out, cfg) != 1 {
				t.Errorf("%v with a huge duration: exit %d\n%s", args[0], code, out)
			}
		}
		cfg = writeConfig(t, "http:\n  bogus: 1\n")
		if code, out := runBin(t, bin, baseEnv(t), "config", "check", cfg); code == 0 || !strings.Contains(out, "http.bogus (line 2): unknown key") || strings.Contains(out, "main.") {
			t.Errorf("unknown key: exit %d\n%s", code, out)
		}
	})
}

// setSchema overwrites the schema version stored in the data file.
func setSchema(t *testing.T, path, v string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

// storeRevisions writes a data file in dir holding n revisions of the seed catalog.
func storeRevisions(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, dbFile)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type healthAnswer struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
}

func healthOf(t *testing.T, base string) healthAnswer {
	t.Helper()
	var h healthAnswer
	a := do(http.DefaultClient, mustReq(t, "GET", base+"/v1/health"))
	if err := json.Unmarshal([]byte(a.body), &h); err != nil {
		t.Fatalf("/v1/health: %v: %s", err, a.body)
	}
	return h
}

// syncAdds makes the fake control plane add a runtime and has the daemon sync it; it returns
// the revision the daemon then serves.
func syncAdds(t *testing.T, fake *fakecp.Server, base, id string) string {
	t.Helper()
	if err := fake.PutRuntime([]byte(`{"id":"` + id + `","name":"` + id + `","type":"x","status":"available"}`)); err != nil {
		t.Fatal(err)
	}
	a := do(http.DefaultClient, mustReq(t, "POST", base+"/v1/sync"))
	if a.status != 200 || !strings.Contains(a.body, `"outcome":"changed"`) {
		t.Fatalf("POST /v1/sync: %d %s", a.status, a.body)
	}
	resp, body := get(t, base+"/v1/runtimes/"+id)
	if resp.StatusCode != 200 {
		t.Fatalf("the synced runtime is not served: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("X-Runtimes-Revision")
}

// waitBootSync waits until the daemon's first sync has finished.
func waitBootSync(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		a := do(http.DefaultClient, mustReq(t, "GET", base+"/v1/sync"))
		if strings.Contains(a.body, `"trigger":"boot"`) && !strings.Contains(a.body, `"running":true`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no boot sync within 15s: %s", a.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stored(t *testing.T, path string) *store.Snapshot {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the data file does not open: %v", err)
	}
	defer db.Close()
	return db.Loaded()
}

// chattr sets or clears the immutable attribute (which binds root too), or skips the test.
func chattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Skipf("chattr %s unavailable here: %v %s", flag, err, out)
	}
}

func TestLifecycleFiles(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	// 12.8: the live data file replaced under the daemon (mv over it, or cp over it) is
	// noticed at the next commit: health says so, the new file is not written, and the sync
	// is served from memory.
	for _, how := range []string{"mv", "cp"} {
		t.Run("Replaced_"+how, func(t *testing.T) {
			t.Parallel()
			fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			defer fake.Close()
			data := t.TempDir()
			live := filepath.Join(data, dbFile)
			env := append(baseEnv(t), EnvAPIKey+"=k", EnvBaseURL+"="+fake.URL())
			d := start(t, bin, env, "serve", "--data", data, "--listen", "127.0.0.1:0")
			base := "http://" + d.addr
			waitBootSync(t, base)
			if rev := syncAdds(t, fake, base, "first_extra"); rev == "" {
				t.Fatal("no revision served")
			}
			other := storeRevisions(t, t.TempDir(), 7)
			if how == "mv" {
				if err := os.Rename(other, live); err != nil {
					t.Fatal(err)
				}
			} else {
				b, err := os.ReadFile(other)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(live, b, 0o600); err != nil { // in place: same inode
					t.Fatal(err)
				}
			}
			syncAdds(t, fake, base, "second_extra")
			h := healthOf(t, base)
			if h.Status != "degraded" || !strings.Contains(strings.Join(h.Reasons, "\n"), "nothing is persisted") {
				t.Errorf("health after the file was replaced (%s): %s %q", how, h.Status, h.Reasons)
			}
			if !strings.Contains(d.stderr.String(), "data file replaced under the daemon") {
				t.Errorf("the log must say the file was replaced:\n%s", d.stderr)
			}
			d.stop(t)
			s := stored(t, live)
			if s == nil || s.Revision != 7 {
				t.Fatalf("the file put in place was written to: %+v", s)
			}
			if _, ok := s.Catalog.Get("second_extra"); ok {
				t.Error("the sync after the replacement was committed to the new file")
			}
		})
	}

	// 11.8: a read-only data file is not fatal: the stored snapshot is served, syncs are kept
	// in memory, and health says why nothing is persisted.
	t.Run("ReadOnlyFile", func(t *testing.T) {
		t.Parallel()
		fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer fake.Close()
		data := t.TempDir()
		path := storeRevisions(t, data, 3)
		before, _ := os.ReadFile(path)
		chattr(t, "+i", path)
		t.Cleanup(func() { exec.Command("chattr", "-i", path).Run() })
		env := append(baseEnv(t), EnvAPIKey+"=k", EnvBaseURL+"="+fake.URL())
		d := start(t, bin, env, "serve", "--data", data, "--listen", "127.0.0.1:0")
		base := "http://" + d.addr
		waitBootSync(t, base)
		h := healthOf(t, base)
		if h.Status != "degraded" || !strings.Contains(strings.Join(h.Reasons, "\n"), "cannot be written") {
			t.Errorf("health on a read-only file: %s %q", h.Status, h.Reasons)
		}
		if rev := syncAdds(t, fake, base, "mem_extra"); rev != "4" {
			t.Errorf("in-memory sync served revision %q, want 4", rev)
		}
		d.stop(t)
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Error("the read-only file changed")
		}
	})

	// 11.8: an unwritable data directory with no file: the seed is served and syncs live in
	// memory.
	t.Run("ReadOnlyDirectory", func(t *testing.T) {
		t.Parallel()
		fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		defer fake.Close()
		data := t.TempDir()
		chattr(t, "+i", data)
		t.Cleanup(func() { exec.Command("chattr", "-i", data).Run() })
		env := append(baseEnv(t), EnvAPIKey+"=k", EnvBaseURL+"="+fake.URL())
		d := start(t, bin, env, "serve", "--data", data, "--listen", "127.0.0.1:0")
		base := "http://" + d.addr
		waitBootSync(t, base)
		syncAdds(t, fake, base, "mem_extra")
		h := healthOf(t, base)
		if h.Status != "degraded" || !strings.Contains(strings.Join(h.Reasons, "\n"), "cannot be created") {
			t.Errorf("health on a read-only directory: %s %q", h.Status, h.Reasons)
		}
		d.stop(t)
		if entries, _ := os.ReadDir(data); len(entries) != 0 {
			t.Errorf("files appeared in the read-only directory: %v", entries)
		}
	})
}
