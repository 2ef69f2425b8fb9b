package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// echoingControlPlane answers the list with a failure whose body quotes the request's
// Authorization header (as some gateways do), or a 503 with a huge Retry-After.
type echoingControlPlane struct {
	mu         stdsync.Mutex
	retryAfter string // when set: 503 with this Retry-After
}

func (e *echoingControlPlane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	ra := e.retryAfter
	e.mu.Unlock()
	auth := r.Header.Get("Authorization")
	key := strings.TrimPrefix(auth, "Bearer ")
	w.Header().Set("Content-Type", "application/json")
	if ra != "" {
		w.Header().Set("Retry-After", ra)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"detail":"overloaded; your header was %s"}`, auth)
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `{"detail":"upstream proxy error","request_headers":{"Authorization":%q},"key":%q,"lower":"bearer %s"}`, auth, key, key)
}

// TestTrust_UpstreamEchoAndRetryAfter: a control plane that echoes the API key in error bodies
// never gets it into logs, /v1/health or /v1/sync; a Retry-After of 31 years waits at most
// control_plane.max_retry_after, and /v1/sync says until when and why.
func TestTrust_UpstreamEchoAndRetryAfter(t *testing.T) {
	t.Parallel()
	const apiKey = "SECRET-ECHOED-KEY-5c2e91"
	cp := &echoingControlPlane{}
	srv := httptest.NewServer(cp)
	defer srv.Close()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: debug\ncontrol_plane:\n  max_retry_after: 2m\n  retry:\n    attempts: 0\n"), 0o600)
	env := map[string]string{EnvAPIKey: apiKey, EnvBaseURL: srv.URL, "HOME": t.TempDir()}
	addr, logs, stop := serveLogged(t, env, "--data", data, "--config", cfg)
	base := "http://" + addr
	var bodies []string
	_, b := post(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	for _, path := range []string{"/v1/health", "/v1/sync"} {
		_, b := get(t, base+path)
		bodies = append(bodies, string(b))
	}
	if !strings.Contains(strings.Join(bodies, ""), "upstream proxy error") {
		t.Fatalf("the echoed failure is not reported at all: %s", bodies)
	}

	cp.mu.Lock()
	cp.retryAfter = "999999999"
	cp.mu.Unlock()
	before := time.Now()
	_, b = post(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	_, b = get(t, base+"/v1/sync")
	bodies = append(bodies, string(b))
	var view struct {
		Sync struct {
			RetryAfterUntil  *time.Time `json:"retry_after_until"`
			RetryAfterReason string     `json:"retry_after_reason"`
		} `json:"sync"`
	}
	if err := json.Unmarshal(b, &view); err != nil {
		t.Fatal(err)
	}
	st := view.Sync
	if st.RetryAfterUntil == nil || st.RetryAfterUntil.After(before.Add(2*time.Minute+5*time.Second)) || st.RetryAfterUntil.Before(before.Add(time.Minute)) {
		t.Fatalf("retry_after_until %v, want about 2m from %v: %s", st.RetryAfterUntil, before, b)
	}
	if !strings.Contains(st.RetryAfterReason, "999999999") || !strings.Contains(st.RetryAfterReason, "capped at 2m") {
		t.Fatalf("retry_after_reason %q", st.RetryAfterReason)
	}
	_, b = get(t, base+"/v1/health")
	bodies = append(bodies, string(b))
	stop()
	if strings.Contains(logs(), apiKey) {
		t.Errorf("the API key is in the log:\n%s", logs())
	}
	for _, b := range bodies {
		if strings.Contains(b, apiKey) {
			t.Errorf("the API key is in an answer: %.400s", b)
		}
	}
	if !strings.Contains(strings.Join(bodies, ""), "[REDACTED]") {
		t.Error("no redaction marker: the scan did not see the echo it meant to provoke")
	}
}

// openFDs counts the process's open file descriptors (Linux).
func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

func rssKB(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var n int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return -1
}

// rawStatus sends raw on a new connection and returns the status code of the answer (0: none).
func rawStatus(addr, raw string) (int, string) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		return 0, err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTrust_SlowBodiesAndConnectionCap runs the real binary with a small connection cap:
// slow request bodies fill it, probes still answer, further connections are refused at once
// (file descriptors stay bounded), the slow bodies are cut after read_timeout, and the API
// serves again.
func TestTrust_SlowBodiesAndConnectionCap(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	const maxConns, readTimeout = 20, 3 * time.Second
	os.WriteFile(cfg, []byte(fmt.Sprintf("http:\n  max_connections: %d\n  read_header_timeout: 1s\n  read_timeout: %s\n", maxConns, readTimeout)), 0o600)
	d := start(t, bin, baseEnv(t), "serve", "--dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--config", cfg)
	pid := d.cmd.Process.Pid
	fdsIdle := openFDs(pid)

	// Fill the cap with slow bodies: headers promise 100 kB, one byte comes.
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	heldSince := time.Now()
	for range maxConns {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		slow = append(slow, c)
	}
	// At the cap, a read is refused with a sentence (wait until all slow ones are accepted).
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, body := rawStatus(d.addr, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if status == 503 && strings.Contains(body, "connection limit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 at the cap of %d: %d %s", maxConns, status, body)
		}
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if status, body := rawStatus(d.addr, "GET "+probe+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); status != 200 {
			t.Fatalf("%s at the cap: %d %s", probe, status, body)
		}
	}
	// A flood beyond the cap and the probe slots is refused at once: descriptors stay bounded.
	var flood []net.Conn
	refused := 0
	for range 300 {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			continue
		}
		flood = append(flood, c)
	}
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && resp.StatusCode == 503 {
			refused++
		}
		c.Close()
	}
	fds, rss := openFDs(pid), rssKB(pid)
	t.Logf("held %d slow bodies at the cap; %d of 300 more connections refused at once; fds %d (idle %d); RSS %d KB",
		maxConns, refused, fds, fdsIdle, rss)
	if refused < 300-16-maxConns {
		t.Errorf("only %d of 300 connections beyond the cap were refused", refused)
	}
	if fds > fdsIdle+maxConns+16+8 {
		t.Errorf("%d open descriptors with a cap of %d (+16 probe slots); idle %d", fds, maxConns, fdsIdle)
	}
	// The slow bodies are cut after read_timeout.
	for i, c := range slow {
		c.SetReadDeadline(heldSince.Add(readTimeout + 5*time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow body %d not cut within read_timeout (%s): %v", i, readTimeout, err)
		}
	}
	if took := time.Since(heldSince); took < readTimeout-time.Second {
		t.Errorf("slow bodies cut after %s, before read_timeout %s", took, readTimeout)
	}
	// And the API serves again.
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, _ := rawStatus(d.addr, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API did not serve again after the slow bodies: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stop(t)
}

// TestTrust_BrowserAndRefreshStorm runs the real binary against the fake control plane: a
// storm of forced refreshes of invented ids makes no upstream call and the list's bucket
// bounds the rest; DNS-rebinding Host names and cross-site form posts are refused, while
// curl/SDK-style requests work.
func TestTrust_BrowserAndRefreshStorm(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "storm-key", Catalog: fakecp.SyntheticCatalog(1000)})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	// A cron schedule (no "@every"): a reload counts as fresh for the default 30s only.
	os.WriteFile(cfg, []byte("http:\n  refresh_rate: 0.001\n  refresh_burst: 3\n"), 0o600)
	env := append(baseEnv(t), EnvAPIKey+"=storm-key", EnvBaseURL+"="+fake.URL())
	d := start(t, bin, env, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--config", cfg)
	base := "http://" + d.addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, _ := get(t, base+"/v1/runtimes")
		if resp.Header.Get("X-Runtimes-Source") == "upstream" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first sync\n%s", d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := fake.Count("/api/v1/runtimes")
	client := &http.Client{}
	send := func(method, path string, headers ...string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			if headers[i] == "Host" {
				req.Host = headers[i+1]
				continue
			}
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range 500 {
		if status, body := send("GET", fmt.Sprintf("/v1/runtimes/storm-%d", i), "Cache-Control", "no-cache"); status != 404 {
			t.Fatalf("unknown id: %d %s", status, body)
		}
	}
	for range 20 { // a browser reloading the list: fresh data, answered from the cache
		if status, body := send("GET", "/v1/runtimes", "Cache-Control", "no-cache"); status != 200 {
			t.Fatalf("reload: %d %s", status, body)
		}
	}
	calls := fake.Count("/api/v1/runtimes") - before
	t.Logf("500 forced refreshes of unknown ids and 20 list reloads: %d upstream list calls", calls)
	if calls > 3 {
		t.Errorf("%d upstream calls, want at most the list's burst of 3", calls)
	}

	// The hostile query mix: case, spelling, order and repeat variants of one filter (each
	// answer ~100 kB) share one memo entry, so RSS does not grow with them.
	pid := d.cmd.Process.Pid
	send("GET", "/v1/runtimes?feature=feature+3")
	rssBefore := rssKB(pid)
	spell := []string{"feature 3", "Feature 3", "FEATURE_3", "feature-3", "  Feature   3 "}
	for i := range 600 {
		q := "feature=" + url.QueryEscape(spell[i%len(spell)]) + strings.Repeat("&feature=session+management", i%7)
		if i%2 == 1 {
			q = "status=" + []string{"Available", "AVAILABLE", "available"}[i%3] + "&" + q
		}
		if i%3 == 0 {
			q += "&provider=" + []string{"OpenAI", "openai", "OPENAI"}[i/3%3]
		}
		if status, body := send("GET", "/v1/runtimes?"+q); status != 200 {
			t.Fatalf("%s: %d %.200s", q, status, body)
		}
	}
	rssAfter := rssKB(pid)
	t.Logf("600 variants of a few filters over 1,000 runtimes: RSS %d KB -> %d KB", rssBefore, rssAfter)
	if rssAfter-rssBefore > 48<<10 {
		t.Errorf("RSS grew %d MB under variants of a few filters", (rssAfter-rssBefore)>>10)
	}

	if status, body := send("GET", "/v1/health", "Host", "rebound.evil.example"); status != 421 || !strings.Contains(body, "allowed_hosts") {
		t.Errorf("rebinding Host: %d %s", status, body)
	}
	if status, body := send("POST", "/v1/sync", "Origin", "http://evil.example", "Content-Type", "text/plain"); status != 403 || !strings.Contains(body, "cross_site_request") {
		t.Errorf("cross-site form post: %d %s", status, body)
	}
	if status, body := send("POST", "/v1/sync", "Content-Type", "application/json"); status != 200 && status != 202 {
		t.Errorf("SDK-style POST /v1/sync: %d %s", status, body)
	}
	if status, _ := send("GET", "/v1/health", "Host", "localhost"); status != 200 {
		t.Errorf("localhost: %d", status)
	}
	d.stop(t)
}

// TestTrust_ConnectionCapFitsFDLimit: under a small open-file limit (here 256) and the default
// max_connections, the cap is lowered to fit it: 400 parked blocking reads never exhaust the
// descriptors, and the probes answer.
func TestTrust_ConnectionCapFitsFDLimit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("skipping: no sh to set an open-file limit")
	}
	bin := buildBinary(t)
	script := fmt.Sprintf("ulimit -n 256 && exec %q serve --dev --data %q --listen 127.0.0.1:0", bin, t.TempDir())
	d := start(t, "sh", baseEnv(t), "-c", script)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /api/v1/runtimes?index=999999&wait=5m HTTP/1.1\r\nHost: localhost\r\n\r\n")
		conns = append(conns, c)
	}
	// The connections beyond the cap took the probe slots for a moment (each is answered 503
	// and closed): a prober retrying, as orchestrators do, gets through within seconds.
	tries := 0
	for _, probe := range []string{"/healthz", "/readyz"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			tries++
			status, body := rawStatus(d.addr, "GET "+probe+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
			if status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s with 400 connections open under a 256-file limit: %d %s\n%s", probe, status, body, d.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if strings.Contains(d.stderr.String(), "too many open files") {
		t.Fatalf("the daemon ran out of descriptors:\n%s", d.stderr)
	}
	// The operator learns why: the cap was lowered, to what, and what to raise.
	if log := d.stderr.String(); !strings.Contains(log, "http.max_connections lowered to fit the open-file limit") || !strings.Contains(log, "effective=176") {
		t.Errorf("the lowered connection cap is not logged:\n%s", log)
	}
	t.Logf("400 connections under ulimit -n 256: 2 probes answered in %d tries, %d descriptors open", tries, openFDs(d.cmd.Process.Pid))
	d.stop(t)
}
