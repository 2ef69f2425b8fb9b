// Command fleet measures fleet mode with real processes on loopback (bench/fleet.sh runs it):
// one fake control plane (sync/fakecp, in this process), two relay runtimesds and N sidecar
// runtimesds. It reports control-plane calls per minute with the sidecars polling directly
// and behind the relays, change propagation to every sidecar (p50/p99/max), the time for
// every sidecar to serve a change after the relay it followed is killed, and a relay's RSS per
// 1,000 followers (parked blocking reads), then the figures for 10,000 hosts on paper.
//
// Every process it starts is killed by its PID when it returns, on failure too.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

const (
	cpKey      = "bench-cp-key"
	relayToken = "bench-relay-token"
)

var (
	bin       = flag.String("bin", "", "the runtimesd binary")
	sidecars  = flag.Int("sidecars", 100, "sidecar processes")
	followers = flag.Int("followers", 1000, "blocking reads parked on one relay to measure its memory per follower")
	changes   = flag.Int("changes", 5, "changes whose propagation is timed")
	window    = flag.Duration("window", 60*time.Second, "how long control-plane calls are counted in each phase")
	schedule  = flag.String("schedule", "@every 30s", "every runtimesd's sync schedule")
	direct    = flag.Bool("direct", true, "also measure the sidecars polling the control plane directly")
)

type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

var (
	procsMu stdsync.Mutex
	procs   []*proc
)

func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	procs = nil
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// spawn starts a runtimesd and waits for its listening line; its log is drained from then on.
func spawn(tmp, name string, env ...string) (*proc, error) {
	dir, err := os.MkdirTemp(tmp, name+"-")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yaml")
	conf := fmt.Sprintf("sync:\n  schedule: %q\nhttp:\n  token_reads: false\n", *schedule)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(*bin, "serve", "--config", cfg, "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "RUNTIMESD_NODE_NAME=" + name}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.addr = "http://" + a
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening", name)
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("%s did not listen within 60s", name)
	}
}

func spawnMany(tmp, prefix string, n int, env ...string) ([]*proc, error) {
	out := make([]*proc, n)
	errs := make([]error, n)
	var wg stdsync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = spawn(tmp, fmt.Sprintf("%s-%d", prefix, i), env...)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func stop(ps []*proc) {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range ps {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}

func get(url string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// waitAll waits until every process answers its drop-in list with cond true.
func waitAll(ps []*proc, within time.Duration, cond func(*http.Response, []byte) bool) error {
	deadline := time.Now().Add(within)
	for _, p := range ps {
		for {
			resp, b, err := get(p.addr + "/api/v1/runtimes")
			if err == nil && cond(resp, b) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not ready within %s (%v)", p.addr, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func callsPerMinute(fake *fakecp.Server) float64 {
	c0 := fake.Count("/api/v1/runtimes")
	time.Sleep(*window)
	return float64(fake.Count("/api/v1/runtimes")-c0) * float64(time.Minute) / float64(*window)
}

func syncRelays(relays []*proc) {
	var wg stdsync.WaitGroup
	for _, r := range relays {
		if r.cmd.ProcessState != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, r.addr+"/v1/sync", nil)
			req.Header.Set("Authorization", "Bearer "+relayToken)
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// propagate makes one change on the control plane, has the live relays sync it, and returns,
// per sidecar, the time from the relays' sync request until the sidecar served it (blocking
// reads opened on every sidecar beforehand), and how many sidecars failed to answer meanwhile.
func propagate(fake *fakecp.Server, relays, side []*proc, id string, before func()) ([]time.Duration, error) {
	revs := make([]string, len(side))
	for i, p := range side {
		resp, _, err := get(p.addr + "/api/v1/runtimes")
		if err != nil {
			return nil, err
		}
		revs[i] = resp.Header.Get("X-Runtimes-Revision")
	}
	lat := make([]time.Duration, len(side))
	errs := make([]error, len(side))
	start := make(chan time.Time)
	var wg stdsync.WaitGroup
	for i, p := range side {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var t0 time.Time
			rev := revs[i]
			first := true
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.addr+"/api/v1/runtimes?index="+rev+"&wait=30s", nil)
				resp, err := client.Do(req)
				if first {
					t0 = <-start
					first = false
				}
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w (fail static broken?)", p.addr, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs[i] = fmt.Errorf("%s answered %d", p.addr, resp.StatusCode)
					return
				}
				if strings.Contains(string(b), `"`+id+`"`) {
					lat[i] = time.Since(t0)
					return
				}
				rev = resp.Header.Get("X-Runtimes-Revision")
			}
			errs[i] = fmt.Errorf("%s: change %s not served within 60s", p.addr, id)
		}()
	}
	time.Sleep(500 * time.Millisecond) // let the blocking reads park
	if before != nil {
		before()
	}
	if err := fake.PutRuntime([]byte(`{"id":"` + id + `","name":"bench","status":"available"}`)); err != nil {
		return nil, err
	}
	t0 := time.Now()
	go func() {
		for range side {
			start <- t0
		}
	}()
	syncRelays(relays)
	wg.Wait()
	return lat, errors.Join(errs...)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// cpuMS is the user+system CPU time of the processes so far, in milliseconds.
func cpuMS(ps []*proc) int {
	total := 0
	for _, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces) start after the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.Atoi(f[11])
			s, _ := strconv.Atoi(f[12])
			total += (u + s) * 10 // clock ticks of 10 ms (USER_HZ 100)
		}
	}
	return total
}

