package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// checkConsistent opens the data file the way the daemon does and checks that it holds one
// committed revision: every runtime of the same version, the change log ending at the
// snapshot's revision.
func checkConsistent(t *testing.T, path string, want int) (rev uint64) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("the file does not open: %v", err)
	}
	defer db.Close()
	if db.MovedAside() != "" {
		t.Fatalf("the file was corrupt and moved aside to %s", db.MovedAside())
	}
	s := db.Loaded()
	if s == nil {
		return 0
	}
	if s.Catalog.Len() != want {
		t.Fatalf("revision %d holds %d runtimes, want %d", s.Revision, s.Catalog.Len(), want)
	}
	versions := map[string]bool{}
	for _, rt := range s.Catalog.Runtimes() {
		var v struct {
			Version      json.Number `json:"version"`
			Requirements struct {
				ModelRequirement struct{ Description string } `json:"model_requirement"`
			} `json:"requirements"`
		}
		json.Unmarshal(rt.Raw, &v)
		req := ""
		if rt.Requirements != nil {
			req = rt.Requirements.ModelRequirement.Description
		}
		versions[v.Version.String()+"/"+req] = true
	}
	if len(versions) != 1 {
		t.Fatalf("revision %d mixes versions: %v", s.Revision, versions)
	}
	if n := len(s.Changes); n == 0 || s.Changes[n-1].Revision != s.Revision {
		t.Fatalf("change log does not end at revision %d", s.Revision)
	}
	return s.Revision
}

// TestCrashSafety kills the real binary with SIGKILL at random moments while every sync
// changes every runtime, 50 times, and checks the file after each: it opens, bbolt's check
// passes, the snapshot is one committed revision (never a mix), and revisions never go back.
func TestCrashSafety(t *testing.T) {
	// Not parallel: its kills must land among commits, which needs the CPU to itself.
	bin := buildBinary(t)
	const n = 60
	fake, err := fakecp.Start(fakecp.Options{APIKey: "crash-key", Catalog: fakecp.SyntheticCatalog(n), ChangeEveryList: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	data := t.TempDir()
	env := append(baseEnv(t), EnvAPIKey+"=crash-key", EnvBaseURL+"="+fake.URL())
	path := filepath.Join(data, dbFile)

	var last uint64
	kills := 50
	for i := range kills {
		d := start(t, bin, env, "serve", "--data", data, "--listen", "127.0.0.1:0")
		stopSyncs := make(chan struct{})
		go func() { // one sync after another: the kill lands in the middle of commits
			for {
				select {
				case <-stopSyncs:
					return
				default:
				}
				resp, err := http.Post("http://"+d.addr+"/v1/sync", "application/json", nil)
				if err != nil {
					return
				}
				resp.Body.Close()
			}
		}()
		// Once this run has committed (an event, however loaded the machine), kill it at a
		// random moment among the back-to-back syncs that follow.
		waitLog(t, d, "outcome=changed")
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		close(stopSyncs)
		rev := checkConsistent(t, path, n)
		if rev < last {
			t.Fatalf("kill %d: revision went back from %d to %d", i, last, rev)
		}
		last = rev
	}
	if last < uint64(kills) {
		t.Errorf("only %d revisions committed over %d runs: the kills did not land among commits", last, kills)
	}
	t.Logf("%d SIGKILLs survived; %d revisions committed", kills, last)
}

// TestDiskFull runs the daemon with a file-size limit (RLIMIT_FSIZE) so a commit of a much
// larger catalog cannot grow the data file: the commit fails, the previous snapshot stays
// served and stored intact, and the failure is visible.
func TestDiskFull(t *testing.T) {
	// Not parallel: a 15 MB sync under a file-size limit is slow on a shared machine.
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("skipping: no sh to set a file-size limit")
	}
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "full-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	data := t.TempDir()
	env := append(baseEnv(t), EnvAPIKey+"=full-key", EnvBaseURL+"="+fake.URL())
	d := start(t, bin, env, "serve", "--data", data, "--listen", "127.0.0.1:0")
	waitLog(t, d, "outcome=changed")
	d.stop(t)
	fi, err := os.Stat(filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	small := string(fake.Catalog())

	// The same two runtimes plus 20,000 more (~15 MB): far beyond the limit below.
	big := strings.TrimSuffix(small, "]") + "," + strings.TrimPrefix(string(fakecp.SyntheticCatalog(20000)), "[")
	if err := fake.SetCatalog([]byte(big)); err != nil {
		t.Fatal(err)
	}
	limitKB := fi.Size()/1024 + 256
	script := fmt.Sprintf("ulimit -f %d && exec %q serve --data %q --listen 127.0.0.1:0", limitKB*2, bin, data) // sh counts 512-byte blocks
	d = start(t, "sh", env, "-c", script)
	waitLog(t, d, "outcome=failed")
	resp, body := get(t, "http://"+d.addr+"/api/v1/runtimes")
	if resp.StatusCode != 200 || string(body) != small {
		t.Fatalf("after the failed commit the previous catalog must be served: %d, %d bytes", resp.StatusCode, len(body))
	}
	_, h := get(t, "http://"+d.addr+"/v1/health")
	if !strings.Contains(string(h), "file too large") && !strings.Contains(string(h), "commit revision") {
		t.Errorf("the failed commit is not visible in /v1/health: %.600s", h)
	}
	d.stop(t)
	if rev := checkConsistentSmall(t, filepath.Join(data, dbFile)); rev != 1 {
		t.Errorf("stored revision %d, want the previous one (1)", rev)
	}
}

func checkConsistentSmall(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.MovedAside() != "" || db.Loaded() == nil || db.Loaded().Catalog.Len() != 2 {
		t.Fatalf("stored snapshot damaged: moved aside %q", db.MovedAside())
	}
	return db.Loaded().Revision
}
