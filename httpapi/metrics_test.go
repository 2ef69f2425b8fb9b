package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// metricValue is the value of the counter (or gauge) name with exactly these labels, or -1.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestMetrics_CountEachAnswer: every answer is counted once under its route pattern, method
// and status code (a 200 and an error of one route apart, unmatched paths under "unmatched"),
// and reads by their cache result.
func TestMetrics_CountEachAnswer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) { o.Registerer, o.Gatherer = reg, reg })
	do(t, "GET", h.url+"/v1/runtimes/nope", "") // a 404 first: the 200s of the route are counted apart
	do(t, "GET", h.url+"/v1/runtimes/default?bogus=1", "")
	for range 3 {
		do(t, "GET", h.url+"/v1/runtimes/default", "")
	}
	do(t, "HEAD", h.url+"/v1/runtimes/default", "")
	do(t, "POST", h.url+"/v1/validate", `{"runtime_type":"default"}`)
	do(t, "POST", h.url+"/v1/validate", `[]`)
	do(t, "GET", h.url+"/nowhere", "")
	req := "runtimesd_http_requests_total"
	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"/v1/runtimes/:id", "GET", "404", 1},
		{"/v1/runtimes/:id", "GET", "400", 1},
		{"/v1/runtimes/:id", "GET", "200", 3},
		{"/v1/runtimes/:id", "HEAD", "200", 1},
		{"/v1/validate", "POST", "200", 1},
		{"/v1/validate", "POST", "400", 1},
		{"unmatched", "GET", "404", 1},
	} {
		if got := metricValue(t, reg, req, map[string]string{"route": c.route, "method": c.method, "code": c.code}); got != c.want {
			t.Errorf("%s{route=%q,method=%q,code=%q} = %v, want %v", req, c.route, c.method, c.code, got, c.want)
		}
	}
	// The seed is stale: each of the four reads of a runtime (the 404 included) was a stale read.
	if got := metricValue(t, reg, "runtimesd_cache_results_total", map[string]string{"result": "stale"}); got != 4 {
		t.Errorf("stale reads counted %v, want 4", got)
	}
	if got := metricValue(t, reg, "runtimesd_blocking_reads_waiting", nil); got != 0 {
		t.Errorf("blocking reads waiting %v, want 0", got)
	}
}

// logBuffer is a slog handler's output, safe for the server's goroutines.
type logBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestMetrics_DebugLogOfRequests: at debug level each request is logged with its route
// pattern, status and duration in milliseconds (no longer than the client waited); at info
// level nothing is logged for it.
func TestMetrics_DebugLogOfRequests(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var out logBuffer
		h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
			o.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))
		})
		start := time.Now()
		if a := do(t, "GET", h.url+"/v1/runtimes/default", ""); a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		waited := float64(time.Since(start).Microseconds()) / 1000
		var found int
		for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
			var rec struct {
				Msg, Method, Path, Route string
				Status                   int
				DurationMS               *float64 `json:"duration_ms"`
			}
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "request" {
				continue
			}
			found++
			if rec.Method != "GET" || rec.Path != "/v1/runtimes/default" || rec.Route != "/v1/runtimes/:id" || rec.Status != 200 ||
				rec.DurationMS == nil || *rec.DurationMS < 0 || *rec.DurationMS > waited {
				t.Errorf("request log %s (the client waited %.3f ms)", line, waited)
			}
		}
		if want := map[slog.Level]int{slog.LevelDebug: 1, slog.LevelInfo: 0}[level]; found != want {
			t.Errorf("at level %v: %d request records, want %d:\n%s", level, found, want, out.String())
		}
	}
}
