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
	bin := buildBinary(t)

	// 12.1: a second daemon on a live unix socket refuses to start, and the first keeps
	// answering; a stale socket file with nobody behind it is reclaimed.
	t.Run("SocketInUse", func(t *testing.T) {
		t.Parallel()
		sock := filepath.Join(t.TempDir(), "r.sock")
		first := start(t, bin, baseEnv(t), "serve", "--data", t.TempDir(), "--listen", "unix:"+sock)
		second := exec.Command(bin, "serve", "--data", t.TempDir(), "--listen", "unix:"+sock)
		second.Env = baseEnv(t)
		out, err := second.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "another process answers on this socket") {
			t.Fatalf("second daemon on a live socket: err=%v\n%s", err, out)
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

var _ = errors.New
