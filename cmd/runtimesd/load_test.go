package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestLoad: 200 concurrent clients read every route while every sync (one a second) changes
// the whole catalog and the fake control plane flaps. Zero errors, and every answer is
// internally consistent: the runtimes and requirements of one answer carry one version, and
// the revision in the body is the one in the header. 5 s by default;
// RUNTIMESD_LOAD_SECONDS=30 for the full run.
func TestLoad(t *testing.T) {
	seconds := 5
	if v, err := strconv.Atoi(os.Getenv("RUNTIMESD_LOAD_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	const clients = 200
	fake, err := fakecp.Start(fakecp.Options{APIKey: "load-key", Catalog: fakecp.SyntheticCatalog(20), ChangeEveryList: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.SetFault(fakecp.FaultFlap)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("sync:\n  schedule: '@every 1s'\n  jitter: 0s\ncontrol_plane:\n  retry: {attempts: 2, base: 5ms, max: 20ms}\n  breaker: {consecutive_failures: 50}\n"), 0o600)
	env := map[string]string{EnvAPIKey: "load-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	addr, _, stop := serveLogged(t, env, "--data", t.TempDir(), "--config", cfg)
	defer stop()
	base := "http://" + addr

	routes := []string{"/api/v1/runtimes", "/v1/runtimes", "/v1/runtimes?status=beta", "/v1/runtimes/rt-3",
		"/v1/runtimes/rt-3/requirements", "/api/v1/runtimes/rt-5/requirements", "/v1/matrix", "/v1/changes?since=0",
		"/v1/health", "/v1/sync", "/v1/resolve/rt-1", "/readyz"}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()

	var (
		reads, errs, inconsistent atomic.Int64
		firstErr                  atomic.Value
		mu                        sync.Mutex
		latencies                 []time.Duration
	)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for j := i; ctx.Err() == nil; j++ {
				path := routes[j%len(routes)]
				start := time.Now()
				resp, err := client.Get(base + path)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(start))
				reads.Add(1)
				if err != nil || resp.StatusCode != 200 {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d %.200s", path, resp.StatusCode, body))
					continue
				}
				if msg := consistency(path, resp.Header.Get("X-Runtimes-Revision"), body); msg != "" {
					inconsistent.Add(1)
					firstErr.CompareAndSwap(nil, msg)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if errs.Load() > 0 || inconsistent.Load() > 0 {
		t.Fatalf("%d errors and %d inconsistent answers in %d reads; first: %v", errs.Load(), inconsistent.Load(), reads.Load(), firstErr.Load())
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	_, h := get(t, base+"/v1/sync")
	var st struct {
		Revision int `json:"revision"`
	}
	json.Unmarshal(h, &st)
	if st.Revision < seconds/2 {
		t.Errorf("only %d revisions committed in %ds: the catalog did not change under load", st.Revision, seconds)
	}
	t.Logf("load: %d clients, %ds, %d reads (%.0f/s), p50 %v, p99 %v, 0 errors, %d revisions committed meanwhile",
		clients, seconds, reads.Load(), float64(reads.Load())/float64(seconds), p(0.5).Round(time.Microsecond), p(0.99).Round(time.Microsecond), st.Revision)
}

// consistency checks one answer: the body's revision equals the header's, and every runtime
// (and its requirements) in it carries the same version of the catalog.
func consistency(path, headerRev string, body []byte) string {
	var m struct {
		Revision *int              `json:"revision"`
		Runtimes []json.RawMessage `json:"runtimes"`
		Runtime  json.RawMessage   `json:"runtime"`
	}
	var items []json.RawMessage
	if body[0] == '[' {
		json.Unmarshal(body, &items)
	} else {
		json.Unmarshal(body, &m)
		if m.Revision != nil && headerRev != "" && strconv.Itoa(*m.Revision) != headerRev {
			return fmt.Sprintf("%s: body revision %d, header %s", path, *m.Revision, headerRev)
		}
		items = m.Runtimes
		if m.Runtime != nil {
			items = append(items, m.Runtime)
		}
	}
	versions := map[string]bool{}
	for _, it := range items {
		var v struct {
			Version      json.Number `json:"version"`
			Requirements *struct {
				ModelRequirement struct{ Description string } `json:"model_requirement"`
			} `json:"requirements"`
			Runtime *struct {
				Version json.Number `json:"version"`
			} `json:"runtime"`
		}
		json.Unmarshal(it, &v)
		ver := v.Version.String()
		if v.Runtime != nil {
			ver = v.Runtime.Version.String()
		}
		versions["runtime "+ver] = true
		if v.Requirements != nil && v.Requirements.ModelRequirement.Description != "version "+ver {
			return fmt.Sprintf("%s: runtime version %s with requirements %q", path, ver, v.Requirements.ModelRequirement.Description)
		}
	}
	if len(versions) > 1 {
		return fmt.Sprintf("%s: one answer mixes versions %v", path, versions)
	}
	return ""
}