func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return 0, errors.New("no VmRSS")
}

// followerMemory parks n blocking reads (each its own connection, as n followers) on the relay
// and returns its RSS before and with them.
func followerMemory(relay *proc, n int) (int, int, error) {
	resp, _, err := get(relay.addr+"/api/v1/runtimes", "Authorization", "Bearer "+relayToken)
	if err != nil {
		return 0, 0, err
	}
	rev := resp.Header.Get("X-Runtimes-Revision")
	before, err := rssKiB(relay.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: -1, MaxConnsPerHost: 0}
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer tr.CloseIdleConnections()
	for i := range n {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodHead, relay.addr+"/api/v1/runtimes?index="+rev+"&wait=120s", nil)
			req.Header.Set("Authorization", "Bearer "+relayToken)
			req.Header.Set("X-Runtimes-Follower", fmt.Sprintf("mem-follower-%d", i))
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, b, err := get(relay.addr+"/metrics", "Authorization", "Bearer "+relayToken)
		if err == nil {
			if m := regexp.MustCompile(`(?m)^runtimesd_blocking_reads_waiting (\d+)`).FindSubmatch(b); m != nil {
				if v, _ := strconv.Atoi(string(m[1])); v >= n {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the relay did not park %d blocking reads within 60s", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	with, err := rssKiB(relay.cmd.Process.Pid)
	return before, with, err
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		killAll()
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	killAll()
}

func run() error {
	if *bin == "" {
		return errors.New("-bin is required")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		killAll()
		os.Exit(130)
	}()
	tmp, err := os.MkdirTemp("", "runtimesd-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fake, err := fakecp.Start(fakecp.Options{APIKey: cpKey, ETags: true})
	if err != nil {
		return err
	}
	defer fake.Close()
	cpEnv := []string{"KUBIYA_API_KEY=" + cpKey, "KUBIYA_CONTROL_PLANE_BASE_URL=" + fake.URL()}
	n := *sidecars
	fmt.Printf("fleet: %d sidecars, schedule %q, counting window %s, %d changes timed, %d parked followers\n",
		n, *schedule, *window, *changes, *followers)

	directRate := -1.0
	if *direct {
		side, err := spawnMany(tmp, "direct", n, cpEnv...)
		if err != nil {
			return err
		}
		if err := waitAll(side, 60*time.Second, func(r *http.Response, _ []byte) bool { return r.Header.Get("X-Runtimes-Source") == "upstream" }); err != nil {
			return err
		}
		directRate = callsPerMinute(fake)
		stop(side)
		fmt.Printf("direct: %.0f control-plane list calls/minute from %d sidecars\n", directRate, n)
	}

	relays, err := spawnMany(tmp, "relay", 2, append(cpEnv, "RUNTIMESD_TOKEN="+relayToken)...)
	if err != nil {
		return err
	}
	if err := waitAll(relays, 60*time.Second, func(r *http.Response, _ []byte) bool { return r.Header.Get("X-Runtimes-Source") == "upstream" }); err != nil {
		return err
	}
	side, err := spawnMany(tmp, "sidecar", n, "RUNTIMESD_RELAYS="+relays[0].addr+","+relays[1].addr, "RUNTIMESD_RELAY_TOKEN="+relayToken)
	if err != nil {
		return err
	}
	if err := waitAll(side, 60*time.Second, func(r *http.Response, _ []byte) bool { return r.Header.Get("X-Runtimes-Source") == "relay" }); err != nil {
		return err
	}
	relayRate := callsPerMinute(fake)
	fmt.Printf("relays: %.0f control-plane list calls/minute with %d sidecars behind 2 relays\n", relayRate, n)

	var all []time.Duration
	cpu0 := cpuMS(side)
	for k := range *changes {
		lat, err := propagate(fake, relays, side, fmt.Sprintf("bench_change_%d", k), nil)
		if err != nil {
			return err
		}
		all = append(all, lat...)
	}
	perChange := float64(cpuMS(side)-cpu0) / float64(*changes*n)
	fmt.Printf("propagation (%d samples): p50 %s p99 %s max %s; sidecar CPU %.1f ms per sidecar per change (the %d sidecars share this machine's cores)\n", len(all),
		pct(all, 0.5).Round(time.Millisecond), pct(all, 0.99).Round(time.Millisecond), pct(all, 1).Round(time.Millisecond), perChange, n)

	onRelay0 := 0
	fo, err := propagate(fake, relays, side, "bench_failover", func() {
		for _, p := range side {
			if _, b, err := get(p.addr + "/v1/sync"); err == nil && strings.Contains(string(b), `"following":"`+relays[0].addr+`"`) {
				onRelay0++
			}
		}
		_ = relays[0].cmd.Process.Kill()
		<-relays[0].done
	})
	if err != nil {
		return err
	}
	fmt.Printf("failover: relay-0 (followed by %d of %d sidecars) killed; all served the next change within %s (p50 %s); none stopped answering\n",
		onRelay0, n, pct(fo, 1).Round(time.Millisecond), pct(fo, 0.5).Round(time.Millisecond))

	before, with, err := followerMemory(relays[1], *followers)
	if err != nil {
		return err
	}
	perK := float64(with-before) / float64(*followers) * 1000 / 1024
	fmt.Printf("relay memory: RSS %d KiB idle with %d sidecars, %d KiB with %d more parked followers: %.1f MiB per 1,000 followers\n",
		before, n, with, *followers, perK)

	printTable(n, directRate, relayRate, all, fo, perK, before)
	return nil
}

// printTable prints the figures as README's Fleets table, with the 10,000-host column on paper.
func printTable(n int, directRate, relayRate float64, all, fo []time.Duration, perK float64, before int) {
	fmt.Println()
	fmt.Println("| figure | measured | 10,000 hosts (on paper) |")
	fmt.Println("|---|---|---|")
	if directRate >= 0 {
		fmt.Printf("| control-plane list calls/min, sidecars polling directly | %.0f (%d sidecars) | %.0f |\n", directRate, n, directRate/float64(n)*10000)
	}
	fmt.Printf("| control-plane list calls/min, behind 2 relays | %.0f (%d sidecars) | %.0f (relays only; independent of hosts) |\n", relayRate, n, relayRate)
	fmt.Printf("| propagation p50 / p99 / max | %s / %s / %s | unchanged per relay fan-out; see README |\n",
		pct(all, 0.5).Round(time.Millisecond), pct(all, 0.99).Round(time.Millisecond), pct(all, 1).Round(time.Millisecond))
	fmt.Printf("| all sidecars serving after a relay is killed | %s | same (each sidecar fails over on its own) |\n", pct(fo, 1).Round(time.Millisecond))
	fmt.Printf("| relay RSS per 1,000 followers | %.1f MiB | %.0f MiB per relay with 5,000 followers each (2 relays) |\n", perK, float64(before)/1024+5*perK)
}
