package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var clientLoopRE = regexp.MustCompile("(?s)```sh\n(rev=0\nwhile true; do\n.*?\ndone\n)```")

// 17.11: README's blocking-read client loop, run as written (only the address changed) in a
// real bash with curl against the real binary: the daemon is stopped mid-loop and started
// again; the loop comes back to it, and runtimes.json only ever holds the runtimes, never an
// error body.
func TestReadme_ClientLoop(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: no %s on PATH", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := clientLoopRE.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no client loop block starting with rev=0")
	}
	bin := buildBinary(t)
	env := baseEnv(t)
	addr := closedPort(t)
	loop := strings.ReplaceAll(string(m[1]), "localhost:7878", addr)
	if loop == string(m[1]) {
		t.Fatal("the README loop does not ask localhost:7878")
	}
	data := t.TempDir()
	d := start(t, bin, env, "serve", "--dev", "--data", data, "--listen", addr)

	work := t.TempDir()
	sh := exec.Command("bash", "-c", loop)
	sh.Dir, sh.Env = work, env
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-sh.Process.Pid, syscall.SIGKILL) // the loop and its curl, started here
		_ = sh.Wait()
	})

	file := filepath.Join(work, "runtimes.json")
	// check reads the file (if any) and fails on anything but the runtimes; it returns how
	// many runtimes it held.
	check := func() int {
		t.Helper()
		b, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		var rts []map[string]any
		if err := json.Unmarshal(b, &rts); err != nil || len(rts) == 0 || rts[0]["id"] == nil {
			t.Fatalf("runtimes.json holds something else than the runtimes (%v):\n%.300s", err, b)
		}
		return len(rts)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			check()
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, d.stderr)
			}
			time.Sleep(50 * time.Millisecond) // polling a file: there is no event to wait on
		}
	}
	waiting := func() bool {
		resp, body := get(t, "http://"+addr+"/metrics")
		return resp.StatusCode == 200 && regexp.MustCompile(`(?m)^runtimesd_blocking_reads_waiting [1-9]`).Match(body)
	}
	waitFor("the loop to write the file and park on a blocking read", func() bool { return check() > 0 && waiting() })

	// Outage: the daemon stops while the loop waits on it, stays away for a few loop rounds.
	d.stop(t)
	for range 40 {
		check()
		time.Sleep(50 * time.Millisecond)
	}
	d = start(t, bin, env, "serve", "--dev", "--data", data, "--listen", addr)
	defer d.stop(t)
	waitFor("the loop to come back to the restarted daemon", waiting)
	if n := check(); n == 0 {
		t.Fatal("runtimes.json was lost")
	}
}

// 17.11: `serve --dev` without --data keeps its data in a temporary directory that is removed
// when it exits on a signal.
func TestServeDev_RemovesTemporaryData(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	tmp := t.TempDir()
	env := append(baseEnv(t), "TMPDIR="+tmp)
	d := start(t, bin, env, "serve", "--dev", "--listen", "127.0.0.1:0")
	dirs, _ := filepath.Glob(filepath.Join(tmp, "runtimesd-dev-*"))
	if len(dirs) != 1 || !strings.Contains(d.stderr.String(), dirs[0]) {
		t.Fatalf("serve --dev data directories under TMPDIR: %q (the log names: %s)", dirs, d.stderr)
	}
	waitFile(t, filepath.Join(dirs[0], dbFile))
	d.stop(t)
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Fatalf("serve --dev left %q behind", left)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not created", path)
		}
		time.Sleep(20 * time.Millisecond) // polling a file: there is no event to wait on
	}
}
