package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// buildBinary builds runtimesd once per test binary run (into binDir, removed by TestMain);
// every test that runs the real binary shares it.
func buildBinary(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go command is not on PATH, so the real binary cannot be built")
	}
	binOnce.Do(func() {
		bin := filepath.Join(binDir, "runtimesd")
		out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = bin
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type daemon struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan error
}

// listenRE finds the address in the "listening" log line, text or JSON.
var listenRE = regexp.MustCompile(`(?:msg=listening addr=|"msg":"listening","addr":")([^\s"]+)`)

// start runs the binary and waits for its "listening" log line.
func start(t *testing.T, bin string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return startCmd(t, cmd)
}

// startCmd runs cmd (the binary, set up by the caller) and waits for its "listening" log line.
func startCmd(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	addrCh := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			d.stderr.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addrCh <- m[1]
			}
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
	select {
	case d.addr = <-addrCh:
	case err := <-d.done:
		t.Fatalf("daemon exited before listening: %v\n%s", err, d.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not listen within 30s\n%s", d.stderr)
	}
	return d
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop within 20s of SIGTERM\n%s", d.stderr)
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func newRequest(method, url string) (*http.Request, error) { return http.NewRequest(method, url, nil) }

func doReq(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func post(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func baseEnv(t testing.TB) []string {
	home := t.TempDir()
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
}

// The end-to-end story: serve --dev syncs from the fake control plane; a second instance on
// the same file fails fast; after SIGTERM the daemon starts again with no control plane and
// serves the same data from its file.
func TestEndToEnd_DevRestartOffline(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	env := baseEnv(t)

	d := start(t, bin, env, "serve", "--dev", "--data", data, "--listen", "127.0.0.1:0")
	base := "http://" + d.addr
	deadline := time.Now().Add(20 * time.Second)
	var resp *http.Response
	var first []byte
	for {
		resp, first = get(t, base+"/api/v1/runtimes")
		if resp.Header.Get("X-Runtimes-Source") == "upstream" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync from the dev control plane within 20s\n%s", d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(first) != string(store.SeedJSON()) || resp.Header.Get("X-Runtimes-Revision") != "1" {
		t.Fatalf("dev mode served %s (revision %s)", first, resp.Header.Get("X-Runtimes-Revision"))
	}

	// A second instance on the same data directory exits at once, naming the file.
	second := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	second.Env = env
	startSecond := time.Now()
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), filepath.Join(data, dbFile)) || !strings.Contains(string(out), "locked") {
		t.Fatalf("second instance: err=%v\n%s", err, out)
	}
	if time.Since(startSecond) > 15*time.Second {
		t.Errorf("second instance took %v to fail", time.Since(startSecond))
	}

	d.stop(t)
	if !strings.Contains(d.stderr.String(), "msg=stopped") {
		t.Errorf("no clean stop logged:\n%s", d.stderr)
	}

	// Again, with a control plane that cannot be reached.
	offline := append(baseEnv(t), EnvAPIKey+"=some-key", EnvBaseURL+"=http://"+closedPort(t))
	d2 := start(t, bin, offline, "serve", "--data", data, "--listen", "127.0.0.1:0")
	resp, again := get(t, "http://"+d2.addr+"/api/v1/runtimes")
	if string(again) != string(first) {
		t.Fatalf("after restart without a control plane:\n got %s\nwant %s", again, first)
	}
	if src := resp.Header.Get("X-Runtimes-Source"); src != "cache" {
		t.Errorf("source after restart = %q, want cache", src)
	}
	resp, req := get(t, "http://"+d2.addr+"/api/v1/runtimes/claude_code/requirements")
	if resp.StatusCode != 200 || !bytes.Contains(req, []byte(`"max_history_length":200`)) {
		t.Errorf("requirements after restart: %d %s", resp.StatusCode, req)
	}
	if strings.Contains(d2.stderr.String(), "some-key") {
		t.Error("the API key appeared in the log")
	}
	d2.stop(t)
}

func TestEndToEnd_FreshMachineServesSeed(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	d := start(t, bin, baseEnv(t), "serve", "--listen", "127.0.0.1:0")
	resp, body := get(t, "http://"+d.addr+"/api/v1/runtimes")
	if resp.StatusCode != 200 || resp.Header.Get("X-Runtimes-Source") != "seed" || string(body) != string(store.SeedJSON()) {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Runtimes-Source"), body)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(d.stderr.String(), "no API key"); {
		if time.Now().After(deadline) {
			t.Fatalf("the log must say why nothing syncs:\n%s", d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop(t)
}

func runMain(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCommand(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "cli-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	env := map[string]string{EnvAPIKey: "cli-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	data := t.TempDir()

	t.Run("ExportNothingStored", func(t *testing.T) {
		code, _, stderr := runMain(t, env, "export", "--data", data)
		if code != 1 || !strings.Contains(stderr, "no snapshot") {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
	t.Run("SyncOnce", func(t *testing.T) {
		code, stdout, stderr := runMain(t, env, "sync", "--once", "--data", data)
		if code != 0 || !strings.Contains(stdout, "outcome: changed") || !strings.Contains(stdout, "added: default, claude_code") {
			t.Fatalf("code %d\n%s\n%s", code, stdout, stderr)
		}
		code, stdout, _ = runMain(t, env, "sync", "--once", "--data", data)
		if code != 0 || !strings.Contains(stdout, "outcome: unchanged") {
			t.Fatalf("second run: code %d\n%s", code, stdout)
		}
	})
	t.Run("SyncOnceFails", func(t *testing.T) {
		fake.SetFault(fakecp.Fault500)
		defer fake.SetFault(fakecp.FaultNone)
		code, stdout, stderr := runMain(t, env, "sync", "--once", "--data", data)
		if code != 1 || !strings.Contains(stdout, "outcome: failed") || !strings.Contains(stderr, "HTTP 500") {
			t.Fatalf("code %d\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("SyncOnceNeedsKey", func(t *testing.T) {
		code, _, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "sync", "--once", "--data", t.TempDir())
		if code != 1 || !strings.Contains(stderr, EnvAPIKey) {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
	exported := filepath.Join(t.TempDir(), "snap.json")
	t.Run("ExportImport", func(t *testing.T) {
		code, _, stderr := runMain(t, env, "export", "--data", data, exported)
		if code != 0 {
			t.Fatalf("export: %d %s", code, stderr)
		}
		other := t.TempDir()
		code, stdout, stderr := runMain(t, env, "import", "--data", other, exported)
		if code != 0 || !strings.Contains(stdout, "imported 2 runtimes as revision 1") {
			t.Fatalf("import: %d %s %s", code, stdout, stderr)
		}
		db, err := store.Open(filepath.Join(other, dbFile), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if s := db.Loaded(); s.Source != store.SourceImport || s.Catalog.Len() != 2 {
			t.Fatalf("imported snapshot: %+v", s)
		}
	})
	t.Run("ImportBadFile", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(`{"nope":1}`), 0o600)
		code, _, stderr := runMain(t, env, "import", "--data", t.TempDir(), bad)
		if code != 1 || !strings.Contains(stderr, "bad snapshot file") {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
	t.Run("SeedFlagServesFile", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var errb syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- runCommand(ctx, []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--seed", exported},
				io.Discard, &errb, func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] })
		}()
		var addr string
		for deadline := time.Now().Add(10 * time.Second); addr == ""; {
			if m := listenRE.FindStringSubmatch(errb.String()); m != nil {
				addr = m[1]
			} else if time.Now().After(deadline) {
				t.Fatalf("no listening line:\n%s", errb.String())
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		resp, body := get(t, "http://"+addr+"/v1/runtimes")
		if resp.Header.Get("X-Runtimes-Source") != "seed" || !bytes.Contains(body, []byte(`"count":2`)) {
			t.Errorf("--seed: %s %s", resp.Header.Get("X-Runtimes-Source"), body)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d\n%s", code, errb.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop when its context ended")
		}
	})
	t.Run("UsageErrors", func(t *testing.T) {
		for _, args := range [][]string{{}, {"frobnicate"}, {"sync"}, {"serve", "--nope"}, {"import"}} {
			if code, _, _ := runMain(t, env, args...); code != 2 {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
	})
	t.Run("ConfigCheck", func(t *testing.T) {
		code, stdout, stderr := runMain(t, env, "config", "check", "../../config.example.yaml")
		if code != 0 || !strings.Contains(stdout, "[redacted]") || strings.Contains(stdout, "cli-key") {
			t.Fatalf("code %d\n%s\n%s", code, stdout, stderr)
		}
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(bad, []byte("listen: 127.0.0.1:1\nbogus: 1\n"), 0o600)
		if code, _, stderr := runMain(t, env, "config", "check", bad); code != 1 || !strings.Contains(stderr, "bogus") {
			t.Fatalf("bad config: code %d: %s", code, stderr)
		}
	})
	t.Run("Version", func(t *testing.T) {
		code, stdout, _ := runMain(t, env, "version")
		if code != 0 || !strings.Contains(stdout, "bbolt schema: 1") {
			t.Fatalf("code %d: %s", code, stdout)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A corrupt data file does not stop the daemon: it is moved aside, the seed is served, and
// /v1/health keeps saying so.
func TestEndToEnd_CorruptFileMovedAside(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, dbFile), bytes.Repeat([]byte("garbage "), 4096), 0o600)
	d := start(t, bin, baseEnv(t), "serve", "--data", data, "--listen", "127.0.0.1:0")
	if !strings.Contains(d.stderr.String(), "moved it aside") {
		t.Errorf("the log must say the file was moved aside:\n%s", d.stderr)
	}
	resp, _ := get(t, "http://"+d.addr+"/api/v1/runtimes")
	if resp.StatusCode != 200 || resp.Header.Get("X-Runtimes-Source") != "seed" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("X-Runtimes-Source"))
	}
	_, h := get(t, "http://"+d.addr+"/v1/health")
	if !strings.Contains(string(h), "moved aside to "+filepath.Join(data, dbFile)+".corrupt-") {
		t.Errorf("/v1/health must report the moved file: %.500s", h)
	}
	matches, _ := filepath.Glob(filepath.Join(data, dbFile+".corrupt-*"))
	if len(matches) != 1 {
		t.Errorf("corrupt file kept: %v", matches)
	}
	d.stop(t)
}
