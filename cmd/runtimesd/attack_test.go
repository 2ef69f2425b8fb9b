package main

import (
	"bytes"
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
)

// TestPolicy_ReloadStorm reloads the policy 40 times (alternating two rule sets) while
// clients validate without pause: every answer is a 200 decided by a whole rule set, and the
// counters of the rule both sets keep lose nothing (its denials equal what clients were told).
// Run with -race: the reload path and the answers share the Holder and the settings.
func TestPolicy_ReloadStorm(t *testing.T) {
	t.Parallel()
	cfgPath := filepath.Join(t.TempDir(), "runtimesd.yaml")
	sets := []string{
		"policy:\n  rules:\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n",
		"policy:\n  enforce_dropin: true\n  rules:\n    - name: no-openai\n      deny: '\"openai\" in runtime.providers'\n      severity: warning\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n      severity: warning\n",
	}
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(sets[0])
	m, logs := startMain(t, map[string]string{"HOME": t.TempDir()}, "--config", cfgPath, "--data", t.TempDir())
	base := "http://" + m.API.Addr()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	denied, answers := 0, 0
	var failures []string
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(base+"/v1/validate", "application/json",
					strings.NewReader(`{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var ans struct {
					Policy []struct {
						Rule, Outcome string
					} `json:"policy"`
				}
				err = json.Unmarshal(b, &ans)
				mu.Lock()
				answers++
				if resp.StatusCode != 200 || err != nil {
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, b))
				}
				for _, v := range ans.Policy {
					if v.Rule == "no-beta" && v.Outcome == "deny" {
						denied++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 40 {
		write(sets[(i+1)%2])
		m.Reload()
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d answers failed during the reloads, first: %s\n%s", len(failures), answers, failures[0], logs)
	}
	if denied == 0 {
		t.Fatalf("no answer named no-beta's denial (%d answers): the test checks nothing", answers)
	}
	if strings.Contains(logs.String(), "reload rejected") {
		t.Fatalf("a reload was rejected:\n%s", logs)
	}
	_, body := get(t, base+"/v1/policy")
	var pol struct {
		Generation uint64 `json:"generation"`
		Rules      []struct {
			Name   string `json:"name"`
			Denied int    `json:"denied"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(body, &pol); err != nil {
		t.Fatalf("GET /v1/policy: %v: %s", err, body)
	}
	if pol.Generation != 41 {
		t.Errorf("generation %d after 40 reloads, want 41", pol.Generation)
	}
	for _, r := range pol.Rules {
		if r.Name == "no-beta" && r.Denied != denied {
			t.Errorf("no-beta counted %d denials; clients were told %d (of %d answers)", r.Denied, denied, answers)
		}
	}
}

// A service at --addr that is not runtimesd but answers 200 with JSON ({}, null, FastAPI's
// {"detail": "Not Found"}) was read as empty answers: list printed "0 runtimes" and exited 0,
// validate said the configuration was invalid, policy test evaluated no runtime and exited 0.
// Each command now says the answer is not its answer and exits 1.
func TestCLI_ForeignAnswerIsAnError(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{}`, `null`, `{"detail":"Not Found"}`, `[]`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		addr := strings.TrimPrefix(srv.URL, "http://")
		cfg := writeFile(t, t.TempDir(), "runtimesd.yaml", "policy:\n  rules:\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n")
		for _, args := range [][]string{
			{"list"}, {"get", "default"}, {"requirements", "default"}, {"validate", "--runtime", "default", "--model", "gpt-4"},
			{"select"}, {"matrix", "--json"}, {"health"}, {"build-config", "default"}, {"policy", "test", "--config", cfg},
		} {
			code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, append(args, "--addr", addr)...)
			if code != 1 || !strings.Contains(stderr, "not a") || strings.Contains(stderr, "panic") {
				t.Errorf("%v against %s: exit %d\nstdout: %s\nstderr: %s", args, body, code, stdout, stderr)
			}
		}
		srv.Close()
	}
}

// A daemon (or, through the catalog, the control plane) can put terminal control sequences
// in what the CLI prints: an error message or a runtime's name with ESC or CR reached the
// operator's terminal as is. They are shown escaped.
func TestCLI_ControlCharactersEscaped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/health" {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":"x","message":"\u001b[2J\u001b]0;owned\u0007gone\rhidden"}}`)
			return
		}
		io.WriteString(w, `{"revision":1,"source":"upstream","fetched_at":null,"age_seconds":0,"stale":false,"count":1,`+
			`"runtimes":[{"id":"a\u001b[31m","name":"N\u001b[8m","status":"available","health":"healthy","features":[],"providers":[],"families":[],"degraded":false}]}`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, stdout, _ := runMain(t, map[string]string{"HOME": t.TempDir()}, "list", "--addr", addr)
	_, _, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "health", "--addr", addr)
	for _, out := range []string{stdout, stderr} {
		if strings.ContainsAny(out, "\x1b\r\x07") {
			t.Errorf("control characters reach the terminal: %q", out)
		}
	}
	if !strings.Contains(stdout, `a\x1b[31m`) || !strings.Contains(stderr, `\x1b[2J`) {
		t.Errorf("the escaped text must still be shown: stdout %q stderr %q", stdout, stderr)
	}
}

// A new operator running `serve` on its defaults is told where the data file is: the start-up
// log named it only once something was stored.
func TestMain_StartLogNamesDataFile(t *testing.T) {
	t.Parallel()
	m, logs := startMain(t, map[string]string{"HOME": t.TempDir()}, "--data", t.TempDir())
	if want := "data_file=" + filepath.Join(m.Config.DataDir, "runtimesd.db"); !strings.Contains(logs.String(), want) {
		t.Errorf("start-up log lacks %q:\n%s", want, logs.String())
	}
}

// A service at --addr that streams without end (not runtimesd) was read into memory until
// the 90 s timeout or the memory ran out. The clients now stop at maxAnswerBytes and say why.
// Not parallel: it lowers the package's bound for its own run.
func TestCLI_EndlessAnswerIsBounded(t *testing.T) {
	defer func(n int64) { maxAnswerBytes = n }(maxAnswerBytes)
	maxAnswerBytes = 1 << 20
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for r.Context().Err() == nil && sent.Load() < 64<<20 {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	code, _, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "list", "--addr", strings.TrimPrefix(srv.URL, "http://"))
	if code != 1 || !strings.Contains(stderr, "over 1 MiB") || !strings.Contains(stderr, "is --addr a runtimesd?") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if n := sent.Load(); n >= 64<<20 {
		t.Errorf("the client read the whole %d-byte stream", n)
	}
}
