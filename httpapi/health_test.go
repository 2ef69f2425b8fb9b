package httpapi_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func withHealth(rules health.FallbackRules) func(*httpapi.Options, *rsync.Client) {
	return func(o *httpapi.Options, c *rsync.Client) {
		o.Breakers, o.Fallback, o.ControlPlaneURL = c.Breakers(), rules, "http://control-plane.test"
	}
}

func TestHealthEndpoint(t *testing.T) {
	t.Parallel()
	rules := health.FallbackRules{Chains: map[string][]string{"claude_code": {"default"}}, Default: "default"}
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)}, withHealth(rules))

	t.Run("SeedBeforeSync", func(t *testing.T) {
		m := do(t, "GET", h.url+"/v1/health", "").json(t)
		if m["status"] != "degraded" || !strings.Contains(strings.Join(toStrings(m["reasons"]), " "), "seed") {
			t.Fatalf("%v", m)
		}
	})
	h.sync(t)
	t.Run("OK", func(t *testing.T) {
		a := do(t, "GET", h.url+"/v1/health", "")
		m := a.json(t)
		if a.status != 200 || m["status"] != "ok" || len(m["reasons"].([]any)) != 0 {
			t.Fatalf("%s", a.body)
		}
		rts := m["runtimes"].(map[string]any)
		if strings.Join(toStrings(rts["healthy"]), ",") != "default,claude_code" || strings.Join(toStrings(rts["unhealthy"]), ",") != "strict" {
			t.Errorf("runtimes %v", rts)
		}
		br := m["control_plane"].(map[string]any)["breakers"].(map[string]any)
		for _, k := range []string{"list", "requirements", "validate"} {
			if br[k].(map[string]any)["state"] != "closed" {
				t.Errorf("breaker %s: %v", k, br[k])
			}
		}
		if br["list"].(map[string]any)["last_success"] == nil || br["list"].(map[string]any)["last_latency_ms"] == nil {
			t.Errorf("list breaker lacks last success/latency: %v", br["list"])
		}
		snap := m["snapshot"].(map[string]any)
		if snap["revision"] != 1.0 || snap["runtimes"] != 3.0 || snap["max_stale_seconds"] != 60.0 {
			t.Errorf("snapshot %v", snap)
		}
		sync := m["sync"].(map[string]any)
		if len(sync["last_runs"].([]any)) != 1 {
			t.Errorf("sync %v", sync)
		}
		fb := m["fallbacks"].([]any)
		if len(fb) != 1 || fb[0].(map[string]any)["active"] != false || m["default_runtime"] != "default" {
			t.Errorf("fallbacks %v", fb)
		}
	})
	for _, tc := range []struct {
		fault  fakecp.Fault
		reason string
	}{
		{fakecp.Fault500, "HTTP 500"},
		{fakecp.Fault401, "credentials rejected"},
		{fakecp.FaultGarbage, "expected a JSON array"},
		{fakecp.FaultTruncated, "cut short"},
		{fakecp.FaultObject, "expected a JSON array"},
		{fakecp.FaultEmpty, "held back"},
		{fakecp.Fault503, "Retry-After"},
	} {
		t.Run("Fault"+string(tc.fault), func(t *testing.T) {
			h.fake.SetFault(tc.fault)
			defer h.fake.SetFault(fakecp.FaultNone)
			h.sync(t)
			m := do(t, "GET", h.url+"/v1/health", "").json(t)
			if m["status"] != "degraded" || !strings.Contains(strings.Join(toStrings(m["reasons"]), " | "), tc.reason) {
				t.Fatalf("status %v reasons %v", m["status"], m["reasons"])
			}
			if len(m["runtimes"].(map[string]any)["details"].([]any)) != 3 {
				t.Error("the last good data must still be reported")
			}
		})
	}
}

func TestHealthEndpoint_BreakerOpen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, withHealth(health.FallbackRules{}))
	h.sync(t)
	h.fake.SetFault(fakecp.Fault500)
	for range 3 { // 5 consecutive failures open it: 3 runs of up to 3 attempts
		h.sync(t)
	}
	m := do(t, "GET", h.url+"/v1/health", "").json(t)
	list := m["control_plane"].(map[string]any)["breakers"].(map[string]any)["list"].(map[string]any)
	if list["state"] != "open" || list["tripped_by"] == nil || list["next_probe_at"] == nil {
		t.Fatalf("list breaker %v", list)
	}
	if !strings.Contains(strings.Join(toStrings(m["reasons"]), " "), "circuit breaker for list calls is open") {
		t.Errorf("reasons %v", m["reasons"])
	}
	if tr := m["control_plane"].(map[string]any)["transitions"].([]any); len(tr) == 0 || tr[0].(map[string]any)["to"] != "open" {
		t.Errorf("transitions %v", tr)
	}
	if a := do(t, "GET", h.url+"/readyz", ""); a.status != 200 {
		t.Errorf("fail static: /readyz must stay ready with data loaded: %d", a.status)
	}
}

func TestResolveEndpoint(t *testing.T) {
	rules := health.FallbackRules{Chains: map[string][]string{"strict": {"claude_code"}}, Default: "default"}
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)}, withHealth(rules))
	h.sync(t)

	a := do(t, "GET", h.url+"/v1/resolve/strict", "")
	m := a.json(t)
	if a.status != 200 || m["is_fallback"] != true || m["runtime"].(map[string]any)["id"] != "claude_code" ||
		!strings.Contains(m["reason"].(string), "unhealthy") || m["requirements"].(map[string]any)["max_history_length"] != 200.0 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	tried := m["tried"].([]any)
	if len(tried) != 2 || tried[0].(map[string]any)["id"] != "strict" || tried[1].(map[string]any)["chosen"] != true {
		t.Errorf("tried %v", tried)
	}
	a = do(t, "GET", h.url+"/v1/resolve/strict?feature=session_management", "")
	if m = a.json(t); m["runtime"].(map[string]any)["id"] != "default" {
		t.Errorf("feature passes claude_code over for the default: %s", a.body)
	}
	if m = do(t, "GET", h.url+"/v1/resolve/default", "").json(t); m["is_fallback"] != false {
		t.Errorf("a qualifying runtime resolves to itself: %v", m)
	}
	a = do(t, "GET", h.url+"/v1/resolve/strict?feature=teleport", "")
	m = a.json(t)
	if a.status != 404 || m["error"].(map[string]any)["code"] != "no_runtime_qualifies" || len(m["tried"].([]any)) != 3 {
		t.Fatalf("nothing qualifies: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", h.url+"/v1/resolve/x?nope=1", ""); a.status != 400 {
		t.Errorf("unknown parameter: %d", a.status)
	}
}
