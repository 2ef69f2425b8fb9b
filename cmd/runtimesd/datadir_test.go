package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// 17.10: a data directory the user cannot write is explained — whose it is and what to do —
// by import, sync --once and serve (log and /v1/health), not as "open …: open …: permission
// denied". As root the binary runs as nobody against a root-owned directory; otherwise against
// a directory of ours without write permission.
func TestDataDir_UnwritableIsExplained(t *testing.T) {
	t.Parallel()
	base, own, snap := permPlace(t, "[]")
	data := filepath.Join(base, "data")
	var cred *syscall.Credential
	want := []string{data, "chmod u+w"}
	if os.Geteuid() == 0 {
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		want = []string{data, "belongs to user root (uid 0)", "cannot be written by user", "(uid 65534)", "give --data", "chown"}
	} else if err := os.Mkdir(data, 0o500); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + base, EnvAPIKey + "=k", EnvBaseURL + "=http://" + closedPort(t)}
	check := func(what, out string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q does not say %q", what, out, w)
			}
		}
		if strings.Contains(out, "open "+data) {
			t.Errorf("%s: the raw error chain is shown: %q", what, out)
		}
	}
	for _, args := range [][]string{{"import", "--force", "--data", data, snap}, {"sync", "--once", "--data", data}} {
		cmd := exec.Command(own, args...)
		cmd.Env, cmd.SysProcAttr = env, &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("%v: %v, want exit 1\n%s", args, err, out)
		}
		check(args[0], string(out))
	}
	// serve falls back to memory and says the same in its log and in /v1/health.
	cmd := exec.Command(own, "serve", "--data", data, "--listen", "127.0.0.1:0")
	cmd.Env, cmd.SysProcAttr = env, &syscall.SysProcAttr{Credential: cred}
	d := startCmd(t, cmd)
	defer d.stop(t)
	check("serve log", d.stderr.String())
	_, body := get(t, "http://"+d.addr+"/v1/health")
	check("/v1/health", string(body))
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// An offline lookup (and export) of a data file this user may not read is refused with whose
// it is and what to do. A directory this user may not search hides the file: the lookup said
// it "does not exist" and answered from the built-in seed catalog with exit 0 (health: the
// seed's "degraded"), and a readable directory holding an unreadable file was said to be one
// that "cannot be written".
func TestDataDir_UnreadableOfflineIsRefused(t *testing.T) {
	t.Parallel()
	base, own, snap := permPlace(t, `[{"id":"only_mine","name":"Mine"}]`)
	data := filepath.Join(base, "data")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + base}
	if out, err := exec.Command(own, "import", "--data", data, snap).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	var cred *syscall.Credential
	dirMode, fileMode := os.FileMode(0o700), os.FileMode(0o600) // root's, read as nobody
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	} else {
		dirMode, fileMode = 0o000, 0o000 // ours, with no permission left
	}
	run := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(own, args...)
		cmd.Env, cmd.SysProcAttr = env, &syscall.SysProcAttr{Credential: cred}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState == nil {
			t.Fatalf("%v did not run\n%s", args, out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, c := range []struct {
		name      string
		dir, file os.FileMode
	}{{"DirNotSearchable", dirMode, 0o600}, {"FileNotReadable", 0o755, fileMode}} {
		if err := os.Chmod(filepath.Join(data, dbFile), c.file); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(data, c.dir); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"list", "--offline", "--data", data},
			{"list", "--offline", "--builtin-seed", "--data", data},
			{"health", "--offline", "--data", data},
			{"export", "--data", data},
		} {
			code, out := run(args...)
			if code != 1 {
				t.Errorf("%s %v: exit %d, want 1\n%s", c.name, args, code, out)
			}
			for _, w := range []string{data, "cannot be read"} {
				if !strings.Contains(out, w) {
					t.Errorf("%s %v: %q does not say %q", c.name, args, out, w)
				}
			}
			for _, d := range []string{"does not exist", "built-in seed", "cannot be written", "default"} {
				if strings.Contains(out, d) {
					t.Errorf("%s %v: %q says %q", c.name, args, out, d)
				}
			}
		}
	}
	if err := os.Chmod(data, 0o700); err != nil { // for the cleanup, when not root
		t.Fatal(err)
	}
}

// A --data that is a file: serve, import and export said "create data directory: mkdir F:
// not a directory" (export: "F/runtimesd.db does not exist"); the --offline lookups already
// said what is wrong and what to give.
func TestDataDir_FileIsNamed(t *testing.T) {
	t.Parallel()
	f := writeFile(t, t.TempDir(), "snap.json", `[{"id":"a","name":"A"}]`)
	env := map[string]string{"HOME": t.TempDir(), EnvAPIKey: "k", EnvBaseURL: "http://" + closedPort(t)}
	for _, args := range [][]string{
		{"serve", "--data", f, "--listen", "127.0.0.1:0"},
		{"import", "--data", f, f},
		{"sync", "--once", "--data", f},
		{"export", "--data", f},
	} {
		code, _, stderr := runMain(t, env, args...)
		if code != 1 || !strings.Contains(stderr, "data directory "+f+" is a file, not a directory") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
}

// permPlace is a world-readable directory holding a copy of the binary (own) and a snapshot
// file of catalog (snap), so that another user (nobody, when the tests run as root) can run
// one on the other.
func permPlace(t *testing.T, catalog string) (base, own, snap string) {
	t.Helper()
	bin := buildBinary(t)
	base, err := os.MkdirTemp("", "runtimesd-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	own = filepath.Join(base, "runtimesd")
	copyFile(t, bin, own, 0o755)
	snap = filepath.Join(base, "snap.json")
	if err := os.WriteFile(snap, []byte(catalog), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, own, snap
}
