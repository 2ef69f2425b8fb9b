package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func benchSizes() []int {
	if testing.Short() {
		return []int{1000}
	}
	return []int{1000, 10000, 100000}
}

// procStatus reads a field of /proc/PID/status in KiB (VmRSS, VmHWM).
func procStatus(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v
		}
	}
	return 0
}

// cpuTicks is the process's user+system CPU time in clock ticks (/proc/PID/stat).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	s, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + s
}

// BenchmarkColdStart measures the real binary from exec to the first answered
// GET /api/v1/runtimes, over a data file holding n runtimes, and its RSS then; ms-to-ready is
// exec to the first 200 from /readyz (the listener is open and the snapshot loaded; bodies
// are still being encoded in the background).
//
// RUNTIMESD_BENCH_BIN=/path/to/runtimesd measures another build (a base commit's, to
// interleave runs of the two on a busy machine).
func BenchmarkColdStart(b *testing.B) {
	bin := os.Getenv("RUNTIMESD_BENCH_BIN")
	if bin == "" {
		bin = buildBinary(b)
	}
	for _, n := range benchSizes() {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			data := b.TempDir()
			db, err := store.Open(filepath.Join(data, dbFile), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(n))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := db.Commit(cat, store.SourceUpstream, time.Now()); err != nil {
				b.Fatal(err)
			}
			db.Close()
			var rss float64
			var toReady time.Duration
			b.ResetTimer()
			for b.Loop() {
				addr := closedPort(b)
				cmd := exec.Command(bin, "serve", "--data", data, "--listen", addr)
				cmd.Env = []string{"HOME=" + b.TempDir(), "PATH=" + os.Getenv("PATH")}
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				for {
					resp, err := http.Get("http://" + addr + "/readyz")
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == 200 {
							break
						}
					}
					time.Sleep(time.Millisecond)
				}
				toReady += time.Since(start)
				for {
					resp, err := http.Get("http://" + addr + "/api/v1/runtimes")
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == 200 {
							break
						}
					}
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				rss = procStatus(cmd.Process.Pid, "VmRSS") / 1024
				cmd.Process.Kill()
				cmd.Wait()
				b.StartTimer()
			}
			b.ReportMetric(rss, "MiB-RSS")
			b.ReportMetric(float64(toReady.Milliseconds())/float64(b.N), "ms-to-ready")
		})
	}
}

// BenchmarkIdleWaiters parks 10,000 blocking reads on the real binary and measures its RSS
// and the CPU it spends while they wait and nothing changes.
func BenchmarkIdleWaiters(b *testing.B) {
	waiters := 10000
	if testing.Short() {
		waiters = 200
	}
	bin := buildBinary(b)
	for b.Loop() {
		addr := closedPort(b)
		cmd := exec.Command(bin, "serve", "--data", b.TempDir(), "--listen", addr)
		cmd.Env = []string{"HOME=" + b.TempDir(), "PATH=" + os.Getenv("PATH")}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(time.Millisecond)
		}
		before := procStatus(cmd.Process.Pid, "VmRSS")
		tr := &http.Transport{MaxIdleConnsPerHost: waiters, MaxConnsPerHost: 0}
		client := &http.Client{Transport: tr}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range waiters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/runtimes?index=0&wait=10m", nil)
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
		// Wait until every reader is parked on the server (its metric says how many).
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, err := http.Get("http://" + addr + "/metrics")
			parked := 0
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, line := range strings.Split(string(body), "\n") {
					if v, ok := strings.CutPrefix(line, "runtimesd_blocking_reads_waiting "); ok {
						parked, _ = strconv.Atoi(v)
					}
				}
			}
			if parked >= waiters {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d readers parked", parked, waiters)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t0 := cpuTicks(cmd.Process.Pid)
		time.Sleep(3 * time.Second)
		idleTicks := cpuTicks(cmd.Process.Pid) - t0
		rss := procStatus(cmd.Process.Pid, "VmRSS")
		b.ReportMetric((rss-before)/1024, "MiB-for-waiters")
		b.ReportMetric(float64(idleTicks)*10/3, "ms-CPU/s-idle") // 100 ticks a second
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		cmd.Process.Kill()
		cmd.Wait()
	}
}
